package app.posmate.app.screens

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.material3.Button
import androidx.compose.material3.ListItem
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import app.posmate.viewmodel.RecordsModel

/** A terminal's records page by page, sync, and end of day with the core's totals. */
@Composable
fun RecordsScreen(model: RecordsModel, onBack: () -> Unit) {
    val state by model.state.collectAsStateWithLifecycle()
    Column(Modifier.fillMaxSize().padding(16.dp), verticalArrangement = Arrangement.spacedBy(8.dp)) {
        Header("Records · ${model.sn}", onBack)
        state.problem?.let { ProblemView(it) }
        Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
            OutlinedButton(onClick = { model.sync() }) { Text("Sync") }
            Button(onClick = { model.endOfDay() }) { Text("End of day") }
        }
        OperationView(state.sync, onCancel = { model.cancel() }, onRetry = { model.sync() }) {
            Text("${counted(it.inserted, "new record", "new records")}.")
        }
        OperationView(state.endOfDay, onCancel = { model.cancel() }, onRetry = { model.endOfDay() }) { s ->
            Text("Batch ${s.batchNo} closed: ${counted(s.terminal.saleCount.toULong(), "sale", "sales")}, ${money(s.terminal.saleMinor)}")
            Text(
                if (s.matched) "The phone's records match the terminal's totals."
                else "The phone's totals (${money(s.phone.saleMinor)}) differ from the terminal's.",
            )
        }
        LazyColumn(Modifier.weight(1f)) {
            items(state.records, key = { "${it.originSn}-${it.seq}" }) { r ->
                ListItem(
                    headlineContent = { Text("${r.kind.name.lowercase()} ${money(r.amountMinor)} · ${r.status.name.lowercase()}") },
                    supportingContent = { Text("#${r.seq} · batch ${r.batchNo} · ${r.maskedPan} · auth ${r.authCode}") },
                )
            }
            if (state.next != null) {
                item { TextButton(onClick = { model.loadMore() }) { Text("Older records") } }
            }
        }
    }
}
