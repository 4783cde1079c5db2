package app.posmate.viewmodel

import app.posmate.ffi.HistoryCursor
import app.posmate.ffi.HistoryQuery
import app.posmate.ffi.PosmateCompanion
import app.posmate.ffi.PosmateException
import app.posmate.ffi.SettlementOutcome
import app.posmate.ffi.SyncOutcome
import app.posmate.ffi.TransactionRecord
import kotlinx.coroutines.CoroutineScope

data class RecordsState(
    /** Newest first, the pages loaded so far. */
    val records: List<TransactionRecord> = emptyList(),
    /** Where the next page starts; none once the last page is loaded. */
    val next: HistoryCursor? = null,
    val sync: Operation<SyncOutcome> = Operation.Idle,
    /** End of day: the core syncs, closes the batch and checks the totals. */
    val endOfDay: Operation<SettlementOutcome> = Operation.Idle,
    val problem: Problem? = null,
)

/**
 * A terminal's records, page by page, with sync and end of day. Totals, batch matching
 * and what is settled are the core's; the screen shows its outcome as is.
 */
class RecordsModel(
    private val companion: PosmateCompanion,
    val sn: String,
    scope: CoroutineScope,
    private val pageSize: UInt = 50u,
) : FlowScreenModel<RecordsState>(RecordsState(), scope) {
    /** Reloads from the newest record. */
    fun refresh() {
        start { load(after = null) }
    }

    fun loadMore() {
        val next = current.next ?: return
        start { load(after = next) }
    }

    /** Fetches the terminal's new records. */
    fun sync() {
        start {
            companion.runOperation("sync", sn, { s, op -> s.copy(sync = op) }) { control ->
                companion.sync(sn, control)
            }
            load(after = null)
        }
    }

    /**
     * Runs end of day. After an interruption the same call resumes the settlement the core
     * kept open (it never settles a batch twice).
     */
    fun endOfDay() {
        start {
            companion.runOperation(KIND_SETTLEMENT, sn, { s, op -> s.copy(endOfDay = op) }) { control ->
                companion.settle(sn, control)
            }
            load(after = null)
        }
    }

    private suspend fun load(after: HistoryCursor?) {
        try {
            val page = blocking {
                companion.history(HistoryQuery(sn = sn, limit = pageSize, after = after))
            }
            update {
                it.copy(
                    records = if (after == null) page.records else it.records + page.records,
                    next = page.next,
                    problem = null,
                )
            }
        } catch (e: PosmateException) {
            update { it.copy(problem = Problem.of(e)) }
        }
    }

    private companion object {
        const val KIND_SETTLEMENT = "settlement"
    }
}
