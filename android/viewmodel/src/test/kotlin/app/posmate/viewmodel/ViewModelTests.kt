// The screens' state machines against posmate's simulated mode, on the JVM.
//
// Run by `cargo xtask test` (kotlinc + JNA, no Android SDK) and by Gradle's
// `:viewmodel:check` (the `viewModelTests` task). Every test drives a view model the way a
// screen does and checks the states the screen would show, for success, pending review,
// rejection, lost link and cancellation. The last line is "N passed, M failed"; the exit
// code is non-zero when anything failed.
package app.posmate.viewmodel

import app.posmate.ffi.ActivationInput
import app.posmate.ffi.CardPurpose
import app.posmate.ffi.CompanionConfig
import app.posmate.ffi.FlowProgress
import app.posmate.ffi.Keystore
import app.posmate.ffi.Lifecycle
import app.posmate.ffi.LinkDirection
import app.posmate.ffi.PosmateCompanion
import app.posmate.ffi.SimFault
import app.posmate.ffi.SimReview
import app.posmate.ffi.SimScreen
import app.posmate.ffi.Simulation
import app.posmate.ffi.SimulationOptions
import app.posmate.ffi.TerminalState
import app.posmate.kit.codeEntry
import java.io.File
import java.nio.file.Files
import java.util.Collections
import kotlin.system.exitProcess
import kotlin.test.assertEquals
import kotlin.test.assertIs
import kotlin.test.assertNotNull
import kotlin.test.assertTrue
import kotlin.test.fail
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.cancel
import kotlinx.coroutines.coroutineScope
import kotlinx.coroutines.delay
import kotlinx.coroutines.launch
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import kotlinx.coroutines.withTimeoutOrNull

const val PAN = "6222021234567890128"
const val CNY: UShort = 156u
const val PASSPHRASE = "correct horse battery"

/** A simulated world, a phone opened on it, and the scope the screens run in. */
class World(val root: File, name: String, terminals: UInt = 1u, seed: ULong, review: SimReview? = null) {
    val sim = Simulation(SimulationOptions(terminals, seed, review))
    val scope = CoroutineScope(SupervisorJob() + Dispatchers.Default)
    val dir = File(root, name)
    lateinit var phone: PosmateCompanion
    val sn: String get() = sim.terminals()[0].sn
    val peripheralId: String get() = sim.terminals()[0].peripheralId!!

    suspend fun open(): World {
        phone = PosmateCompanion.openSimulated(
            CompanionConfig(
                dataDir = dir.path,
                keystore = Keystore.MOCK,
                allowVolatileKey = true,
                reconnectAttempts = 2u,
                backupWorkFactor = 10u,
            ),
            sim,
        )
        return this
    }

    /** The acquirer's letter for terminal [i], as the merchant would type it. */
    fun letter(i: Int = 0): ActivationForm {
        val t = sim.terminals()[i]
        val m = sim.merchant()
        return ActivationForm(t.terminalNo, m.merchantNo, t.activationCode, m.details.legalName, m.details.contactPhone, m.details.address)
    }

    /** Setup (not under test): pairs through the core directly, reading the code off the screen. */
    suspend fun paired(): World {
        phone.pair(peripheralId, codeEntry { sn -> (sim.screen(sn) as? SimScreen.PairingCode)?.code })
        return this
    }

    suspend fun activated(): World {
        paired()
        val l = letter()
        phone.activate(
            ActivationInput(sn, l.terminalNo, l.merchantNo, l.activationCode, app.posmate.ffi.MerchantDetails(l.legalName, l.contactPhone, l.address)),
        )
        return this
    }

    fun sales(vararg amounts: Long) {
        for (a in amounts) check(sim.ringUpSale(sn, a.toULong(), CNY, PAN).approved)
    }

    /** From now on every new connection to the terminal is lost after its first packet to the phone. */
    suspend fun breakLink() {
        phone.disconnect()
        sim.setFaults(sn, listOf(SimFault.DisconnectAfter(LinkDirection.TO_PHONE, 0uL)))
    }

