// posmate's Swift bindings against the simulated world, end to end (Swift 6 language mode).
//
// Run by `cargo xtask bindings-test` inside the Swift root. Each check prints PASS or FAIL;
// the last line is "N passed, M failed" and the exit code is non-zero when anything failed.

import Foundation
import posmate_ffi

let pan = "6222021234567890128"
let cny: UInt16 = 156
let passphrase = "correct horse battery"

@MainActor enum Tally {
    static var passed = 0
    static var failed = 0
}

@MainActor func check(_ name: String, _ ok: Bool, _ detail: @autoclosure () -> Any = "") {
    if ok {
        Tally.passed += 1
        print("PASS \(name)")
    } else {
        Tally.failed += 1
        print("FAIL \(name) \(detail())")
    }
}

/// A list several threads append to.
final class Locked<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [T] = []
    func append(_ item: T) -> Int {
        lock.lock()
        defer { lock.unlock() }
        items.append(item)
        return items.count
    }
    var all: [T] {
        lock.lock()
        defer { lock.unlock() }
        return items
    }
    func removeFirst() -> T? {
        lock.lock()
        defer { lock.unlock() }
        return items.isEmpty ? nil : items.removeFirst()
    }
}

/// The merchant reads the code off the simulated terminal's screen.
final class ScreenReader: CodeEntry, @unchecked Sendable {
    let sim: Simulation
    let asked = Locked<String>()
    init(_ sim: Simulation) { self.sim = sim }
    func enterCode(sn: String) async -> String? {
        _ = asked.append(sn)
        if case .pairingCode(let code) = try? sim.screen(sn: sn) { return code }
        return nil
    }
}

final class States: ConnectionListener, @unchecked Sendable {
    let seen = Locked<ConnectionState>()
    func onState(state: ConnectionState) { _ = seen.append(state) }
    func kinds() -> [String] {
        seen.all.map {
            switch $0 {
            case .connecting: return "connecting"
            case .connected: return "connected"
            case .connectFailed: return "connectFailed"
            case .disconnected: return "disconnected"
            }
        }
    }

    /// The kinds seen, once `done` holds of them or after 5 s: states arrive on posmate's threads.
    func kindsWhen(_ done: @Sendable ([String]) -> Bool) async -> [String] {
        for _ in 0..<250 {
            let now = kinds()
            if done(now) { return now }
            try? await Task.sleep(nanoseconds: 20_000_000)
        }
        return kinds()
    }
}

final class Progress: ProgressListener, @unchecked Sendable {
    let seen = Locked<FlowProgress>()
    private let lock = NSLock()
    private var firstAction: (@Sendable () -> Void)?
    func onFirst(_ action: @escaping @Sendable () -> Void) {
        lock.lock()
        firstAction = action
        lock.unlock()
    }
    func onProgress(progress: FlowProgress) {
        if seen.append(progress) == 1 {
            lock.lock()
            let action = firstAction
            lock.unlock()
            action?()
        }
    }
}

final class Found: ScanListener, @unchecked Sendable {
    let terminals = Locked<ScannedTerminal>()
    let errors = Locked<PosmateError>()
    func onTerminal(terminal: ScannedTerminal) { _ = terminals.append(terminal) }
    func onError(error: PosmateError) { _ = errors.append(error) }
}

struct Failure {
    let code: String
    let kind: ErrorKind?
    let detail: String
    let retryable: Bool
    let userAction: String
    let needsInternet: Bool
}

/// The PosmateError a call failed with, if it failed.
@MainActor func failure(_ call: @MainActor () async throws -> Void) async -> Failure? {
    do {
        try await call()
        return nil
    } catch PosmateError.Failed(let code, let kind, let detail, let retryable, let userAction, let needsInternet) {
        return Failure(code: code, kind: kind, detail: detail, retryable: retryable, userAction: userAction,
                       needsInternet: needsInternet)
    } catch {
        return Failure(code: "not-a-posmate-error: \(error)", kind: nil, detail: "", retryable: false, userAction: "",
                       needsInternet: false)
    }
}

