package app.posmate.app.screens

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.verticalScroll
import androidx.compose.material3.Card
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.key
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.mutableIntStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import app.posmate.ffi.PosmateException
import app.posmate.ffi.SimReview
import app.posmate.ffi.Simulation

/**
 * Development only: the simulated world outside the phone — what each terminal's screen
 * shows, a sale on its keypad, a lost link, and how the acquirer reviews activations.
 */
@Composable
fun SimulatorScreen(simulation: Simulation, onBack: () -> Unit) {
    var tick by remember { mutableIntStateOf(0) }
    var message by remember { mutableStateOf<String?>(null) }
    fun act(what: () -> Unit) {
        message = try {
            what()
            null
        } catch (e: PosmateException) {
            e.message
        }
        tick++
    }
    Column(
        Modifier.fillMaxWidth().padding(16.dp).verticalScroll(rememberScrollState()),
        verticalArrangement = Arrangement.spacedBy(8.dp),
    ) {
        Header("Simulator", onBack) {
            OutlinedButton(onClick = { tick++ }) { Text("Refresh") }
        }
        message?.let { Text(it) }
        key(tick) {
            for (t in simulation.terminals()) {
                Card(Modifier.fillMaxWidth()) {
                    Column(Modifier.padding(12.dp), verticalArrangement = Arrangement.spacedBy(4.dp)) {
                        Text("${t.sn} · ${t.lifecycle.name.lowercase()} · journal ${t.journalHead}")
                        Text("Screen: ${runCatching { simulation.screen(t.sn) }.getOrNull()}")
                        Text("Letter: terminal ${t.terminalNo}, activation code ${t.activationCode}")
                        Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                            OutlinedButton(onClick = { act { simulation.ringUpSale(t.sn, 1280u, 156u, "6222021234567890128") } }) {
                                Text("Sale 12.80")
                            }
                            OutlinedButton(onClick = { act { simulation.dropLink(t.sn) } }) { Text("Drop link") }
                        }
                    }
                }
            }
        }
        Text("Acquirer review of the next activations")
        Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
            OutlinedButton(onClick = { act { simulation.setReview(SimReview.Instant) } }) { Text("Instant") }
            OutlinedButton(onClick = { act { simulation.setReview(SimReview.AfterPolls(2u)) } }) { Text("Pending") }
            OutlinedButton(onClick = { act { simulation.setReview(SimReview.Reject("R07", "merchant category not allowed")) } }) {
                Text("Reject")
            }
        }
    }
}