    /**
     * From now on every packet to the phone arrives [ms] late: a step takes long enough that
     * a cancel tapped after one step's report lands before the next step, however loaded
     * the machine.
     */
    suspend fun slowLink(ms: Long = 150) {
        phone.disconnect()
        sim.setFaults(sn, listOf(SimFault.ExtraLatency(LinkDirection.TO_PHONE, ms.toULong())))
    }

    fun mendLink() = sim.setFaults(sn, emptyList())

    suspend fun close() {
        scope.cancel()
        phone.shutdown()
        phone.destroy()
        sim.destroy()
    }
}

/** Waits until the model's state matches, failing with the state it is stuck in. */
suspend fun <S> ScreenModel<S>.await(what: String, timeoutMs: Long = 30_000, match: (S) -> Boolean): S =
    withTimeoutOrNull(timeoutMs) { state.first(match) }
        ?: fail("timed out waiting for $what; the state is ${state.value}")

/** Every state the model passes through while [block] runs (for progress checks). */
suspend fun <S> ScreenModel<S>.recording(block: suspend () -> Unit): List<S> = coroutineScope {
    val seen = Collections.synchronizedList(mutableListOf<S>())
    // Unconfined: the collector runs in the thread that sets the state, so no state is
    // conflated away before it is recorded.
    val job = launch(Dispatchers.Unconfined) { state.collect { seen.add(it) } }
    try {
        block()
    } finally {
        job.cancel()
    }
    synchronized(seen) { seen.toList() }
}

// ---- terminal list ----------------------------------------------------------------------

suspend fun terminalListShowsSignalStateAndLink(root: File) {
    val w = World(root, "list", terminals = 2u, seed = 31u).open()
    val list = TerminalListModel(w.phone, w.scope)
    list.open()
    list.scan()
    val both = list.await("both terminals in range") { s -> s.items.count { it.inRange } == 2 }
    assertTrue(both.scanning)
    assertTrue(both.items.all { it.rssi != null && it.advertised == Lifecycle.FACTORY && it.known == null }, "${both.items}")
    assertTrue(both.items[0].rssi!! >= both.items[1].rssi!!, "strongest first: ${both.items}")

    w.paired()
    list.refresh()
    val known = list.await("the paired terminal known and connected") { s ->
        s.items.any { it.knownState == TerminalState.PAIRED && it.link is LinkState.Connected }
    }
    assertEquals(w.peripheralId, known.items.first().peripheralId, "known terminals first")
    list.stopScan()
    assertTrue(!list.state.value.scanning)

    w.phone.disconnect()
    list.await("the link closed by the phone") { s ->
        s.items.first().link == LinkState.Disconnected(app.posmate.ffi.DisconnectReason.CLOSED_BY_PHONE)
    }
    list.close()
    w.close()
}

// ---- pairing ----------------------------------------------------------------------------

suspend fun pairingWithTheCodeOnTheScreen(root: File) {
    val w = World(root, "pair", seed = 32u).open()
    val pairing = PairingModel(w.phone, w.scope)
    pairing.pair(w.peripheralId)
    val asked = pairing.await("the code asked for") { it is PairingState.AwaitingCode }
    assertEquals(w.sn, (asked as PairingState.AwaitingCode).sn)
    val code = (w.sim.screen(w.sn) as SimScreen.PairingCode).code
    pairing.submitCode(code)
    val paired = pairing.await("paired") { it is PairingState.Paired || it is PairingState.Failed }
    assertIs<PairingState.Paired>(paired)
    assertEquals(TerminalState.PAIRED, paired.terminal.state)
    assertEquals(listOf(w.sn), w.phone.terminals().map { it.sn })
    w.close()
}