func config(_ root: URL, _ name: String) -> CompanionConfig {
    CompanionConfig(
        dataDir: root.appendingPathComponent(name).path,
        keystore: .mock,
        allowVolatileKey: true,
        reconnectAttempts: 2,
        backupWorkFactor: 10
    )
}

func activationInput(_ sim: Simulation, _ i: Int = 0) -> ActivationInput {
    let t = sim.terminals()[i]
    let m = sim.merchant()
    return ActivationInput(sn: t.sn, terminalNo: t.terminalNo, merchantNo: m.merchantNo,
                           activationCode: t.activationCode, merchant: m.details)
}

func paired(_ root: URL, _ name: String, _ seed: UInt64) async throws -> (Simulation, PosmateCompanion, String) {
    let sim = Simulation(options: SimulationOptions(terminals: 1, seed: seed))
    let phone = try await PosmateCompanion.openSimulated(config: config(root, name), simulation: sim)
    let t = sim.terminals()[0]
    _ = try await phone.pair(peripheralId: t.peripheralId!, codeEntry: ScreenReader(sim))
    return (sim, phone, t.sn)
}

@MainActor func lifecycle(_ root: URL) async throws {
    let sim = Simulation(options: SimulationOptions(terminals: 2, seed: 31))
    let phone = try await PosmateCompanion.openSimulated(config: config(root, "life"), simulation: sim)
    let states = States()
    let subscription = phone.subscribeConnectionStates(listener: states)

    let found = Found()
    let scan = phone.scan(listener: found)
    for _ in 0..<100 {
        if Set(found.terminals.all.map(\.peripheralId)).count >= 2 { break }
        try await Task.sleep(nanoseconds: 20_000_000)
    }
    scan.cancel()
    let seen = found.terminals.all
    check("scan reports both simulated terminals", Set(seen.map(\.peripheralId)).count == 2 && found.errors.all.isEmpty, seen)
    check("a cancelled scan handle is finished", scan.isFinished())
    let strongest = seen.max { ($0.rssi ?? Int16.min) < ($1.rssi ?? Int16.min) }!
    check("scanned terminals are factory-fresh, pairing not locked",
          strongest.lifecycle == .factory && !strongest.pairingLocked, strongest)

    let sn = sim.terminals()[0].sn
    let entry = ScreenReader(sim)
    let terminal = try await phone.pair(peripheralId: strongest.peripheralId, codeEntry: entry)
    check("pairing with the code from the sim screen", terminal.sn == sn && terminal.state == .paired, terminal)
    check("the code was asked for once, for that terminal", entry.asked.all == [sn], entry.asked.all)
    let kinds = await states.kindsWhen { $0.contains("connected") }
    if let connecting = kinds.firstIndex(of: "connecting"), let connected = kinds.firstIndex(of: "connected") {
        check("connection states: connecting then connected", connecting < connected, kinds)
    } else {
        check("connection states: connecting then connected", false, kinds)
    }

    let progress = Progress()
    let outcome = try await phone.activate(input: activationInput(sim), control: FlowControl(listener: progress))
    if case .activated(_, _, _, _, _, let slots) = outcome {
        check("activation activates with 3 key slots", slots.count == 3, slots)
    } else {
        check("activation activates with 3 key slots", false, outcome)
    }
    let fractions = progress.seen.all.map(\.fraction)
    check("activation progress rises to 1.0",
          fractions.count >= 3 && fractions == fractions.sorted() && fractions.last == 1.0, fractions)
    let info = try await phone.info(sn: sn)
    check("the terminal reports itself activated", info.lifecycle == .activated && info.keySlots == 3, info)

    let merchant = sim.merchant()
    _ = try sim.presentCard(sn: sn, pan: pan, expiry: "1229")
    let card = try await phone.bindCard(input: BindInput(
        merchantNo: merchant.merchantNo, purpose: .settlement, holderName: merchant.details.legalName,
        source: .terminal(sn: sn, timeoutMs: 5000)))
    check("card bound from the terminal, masked", card.maskedPan == "622202*********0128", card)
    check("the phone keeps one card", try phone.cards(merchantNo: merchant.merchantNo).count == 1)

    let amounts: [UInt64] = (0..<5).map { 1000 + UInt64($0) }
    for a in amounts {
        check("sale of \(a) approved", try sim.ringUpSale(sn: sn, amountMinor: a, currency: cny, pan: pan).approved)
    }
    let synced = try await phone.sync(sn: sn)
    check("sync fetches the 5 records", synced.inserted == 5 && synced.lastSeq == 5, synced)
    check("a second sync fetches nothing", try await phone.sync(sn: sn).inserted == 0)

    var seqs: [UInt64] = []
    var page = try phone.history(query: HistoryQuery(sn: sn, limit: 2))
    var pages = 1
    seqs += page.records.map(\.seq)
    while let next = page.next {
        page = try phone.history(query: HistoryQuery(sn: sn, limit: 2, after: next))
        seqs += page.records.map(\.seq)
        pages += 1
    }
    check("history pages through every record once", seqs.sorted() == [1, 2, 3, 4, 5] && pages == 3, (seqs, pages))

    let settled = try await phone.settle(sn: sn)
    check("settlement matches the terminal's totals",
          settled.matched && settled.terminal.saleCount == 5 && settled.terminal.saleMinor == amounts.reduce(0, +), settled)

    let backup = root.appendingPathComponent("life.age").path
    let done = try await phone.decommission(input: DecommissionInput(
        sn: sn, reason: "shop closed", backup: .write(path: backup, passphrase: passphrase)))
    check("decommission deregisters with the acquirer", done.deregistrationRef.hasPrefix("DRG-"), done)
    check("decommission backed up the 5 records first",
          done.backupRecords == 5 && FileManager.default.fileExists(atPath: backup))
    check("the phone forgot the terminal", try phone.terminals().allSatisfy { $0.sn != sn })
    check("the terminal is wiped", sim.terminals()[0].lifecycle == .decommissioned)
    check("the backup verifies", try await phone.backupVerify(path: backup, passphrase: passphrase).records == 5)
    let audit = try await phone.verifyAudit()
    check("the audit chain holds every step", audit.entries >= 6, audit)
    subscription.cancel()
    await phone.shutdown()
}

