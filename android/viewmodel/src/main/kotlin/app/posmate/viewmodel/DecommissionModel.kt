package app.posmate.viewmodel

import app.posmate.ffi.BackupChoice
import app.posmate.ffi.DecommissionInput
import app.posmate.ffi.DecommissionOutcome
import app.posmate.ffi.FlowProgress
import app.posmate.ffi.PosmateCompanion
import app.posmate.ffi.PosmateException
import kotlinx.coroutines.CoroutineScope

/** What the wizard collects. */
data class DecommissionForm(
    val reason: String = "",
    /** Where the encrypted backup is written (the app's choice of folder). */
    val backupPath: String = "",
    val passphrase: String = "",
    /** The merchant confirmed the terminal will be deregistered and wiped for good. */
    val understood: Boolean = false,
)

sealed interface DecommissionState {
    /** Step 1: why (kept with the acquirer and in the audit trail). */
    data object Reason : DecommissionState

    /** Step 2: the backup taken before anything is destroyed. */
    data class Backup(val problem: Problem? = null) : DecommissionState

    /**
     * Step 3: the confirmations. [problem] is the core's refusal of the last attempt
     * (an unsettled batch, a terminal not activated…).
     */
    data class Confirm(val problem: Problem? = null) : DecommissionState

    data class Running(val progress: FlowProgress? = null) : DecommissionState

    data class Done(val outcome: DecommissionOutcome) : DecommissionState

    /**
     * A lost link or no internet stopped it; [resumable] when the core kept the flow:
     * [DecommissionModel.retry] continues where it stopped (the backup is not taken twice).
     */
    data class Interrupted(val problem: Problem, val resumable: Boolean) : DecommissionState

    /**
     * Cancelled past the point of no return (the terminal is deregistered): the core
     * paused the flow and it must be finished with [DecommissionModel.retry].
     */
    data class Paused(val problem: Problem) : DecommissionState

    /** Cancelled before anything was destroyed: the terminal is as it was. */
    data class Cancelled(val problem: Problem) : DecommissionState
}

/**
 * The decommission wizard: reason → backup → confirmations → run. The wizard only walks
 * the merchant through the inputs; preconditions (settled batch, synced journal,
 * activated terminal), passphrase strength, the verified backup before any destructive
 * step and the point of no return are the core's, and its answers decide the next state.
 */
class DecommissionModel(
    private val companion: PosmateCompanion,
    val sn: String,
    scope: CoroutineScope,
    defaultBackupPath: String,
) : FlowScreenModel<DecommissionState>(DecommissionState.Reason, scope) {
    var form: DecommissionForm = DecommissionForm(backupPath = defaultBackupPath)
        private set

    fun edit(change: (DecommissionForm) -> DecommissionForm) {
        form = change(form)
    }

    /** The next step of the wizard (the inputs are judged by the core when it runs). */
    fun next() {
        current = when (val s = current) {
            DecommissionState.Reason -> DecommissionState.Backup()
            is DecommissionState.Backup -> DecommissionState.Confirm()
            else -> s
        }
    }

    fun back() {
        current = when (val s = current) {
            is DecommissionState.Backup -> DecommissionState.Reason
            is DecommissionState.Confirm,
            is DecommissionState.Cancelled,
            -> DecommissionState.Backup()
            else -> s
        }
    }

    /** Whether the final button is enabled: the merchant ticked the confirmation. */
    val canStart: Boolean get() = current is DecommissionState.Confirm && form.understood

    /** Runs the decommission (from the confirmation step, once confirmed). */
    fun begin() {
        if (!canStart) return
        launchRun()
    }

    /** Continues an interrupted or paused decommission where the core stopped it. */
    fun retry() {
        val s = current
        if (s is DecommissionState.Interrupted || s is DecommissionState.Paused) launchRun()
    }

    private fun launchRun() {
        start {
            current = DecommissionState.Running()
            val f = form
            val input = DecommissionInput(sn, f.reason, BackupChoice.Write(f.backupPath, f.passphrase))
            val result = cancellableFlow({ p -> current = DecommissionState.Running(p) }) { control ->
                companion.decommission(input, control)
            }
            current = result.fold(
                onSuccess = { DecommissionState.Done(it) },
                onFailure = { e -> failed(Problem.of(e as PosmateException)) },
            )
        }
    }

    private suspend fun failed(problem: Problem): DecommissionState {
        val open = blocking { companion.openFlow(KIND, sn) }
        return when {
            problem.code == Codes.CANCELLED && open.isPaused() -> DecommissionState.Paused(problem)
            problem.code == Codes.CANCELLED -> DecommissionState.Cancelled(problem)
            problem.retryable -> DecommissionState.Interrupted(problem, resumable = open != null)
            problem.code == Codes.WEAK_PASSPHRASE -> DecommissionState.Backup(problem)
            else -> DecommissionState.Confirm(problem)
        }
    }

    private companion object {
        const val KIND = "decommission"
    }
}
