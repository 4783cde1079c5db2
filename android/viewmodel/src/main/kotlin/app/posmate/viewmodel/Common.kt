package app.posmate.viewmodel

import app.posmate.ffi.ErrorKind
import app.posmate.ffi.FlowControl
import app.posmate.ffi.FlowInfo
import app.posmate.ffi.FlowProgress
import app.posmate.ffi.FlowStatus
import app.posmate.ffi.PosmateCompanion
import app.posmate.ffi.PosmateException
import app.posmate.kit.FlowRun
import app.posmate.kit.failure
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.Job
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext

/**
 * A failure exactly as the core reported it. Screens show [detail] and [userAction] and
 * branch only on [code], its [kind] and the flags, never on the text.
 */
data class Problem(
    val code: String,
    val kind: ErrorKind,
    val detail: String,
    val userAction: String,
    val retryable: Boolean,
    val needsInternet: Boolean,
) {
    companion object {
        fun of(e: PosmateException): Problem = e.failure.let {
            Problem(it.code, it.kind, it.detail, it.userAction, it.retryable, it.needsInternet)
        }
    }
}

/** The stable codes the screens branch on (the core defines them; docs/cli.md lists them). */
object Codes {
    const val CANCELLED = "cancelled"
    const val ACTIVATION_REJECTED = "activation-rejected"
    const val WEAK_PASSPHRASE = "weak-passphrase"
}

/**
 * One long operation on a screen (a sync, an end of day, a card binding), as the core
 * reports it.
 */
sealed interface Operation<out T> {
    data object Idle : Operation<Nothing>

    /** Running; [progress] is the core's last report (none before the first step). */
    data class Running(val progress: FlowProgress? = null) : Operation<Nothing>

    data class Done<T>(val result: T) : Operation<T>

    /**
     * Stopped by something outside the phone (a lost link, no internet): the core says a
     * retry can succeed. [resumable] when the core kept the flow open to be finished.
     */
    data class Interrupted(val problem: Problem, val resumable: Boolean) : Operation<Nothing>

    /** The core refused or failed; retrying the same thing will not help. */
    data class Failed(val problem: Problem) : Operation<Nothing>

    /** The core stopped the flow at a step boundary because the merchant cancelled. */
    data class Cancelled(val problem: Problem) : Operation<Nothing>
}

/**
 * A screen's state holder: plain Kotlin, no Android. The app wraps it in an Android
 * `ViewModel` and collects [state]; tests drive it directly against the simulated mode.
 * Actions start work in [scope] and return at once; the state says what happened.
 */
abstract class ScreenModel<S>(
    initial: S,
    protected val scope: CoroutineScope,
    /** Where the bindings' blocking calls (store reads) run, off the UI thread. */
    private val blockingDispatcher: CoroutineDispatcher = Dispatchers.IO,
) {
    private val mutableState = MutableStateFlow(initial)
    val state: StateFlow<S> = mutableState.asStateFlow()

    protected var current: S
        get() = mutableState.value
        set(value) {
            mutableState.value = value
        }

    protected fun update(change: (S) -> S) = mutableState.update(change)

    private var job: Job? = null

    /** Whether an action's work is running. */
    val busy: Boolean get() = job?.isActive == true

    /**
     * Starts [work] unless another action's work is still running (a second tap on a
     * button does not start a second flow). Returns whether it started.
     */
    protected fun start(work: suspend CoroutineScope.() -> Unit): Boolean {
        if (busy) return false
        job = scope.launch(block = work)
        return true
    }

    /** Runs one of the bindings' blocking calls (a store read) off the caller's thread. */
    protected suspend fun <T> blocking(call: () -> T): T = withContext(blockingDispatcher) { call() }

    /** Waits for the running action, if any (tests, and screens that chain actions). */
    suspend fun idle() {
        job?.join()
    }
}

/**
 * A screen that runs the core's flows, one at a time, behind a Cancel button: it keeps the
 * running flow's switch so that [cancel] reaches whichever flow the screen started.
 */
abstract class FlowScreenModel<S>(initial: S, scope: CoroutineScope) : ScreenModel<S>(initial, scope) {
    private var run: FlowRun? = null

    /** Stops the running flow at its next step (the core answers `cancelled`). */
    fun cancel() {
        run?.cancel()
    }

    /**
     * Runs [call] as the screen's flow, its progress to [onProgress]; the core's error
     * becomes `Result.failure`, for the screen to turn into its own state.
     */
    protected suspend fun <T> cancellableFlow(
        onProgress: (FlowProgress) -> Unit,
        call: suspend (FlowControl) -> T,
    ): Result<T> {
        val flowRun = FlowRun(onProgress)
        run = flowRun
        return attempt { flowRun.run(call) }.also { run = null }
    }

    /**
     * Runs the flow of [kind] for terminal [sn] into the one [Operation] of the state that
     * [into] sets: running with the core's progress, then done, or what [failedOperation]
     * makes of the core's error.
     */
    protected suspend fun <T> PosmateCompanion.runOperation(
        kind: String,
        sn: String,
        into: (S, Operation<T>) -> S,
        call: suspend (FlowControl) -> T,
    ) {
        update { into(it, Operation.Running()) }
        val result = cancellableFlow({ p -> update { into(it, Operation.Running(p)) } }, call)
        val operation: Operation<T> = result.fold(
            onSuccess = { Operation.Done(it) },
            onFailure = { e -> failedOperation(e, kind, sn) },
        )
        update { into(it, operation) }
    }

    /**
     * The state for a failed flow, from what the core says: its code, whether a retry can
     * help, and whether it kept the flow open.
     */
    private suspend fun <T> PosmateCompanion.failedOperation(
        e: Throwable,
        kind: String,
        sn: String,
    ): Operation<T> {
        val problem = Problem.of(e as PosmateException)
        val open = blocking { openFlow(kind, sn) }
        return when {
            problem.code == Codes.CANCELLED -> Operation.Cancelled(problem)
            problem.retryable -> Operation.Interrupted(problem, resumable = open != null)
            else -> Operation.Failed(problem)
        }
    }
}

/** Runs [call]; the core's error becomes `Result.failure` (anything else propagates). */
internal suspend fun <T> attempt(call: suspend () -> T): Result<T> =
    try {
        Result.success(call())
    } catch (e: PosmateException) {
        Result.failure(e)
    }

/** The open flow of [kind] for terminal [sn], as the core keeps it. */
internal fun PosmateCompanion.openFlow(kind: String, sn: String): FlowInfo? =
    runCatching { openFlows() }.getOrDefault(emptyList())
        .firstOrNull { it.kind == kind && it.sn == sn }

/** Whether the core paused the flow (it must be finished later, e.g. past a wipe). */
internal fun FlowInfo?.isPaused(): Boolean = this?.status == FlowStatus.PAUSED
