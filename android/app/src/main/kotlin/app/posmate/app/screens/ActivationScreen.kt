package app.posmate.app.screens

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.verticalScroll
import androidx.compose.material3.Button
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import app.posmate.ffi.Simulation
import app.posmate.viewmodel.ActivationForm
import app.posmate.viewmodel.ActivationModel
import app.posmate.viewmodel.ActivationState

/**
 * The activation form and what follows: the form goes to the core as typed, and the core's
 * verdict (bad input, pending review, rejection, a lost link) is what the screen shows.
 */
@Composable
fun ActivationScreen(model: ActivationModel, simulation: Simulation?, onDone: () -> Unit) {
    val state by model.state.collectAsStateWithLifecycle()
    var form by remember { mutableStateOf(model.form) }
    fun edit(change: (ActivationForm) -> ActivationForm) {
        form = change(form)
        model.edit { form }
    }
    Column(
        Modifier.fillMaxWidth().padding(16.dp).verticalScroll(rememberScrollState()),
        verticalArrangement = Arrangement.spacedBy(8.dp),
    ) {
        Header("Activate ${model.sn}", onBack = onDone)
        when (val s = state) {
            is ActivationState.Editing -> {
                s.problem?.let { ProblemView(it) }
                if (simulation != null) {
                    TextButton(onClick = {
                        // Development: the simulated acquirer's letter for this terminal.
                        val t = simulation.terminals().firstOrNull { it.sn == model.sn }
                        val m = simulation.merchant()
                        if (t != null) {
                            edit {
                                ActivationForm(t.terminalNo, m.merchantNo, t.activationCode,
                                    m.details.legalName, m.details.contactPhone, m.details.address)
                            }
                        }
                    }) { Text("Fill from the simulated acquirer's letter") }
                }
                Field("Terminal number", form.terminalNo) { v -> edit { it.copy(terminalNo = v) } }
                Field("Merchant number", form.merchantNo) { v -> edit { it.copy(merchantNo = v) } }
                Field("Activation code", form.activationCode) { v -> edit { it.copy(activationCode = v) } }
                Field("Merchant's legal name", form.legalName) { v -> edit { it.copy(legalName = v) } }
                Field("Contact phone", form.contactPhone) { v -> edit { it.copy(contactPhone = v) } }
                Field("Address", form.address) { v -> edit { it.copy(address = v) } }
                Button(onClick = { model.submit() }, modifier = Modifier.fillMaxWidth()) { Text("Activate") }
            }
            is ActivationState.Submitting -> ProgressView(s.progress) { model.cancel() }
            is ActivationState.PendingReview -> {
                Text("The acquirer is reviewing application ${s.applicationId}.")
                Text("posmate checks again in ${s.retryAfterMs / 1000} s.")
                s.problem?.let { ProblemView(it) }
                if (s.checking) ProgressView(null) else OutlinedButton(onClick = { model.checkStatus() }) { Text("Check now") }
            }
            is ActivationState.Activated -> {
                Text("Activated: terminal ${s.terminalNo} for merchant ${s.merchantNo}.")
                Text("${s.keySlots.size} keys installed and checked; test transaction ${s.testTxnRef}.")
                Button(onClick = onDone) { Text("Done") }
            }
            is ActivationState.Rejected -> {
                ProblemView(s.problem)
                OutlinedButton(onClick = { model.backToForm() }) { Text("Back to the form") }
            }
            is ActivationState.Interrupted -> {
                ProblemView(s.problem)
                Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                    Button(onClick = { model.retry() }) { Text(if (s.resumable) "Resume" else "Retry") }
                    OutlinedButton(onClick = { model.backToForm() }) { Text("Back to the form") }
                }
            }
            is ActivationState.Cancelled -> {
                Text("Activation cancelled: ${s.problem.userAction}")
                OutlinedButton(onClick = { model.backToForm() }) { Text("Back to the form") }
            }
        }
    }
}

@Composable
internal fun Field(label: String, value: String, onChange: (String) -> Unit) {
    OutlinedTextField(
        value = value,
        onValueChange = onChange,
        label = { Text(label) },
        singleLine = true,
        modifier = Modifier.fillMaxWidth(),
    )
}
