package app.posmate.app.screens

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.text.KeyboardOptions
import androidx.compose.foundation.verticalScroll
import androidx.compose.material3.Button
import androidx.compose.material3.FilterChip
import androidx.compose.material3.ListItem
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
import androidx.compose.ui.text.input.KeyboardType
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import app.posmate.ffi.CardPurpose
import app.posmate.ffi.Simulation
import app.posmate.viewmodel.CardsModel

/** The merchant's cards; binding one read on the terminal or typed in; unbinding. */
@Composable
fun CardsScreen(model: CardsModel, simulation: Simulation?, onBack: () -> Unit) {
    val state by model.state.collectAsStateWithLifecycle()
    var purpose by remember { mutableStateOf(CardPurpose.SETTLEMENT) }
    var holder by remember { mutableStateOf("") }
    var pan by remember { mutableStateOf("") }
    var expiry by remember { mutableStateOf("") }
    Column(
        Modifier.fillMaxWidth().padding(16.dp).verticalScroll(rememberScrollState()),
        verticalArrangement = Arrangement.spacedBy(8.dp),
    ) {
        Header("Cards · ${model.merchantNo}", onBack)
        state.problem?.let { ProblemView(it) }
        for (card in state.cards) {
            ListItem(
                headlineContent = { Text("${card.maskedPan} · ${card.purpose.name.lowercase()}") },
                supportingContent = { Text("${card.issuer} · ${card.holderName} · ${card.source}") },
                trailingContent = { TextButton(onClick = { model.unbind(card.bindingId) }) { Text("Unbind") } },
            )
        }
        OperationView(state.operation, onCancel = { model.cancel() }, onRetry = { model.refresh() }) { card ->
            Text(card?.let { "Bound ${it.maskedPan}." } ?: "Unbound.")
        }
        Text("Bind a card")
        Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
            for (p in CardPurpose.entries) {
                FilterChip(selected = purpose == p, onClick = { purpose = p }, label = { Text(p.name.lowercase()) })
            }
        }
        Field("Card holder (as registered)", holder) { holder = it }
        Button(onClick = { model.bindFromTerminal(purpose, holder) }, modifier = Modifier.fillMaxWidth()) {
            Text("Read it on the terminal")
        }
        if (simulation != null) {
            TextButton(onClick = { runCatching { simulation.presentCard(model.sn, "6222021234567890128", "1229") } }) {
                Text("Simulator: hold a test card to the terminal")
            }
        }
        OutlinedTextField(
            value = pan,
            onValueChange = { pan = it },
            label = { Text("Card number") },
            singleLine = true,
            keyboardOptions = KeyboardOptions(keyboardType = KeyboardType.Number),
            modifier = Modifier.fillMaxWidth(),
        )
        Field("Expiry (MMYY)", expiry) { expiry = it }
        OutlinedButton(onClick = { model.bindTyped(purpose, holder, pan, expiry) }, modifier = Modifier.fillMaxWidth()) {
            Text("Bind the typed card")
        }
    }
}