suspend fun pairingWithAWrongCode(root: File) {
    val w = World(root, "pair-wrong", seed = 33u).open()
    val pairing = PairingModel(w.phone, w.scope)
    pairing.pair(w.peripheralId)
    pairing.await("the code asked for") { it is PairingState.AwaitingCode }
    val code = (w.sim.screen(w.sn) as SimScreen.PairingCode).code
    pairing.submitCode(if (code == "000000") "111111" else "000000")
    val failed = pairing.await("the core's refusal") { it is PairingState.Failed || it is PairingState.Paired }
    assertIs<PairingState.Failed>(failed)
    assertEquals("wrong-code", failed.problem.code, "$failed")
    assertTrue(failed.problem.userAction.isNotBlank())
    assertTrue(w.phone.terminals().isEmpty(), "nothing stored")
    w.close()
}

suspend fun pairingCancelledAtTheCode(root: File) {
    val w = World(root, "pair-cancel", seed = 34u).open()
    val pairing = PairingModel(w.phone, w.scope)
    pairing.pair(w.peripheralId)
    pairing.await("the code asked for") { it is PairingState.AwaitingCode }
    pairing.cancel()
    val cancelled = pairing.await("cancelled") { it is PairingState.Cancelled || it is PairingState.Failed }
    assertIs<PairingState.Cancelled>(cancelled)
    assertEquals("cancelled", cancelled.problem.code)
    assertTrue(w.phone.terminals().isEmpty(), "nothing stored")
    w.close()
}

// ---- activation -------------------------------------------------------------------------

fun ActivationState.settled() = this !is ActivationState.Submitting &&
    !(this is ActivationState.PendingReview && this.checking)

suspend fun activationSucceeds(root: File) {
    val w = World(root, "act", seed = 41u).open().paired()
    val activation = ActivationModel(w.phone, w.sn, w.scope, pollAutomatically = false)
    activation.fill(w.letter())
    val seen = activation.recording {
        activation.submit()
        activation.await("an outcome") { it.settled() && it !is ActivationState.Editing }
    }
    val done = activation.state.value
    assertIs<ActivationState.Activated>(done)
    assertEquals(3, done.keySlots.size)
    val progress = seen.filterIsInstance<ActivationState.Submitting>().mapNotNull { it.progress?.fraction }
    assertTrue(progress.size >= 2 && progress == progress.sorted(), "progress rises: $progress")
    assertEquals(TerminalState.ACTIVATED, w.phone.terminal(w.sn).state)
    w.close()
}

suspend fun activationFormRejectedByTheCore(root: File) {
    val w = World(root, "act-invalid", seed = 42u).open().paired()
    val activation = ActivationModel(w.phone, w.sn, w.scope, pollAutomatically = false)
    activation.fill(w.letter())
    activation.edit { it.copy(terminalNo = "12") }
    activation.submit()
    activation.idle()
    val editing = activation.state.value
    assertIs<ActivationState.Editing>(editing)
    val problem = assertNotNull(editing.problem)
    assertEquals("invalid-input", problem.code)
    assertTrue(problem.detail.startsWith("terminal number"), problem.detail)
    assertEquals("12", activation.form.terminalNo, "the form keeps what was typed")
    assertEquals(0u, w.sim.acquirerActivations(w.sn), "nothing reached the acquirer")
    activation.edit { it.copy(terminalNo = w.letter().terminalNo) }
    activation.submit()
    activation.idle()
    assertIs<ActivationState.Activated>(activation.state.value)
    w.close()
}

suspend fun activationPendingReview(root: File) {
    val w = World(root, "act-pending", seed = 43u, review = SimReview.AfterPolls(2u)).open().paired()
    val activation = ActivationModel(w.phone, w.sn, w.scope, pollAutomatically = false)
    activation.fill(w.letter())
    activation.submit()
    activation.idle()
    val pending = activation.state.value
    assertIs<ActivationState.PendingReview>(pending)
    assertTrue(pending.applicationId.isNotBlank() && pending.retryAfterMs > 0, "$pending")
    assertEquals("pending", w.sim.acquirerTerminalState(w.sn))
    var checks = 0
    while (activation.state.value is ActivationState.PendingReview && checks < 5) {
        activation.checkStatus()
        activation.idle()
        checks++
    }
    assertIs<ActivationState.Activated>(activation.state.value)
    assertTrue(checks >= 2, "approved only after the acquirer's review ($checks checks)")
    assertEquals(1u, w.sim.acquirerActivations(w.sn), "one application, however many checks")

    // A phone restarted during the review shows it again (from the core's open flow).
    w.close()
}

