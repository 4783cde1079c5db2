// posmate's Kotlin bindings on the JVM against the simulated world, end to end.
//
// Run by `cargo xtask bindings-test` (kotlinc + JNA). Each check prints PASS or FAIL; the last
// line is "N passed, M failed" and the exit code is non-zero when anything failed.

import app.posmate.ffi.*
import java.io.File
import java.nio.file.Files
import java.util.Collections
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.async
import kotlinx.coroutines.delay
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import kotlin.system.exitProcess

const val PAN = "6222021234567890128"
const val CNY: UShort = 156u
const val PASSPHRASE = "correct horse battery"

var passed = 0
var failed = 0

fun check(name: String, ok: Boolean, detail: () -> Any? = { "" }) {
    if (ok) {
        passed++
        println("PASS $name")
    } else {
        failed++
        println("FAIL $name ${detail()}")
    }
}

/** The merchant reads the code off the simulated terminal's screen. */
class ScreenReader(private val sim: Simulation) : CodeEntry {
    val asked: MutableList<String> = Collections.synchronizedList(mutableListOf())

    override suspend fun enterCode(sn: String): String? {
        asked.add(sn)
        return (sim.screen(sn) as? SimScreen.PairingCode)?.code
    }
}

class States : ConnectionListener {
    val seen: MutableList<ConnectionState> = Collections.synchronizedList(mutableListOf())
    override fun onState(state: ConnectionState) {
        seen.add(state)
    }
    fun kinds(): List<String> = synchronized(seen) { seen.map { it::class.simpleName ?: "?" } }

    /** The kinds seen, once [done] holds of them or after 5 s: states arrive on posmate's threads. */
    suspend fun kindsWhen(done: (List<String>) -> Boolean): List<String> {
        repeat(250) {
            val now = kinds()
            if (done(now)) return now
            delay(20)
        }
        return kinds()
    }
}

class Progress(var onFirst: (() -> Unit)? = null) : ProgressListener {
    val seen: MutableList<FlowProgress> = Collections.synchronizedList(mutableListOf())
    override fun onProgress(progress: FlowProgress) {
        seen.add(progress)
        if (seen.size == 1) onFirst?.invoke()
    }
}

class Found : ScanListener {
    val terminals: MutableList<ScannedTerminal> = Collections.synchronizedList(mutableListOf())
    val errors: MutableList<PosmateException> = Collections.synchronizedList(mutableListOf())
    override fun onTerminal(terminal: ScannedTerminal) {
        terminals.add(terminal)
    }
    override fun onError(error: PosmateException) {
        errors.add(error)
    }
}

fun config(root: File, name: String) = CompanionConfig(
    dataDir = File(root, name).path,
    keystore = Keystore.MOCK,
    allowVolatileKey = true,
    reconnectAttempts = 2u,
    backupWorkFactor = 10u,
)

fun activationInput(sim: Simulation, i: Int = 0): ActivationInput {
    val t = sim.terminals()[i]
    val m = sim.merchant()
    return ActivationInput(t.sn, t.terminalNo, m.merchantNo, t.activationCode, m.details)
}

suspend fun paired(root: File, name: String, seed: ULong): Triple<Simulation, PosmateCompanion, String> {
    val sim = Simulation(SimulationOptions(terminals = 1u, seed = seed))
    val phone = PosmateCompanion.openSimulated(config(root, name), sim)
    val t = sim.terminals()[0]
    phone.pair(t.peripheralId!!, ScreenReader(sim))
    return Triple(sim, phone, t.sn)
}

suspend fun errorOf(block: suspend () -> Any?): PosmateException.Failed? =
    try {
        block()
        null
    } catch (e: PosmateException.Failed) {
        e
    }