@MainActor func cancellation(_ root: URL) async throws {
    let (sim, phone, sn) = try await paired(root, "cancel", 32)
    let progress = Progress()
    let control = FlowControl(listener: progress)
    progress.onFirst { control.cancel() }
    let err = await failure { _ = try await phone.activate(input: activationInput(sim), control: control) }
    check("a flow cancelled through its handle fails with code 'cancelled'",
          err?.code == "cancelled" && err?.retryable == false, err as Any)
    check("the cancelled flow stopped after its first step", progress.seen.all.count == 1, progress.seen.all)
    check("nothing reached the acquirer", sim.acquirerActivations(sn: sn) == 0)
    check("the terminal is still only paired", try phone.terminal(sn: sn).state == .paired)
    check("no flow is left open", try phone.openFlows().isEmpty)
    let outcome = try await phone.activate(input: activationInput(sim))
    if case .activated = outcome {
        check("activating again afterwards succeeds", true)
    } else {
        check("activating again afterwards succeeds", false, outcome)
    }
    check("the acquirer saw exactly one application", sim.acquirerActivations(sn: sn) == 1)
    await phone.shutdown()
}

@MainActor func droppedLink(_ root: URL) async throws {
    let (sim, phone, sn) = try await paired(root, "drop", 33)
    _ = try await phone.activate(input: activationInput(sim))
    for k in 0..<4 {
        _ = try sim.ringUpSale(sn: sn, amountMinor: 500 + UInt64(k), currency: cny, pan: pan)
    }
    let states = States()
    let subscription = phone.subscribeConnectionStates(listener: states)
    // Every connection from now on is lost after its first packet to the phone.
    try await phone.disconnect()
    try sim.setFaults(sn: sn, faults: [.disconnectAfter(direction: .toPhone, packet: 0)])
    let err = await failure { _ = try await phone.settle(sn: sn) }
    check("settling over a dropping link fails, retryable",
          err?.retryable == true && err?.userAction.isEmpty == false, err as Any)
    let open = try phone.openFlows().filter { $0.kind == "settlement" }
    check("the settlement is kept open to resume",
          open.count == 1 && [.paused, .running].contains(open[0].status), open)
    check("the connection listener saw the link go down", states.kinds().contains("disconnected"), states.kinds())
    try sim.setFaults(sn: sn, faults: [])
    let resumed = open.isEmpty ? nil : try await phone.resume(flowId: open[0].id)
    if case .settlement(let outcome)? = resumed {
        check("resume finishes the settlement, typed", outcome.matched && outcome.records == 4, outcome)
    } else {
        check("resume finishes the settlement, typed", false, resumed as Any)
    }
    let again = open.isEmpty ? nil : await failure { _ = try await phone.resume(flowId: open[0].id) }
    check("resuming the finished flow again is refused, not re-run",
          again?.code == "flow-finished" && again?.retryable == false, again as Any)
    let seqs = try phone.history(query: HistoryQuery(sn: sn, limit: 100)).records.map(\.seq).sorted()
    check("every record once, none twice", seqs == [1, 2, 3, 4], seqs)
    check("no flow is left open", try phone.openFlows().isEmpty)

    // The terminal walks out of range mid-session and comes back. A call racing the loss may
    // fail (retryable); a retry reconnects without a code.
    let before = states.seen.all.count
    try sim.dropLink(sn: sn)
    // The listener hears of it while the session is idle, before any call: wait up to 3 s.
    var ended: [DisconnectReason] = []
    for _ in 0..<60 {
        ended = states.seen.all.dropFirst(before).compactMap { (state: ConnectionState) -> DisconnectReason? in
            if case .disconnected(_, let reason) = state { return reason }
            return nil
        }
        if !ended.isEmpty { break }
        try await Task.sleep(nanoseconds: 50_000_000)
    }
    check("the connection listener hears of the lost link without a call",
          ended == [.linkLost], "\(Array(states.kinds().dropFirst(before))) \(ended)")
    let raced = await failure { _ = try await phone.info(sn: sn) }
    check("a call racing the lost link fails retryable, if at all", raced == nil || raced?.retryable == true, raced as Any)
    let info = try await phone.info(sn: sn)
    check("after a lost link a retry reconnects without a code", info.sn == sn, info)
    subscription.cancel()
    await phone.shutdown()
}