suspend fun activationPendingShownAgainAfterRestart(root: File) {
    val w = World(root, "act-restart", seed = 44u, review = SimReview.AfterPolls(3u)).open().paired()
    val first = ActivationModel(w.phone, w.sn, w.scope, pollAutomatically = false)
    first.fill(w.letter())
    first.submit()
    first.idle()
    assertIs<ActivationState.PendingReview>(first.state.value)
    val again = ActivationModel(w.phone, w.sn, w.scope, pollAutomatically = false)
    assertIs<ActivationState.Editing>(again.state.value)
    again.resumeIfOpen()
    again.idle()
    assertIs<ActivationState.PendingReview>(again.state.value, "a new screen finds the review in progress")
    w.close()
}

suspend fun activationRejected(root: File) {
    val review = SimReview.Reject("R07", "merchant category not allowed")
    val w = World(root, "act-reject", seed = 45u, review = review).open().paired()
    val activation = ActivationModel(w.phone, w.sn, w.scope, pollAutomatically = false)
    activation.fill(w.letter())
    activation.submit()
    activation.idle()
    assertIs<ActivationState.PendingReview>(activation.state.value)
    activation.checkStatus()
    activation.idle()
    val rejected = activation.state.value
    assertIs<ActivationState.Rejected>(rejected)
    assertEquals("activation-rejected", rejected.problem.code)
    assertTrue(rejected.problem.detail.contains("merchant category not allowed"), rejected.problem.detail)
    assertTrue(rejected.problem.userAction.isNotBlank())
    assertEquals(TerminalState.PAIRED, w.phone.terminal(w.sn).state, "the terminal is not activated")
    w.close()
}

suspend fun activationLostLinkThenResumed(root: File) {
    val w = World(root, "act-link", seed = 46u).open().paired()
    val activation = ActivationModel(w.phone, w.sn, w.scope, pollAutomatically = false)
    activation.fill(w.letter())
    w.breakLink()
    activation.submit()
    activation.idle()
    val interrupted = activation.state.value
    assertIs<ActivationState.Interrupted>(interrupted)
    assertTrue(interrupted.problem.retryable && interrupted.problem.userAction.isNotBlank(), "$interrupted")
    w.mendLink()
    activation.retry()
    activation.idle()
    assertIs<ActivationState.Activated>(activation.state.value)
    assertTrue(w.sim.acquirerActivations(w.sn) <= 1u, "never a second application")
    w.close()
}

suspend fun activationCancelled(root: File) {
    val w = World(root, "act-cancel", seed = 47u).open().paired()
    val activation = ActivationModel(w.phone, w.sn, w.scope, pollAutomatically = false)
    activation.fill(w.letter())
    w.slowLink()
    activation.submit()
    activation.await("the first step reported") { (it as? ActivationState.Submitting)?.progress != null }
    activation.cancel()
    activation.idle()
    val cancelled = activation.state.value
    assertIs<ActivationState.Cancelled>(cancelled)
    assertEquals("cancelled", cancelled.problem.code)
    assertEquals(TerminalState.PAIRED, w.phone.terminal(w.sn).state)
    assertEquals(0u, w.sim.acquirerActivations(w.sn), "nothing reached the acquirer")
    w.mendLink()
    activation.backToForm()
    activation.submit()
    activation.idle()
    assertIs<ActivationState.Activated>(activation.state.value, "activating afterwards works")
    w.close()
}

// ---- cards ------------------------------------------------------------------------------