suspend fun lifecycle(root: File) {
    val sim = Simulation(SimulationOptions(terminals = 2u, seed = 21u))
    val phone = PosmateCompanion.openSimulated(config(root, "life"), sim)
    val states = States()
    val subscription = phone.subscribeConnectionStates(states)

    val found = Found()
    val scan = phone.scan(found)
    repeat(100) {
        if (synchronized(found.terminals) { found.terminals.map { it.peripheralId }.toSet().size } >= 2) return@repeat
        delay(20)
    }
    scan.cancel()
    val seen = synchronized(found.terminals) { found.terminals.toList() }
    check("scan reports both simulated terminals", seen.map { it.peripheralId }.toSet().size == 2 && found.errors.isEmpty()) { seen }
    check("a cancelled scan handle is finished", scan.isFinished())
    val strongest = seen.maxByOrNull { it.rssi ?: Short.MIN_VALUE }!!
    check("scanned terminals are factory-fresh, pairing not locked",
        strongest.lifecycle == Lifecycle.FACTORY && !strongest.pairingLocked) { strongest }

    val sn = sim.terminals()[0].sn
    val entry = ScreenReader(sim)
    val terminal = phone.pair(strongest.peripheralId, entry)
    check("pairing with the code from the sim screen", terminal.sn == sn && terminal.state == TerminalState.PAIRED) { terminal }
    check("the code was asked for once, for that terminal", entry.asked == listOf(sn)) { entry.asked }
    val kinds = states.kindsWhen { "Connected" in it }
    check("connection states: connecting then connected",
        kinds.indexOf("Connecting") in 0 until kinds.indexOf("Connected")) { kinds }

    val progress = Progress()
    val outcome = phone.activate(activationInput(sim), FlowControl(progress))
    check("activation activates with 3 key slots",
        outcome is ActivationOutcome.Activated && outcome.keySlots.size == 3) { outcome }
    val fractions = progress.seen.map { it.fraction }
    check("activation progress rises to 1.0",
        fractions.size >= 3 && fractions == fractions.sorted() && fractions.last() == 1.0f) { fractions }
    val info = phone.info(sn)
    check("the terminal reports itself activated", info.lifecycle == Lifecycle.ACTIVATED && info.keySlots == 3u) { info }

    val merchant = sim.merchant()
    sim.presentCard(sn, PAN, "1229")
    val card = phone.bindCard(BindInput(merchant.merchantNo, CardPurpose.SETTLEMENT, merchant.details.legalName,
        CardSource.Terminal(sn, 5000u)))
    check("card bound from the terminal, masked", card.maskedPan == "622202*********0128") { card }
    check("the phone keeps one card", phone.cards(merchant.merchantNo).size == 1)

    val amounts = (0 until 5).map { 1000uL + it.toULong() }
    for (a in amounts) {
        check("sale of $a approved", sim.ringUpSale(sn, a, CNY, PAN).approved)
    }
    val synced = phone.sync(sn)
    check("sync fetches the 5 records", synced.inserted == 5uL && synced.lastSeq == 5uL) { synced }
    check("a second sync fetches nothing", phone.sync(sn).inserted == 0uL)

    val seqs = mutableListOf<ULong>()
    var page = phone.history(HistoryQuery(sn = sn, limit = 2u))
    var pages = 1
    seqs += page.records.map { it.seq }
    while (page.next != null) {
        page = phone.history(HistoryQuery(sn = sn, limit = 2u, after = page.next))
        seqs += page.records.map { it.seq }
        pages++
    }
    check("history pages through every record once", seqs.sorted() == (1..5).map { it.toULong() } && pages == 3) { "$seqs $pages" }

    val settled = phone.settle(sn)
    check("settlement matches the terminal's totals",
        settled.matched && settled.terminal.saleCount == 5u && settled.terminal.saleMinor == amounts.sum()) { settled }

    val backup = File(root, "life.age").path
    val done = phone.decommission(DecommissionInput(sn, "shop closed", BackupChoice.Write(backup, PASSPHRASE)))
    check("decommission deregisters with the acquirer", done.deregistrationRef.startsWith("DRG-")) { done }
    check("decommission backed up the 5 records first", done.backupRecords == 5uL && File(backup).isFile)
    check("the phone forgot the terminal", phone.terminals().none { it.sn == sn })
    check("the terminal is wiped", sim.terminals()[0].lifecycle == Lifecycle.DECOMMISSIONED)
    check("the backup verifies", phone.backupVerify(backup, PASSPHRASE).records == 5uL)
    val audit = phone.verifyAudit()
    check("the audit chain holds every step", audit.entries >= 6uL) { audit }
    subscription.cancel()
    phone.shutdown()
}

suspend fun cancellation(root: File) {
    val (sim, phone, sn) = paired(root, "cancel", 22u)
    val progress = Progress()
    val control = FlowControl(progress)
    progress.onFirst = { control.cancel() }
    val err = errorOf { phone.activate(activationInput(sim), control) }
    check("a flow cancelled through its handle fails with code 'cancelled'",
        err != null && err.code == "cancelled" && !err.retryable) { err }
    check("the cancelled flow stopped after its first step", progress.seen.size == 1) { progress.seen }
    check("nothing reached the acquirer", sim.acquirerActivations(sn) == 0u)
    check("the terminal is still only paired", phone.terminal(sn).state == TerminalState.PAIRED)
    check("no flow is left open", phone.openFlows().isEmpty()) { phone.openFlows() }

    // Cancelling the coroutine drops the call: the flow is cancelled at its next step. The
    // flow waits in its first progress callback until the coroutine is cancelled, so the
    // cancel lands between its first and second step.
    val started = CompletableDeferred<Unit>()
    val released = java.util.concurrent.CountDownLatch(1)
    val waitForCancel = Progress {
        started.complete(Unit)
        released.await(10, java.util.concurrent.TimeUnit.SECONDS)
    }
    val job = kotlinx.coroutines.coroutineScope {
        val call = async { phone.activate(activationInput(sim), FlowControl(waitForCancel)) }
        started.await()
        call.cancel()
        call.join()
        call
    }
    released.countDown()
    check("a cancelled coroutine's call is cancelled", job.isCancelled)
    var open = phone.openFlows()
    repeat(100) {
        if (open.isEmpty()) return@repeat
        delay(20)
        open = phone.openFlows()
    }
    check("its flow stops without leaving anything open", open.isEmpty()) { open }
    check("still nothing reached the acquirer", sim.acquirerActivations(sn) == 0u)

    val outcome = phone.activate(activationInput(sim))
    check("activating again afterwards succeeds", outcome is ActivationOutcome.Activated) { outcome }
    check("the acquirer saw exactly one application", sim.acquirerActivations(sn) == 1u)
    phone.shutdown()
}

