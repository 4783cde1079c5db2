package app.posmate.viewmodel

import app.posmate.ffi.PosmateCompanion
import app.posmate.ffi.Terminal
import app.posmate.kit.codeEntry
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.CoroutineScope

sealed interface PairingState {
    data object Idle : PairingState

    /** Connecting to the terminal and starting the pairing handshake. */
    data class Connecting(val peripheralId: String) : PairingState

    /** The terminal shows a code: the merchant types it. */
    data class AwaitingCode(val peripheralId: String, val sn: String) : PairingState

    /** The typed code is being checked by the handshake. */
    data class Verifying(val sn: String) : PairingState

    data class Paired(val terminal: Terminal) : PairingState

    /** The core's answer: a wrong code, pairing locked, the terminal out of reach… */
    data class Failed(val problem: Problem) : PairingState

    /** The merchant cancelled the code entry; the core stopped and stored nothing. */
    data class Cancelled(val problem: Problem) : PairingState
}

/**
 * Pairing code entry. The core asks for the code when the handshake needs it (through
 * [app.posmate.ffi.CodeEntry]); this model shows [PairingState.AwaitingCode] and hands
 * the core what the merchant typed, unchecked: the code's format and correctness are the
 * core's and the terminal's to judge.
 */
class PairingModel(
    private val companion: PosmateCompanion,
    scope: CoroutineScope,
) : ScreenModel<PairingState>(PairingState.Idle, scope) {
    private var pending: CompletableDeferred<String?>? = null

    fun pair(peripheralId: String) {
        start {
            current = PairingState.Connecting(peripheralId)
            val entry = codeEntry { sn ->
                val answer = CompletableDeferred<String?>()
                pending = answer
                current = PairingState.AwaitingCode(peripheralId, sn)
                val code = answer.await()
                pending = null
                if (code != null) current = PairingState.Verifying(sn)
                code
            }
            current = attempt { companion.pair(peripheralId, entry) }.fold(
                onSuccess = { PairingState.Paired(it) },
                onFailure = { e ->
                    val problem = Problem.of(e as app.posmate.ffi.PosmateException)
                    if (problem.code == Codes.CANCELLED) {
                        PairingState.Cancelled(problem)
                    } else {
                        PairingState.Failed(problem)
                    }
                },
            )
        }
    }

    /** The digits the merchant typed, passed on as typed. */
    fun submitCode(code: String) {
        pending?.complete(code)
    }

    /** Stops pairing: the core is told the merchant gave no code. */
    fun cancel() {
        pending?.complete(null)
    }

    /** Back to the start (after a result was shown). */
    fun reset() {
        if (!busy) current = PairingState.Idle
    }
}