suspend fun cardsBindAndUnbind(root: File) {
    val w = World(root, "cards", seed = 51u).open().activated()
    val merchant = w.sim.merchant().merchantNo
    val cards = CardsModel(w.phone, merchant, w.sn, w.scope)
    cards.refresh()
    cards.idle()
    assertTrue(cards.state.value.cards.isEmpty())
    // The merchant holds the card to the terminal, which reads it when the core asks.
    w.sim.presentCard(w.sn, PAN, "1229")
    val seen = cards.recording {
        cards.bindFromTerminal(CardPurpose.SETTLEMENT, w.sim.merchant().details.legalName, timeoutMs = 20_000u)
        cards.idle()
    }
    val steps = seen.mapNotNull { (it.operation as? Operation.Running)?.progress?.step }
    assertTrue("read-card" in steps, "the screen showed the card read: $steps")
    cards.idle()
    val s = cards.state.value
    val done = assertIs<Operation.Done<app.posmate.ffi.Card?>>(s.operation, "${s.operation}")
    assertEquals("622202*********0128", done.result?.maskedPan)
    assertEquals(listOf("622202*********0128"), s.cards.map { it.maskedPan })

    // The only settlement card of an active terminal stays: the core's rule.
    cards.unbind(s.cards[0].bindingId)
    cards.idle()
    val refusal = assertIs<Operation.Failed>(cards.state.value.operation)
    assertEquals("settlement-card-required", refusal.problem.code)
    assertEquals(1, cards.state.value.cards.size, "still bound")

    cards.bindTyped(CardPurpose.CREDIT, w.sim.merchant().details.legalName, "4111111111111111", "0330")
    cards.idle()
    val credit = assertIs<Operation.Done<app.posmate.ffi.Card?>>(cards.state.value.operation, "${cards.state.value.operation}")
    assertEquals(2, cards.state.value.cards.size)
    cards.unbind(credit.result!!.bindingId)
    cards.idle()
    assertEquals(Operation.Done(null), cards.state.value.operation)
    assertEquals(listOf("622202*********0128"), cards.state.value.cards.map { it.maskedPan }, "the credit card is unbound")
    w.close()
}

suspend fun cardTypedWithAWrongCheckDigit(root: File) {
    val w = World(root, "cards-typo", seed = 52u).open().activated()
    val cards = CardsModel(w.phone, w.sim.merchant().merchantNo, w.sn, w.scope)
    cards.bindTyped(CardPurpose.CREDIT, w.sim.merchant().details.legalName, "4111111111111112", "0330")
    cards.idle()
    val failed = assertIs<Operation.Failed>(cards.state.value.operation)
    assertEquals("card-number-check-digit", failed.problem.code)
    assertTrue(cards.state.value.cards.isEmpty(), "nothing stored")
    w.close()
}

// ---- records and end of day -------------------------------------------------------------

suspend fun recordsSyncedAndPaged(root: File) {
    val w = World(root, "records", seed = 61u).open().activated()
    w.sales(100, 200, 300, 400, 500)
    val records = RecordsModel(w.phone, w.sn, w.scope, pageSize = 2u)
    records.sync()
    records.idle()
    val synced = assertIs<Operation.Done<app.posmate.ffi.SyncOutcome>>(records.state.value.sync)
    assertEquals(5uL, synced.result.inserted)
    assertEquals(listOf(5uL, 4uL), records.state.value.records.map { it.seq }, "newest first, one page")
    while (records.state.value.next != null) {
        records.loadMore()
        records.idle()
    }
    assertEquals((5 downTo 1).map { it.toULong() }, records.state.value.records.map { it.seq })
    w.close()
}

suspend fun endOfDaySettles(root: File) {
    val w = World(root, "eod", seed = 62u).open().activated()
    w.sales(1000, 2000, 3000)
    val records = RecordsModel(w.phone, w.sn, w.scope)
    records.endOfDay()
    records.idle()
    val done = assertIs<Operation.Done<app.posmate.ffi.SettlementOutcome>>(records.state.value.endOfDay)
    assertTrue(done.result.matched, "${done.result}")
    assertEquals(3u, done.result.terminal.saleCount)
    assertEquals(6000uL, done.result.phone.saleMinor)
    assertEquals(3, records.state.value.records.size, "the records were synced and shown")
    w.close()
}