suspend fun droppedLink(root: File) {
    val (sim, phone, sn) = paired(root, "drop", 23u)
    phone.activate(activationInput(sim))
    for (k in 0 until 4) sim.ringUpSale(sn, 500uL + k.toULong(), CNY, PAN)
    val states = States()
    val subscription = phone.subscribeConnectionStates(states)
    // Every connection from now on is lost after its first packet to the phone.
    phone.disconnect()
    sim.setFaults(sn, listOf(SimFault.DisconnectAfter(LinkDirection.TO_PHONE, 0uL)))
    val err = errorOf { phone.settle(sn) }
    check("settling over a dropping link fails, retryable", err != null && err.retryable && err.userAction.isNotEmpty()) { err }
    val open = phone.openFlows().filter { it.kind == "settlement" }
    check("the settlement is kept open to resume",
        open.size == 1 && open[0].status in setOf(FlowStatus.PAUSED, FlowStatus.RUNNING)) { phone.openFlows() }
    check("the connection listener saw the link go down",
        synchronized(states.seen) { states.seen.any { it is ConnectionState.Disconnected } }) { states.kinds() }
    sim.setFaults(sn, emptyList())
    val resumed = if (open.isNotEmpty()) phone.resume(open[0].id) else null
    check(
        "resume finishes the settlement, typed",
        resumed is ResumeOutcome.Settlement && resumed.outcome.matched && resumed.outcome.records == 4uL,
    ) { resumed }
    val again = if (open.isNotEmpty()) errorOf { phone.resume(open[0].id) } else null
    check(
        "resuming the finished flow again is refused, not re-run",
        again?.code == "flow-finished" && again.retryable == false,
    ) { again }
    val seqs = phone.history(HistoryQuery(sn = sn, limit = 100u)).records.map { it.seq }.sorted()
    check("every record once, none twice", seqs == (1..4).map { it.toULong() }) { seqs }
    check("no flow is left open", phone.openFlows().isEmpty()) { phone.openFlows() }

    // The terminal walks out of range mid-session and comes back. A call racing the loss may
    // fail (retryable); a retry reconnects without a code.
    val before = states.seen.size
    sim.dropLink(sn)
    // The listener hears of it while the session is idle, before any call: wait up to 3 s.
    var ended = emptyList<ConnectionState.Disconnected>()
    for (i in 0 until 60) {
        ended = synchronized(states.seen) { states.seen.drop(before).filterIsInstance<ConnectionState.Disconnected>() }
        if (ended.isNotEmpty()) break
        delay(50)
    }
    check("the connection listener hears of the lost link without a call",
        ended.size == 1 && ended[0].reason == DisconnectReason.LINK_LOST) { "${states.kinds().drop(before)} $ended" }
    val raced = errorOf { phone.info(sn) }
    check("a call racing the lost link fails retryable, if at all", raced == null || raced.retryable) { raced }
    val info = phone.info(sn)
    check("after a lost link a retry reconnects without a code", info.sn == sn) { info }
    subscription.cancel()
    phone.shutdown()
}

suspend fun errorPath(root: File) {
    val (sim, phone, sn) = paired(root, "errors", 24u)
    phone.activate(activationInput(sim))
    val merchant = sim.merchant()
    var err = errorOf {
        phone.bindCard(BindInput(merchant.merchantNo, CardPurpose.CREDIT, merchant.details.legalName,
            CardSource.Manual("4111111111111112", "0330")))
    }
    check("a mistyped card number fails with code 'card-number-check-digit'",
        err != null && err.code == "card-number-check-digit" && !err.retryable && err.userAction.contains("typo")) { err }
    check("nothing was stored", phone.cards(merchant.merchantNo).isEmpty())
    err = errorOf { phone.sync("SN-NOT-PAIRED") }
    check("an unknown terminal fails with code 'unknown-terminal'", err?.code == "unknown-terminal") { err }
    check("its kind is the core's: NOT_FOUND", err?.kind == ErrorKind.NOT_FOUND) { err }
    err = errorOf { phone.activate(activationInput(sim)) }
    check("activating twice fails with code 'already-activated'", err?.code == "already-activated") { err }
    sim.setAcquirerOnline(false)
    err = errorOf { phone.dormancy(sn) }
    check("the acquirer offline is retryable and needs the internet",
        err != null && err.retryable && err.needsInternet) { err }
    sim.setAcquirerOnline(true)
    phone.shutdown()
    err = errorOf { phone.info(sn) }
    check("a closed companion fails with code 'closed'", err?.code == "closed") { err }
}

