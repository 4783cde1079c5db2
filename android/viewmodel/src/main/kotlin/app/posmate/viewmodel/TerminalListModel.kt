package app.posmate.viewmodel

import app.posmate.ffi.ConnectionState
import app.posmate.ffi.DisconnectReason
import app.posmate.ffi.Lifecycle
import app.posmate.ffi.PosmateCompanion
import app.posmate.ffi.PosmateException
import app.posmate.ffi.ScannedTerminal
import app.posmate.ffi.Terminal
import app.posmate.ffi.TerminalState
import app.posmate.kit.connectionStates
import app.posmate.kit.scanResults
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Job
import kotlinx.coroutines.flow.catch
import kotlinx.coroutines.launch

/** What the phone last heard about a terminal's link, from the core's connection states. */
sealed interface LinkState {
    data object Idle : LinkState
    data object Connecting : LinkState
    data class Connected(val mtu: Int) : LinkState
    data class ConnectFailed(val code: String, val detail: String) : LinkState
    data class Disconnected(val reason: DisconnectReason) : LinkState
}

/** One row of the terminal list: what the radio sees and what the phone knows. */
data class TerminalItem(
    /** What pairing takes. */
    val peripheralId: String,
    /** The advertised name, or the serial number of a known terminal not in range. */
    val name: String,
    /** Signal in dBm while in range. */
    val rssi: Short?,
    /** The lifecycle the terminal advertises (none while not in range). */
    val advertised: Lifecycle?,
    val pairingOpen: Boolean,
    val pairingLocked: Boolean,
    /** The phone's record of it, once paired. */
    val known: Terminal?,
    val link: LinkState,
) {
    val inRange: Boolean get() = advertised != null
    val knownState: TerminalState? get() = known?.state
}

data class TerminalListState(
    val items: List<TerminalItem> = emptyList(),
    val scanning: Boolean = false,
    val problem: Problem? = null,
)

/**
 * The terminal list: terminals in range (from a scan) merged with the ones this phone
 * knows (from the core's store), each with its link state. Known terminals come first,
 * then the strongest signal.
 */
class TerminalListModel(
    private val companion: PosmateCompanion,
    scope: CoroutineScope,
) : ScreenModel<TerminalListState>(TerminalListState(), scope) {
    private val seen = LinkedHashMap<String, ScannedTerminal>()
    private var known: List<Terminal> = emptyList()
    private val links = HashMap<String, LinkState>()
    private var scanJob: Job? = null
    private var statesJob: Job? = null

    /** Loads the known terminals and follows connection states until [close]. */
    fun open() {
        if (statesJob == null) {
            statesJob = scope.launch {
                companion.connectionStates().collect { onConnection(it) }
            }
        }
        refresh()
    }

    /** Reloads the terminals this phone knows (after pairing, activation, decommission). */
    fun refresh() {
        scope.launch {
            try {
                val terminals = blocking { companion.terminals() }
                synchronized(this@TerminalListModel) { known = terminals }
                publish(problem = null)
            } catch (e: PosmateException) {
                publish(problem = Problem.of(e))
            }
        }
    }

    /** Scans until [stopScan]; a scan that cannot run shows the core's problem. */
    fun scan() {
        if (scanJob?.isActive == true) return
        update { it.copy(scanning = true, problem = null) }
        scanJob = scope.launch {
            companion.scanResults()
                .catch { e ->
                    if (e is PosmateException) update { it.copy(problem = Problem.of(e)) } else throw e
                }
                .collect { t ->
                    synchronized(this@TerminalListModel) { seen[t.peripheralId] = t }
                    publish()
                }
            update { it.copy(scanning = false) }
        }
    }

    fun stopScan() {
        scanJob?.cancel()
        scanJob = null
        update { it.copy(scanning = false) }
    }

    fun close() {
        stopScan()
        statesJob?.cancel()
        statesJob = null
    }

    private fun onConnection(state: ConnectionState) {
        val (id, link) = when (state) {
            is ConnectionState.Connecting -> state.peripheralId to LinkState.Connecting
            is ConnectionState.Connected -> state.peripheralId to LinkState.Connected(state.mtu.toInt())
            is ConnectionState.ConnectFailed ->
                state.peripheralId to LinkState.ConnectFailed(state.code, state.detail)
            is ConnectionState.Disconnected -> state.peripheralId to LinkState.Disconnected(state.reason)
        }
        synchronized(this) { links[id] = link }
        publish()
    }

    private fun publish(problem: Problem? = current.problem) {
        val items = synchronized(this) {
            val byId = known.associateBy { it.peripheralId }
            val inRange = seen.values.map { t ->
                TerminalItem(
                    peripheralId = t.peripheralId,
                    name = t.localName,
                    rssi = t.rssi,
                    advertised = t.lifecycle,
                    pairingOpen = t.pairingOpen,
                    pairingLocked = t.pairingLocked,
                    known = byId[t.peripheralId],
                    link = links[t.peripheralId] ?: LinkState.Idle,
                )
            }
            val away = known.filter { k -> k.peripheralId == null || k.peripheralId !in seen }.map { k ->
                TerminalItem(
                    peripheralId = k.peripheralId ?: "",
                    name = k.sn,
                    rssi = null,
                    advertised = null,
                    pairingOpen = false,
                    pairingLocked = false,
                    known = k,
                    link = k.peripheralId?.let { links[it] } ?: LinkState.Idle,
                )
            }
            (inRange + away).sortedWith(
                compareByDescending<TerminalItem> { it.known != null }
                    .thenByDescending { it.rssi ?: Short.MIN_VALUE },
            )
        }
        update { it.copy(items = items, problem = problem) }
    }
}