suspend fun endOfDayLostLinkThenResumed(root: File) {
    val w = World(root, "eod-link", seed = 63u).open().activated()
    w.sales(700, 800)
    val records = RecordsModel(w.phone, w.sn, w.scope)
    w.breakLink()
    records.endOfDay()
    records.idle()
    val interrupted = assertIs<Operation.Interrupted>(records.state.value.endOfDay)
    assertTrue(interrupted.problem.retryable, "$interrupted")
    assertTrue(interrupted.resumable, "the core kept the settlement open")
    w.mendLink()
    records.endOfDay()
    records.idle()
    val done = assertIs<Operation.Done<app.posmate.ffi.SettlementOutcome>>(records.state.value.endOfDay)
    assertTrue(done.result.matched && done.result.terminal.saleCount == 2u, "${done.result}")
    assertEquals(listOf(2uL, 1uL), records.state.value.records.map { it.seq }, "every record once")
    assertTrue(w.phone.openFlows().isEmpty(), "nothing left open")
    w.close()
}

suspend fun endOfDayCancelled(root: File) {
    val w = World(root, "eod-cancel", seed = 64u).open().activated()
    w.sales(900)
    val records = RecordsModel(w.phone, w.sn, w.scope)
    w.slowLink()
    records.endOfDay()
    records.await("the first step reported") { (it.endOfDay as? Operation.Running)?.progress != null }
    records.cancel()
    records.idle()
    val cancelled = assertIs<Operation.Cancelled>(records.state.value.endOfDay)
    assertEquals("cancelled", cancelled.problem.code)
    w.mendLink()
    records.endOfDay()
    records.idle()
    assertIs<Operation.Done<app.posmate.ffi.SettlementOutcome>>(records.state.value.endOfDay, "end of day afterwards")
    w.close()
}

// ---- decommission -----------------------------------------------------------------------

suspend fun World.settled(): World {
    sales(1500, 2500)
    phone.settle(sn)
    return this
}

fun DecommissionModel.walkTo(reason: String, passphrase: String) {
    edit { it.copy(reason = reason) }
    next()
    edit { it.copy(passphrase = passphrase) }
    next()
}

suspend fun decommissionWizard(root: File) {
    val w = World(root, "decom", seed = 71u).open().activated().settled()
    val backup = File(w.dir, "decom.age").path
    val wizard = DecommissionModel(w.phone, w.sn, w.scope, backup)
    assertEquals(DecommissionState.Reason, wizard.state.value)
    wizard.walkTo("shop closed", PASSPHRASE)
    assertIs<DecommissionState.Confirm>(wizard.state.value)
    wizard.begin()
    assertTrue(!wizard.busy && wizard.state.value is DecommissionState.Confirm, "nothing runs before the confirmation")
    wizard.edit { it.copy(understood = true) }
    val seen = wizard.recording {
        wizard.begin()
        wizard.idle()
    }
    val done = assertIs<DecommissionState.Done>(wizard.state.value)
    assertEquals(2uL, done.outcome.backupRecords)
    assertTrue(done.outcome.deregistrationRef.startsWith("DRG-"), done.outcome.deregistrationRef)
    assertTrue(File(backup).isFile, "the backup was written")
    val steps = seen.filterIsInstance<DecommissionState.Running>().mapNotNull { it.progress?.step }.distinct()
    assertTrue(steps.indexOf("backup") in 0 until steps.indexOf("wipe"), "backup before wipe: $steps")
    assertTrue(w.phone.terminals().none { it.sn == w.sn }, "the phone forgot the terminal")
    assertEquals(Lifecycle.DECOMMISSIONED, w.sim.terminals()[0].lifecycle)
    w.close()
}