/**
 * An app's own HTTP client as a test writes one: every exchange relayed to the simulated
 * acquirer's HTTP face and recorded. [faults] replaces the outcome of the next mutating
 * sends: "lost" relays the request and then reports a timeout (the acquirer acted, the
 * answer was lost); "unknown-ca" refuses the certificate without relaying.
 */
class RelayClient(private val sim: Simulation) : AcquirerHttpClient {
    val sent: MutableList<AcquirerHttpRequest> = Collections.synchronizedList(mutableListOf())
    val faults: MutableList<String> = Collections.synchronizedList(mutableListOf())

    override suspend fun send(request: AcquirerHttpRequest): AcquirerHttpReply {
        sent.add(request)
        val fault = if (request.method != HttpMethod.GET) faults.removeFirstOrNull() else null
        if (fault == "unknown-ca") return AcquirerHttpReply.CertificateRefused(CertificateProblem.UNKNOWN_CA, "test CA")
        val reply = sim.serveAcquirerHttp(request)
        return if (fault == "lost") AcquirerHttpReply.TimedOut(maybeSent = true) else reply
    }
}

fun idempotencyKey(r: AcquirerHttpRequest) = r.headers.firstOrNull { it.name == "idempotency-key" }?.value

suspend fun ownHttpClient(root: File) {
    val sim = Simulation(SimulationOptions(terminals = 1u, seed = 25u))
    val client = RelayClient(sim)
    val phone = PosmateCompanion.openSimulatedWithClient(config(root, "http"), sim, client)
    val t = sim.terminals()[0]
    phone.pair(t.peripheralId!!, ScreenReader(sim))
    val before = phone.info(t.sn)

    client.faults.add("unknown-ca")
    var sent = client.sent.size
    val err = errorOf { phone.activate(activationInput(sim)) }
    check("a refused certificate fails with code 'tls' and the unknown CA, not retried",
        err != null && err.code == "tls" && !err.retryable && err.detail.contains("unknown CA") &&
            client.sent.size == sent + 1) { "$err ${client.sent.drop(sent)}" }
    val after = phone.info(t.sn)
    check("after the refused certificate nothing changed, at the acquirer or the terminal",
        sim.acquirerActivations(t.sn) == 0u && after.lifecycle == before.lifecycle) { after }

    client.faults.add("lost")
    sent = client.sent.size
    val outcome = phone.activate(activationInput(sim))
    val tail = client.sent.drop(sent)
    val lost = tail[0]
    val retry = tail.getOrNull(1)
    check("an answer lost after the acquirer acted is retried with the same Idempotency-Key",
        retry != null && idempotencyKey(lost) != null && idempotencyKey(retry) == idempotencyKey(lost) &&
            retry.method == lost.method && retry.path == lost.path) { tail }
    check("the activation completes with exactly one activation at the acquirer",
        outcome is ActivationOutcome.Activated && sim.acquirerActivations(t.sn) == 1u) { "$outcome" }
    val mutating = client.sent.filter { it.method != HttpMethod.GET }
    check("every mutating request carries an idempotency-key",
        mutating.isNotEmpty() && mutating.all { idempotencyKey(it) != null }) { mutating }
    phone.shutdown()
}

fun main() {
    val root = Files.createTempDirectory(
        File(System.getenv("POSMATE_TEST_TMP") ?: System.getProperty("java.io.tmpdir")).toPath().also { Files.createDirectories(it) },
        "posmate-kt-",
    ).toFile()
    try {
        runBlocking {
            for ((name, test) in listOf<Pair<String, suspend (File) -> Unit>>(
                "lifecycle" to ::lifecycle,
                "cancellation" to ::cancellation,
                "droppedLink" to ::droppedLink,
                "errorPath" to ::errorPath,
                "ownHttpClient" to ::ownHttpClient,
            )) {
                try {
                    withTimeout(120_000) { test(root) }
                } catch (e: Throwable) {
                    check("$name ran to the end", false) { e.stackTraceToString() }
                }
            }
        }
    } finally {
        root.deleteRecursively()
    }
    println("$passed passed, $failed failed")
    exitProcess(if (failed == 0 && passed > 0) 0 else 1)
}
