package app.posmate.kit

import app.posmate.ffi.CodeEntry
import app.posmate.ffi.FlowControl
import app.posmate.ffi.FlowProgress
import app.posmate.ffi.PosmateException
import app.posmate.ffi.ProgressListener
import kotlinx.coroutines.CancellationException

/**
 * A flow's cancel switch and progress, for a screen that shows a Cancel button.
 *
 * [cancel] asks the core to stop the flow at its next step boundary; the flow's call then
 * fails with code `cancelled` (or, past its point of no return, the core pauses it and it
 * shows in `openFlows()`). The outcome is always the core's answer: the screen never
 * decides by itself that something was cancelled.
 */
class FlowRun(onProgress: (FlowProgress) -> Unit) {
    /** Pass this to the flow's call. */
    val control: FlowControl = FlowControl(
        object : ProgressListener {
            override fun onProgress(progress: FlowProgress) = onProgress(progress)
        },
    )

    fun cancel() = control.cancel()

    val isCancelled: Boolean get() = control.isCancelled()

    /**
     * Runs [call] with [control]. If the calling coroutine is cancelled the flow is
     * cancelled too (the generated code drops the Rust future, which cancels it; this
     * makes it explicit) and the coroutine's cancellation propagates.
     */
    suspend fun <T> run(call: suspend (FlowControl) -> T): T =
        try {
            call(control)
        } catch (e: CancellationException) {
            control.cancel()
            throw e
        }
}

/** Runs a flow with its progress going to [onProgress]. */
suspend fun <T> withProgress(
    onProgress: (FlowProgress) -> Unit,
    call: suspend (FlowControl) -> T,
): T = FlowRun(onProgress).run(call)

/** The code entry the core calls while pairing, as a suspend function. */
fun codeEntry(enter: suspend (sn: String) -> String?): CodeEntry =
    object : CodeEntry {
        override suspend fun enterCode(sn: String): String? = enter(sn)
    }

/** The one variant of the bindings' error, with its code, advice and flags. */
val PosmateException.failure: PosmateException.Failed
    get() = when (this) {
        is PosmateException.Failed -> this
    }

/** The stable code (`cancelled`, `wrong-code`, `activation-rejected`, …). */
val PosmateException.code: String get() = failure.code
