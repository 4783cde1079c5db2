import Foundation
import XCTest
@testable import PosmateViewModels
import PosmateKit

let pan = "6222021234567890128"
let cny: UInt16 = 156
let passphrase = "correct horse battery"

/// Counts test cases and prints the closing "N passed, M failed" line; a run that ran no
/// test fails (discovery broke, or everything was filtered out).
final class Tally: NSObject, XCTestObservation {
    private let lock = NSLock()
    private var passed = 0
    private var failed = 0

    func testCaseDidFinish(_ testCase: XCTestCase) {
        lock.lock()
        defer { lock.unlock() }
        if testCase.testRun?.hasSucceeded == true { passed += 1 } else { failed += 1 }
    }

    func testBundleDidFinish(_ testBundle: Bundle) {
        lock.lock()
        defer { lock.unlock() }
        print("\(passed) passed, \(failed) failed")
        if passed == 0 { exit(1) }
    }

    nonisolated(unsafe) static var registered = false
    /// Registered from the first test class's `setUp()`, before any test has run.
    static func register() {
        if registered { return }
        registered = true
        XCTestObservationCenter.shared.addTestObserver(Tally())
    }
}

/// Every test class derives from this, so the tally is registered whichever runs first.
class ViewModelTestCase: XCTestCase, @unchecked Sendable {
    override class func setUp() {
        super.setUp()
        Tally.register()
    }
}

/// A simulated world and a phone opened on it, in a temporary folder.
@MainActor
final class World {
    let sim: Simulation
    let dir: URL
    private(set) var phone: PosmateCompanion!

    init(_ name: String, terminals: UInt32 = 1, seed: UInt64, review: SimReview? = nil) {
        sim = Simulation(options: SimulationOptions(terminals: terminals, seed: seed, review: review))
        let base = ProcessInfo.processInfo.environment["POSMATE_TEST_TMP"].map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.temporaryDirectory
        dir = base.appendingPathComponent("posmate-vm-swift-\(name)-\(UUID().uuidString)")
    }

    var sn: String { sim.terminals()[0].sn }
    var peripheralId: String { sim.terminals()[0].peripheralId! }

    @discardableResult
    func open() async throws -> World {
        let config = CompanionConfig(dataDir: dir.path, keystore: .mock, allowVolatileKey: true, scanTimeMs: nil,
                                     reconnectAttempts: 2, requestTimeoutMs: nil, backupWorkFactor: 10)
        phone = try await posmate { try await PosmateCompanion.openSimulated(config: config, simulation: sim) }
        return self
    }

    /// The acquirer's letter for terminal `i`, as the merchant would type it.
    func letter(_ i: Int = 0) -> ActivationForm {
        let t = sim.terminals()[i]
        let m = sim.merchant()
        return ActivationForm(terminalNo: t.terminalNo, merchantNo: m.merchantNo, activationCode: t.activationCode,
                              legalName: m.details.legalName, contactPhone: m.details.contactPhone,
                              address: m.details.address)
    }

    /// Setup (not under test): pairs through the core directly, reading the code off the screen.
    @discardableResult
    func paired() async throws -> World {
        let sim = self.sim
        _ = try await posmate {
            try await phone.pair(peripheralId: peripheralId, codeEntry: codeEntry { sn in
                if case let .pairingCode(code) = try? sim.screen(sn: sn) { return code }
                return nil
            })
        }
        return self
    }

    @discardableResult
    func activated() async throws -> World {
        try await paired()
        let l = letter()
        _ = try await posmate {
            try await phone.activate(input: ActivationInput(
                sn: sn, terminalNo: l.terminalNo, merchantNo: l.merchantNo, activationCode: l.activationCode,
                merchant: MerchantDetails(legalName: l.legalName, contactPhone: l.contactPhone, address: l.address)),
                control: nil)
        }
        return self
    }

    @discardableResult
    func settled() async throws -> World {
        try sales(1500, 2500)
        _ = try await posmate { try await phone.settle(sn: sn, control: nil) }
        return self
    }

    func sales(_ amounts: UInt64...) throws {
        for a in amounts {
            let sale = try posmateSync { try sim.ringUpSale(sn: sn, amountMinor: a, currency: cny, pan: pan) }
            XCTAssertTrue(sale.approved)
        }
    }

    /// From now on every new connection to the terminal is lost after its first packet to the phone.
    func breakLink() async throws {
        try await posmate { try await phone.disconnect() }
        try posmateSync { try sim.setFaults(sn: sn, faults: [.disconnectAfter(direction: .toPhone, packet: 0)]) }
    }

    /// From now on every packet to the phone arrives `ms` late: a step takes long enough that
    /// a cancel tapped after one step's report lands before the next step, however loaded
    /// the machine.
    func slowLink(ms: UInt64 = 150) async throws {
        try await posmate { try await phone.disconnect() }
        try posmateSync { try sim.setFaults(sn: sn, faults: [.extraLatency(direction: .toPhone, ms: ms)]) }
    }

    func mendLink() throws {
        try posmateSync { try sim.setFaults(sn: sn, faults: []) }
    }

    func close() async {
        await phone?.shutdown()
        try? FileManager.default.removeItem(at: dir)
    }
}

struct Timeout: Error, CustomStringConvertible {
    let description: String
}

/// What a watcher saw (main actor only).
final class Seen<T> {
    var value: T?
}

extension ViewModel {
    /// Waits until the state matches (checked on every state set, so a passing state is not
    /// missed), failing with the state it is stuck in.
    @discardableResult
    func waitFor(_ what: String, seconds: Double = 30, _ match: @escaping (State) -> Bool) async throws -> State {
        if match(state) { return state }
        let seen = Seen<State>()
        let id = watch { s in
            if seen.value == nil && match(s) { seen.value = s }
        }
        defer { unwatch(id) }
        let deadline = Date().addingTimeInterval(seconds)
        while seen.value == nil && Date() < deadline {
            try await Task.sleep(nanoseconds: 2_000_000)
        }
        if let s = seen.value { return s }
        throw Timeout(description: "timed out waiting for \(what); the state is \(state)")
    }

    /// Every state the model passes through while `body` runs.
    func recording(_ body: () async throws -> Void) async rethrows -> [State] {
        let seen = Seen<[State]>()
        seen.value = []
        let id = watch { seen.value?.append($0) }
        defer { unwatch(id) }
        try await body()
        return seen.value ?? []
    }
}
