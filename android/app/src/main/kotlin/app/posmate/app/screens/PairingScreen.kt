package app.posmate.app.screens

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.text.KeyboardOptions
import androidx.compose.material3.Button
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.text.input.KeyboardType
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import app.posmate.ffi.SimScreen
import app.posmate.ffi.Simulation
import app.posmate.viewmodel.PairingModel
import app.posmate.viewmodel.PairingState

/** Pairing: the merchant types the code the terminal shows; the core judges it. */
@Composable
fun PairingScreen(model: PairingModel, peripheralId: String, simulation: Simulation?, onDone: () -> Unit) {
    LaunchedEffect(model, peripheralId) { model.pair(peripheralId) }
    val state by model.state.collectAsStateWithLifecycle()
    var code by remember { mutableStateOf("") }
    Column(Modifier.fillMaxWidth().padding(16.dp), verticalArrangement = Arrangement.spacedBy(12.dp)) {
        Header("Pair a terminal")
        when (val s = state) {
            PairingState.Idle, is PairingState.Connecting -> ProgressView(null)
            is PairingState.AwaitingCode -> {
                Text("Type the code terminal ${s.sn} shows.")
                // Development: the simulated terminal's screen, as the merchant would read it.
                simulation?.let { sim ->
                    (runCatching { sim.screen(s.sn) }.getOrNull() as? SimScreen.PairingCode)?.let {
                        Text("Simulated terminal's screen: ${it.code}")
                    }
                }
                OutlinedTextField(
                    value = code,
                    onValueChange = { code = it },
                    label = { Text("Code") },
                    singleLine = true,
                    keyboardOptions = KeyboardOptions(keyboardType = KeyboardType.NumberPassword),
                )
                Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                    Button(onClick = { model.submitCode(code) }) { Text("Pair") }
                    OutlinedButton(onClick = { model.cancel() }) { Text("Cancel") }
                }
            }
            is PairingState.Verifying -> ProgressView(null)
            is PairingState.Paired -> {
                Text("Paired with ${s.terminal.sn} (${s.terminal.model}, firmware ${s.terminal.firmware}).")
                Button(onClick = onDone) { Text("Done") }
            }
            is PairingState.Failed -> {
                ProblemView(s.problem)
                Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                    Button(onClick = { code = ""; model.pair(peripheralId) }) { Text("Try again") }
                    OutlinedButton(onClick = onDone) { Text("Close") }
                }
            }
            is PairingState.Cancelled -> {
                Text("Pairing cancelled; nothing was stored.")
                Button(onClick = onDone) { Text("Close") }
            }
        }
    }
}