suspend fun decommissionRefusedByTheCore(root: File) {
    val w = World(root, "decom-refused", seed = 72u).open().activated()
    val wizard = DecommissionModel(w.phone, w.sn, w.scope, File(w.dir, "x.age").path)
    wizard.walkTo("shop closed", "abc")
    wizard.edit { it.copy(understood = true) }
    wizard.begin()
    wizard.idle()
    val backupStep = assertIs<DecommissionState.Backup>(wizard.state.value)
    assertEquals("weak-passphrase", backupStep.problem?.code, "$backupStep")

    // An unsettled batch is the core's precondition, shown on the confirmation step.
    w.sales(100)
    wizard.edit { it.copy(passphrase = PASSPHRASE) }
    wizard.next()
    wizard.begin()
    wizard.idle()
    val confirm = assertIs<DecommissionState.Confirm>(wizard.state.value)
    assertEquals("unsettled-batch", confirm.problem?.code, "$confirm")
    assertEquals(TerminalState.ACTIVATED, w.phone.terminal(w.sn).state, "nothing happened")
    assertEquals("active", w.sim.acquirerTerminalState(w.sn))
    w.close()
}

suspend fun decommissionLostLinkThenResumed(root: File) {
    val w = World(root, "decom-link", seed = 73u).open().activated().settled()
    val wizard = DecommissionModel(w.phone, w.sn, w.scope, File(w.dir, "d.age").path)
    wizard.walkTo("moving shop", PASSPHRASE)
    wizard.edit { it.copy(understood = true) }
    w.breakLink()
    wizard.begin()
    wizard.idle()
    val interrupted = assertIs<DecommissionState.Interrupted>(wizard.state.value)
    assertTrue(interrupted.problem.retryable, "$interrupted")
    w.mendLink()
    wizard.retry()
    wizard.idle()
    assertIs<DecommissionState.Done>(wizard.state.value)
    w.close()
}

suspend fun decommissionCancelledBeforeAnythingIsDestroyed(root: File) {
    val w = World(root, "decom-cancel", seed = 74u).open().activated().settled()
    val wizard = DecommissionModel(w.phone, w.sn, w.scope, File(w.dir, "c.age").path)
    wizard.walkTo("changed my mind", PASSPHRASE)
    wizard.edit { it.copy(understood = true) }
    w.slowLink()
    wizard.begin()
    wizard.await("the first step reported") { (it as? DecommissionState.Running)?.progress != null }
    wizard.cancel()
    wizard.idle()
    val cancelled = assertIs<DecommissionState.Cancelled>(wizard.state.value)
    assertEquals("cancelled", cancelled.problem.code)
    assertEquals(TerminalState.ACTIVATED, w.phone.terminal(w.sn).state)
    assertEquals("active", w.sim.acquirerTerminalState(w.sn), "not deregistered")
    w.close()
}

suspend fun decommissionCancelledPastThePointOfNoReturn(root: File) {
    val w = World(root, "decom-paused", seed = 75u).open().activated().settled()
    val wizard = DecommissionModel(w.phone, w.sn, w.scope, File(w.dir, "p.age").path)
    wizard.walkTo("stolen", PASSPHRASE)
    wizard.edit { it.copy(understood = true) }
    w.slowLink()
    wizard.begin()
    wizard.await("deregistering") { (it as? DecommissionState.Running)?.progress?.step == "deregister" }
    wizard.cancel()
    wizard.idle()
    val paused = assertIs<DecommissionState.Paused>(wizard.state.value)
    assertEquals("cancelled", paused.problem.code)
    assertEquals("deregistered", w.sim.acquirerTerminalState(w.sn))
    w.mendLink()
    wizard.retry()
    wizard.idle()
    assertIs<DecommissionState.Done>(wizard.state.value, "finished after the pause")
    w.close()
}

// ---- the simulated-terminal switch ------------------------------------------------------

