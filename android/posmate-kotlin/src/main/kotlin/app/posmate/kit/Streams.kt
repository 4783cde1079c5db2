package app.posmate.kit

import app.posmate.ffi.ConnectionListener
import app.posmate.ffi.ConnectionState
import app.posmate.ffi.PosmateCompanion
import app.posmate.ffi.PosmateException
import app.posmate.ffi.ScanFilter
import app.posmate.ffi.ScanListener
import app.posmate.ffi.ScannedTerminal
import app.posmate.ffi.TaskHandle
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.channels.awaitClose
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.buffer
import kotlinx.coroutines.flow.callbackFlow

/**
 * Terminals as a scan sees them, for as long as the flow is collected: collecting starts
 * the scan, cancelling the collector cancels its [TaskHandle]. The same terminal comes
 * again when its signal or state changes. The flow fails with the core's
 * [PosmateException] when the scan cannot run (Bluetooth off, a permission missing).
 *
 * The listener runs on a posmate thread and must not block it, so the flow buffers
 * without limit; collect it on the dispatcher the UI needs.
 */
fun PosmateCompanion.scanResults(filter: ScanFilter? = null): Flow<ScannedTerminal> =
    callbackFlow {
        val handle = scan(
            object : ScanListener {
                override fun onTerminal(terminal: ScannedTerminal) {
                    trySend(terminal)
                }

                override fun onError(error: PosmateException) {
                    close(error)
                }
            },
            filter,
        )
        awaitClose { handle.stop() }
    }.buffer(Channel.UNLIMITED)

/**
 * Every connection state of the links this companion opens (pairing, flows, reconnects),
 * in order, while collected.
 */
fun PosmateCompanion.connectionStates(): Flow<ConnectionState> =
    callbackFlow {
        val handle = subscribeConnectionStates(
            object : ConnectionListener {
                override fun onState(state: ConnectionState) {
                    trySend(state)
                }
            },
        )
        awaitClose { handle.stop() }
    }.buffer(Channel.UNLIMITED)

/** Cancels the task and releases the handle's native side. */
private fun TaskHandle.stop() {
    cancel()
    destroy()
}
