package app.posmate.app.screens

import androidx.compose.foundation.clickable
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.material3.HorizontalDivider
import androidx.compose.material3.ListItem
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.runtime.DisposableEffect
import androidx.compose.runtime.getValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import app.posmate.viewmodel.Backend
import app.posmate.viewmodel.LinkState
import app.posmate.viewmodel.TerminalItem
import app.posmate.viewmodel.TerminalListModel

/** Terminals in range and known ones, with signal, state and link. */
@Composable
fun TerminalListScreen(
    model: TerminalListModel,
    backend: Backend,
    hasSimulator: Boolean,
    onPair: (peripheralId: String) -> Unit,
    onOpen: (sn: String) -> Unit,
    onSimulator: () -> Unit,
    onSwitchBackend: () -> Unit,
) {
    DisposableEffect(model) {
        model.open()
        model.scan()
        onDispose { model.close() }
    }
    val state by model.state.collectAsStateWithLifecycle()
    Column(Modifier.fillMaxSize()) {
        Header("Terminals") {
            if (hasSimulator) TextButton(onClick = onSimulator) { Text("Simulator") }
            TextButton(onClick = onSwitchBackend) { Text(backendName(backend)) }
        }
        state.problem?.let { ProblemView(it, Modifier.padding(horizontal = 16.dp)) }
        if (state.scanning) Text("Scanning…", Modifier.padding(horizontal = 16.dp))
        LazyColumn {
            items(state.items, key = { it.peripheralId.ifEmpty { it.name } }) { item ->
                TerminalRow(item, Modifier.clickable {
                    val known = item.known
                    if (known != null) onOpen(known.sn) else onPair(item.peripheralId)
                })
                HorizontalDivider()
            }
        }
    }
}

@Composable
private fun TerminalRow(item: TerminalItem, modifier: Modifier) {
    ListItem(
        modifier = modifier,
        headlineContent = { Text(item.known?.sn ?: item.name) },
        supportingContent = {
            val parts = listOfNotNull(
                item.known?.state?.name?.lowercase()?.let { "on this phone: $it" },
                item.advertised?.name?.lowercase()?.let { "advertises: $it" },
                "pairing open".takeIf { item.pairingOpen },
                "pairing locked".takeIf { item.pairingLocked },
                linkText(item.link),
            )
            Text(parts.joinToString(" · "))
        },
        trailingContent = { Text(item.rssi?.let { "$it dBm ${bars(it)}" } ?: "not in range") },
    )
}

/** Signal as bars, for the eye only. */
private fun bars(rssi: Short): String = when {
    rssi >= -55 -> "▂▄▆█"
    rssi >= -67 -> "▂▄▆"
    rssi >= -80 -> "▂▄"
    else -> "▂"
}

private fun linkText(link: LinkState): String? = when (link) {
    LinkState.Idle -> null
    LinkState.Connecting -> "connecting"
    is LinkState.Connected -> "connected"
    is LinkState.ConnectFailed -> "connect failed (${link.code})"
    is LinkState.Disconnected -> "disconnected (${link.reason.name.lowercase().replace('_', ' ')})"
}

private fun backendName(backend: Backend): String = when (backend) {
    is Backend.Simulated -> "Simulated ▾"
    is Backend.SimServer -> "posmate sim ▾"
    Backend.Bluetooth -> "Bluetooth ▾"
}
