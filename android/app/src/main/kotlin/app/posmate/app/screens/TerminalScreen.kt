package app.posmate.app.screens

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.material3.Button
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.produceState
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import app.posmate.ffi.PosmateCompanion
import app.posmate.ffi.PosmateException
import app.posmate.ffi.Terminal
import app.posmate.viewmodel.Problem
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.withContext

/**
 * One terminal as this phone knows it, and what can be done with it. Every action is
 * offered; the core refuses what does not apply (an activated terminal activated again…)
 * and says why.
 */
@Composable
fun TerminalScreen(
    companion: PosmateCompanion,
    sn: String,
    onActivate: () -> Unit,
    onCards: (merchantNo: String) -> Unit,
    onRecords: () -> Unit,
    onDecommission: () -> Unit,
    onBack: () -> Unit,
) {
    val loaded by produceState<Result<Terminal>?>(null, companion, sn) {
        value = withContext(Dispatchers.IO) {
            try {
                Result.success(companion.terminal(sn))
            } catch (e: PosmateException) {
                Result.failure(e)
            }
        }
    }
    Column(Modifier.fillMaxWidth().padding(16.dp), verticalArrangement = Arrangement.spacedBy(8.dp)) {
        Header(sn, onBack)
        val result = loaded ?: return@Column
        result.exceptionOrNull()?.let { ProblemView(Problem.of(it as PosmateException)) }
        val t = result.getOrNull() ?: return@Column
        Text("${t.model} · firmware ${t.firmware}")
        Text("State: ${t.state.name.lowercase()}")
        t.merchantNo?.let { Text("Merchant $it · terminal ${t.terminalNo ?: "—"}") }
        Button(onClick = onActivate, modifier = Modifier.fillMaxWidth()) { Text("Activate") }
        OutlinedButton(
            onClick = { t.merchantNo?.let(onCards) },
            enabled = t.merchantNo != null,
            modifier = Modifier.fillMaxWidth(),
        ) { Text("Cards") }
        OutlinedButton(onClick = onRecords, modifier = Modifier.fillMaxWidth()) { Text("Records and end of day") }
        OutlinedButton(onClick = onDecommission, modifier = Modifier.fillMaxWidth()) { Text("Decommission…") }
    }
}
