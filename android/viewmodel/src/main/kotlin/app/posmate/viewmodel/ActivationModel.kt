package app.posmate.viewmodel

import app.posmate.ffi.ActivationInput
import app.posmate.ffi.ActivationOutcome
import app.posmate.ffi.FlowProgress
import app.posmate.ffi.KeySlotProof
import app.posmate.ffi.MerchantDetails
import app.posmate.ffi.PosmateCompanion
import app.posmate.ffi.PosmateException
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Job
import kotlinx.coroutines.delay
import kotlinx.coroutines.launch

/** The activation form: what the acquirer's letter says, typed by the merchant. */
data class ActivationForm(
    val terminalNo: String = "",
    val merchantNo: String = "",
    val activationCode: String = "",
    val legalName: String = "",
    val contactPhone: String = "",
    val address: String = "",
)

sealed interface ActivationState {
    /** The form; [problem] is the core's verdict on the last submission (bad input…). */
    data class Editing(val problem: Problem? = null) : ActivationState

    data class Submitting(val progress: FlowProgress? = null) : ActivationState

    /** The acquirer is reviewing: check again after [retryAfterMs]. */
    data class PendingReview(
        val applicationId: String,
        val retryAfterMs: Long,
        val checking: Boolean = false,
        /** Why the last check could not get an answer (no internet…), if it failed. */
        val problem: Problem? = null,
    ) : ActivationState

    data class Activated(
        val terminalNo: String,
        val merchantNo: String,
        val testTxnRef: String,
        val keySlots: List<KeySlotProof>,
    ) : ActivationState

    /** The acquirer said no; [problem] carries its reason and what to do. */
    data class Rejected(val problem: Problem) : ActivationState

    /**
     * Stopped by a lost link or no internet. [resumable] when the core kept the flow:
     * [ActivationModel.retry] resumes it without a second application.
     */
    data class Interrupted(val problem: Problem, val resumable: Boolean) : ActivationState

    data class Cancelled(val problem: Problem) : ActivationState
}

/**
 * The activation form and what follows it. Every rule is the core's: the form is sent as
 * typed and the core answers with `invalid-input` (and the field and what is wrong) or
 * runs the flow; pending review, rejection and key checks are the acquirer's and core's.
 */
class ActivationModel(
    private val companion: PosmateCompanion,
    /** The terminal being activated. */
    val sn: String,
    scope: CoroutineScope,
    /** Check a pending review again by itself once the acquirer's wait is over. */
    private val pollAutomatically: Boolean = true,
) : FlowScreenModel<ActivationState>(ActivationState.Editing(), scope) {
    var form: ActivationForm = ActivationForm()
        private set
    private var poll: Job? = null

    fun edit(change: (ActivationForm) -> ActivationForm) {
        form = change(form)
    }

    /** Fills the form from a letter (the simulated acquirer's, in development). */
    fun fill(form: ActivationForm) {
        this.form = form
    }

    /** Shows a pending activation left from before (the app was closed while in review). */
    fun resumeIfOpen() {
        start {
            if (blocking { companion.openFlow(KIND, sn) } != null) status()
        }
    }

    fun submit() {
        start {
            val f = form
            val input = ActivationInput(
                sn = sn,
                terminalNo = f.terminalNo,
                merchantNo = f.merchantNo,
                activationCode = f.activationCode,
                merchant = MerchantDetails(f.legalName, f.contactPhone, f.address),
            )
            flow { control -> companion.activate(input, control) }
        }
    }

    /** Asks the acquirer again about a pending review. */
    fun checkStatus() {
        start { status() }
    }

    /** After an interruption: resumes the kept flow, or submits again if none was kept. */
    fun retry() {
        val state = current
        if (state is ActivationState.Interrupted && state.resumable) checkStatus() else submit()
    }

    /** Back to the form (after a rejection, a cancel or an interruption). */
    fun backToForm() {
        if (!busy) current = ActivationState.Editing()
    }

    private suspend fun status() {
        val pending = current as? ActivationState.PendingReview
        if (pending != null) current = pending.copy(checking = true, problem = null)
        flow { control -> companion.activationStatus(sn, control) }
    }

    private suspend fun flow(call: suspend (app.posmate.ffi.FlowControl) -> ActivationOutcome) {
        poll?.cancel()
        val pendingBefore = current as? ActivationState.PendingReview
        if (pendingBefore == null) current = ActivationState.Submitting()
        val result = cancellableFlow({ p ->
            if (current is ActivationState.Submitting) current = ActivationState.Submitting(p)
        }, call)
        current = result.fold(
            onSuccess = { outcome -> shown(outcome) },
            onFailure = { e ->
                val problem = Problem.of(e as PosmateException)
                when {
                    problem.code == Codes.ACTIVATION_REJECTED -> ActivationState.Rejected(problem)
                    problem.code == Codes.CANCELLED -> ActivationState.Cancelled(problem)
                    // Still under review, the check itself failed (no internet): keep waiting.
                    pendingBefore != null && problem.retryable ->
                        pendingBefore.copy(checking = false, problem = problem)
                    problem.retryable -> ActivationState.Interrupted(
                        problem,
                        resumable = blocking { companion.openFlow(KIND, sn) } != null,
                    )
                    else -> ActivationState.Editing(problem)
                }
            },
        )
        schedulePoll()
    }

    private fun shown(outcome: ActivationOutcome): ActivationState = when (outcome) {
        is ActivationOutcome.Activated -> ActivationState.Activated(
            outcome.terminalNo,
            outcome.merchantNo,
            outcome.testTxnRef,
            outcome.keySlots,
        )
        is ActivationOutcome.Pending -> ActivationState.PendingReview(
            outcome.applicationId,
            outcome.retryAfterMs.toLong(),
        )
    }

    private fun schedulePoll() {
        val pending = current as? ActivationState.PendingReview ?: return
        if (!pollAutomatically) return
        poll = scope.launch {
            delay(pending.retryAfterMs)
            checkStatus()
        }
    }

    private companion object {
        const val KIND = "activation"
    }
}