@MainActor func errorPath(_ root: URL) async throws {
    let (sim, phone, sn) = try await paired(root, "errors", 34)
    _ = try await phone.activate(input: activationInput(sim))
    let merchant = sim.merchant()
    var err = await failure {
        _ = try await phone.bindCard(input: BindInput(
            merchantNo: merchant.merchantNo, purpose: .credit, holderName: merchant.details.legalName,
            source: .manual(pan: "4111111111111112", expiry: "0330")))
    }
    check("a mistyped card number fails with code 'card-number-check-digit'",
          err?.code == "card-number-check-digit" && err?.retryable == false && err?.userAction.contains("typo") == true,
          err as Any)
    check("nothing was stored", try phone.cards(merchantNo: merchant.merchantNo).isEmpty)
    err = await failure { _ = try await phone.sync(sn: "SN-NOT-PAIRED") }
    check("an unknown terminal fails with code 'unknown-terminal'", err?.code == "unknown-terminal", err as Any)
    check("its kind is the core's: notFound", err?.kind == .notFound, err as Any)
    err = await failure { _ = try await phone.activate(input: activationInput(sim)) }
    check("activating twice fails with code 'already-activated'", err?.code == "already-activated", err as Any)
    sim.setAcquirerOnline(online: false)
    err = await failure { _ = try await phone.dormancy(sn: sn) }
    check("the acquirer offline is retryable and needs the internet",
          err?.retryable == true && err?.needsInternet == true, err as Any)
    sim.setAcquirerOnline(online: true)
    await phone.shutdown()
    err = await failure { _ = try await phone.info(sn: sn) }
    check("a closed companion fails with code 'closed'", err?.code == "closed", err as Any)
}

