package app.posmate.viewmodel

import app.posmate.ffi.BindInput
import app.posmate.ffi.Card
import app.posmate.ffi.CardPurpose
import app.posmate.ffi.CardSource
import app.posmate.ffi.PosmateCompanion
import app.posmate.ffi.PosmateException
import kotlinx.coroutines.CoroutineScope

data class CardsState(
    val cards: List<Card> = emptyList(),
    /** The last bind or unbind; `Done` holds the card bound (or `null` after an unbind). */
    val operation: Operation<Card?> = Operation.Idle,
    val problem: Problem? = null,
)

/**
 * The merchant's cards: the list the core keeps, binding one read on the terminal or typed
 * in, unbinding. Card numbers are passed to the core as typed; the check digit, expiry and
 * holder rules are the core's (`card-number-check-digit`, `card-expiry-invalid`, …), and
 * only the masked number ever comes back.
 */
class CardsModel(
    private val companion: PosmateCompanion,
    val merchantNo: String,
    /** The terminal that reads cards. */
    val sn: String,
    scope: CoroutineScope,
) : FlowScreenModel<CardsState>(CardsState(), scope) {
    fun refresh() {
        start { reload() }
    }

    /** The merchant holds the card to the terminal when the core's progress says so. */
    fun bindFromTerminal(purpose: CardPurpose, holderName: String, timeoutMs: UInt = 60_000u) {
        bind(BindInput(merchantNo, purpose, holderName, CardSource.Terminal(sn, timeoutMs)))
    }

    fun bindTyped(purpose: CardPurpose, holderName: String, pan: String, expiry: String) {
        bind(BindInput(merchantNo, purpose, holderName, CardSource.Manual(pan, expiry)))
    }

    fun unbind(bindingId: String) {
        operation(BIND_OFF) { control ->
            companion.unbindCard(merchantNo, bindingId, control)
            null
        }
    }

    private fun bind(input: BindInput) {
        operation(BIND_ON) { control -> companion.bindCard(input, control) }
    }

    private fun operation(kind: String, call: suspend (app.posmate.ffi.FlowControl) -> Card?) {
        start {
            companion.runOperation(kind, sn, { s, op -> s.copy(operation = op) }, call)
            reload()
        }
    }

    private suspend fun reload() {
        try {
            val cards = blocking { companion.cards(merchantNo) }
            update { it.copy(cards = cards, problem = null) }
        } catch (e: PosmateException) {
            update { it.copy(problem = Problem.of(e)) }
        }
    }

    private companion object {
        const val BIND_ON = "card-bind"
        const val BIND_OFF = "card-unbind"
    }
}