suspend fun sessionSwitchesBackends(root: File) {
    val scope = CoroutineScope(SupervisorJob() + Dispatchers.Default)
    val session = SessionModel(
        scope,
        config = { b -> SessionModel.developmentConfig(File(root, "session-${b::class.simpleName}").path) },
        acquirer = { error("no acquirer client in this test") },
    )
    session.open(Backend.Simulated(terminals = 3u, seed = 81u))
    session.idle()
    val open = assertIs<SessionState.Open>(session.state.value)
    assertEquals(3, assertNotNull(open.simulation).terminals().size)
    assertEquals(3, open.companion.scanFor(300uL).size, "the companion sees the simulated terminals")

    session.open(Backend.SimServer("127.0.0.1:9"))
    session.idle()
    val failed = assertIs<SessionState.Failed>(session.state.value)
    assertTrue(failed.problem.retryable && failed.problem.userAction.contains("posmate sim"), "${failed.problem}")
    session.close()
    session.idle()
    assertEquals(SessionState.Closed, session.state.value)
    scope.cancel()
}

// ---- runner -----------------------------------------------------------------------------

val tests: List<Pair<String, suspend (File) -> Unit>> = listOf(
    "terminal list: signal, state and link" to ::terminalListShowsSignalStateAndLink,
    "pairing: code from the screen" to ::pairingWithTheCodeOnTheScreen,
    "pairing: wrong code" to ::pairingWithAWrongCode,
    "pairing: cancelled at the code" to ::pairingCancelledAtTheCode,
    "activation: success with progress" to ::activationSucceeds,
    "activation: the core rejects the form" to ::activationFormRejectedByTheCore,
    "activation: pending review" to ::activationPendingReview,
    "activation: pending review shown after a restart" to ::activationPendingShownAgainAfterRestart,
    "activation: rejected by the acquirer" to ::activationRejected,
    "activation: lost link, then resumed" to ::activationLostLinkThenResumed,
    "activation: cancelled" to ::activationCancelled,
    "cards: bind from the terminal and typed, unbind" to ::cardsBindAndUnbind,
    "cards: typed with a wrong check digit" to ::cardTypedWithAWrongCheckDigit,
    "records: synced and paged" to ::recordsSyncedAndPaged,
    "end of day: settles" to ::endOfDaySettles,
    "end of day: lost link, then resumed" to ::endOfDayLostLinkThenResumed,
    "end of day: cancelled" to ::endOfDayCancelled,
    "decommission: the wizard end to end" to ::decommissionWizard,
    "decommission: refused by the core" to ::decommissionRefusedByTheCore,
    "decommission: lost link, then resumed" to ::decommissionLostLinkThenResumed,
    "decommission: cancelled before anything is destroyed" to ::decommissionCancelledBeforeAnythingIsDestroyed,
    "decommission: cancelled past the point of no return" to ::decommissionCancelledPastThePointOfNoReturn,
    "session: the simulated-terminal switch" to ::sessionSwitchesBackends,
)

fun main(args: Array<String>) {
    val only = args.firstOrNull()
    val base = File(System.getenv("POSMATE_TEST_TMP") ?: System.getProperty("java.io.tmpdir"))
    base.mkdirs()
    val root = Files.createTempDirectory(base.toPath(), "posmate-vm-kt-").toFile()
    var passed = 0
    var failed = 0
    try {
        for ((name, test) in tests) {
            if (only != null && !name.contains(only)) continue
            val started = System.nanoTime()
            val error = try {
                runBlocking { withTimeout(90_000) { test(root) } }
                null
            } catch (e: Throwable) {
                e
            }
            val ms = (System.nanoTime() - started) / 1_000_000
            if (error == null) {
                passed++
                println("PASS $name ($ms ms)")
            } else {
                failed++
                println("FAIL $name ($ms ms): ${error.message}")
                error.printStackTrace(System.out)
            }
        }
    } finally {
        root.deleteRecursively()
    }
    println("$passed passed, $failed failed")
    exitProcess(if (failed == 0 && passed > 0) 0 else 1)
}
