package app.posmate.app.screens

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.material3.Button
import androidx.compose.material3.Checkbox
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.setValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.text.input.PasswordVisualTransformation
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import app.posmate.viewmodel.DecommissionForm
import app.posmate.viewmodel.DecommissionModel
import app.posmate.viewmodel.DecommissionState

/** The decommission wizard: reason → backup → confirmations → run, as the core decides. */
@Composable
fun DecommissionScreen(model: DecommissionModel, onFinished: () -> Unit, onBack: () -> Unit) {
    val state by model.state.collectAsStateWithLifecycle()
    var form by remember { mutableStateOf(model.form) }
    fun edit(change: (DecommissionForm) -> DecommissionForm) {
        form = change(form)
        model.edit { form }
    }
    Column(Modifier.fillMaxWidth().padding(16.dp), verticalArrangement = Arrangement.spacedBy(8.dp)) {
        Header("Decommission ${model.sn}", onBack)
        when (val s = state) {
            DecommissionState.Reason -> {
                Text("Step 1 of 3 · Why is this terminal leaving service?")
                Field("Reason (kept with the acquirer)", form.reason) { v -> edit { it.copy(reason = v) } }
                Button(onClick = { model.next() }) { Text("Next") }
            }
            is DecommissionState.Backup -> {
                Text("Step 2 of 3 · Backup. posmate writes an encrypted backup of this terminal's records and checks it before anything is destroyed.")
                s.problem?.let { ProblemView(it) }
                Text("Saved to ${form.backupPath}")
                OutlinedTextField(
                    value = form.passphrase,
                    onValueChange = { v -> edit { it.copy(passphrase = v) } },
                    label = { Text("Backup passphrase") },
                    singleLine = true,
                    visualTransformation = PasswordVisualTransformation(),
                    modifier = Modifier.fillMaxWidth(),
                )
                Text("Keep the passphrase: without it the backup cannot be read.")
                Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                    OutlinedButton(onClick = { model.back() }) { Text("Back") }
                    Button(onClick = { model.next() }) { Text("Next") }
                }
            }
            is DecommissionState.Confirm -> {
                Text("Step 3 of 3 · Confirm")
                s.problem?.let { ProblemView(it) }
                Text("Reason: ${form.reason}")
                Text("The terminal will be deregistered with the acquirer, wiped, and forgotten by this phone.")
                Row(verticalAlignment = Alignment.CenterVertically) {
                    Checkbox(checked = form.understood, onCheckedChange = { v -> edit { it.copy(understood = v) } })
                    Text("I understand this cannot be undone.")
                }
                Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                    OutlinedButton(onClick = { model.back() }) { Text("Back") }
                    Button(onClick = { model.begin() }, enabled = form.understood) { Text("Decommission ${model.sn}") }
                }
            }
            is DecommissionState.Running -> ProgressView(s.progress) { model.cancel() }
            is DecommissionState.Done -> {
                val o = s.outcome
                Text("Decommissioned ${o.sn}.")
                Text("Backup: ${counted(o.backupRecords, "record", "records")} in ${o.backupPath} (SHA-256 ${o.backupSha256.take(16)}…)")
                Text("Deregistration ${o.deregistrationRef}; wipe receipt ${o.receiptNonce.take(16)}… verified.")
                Button(onClick = onFinished) { Text("Done") }
            }
            is DecommissionState.Interrupted -> {
                ProblemView(s.problem)
                Button(onClick = { model.retry() }) { Text(if (s.resumable) "Resume" else "Retry") }
            }
            is DecommissionState.Paused -> {
                Text("The terminal is already deregistered: the decommission must be finished.")
                Button(onClick = { model.retry() }) { Text("Finish the decommission") }
            }
            is DecommissionState.Cancelled -> {
                Text("Cancelled before anything was destroyed; the terminal is as it was.")
                OutlinedButton(onClick = onBack) { Text("Close") }
            }
        }
    }
}
