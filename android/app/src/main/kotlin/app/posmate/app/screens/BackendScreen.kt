package app.posmate.app.screens

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.material3.Button
import androidx.compose.material3.CircularProgressIndicator
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.saveable.rememberSaveable
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import app.posmate.viewmodel.Backend
import app.posmate.viewmodel.SessionState

/**
 * The simulated-terminal switch: simulated terminals in the app, a `posmate sim` server
 * (from the emulator, the host machine is 10.0.2.2), or real terminals over Bluetooth.
 */
@Composable
fun BackendScreen(state: SessionState, permissionDenied: Boolean, onChoose: (Backend) -> Unit) {
    var address by rememberSaveable { mutableStateOf("10.0.2.2:7878") }
    Column(Modifier.fillMaxWidth().padding(16.dp), verticalArrangement = Arrangement.spacedBy(12.dp)) {
        Header("Where are the terminals?")
        Button(onClick = { onChoose(Backend.Simulated()) }, modifier = Modifier.fillMaxWidth()) {
            Text("Simulated terminals (no hardware)")
        }
        OutlinedTextField(
            value = address,
            onValueChange = { address = it },
            label = { Text("address posmate sim printed (TOKEN@HOST:PORT)") },
            singleLine = true,
            modifier = Modifier.fillMaxWidth(),
        )
        OutlinedButton(onClick = { onChoose(Backend.SimServer(address.trim())) }, modifier = Modifier.fillMaxWidth()) {
            Text("Connect to posmate sim")
        }
        OutlinedButton(onClick = { onChoose(Backend.Bluetooth) }, modifier = Modifier.fillMaxWidth()) {
            Text("Real terminals over Bluetooth")
        }
        if (permissionDenied) {
            Text(
                "posmate needs the Nearby devices permission (location before Android 12) to find " +
                    "and connect to terminals. Allow it in the system settings, or use a simulated terminal.",
            )
        }
        when (state) {
            is SessionState.Opening -> CircularProgressIndicator()
            is SessionState.Failed -> ProblemView(state.problem)
            else -> {}
        }
    }
}