/// An app's own HTTP client as a test writes one: every exchange relayed to the simulated
/// acquirer's HTTP face and recorded. `faults` replaces the outcome of the next mutating
/// sends: "lost" relays the request and then reports a timeout (the acquirer acted, the
/// answer was lost); "unknown-ca" refuses the certificate without relaying.
final class RelayClient: AcquirerHttpClient, @unchecked Sendable {
    let sim: Simulation
    let sent = Locked<AcquirerHttpRequest>()
    let faults = Locked<String>()
    init(_ sim: Simulation) { self.sim = sim }
    func send(request: AcquirerHttpRequest) async -> AcquirerHttpReply {
        _ = sent.append(request)
        let fault = request.method == .get ? nil : faults.removeFirst()
        if fault == "unknown-ca" { return .certificateRefused(problem: .unknownCa, detail: "test CA") }
        let reply = sim.serveAcquirerHttp(request: request)
        return fault == "lost" ? .timedOut(maybeSent: true) : reply
    }
}

func idempotencyKey(_ r: AcquirerHttpRequest) -> String? {
    r.headers.first { $0.name == "idempotency-key" }?.value
}

@MainActor func ownHttpClient(_ root: URL) async throws {
    let sim = Simulation(options: SimulationOptions(terminals: 1, seed: 35))
    let client = RelayClient(sim)
    let phone = try await PosmateCompanion.openSimulatedWithClient(config: config(root, "http"), simulation: sim,
                                                                   acquirer: client)
    let t = sim.terminals()[0]
    _ = try await phone.pair(peripheralId: t.peripheralId!, codeEntry: ScreenReader(sim))
    let before = try await phone.info(sn: t.sn)

    _ = client.faults.append("unknown-ca")
    var sent = client.sent.all.count
    let err = await failure { _ = try await phone.activate(input: activationInput(sim)) }
    check("a refused certificate fails with code 'tls' and the unknown CA, not retried",
          err?.code == "tls" && err?.retryable == false && err?.detail.contains("unknown CA") == true
              && client.sent.all.count == sent + 1, "\(err as Any) \(client.sent.all.dropFirst(sent))")
    let after = try await phone.info(sn: t.sn)
    check("after the refused certificate nothing changed, at the acquirer or the terminal",
          sim.acquirerActivations(sn: t.sn) == 0 && after.lifecycle == before.lifecycle, after)

    _ = client.faults.append("lost")
    sent = client.sent.all.count
    let outcome = try await phone.activate(input: activationInput(sim))
    let tail = Array(client.sent.all.dropFirst(sent))
    let retry = tail.count > 1 ? tail[1] : nil
    check("an answer lost after the acquirer acted is retried with the same Idempotency-Key",
          retry != nil && idempotencyKey(tail[0]) != nil && idempotencyKey(retry!) == idempotencyKey(tail[0])
              && retry!.method == tail[0].method && retry!.path == tail[0].path, tail)
    var activated = false
    if case .activated = outcome { activated = true }
    check("the activation completes with exactly one activation at the acquirer",
          activated && sim.acquirerActivations(sn: t.sn) == 1, outcome)
    let mutating = client.sent.all.filter { $0.method != .get }
    check("every mutating request carries an idempotency-key",
          !mutating.isEmpty && mutating.allSatisfy { idempotencyKey($0) != nil }, mutating)
    await phone.shutdown()
}

let base = URL(fileURLWithPath: ProcessInfo.processInfo.environment["POSMATE_TEST_TMP"] ?? NSTemporaryDirectory())
let root = base.appendingPathComponent("posmate-swift-\(ProcessInfo.processInfo.processIdentifier)")
try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
let tests: [(String, @MainActor (URL) async throws -> Void)] = [
    ("lifecycle", lifecycle),
    ("cancellation", cancellation),
    ("droppedLink", droppedLink),
    ("errorPath", errorPath),
    ("ownHttpClient", ownHttpClient),
]
for (name, test) in tests {
    do {
        try await test(root)
    } catch {
        check("\(name) ran to the end", false, error)
    }
}
try? FileManager.default.removeItem(at: root)
print("\(Tally.passed) passed, \(Tally.failed) failed")
exit(Tally.failed == 0 && Tally.passed > 0 ? 0 : 1)
