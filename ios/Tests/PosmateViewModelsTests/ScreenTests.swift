// The screens' state machines against posmate's simulated mode, in XCTest (run on Linux by
// `cargo xtask test`). Every test drives a view model the way a screen does and checks the
// states the screen would show, for success, pending review, rejection, lost link and
// cancellation — the same cases as the Android view models' tests.
import Foundation
import XCTest
@testable import PosmateViewModels
import PosmateKit

@MainActor
final class TerminalListTests: ViewModelTestCase, @unchecked Sendable {
    func testShowsSignalStateAndLink() async throws {
        let w = try await World("list", terminals: 2, seed: 31).open()
        let list = TerminalListViewModel(companion: w.phone)
        list.open()
        list.scan()
        let both = try await list.waitFor("both terminals in range") { $0.items.filter(\.inRange).count == 2 }
        XCTAssertTrue(both.scanning)
        XCTAssertTrue(both.items.allSatisfy { $0.rssi != nil && $0.advertised == .factory && $0.known == nil })
        XCTAssertGreaterThanOrEqual(both.items[0].rssi!, both.items[1].rssi!, "strongest first")

        try await w.paired()
        list.refresh()
        let known = try await list.waitFor("the paired terminal known and connected") { s in
            s.items.contains { $0.known?.state == .paired && { if case .connected = $0.link { true } else { false } }($0) }
        }
        XCTAssertEqual(known.items.first?.peripheralId, w.peripheralId, "known terminals first")
        list.stopScan()
        XCTAssertFalse(list.state.scanning)

        try await posmate { try await w.phone.disconnect() }
        try await list.waitFor("the link closed by the phone") { $0.items.first?.link == .disconnected(.closedByPhone) }
        list.close()
        await w.close()
    }
}

@MainActor
final class PairingTests: ViewModelTestCase, @unchecked Sendable {
    func testCodeFromTheScreen() async throws {
        let w = try await World("pair", seed: 32).open()
        let pairing = PairingViewModel(companion: w.phone)
        pairing.pair(peripheralId: w.peripheralId)
        let asked = try await pairing.waitFor("the code asked for") { if case .awaitingCode = $0 { true } else { false } }
        guard case let .awaitingCode(_, sn) = asked else { return XCTFail("\(asked)") }
        XCTAssertEqual(sn, w.sn)
        guard case let .pairingCode(code) = try w.sim.screen(sn: w.sn) else { return XCTFail("no code on the screen") }
        pairing.submitCode(code)
        await pairing.idle()
        guard case let .paired(terminal) = pairing.state else { return XCTFail("\(pairing.state)") }
        XCTAssertEqual(terminal.state, .paired)
        XCTAssertEqual(try w.phone.terminals().map(\.sn), [w.sn])
        await w.close()
    }

    func testWrongCode() async throws {
        let w = try await World("pair-wrong", seed: 33).open()
        let pairing = PairingViewModel(companion: w.phone)
        pairing.pair(peripheralId: w.peripheralId)
        try await pairing.waitFor("the code asked for") { if case .awaitingCode = $0 { true } else { false } }
        guard case let .pairingCode(code) = try w.sim.screen(sn: w.sn) else { return XCTFail("no code on the screen") }
        pairing.submitCode(code == "000000" ? "111111" : "000000")
        await pairing.idle()
        guard case let .failed(p) = pairing.state else { return XCTFail("\(pairing.state)") }
        XCTAssertEqual(p.code, "wrong-code")
        XCTAssertFalse(p.userAction.isEmpty)
        XCTAssertTrue(try w.phone.terminals().isEmpty, "nothing stored")
        await w.close()
    }

    func testCancelledAtTheCode() async throws {
        let w = try await World("pair-cancel", seed: 34).open()
        let pairing = PairingViewModel(companion: w.phone)
        pairing.pair(peripheralId: w.peripheralId)
        try await pairing.waitFor("the code asked for") { if case .awaitingCode = $0 { true } else { false } }
        pairing.cancel()
        await pairing.idle()
        guard case let .cancelled(p) = pairing.state else { return XCTFail("\(pairing.state)") }
        XCTAssertEqual(p.code, "cancelled")
        XCTAssertTrue(try w.phone.terminals().isEmpty, "nothing stored")
        await w.close()
    }
}

@MainActor
final class ActivationTests: ViewModelTestCase, @unchecked Sendable {
    func testSucceedsWithProgress() async throws {
        let w = try await World("act", seed: 41).open().paired()
        let activation = ActivationViewModel(companion: w.phone, sn: w.sn, pollAutomatically: false)
        activation.form = w.letter()
        let seen = await activation.recording {
            activation.submit()
            await activation.idle()
        }
        guard case let .activated(_, _, _, keySlots) = activation.state else { return XCTFail("\(activation.state)") }
        XCTAssertEqual(keySlots.count, 3)
        let fractions = seen.compactMap { s -> Float? in if case let .submitting(p) = s { p?.fraction } else { nil } }
        XCTAssertTrue(fractions.count >= 2 && fractions == fractions.sorted(), "progress rises: \(fractions)")
        XCTAssertEqual(try w.phone.terminal(sn: w.sn).state, .activated)
        await w.close()
    }

    func testFormRejectedByTheCore() async throws {
        let w = try await World("act-invalid", seed: 42).open().paired()
        let activation = ActivationViewModel(companion: w.phone, sn: w.sn, pollAutomatically: false)
        activation.form = w.letter()
        activation.form.terminalNo = "12"
        activation.submit()
        await activation.idle()
        guard case let .editing(p?) = activation.state else { return XCTFail("\(activation.state)") }
        XCTAssertEqual(p.code, "invalid-input")
        XCTAssertTrue(p.detail.hasPrefix("terminal number"), p.detail)
        XCTAssertEqual(activation.form.terminalNo, "12", "the form keeps what was typed")
        XCTAssertEqual(w.sim.acquirerActivations(sn: w.sn), 0, "nothing reached the acquirer")
        activation.form.terminalNo = w.letter().terminalNo
        activation.submit()
        await activation.idle()
        guard case .activated = activation.state else { return XCTFail("\(activation.state)") }
        await w.close()
    }

    func testPendingReview() async throws {
        let w = try await World("act-pending", seed: 43, review: .afterPolls(polls: 2)).open().paired()
        let activation = ActivationViewModel(companion: w.phone, sn: w.sn, pollAutomatically: false)
        activation.form = w.letter()
        activation.submit()
        await activation.idle()
        guard case let .pendingReview(applicationId, retryAfterMs, false, nil) = activation.state else {
            return XCTFail("\(activation.state)")
        }
        XCTAssertFalse(applicationId.isEmpty)
        XCTAssertGreaterThan(retryAfterMs, 0)
        XCTAssertEqual(w.sim.acquirerTerminalState(sn: w.sn), "pending")
        var checks = 0
        while case .pendingReview = activation.state, checks < 5 {
            activation.checkStatus()
            await activation.idle()
            checks += 1
        }
        guard case .activated = activation.state else { return XCTFail("\(activation.state)") }
        XCTAssertGreaterThanOrEqual(checks, 2, "approved only after the acquirer's review")
        XCTAssertEqual(w.sim.acquirerActivations(sn: w.sn), 1, "one application, however many checks")
        await w.close()
    }

    func testPendingReviewShownAgainAfterRestart() async throws {
        let w = try await World("act-restart", seed: 44, review: .afterPolls(polls: 3)).open().paired()
        let first = ActivationViewModel(companion: w.phone, sn: w.sn, pollAutomatically: false)
        first.form = w.letter()
        first.submit()
        await first.idle()
        guard case .pendingReview = first.state else { return XCTFail("\(first.state)") }
        let again = ActivationViewModel(companion: w.phone, sn: w.sn, pollAutomatically: false)
        guard case .editing(nil) = again.state else { return XCTFail("\(again.state)") }
        again.resumeIfOpen()
        await again.idle()
        guard case .pendingReview = again.state else { return XCTFail("a new screen finds the review: \(again.state)") }
        await w.close()
    }

    func testRejectedByTheAcquirer() async throws {
        let review = SimReview.reject(reasonCode: "R07", reason: "merchant category not allowed")
        let w = try await World("act-reject", seed: 45, review: review).open().paired()
        let activation = ActivationViewModel(companion: w.phone, sn: w.sn, pollAutomatically: false)
        activation.form = w.letter()
        activation.submit()
        await activation.idle()
        guard case .pendingReview = activation.state else { return XCTFail("\(activation.state)") }
        activation.checkStatus()
        await activation.idle()
        guard case let .rejected(p) = activation.state else { return XCTFail("\(activation.state)") }
        XCTAssertEqual(p.code, "activation-rejected")
        XCTAssertTrue(p.detail.contains("merchant category not allowed"), p.detail)
        XCTAssertFalse(p.userAction.isEmpty)
        XCTAssertEqual(try w.phone.terminal(sn: w.sn).state, .paired, "the terminal is not activated")
        await w.close()
    }

    func testLostLinkThenResumed() async throws {
        let w = try await World("act-link", seed: 46).open().paired()
        let activation = ActivationViewModel(companion: w.phone, sn: w.sn, pollAutomatically: false)
        activation.form = w.letter()
        try await w.breakLink()
        activation.submit()
        await activation.idle()
        guard case let .interrupted(p, _) = activation.state else { return XCTFail("\(activation.state)") }
        XCTAssertTrue(p.retryable && !p.userAction.isEmpty, "\(p)")
        try w.mendLink()
        activation.retry()
        await activation.idle()
        guard case .activated = activation.state else { return XCTFail("\(activation.state)") }
        XCTAssertLessThanOrEqual(w.sim.acquirerActivations(sn: w.sn), 1, "never a second application")
        await w.close()
    }

    func testCancelled() async throws {
        let w = try await World("act-cancel", seed: 47).open().paired()
        let activation = ActivationViewModel(companion: w.phone, sn: w.sn, pollAutomatically: false)
        activation.form = w.letter()
        try await w.slowLink()
        activation.submit()
        try await activation.waitFor("the first step reported") { if case .submitting(_?) = $0 { true } else { false } }
        activation.cancel()
        await activation.idle()
        guard case let .cancelled(p) = activation.state else { return XCTFail("\(activation.state)") }
        XCTAssertEqual(p.code, "cancelled")
        XCTAssertEqual(try w.phone.terminal(sn: w.sn).state, .paired)
        XCTAssertEqual(w.sim.acquirerActivations(sn: w.sn), 0, "nothing reached the acquirer")
        try w.mendLink()
        activation.backToForm()
        activation.submit()
        await activation.idle()
        guard case .activated = activation.state else { return XCTFail("activating afterwards: \(activation.state)") }
        await w.close()
    }
}

@MainActor
final class CardsTests: ViewModelTestCase, @unchecked Sendable {
    func testBindAndUnbind() async throws {
        let w = try await World("cards", seed: 51).open().activated()
        let merchant = w.sim.merchant()
        let cards = CardsViewModel(companion: w.phone, merchantNo: merchant.merchantNo, sn: w.sn)
        cards.refresh()
        await cards.idle()
        XCTAssertTrue(cards.state.cards.isEmpty)
        // The merchant holds the card to the terminal, which reads it when the core asks.
        _ = try w.sim.presentCard(sn: w.sn, pan: pan, expiry: "1229")
        let seen = await cards.recording {
            cards.bindFromTerminal(purpose: .settlement, holderName: merchant.details.legalName, timeoutMs: 20_000)
            await cards.idle()
        }
        let steps = seen.compactMap { $0.operation.progress?.step }
        XCTAssertTrue(steps.contains("read-card"), "the screen showed the card read: \(steps)")
        guard case let .done(card?) = cards.state.operation else { return XCTFail("\(cards.state.operation)") }
        XCTAssertEqual(card.maskedPan, "622202*********0128")
        XCTAssertEqual(cards.state.cards.map(\.maskedPan), ["622202*********0128"])

        // The only settlement card of an active terminal stays: the core's rule.
        cards.unbind(bindingId: card.bindingId)
        await cards.idle()
        guard case let .failed(refusal) = cards.state.operation else { return XCTFail("\(cards.state.operation)") }
        XCTAssertEqual(refusal.code, "settlement-card-required")
        XCTAssertEqual(cards.state.cards.count, 1, "still bound")

        cards.bindTyped(purpose: .credit, holderName: merchant.details.legalName, pan: "4111111111111111", expiry: "0330")
        await cards.idle()
        guard case let .done(credit?) = cards.state.operation else { return XCTFail("\(cards.state.operation)") }
        XCTAssertEqual(cards.state.cards.count, 2)
        cards.unbind(bindingId: credit.bindingId)
        await cards.idle()
        guard case .done(nil) = cards.state.operation else { return XCTFail("\(cards.state.operation)") }
        XCTAssertEqual(cards.state.cards.map(\.maskedPan), ["622202*********0128"], "the credit card is unbound")
        await w.close()
    }

    func testTypedWithAWrongCheckDigit() async throws {
        let w = try await World("cards-typo", seed: 52).open().activated()
        let merchant = w.sim.merchant()
        let cards = CardsViewModel(companion: w.phone, merchantNo: merchant.merchantNo, sn: w.sn)
        cards.bindTyped(purpose: .credit, holderName: merchant.details.legalName, pan: "4111111111111112", expiry: "0330")
        await cards.idle()
        guard case let .failed(p) = cards.state.operation else { return XCTFail("\(cards.state.operation)") }
        XCTAssertEqual(p.code, "card-number-check-digit")
        XCTAssertTrue(cards.state.cards.isEmpty, "nothing stored")
        await w.close()
    }
}

@MainActor
final class RecordsTests: ViewModelTestCase, @unchecked Sendable {
    func testSyncedAndPaged() async throws {
        let w = try await World("records", seed: 61).open().activated()
        try w.sales(100, 200, 300, 400, 500)
        let records = RecordsViewModel(companion: w.phone, sn: w.sn, pageSize: 2)
        records.sync()
        await records.idle()
        guard case let .done(synced) = records.state.sync else { return XCTFail("\(records.state.sync)") }
        XCTAssertEqual(synced.inserted, 5)
        XCTAssertEqual(records.state.records.map(\.seq), [5, 4], "newest first, one page")
        while records.state.next != nil {
            records.loadMore()
            await records.idle()
        }
        XCTAssertEqual(records.state.records.map(\.seq), [5, 4, 3, 2, 1])
        await w.close()
    }

    func testEndOfDaySettles() async throws {
        let w = try await World("eod", seed: 62).open().activated()
        try w.sales(1000, 2000, 3000)
        let records = RecordsViewModel(companion: w.phone, sn: w.sn)
        records.endOfDay()
        await records.idle()
        guard case let .done(outcome) = records.state.endOfDay else { return XCTFail("\(records.state.endOfDay)") }
        XCTAssertTrue(outcome.matched, "\(outcome)")
        XCTAssertEqual(outcome.terminal.saleCount, 3)
        XCTAssertEqual(outcome.phone.saleMinor, 6000)
        XCTAssertEqual(records.state.records.count, 3, "the records were synced and shown")
        await w.close()
    }

    func testEndOfDayLostLinkThenResumed() async throws {
        let w = try await World("eod-link", seed: 63).open().activated()
        try w.sales(700, 800)
        let records = RecordsViewModel(companion: w.phone, sn: w.sn)
        try await w.breakLink()
        records.endOfDay()
        await records.idle()
        guard case let .interrupted(p, resumable) = records.state.endOfDay else {
            return XCTFail("\(records.state.endOfDay)")
        }
        XCTAssertTrue(p.retryable, "\(p)")
        XCTAssertTrue(resumable, "the core kept the settlement open")
        try w.mendLink()
        records.endOfDay()
        await records.idle()
        guard case let .done(outcome) = records.state.endOfDay else { return XCTFail("\(records.state.endOfDay)") }
        XCTAssertTrue(outcome.matched && outcome.terminal.saleCount == 2, "\(outcome)")
        XCTAssertEqual(records.state.records.map(\.seq), [2, 1], "every record once")
        XCTAssertTrue(try w.phone.openFlows().isEmpty, "nothing left open")
        await w.close()
    }

    func testEndOfDayCancelled() async throws {
        let w = try await World("eod-cancel", seed: 64).open().activated()
        try w.sales(900)
        let records = RecordsViewModel(companion: w.phone, sn: w.sn)
        try await w.slowLink()
        records.endOfDay()
        try await records.waitFor("the first step reported") { $0.endOfDay.progress != nil }
        records.cancel()
        await records.idle()
        guard case let .cancelled(p) = records.state.endOfDay else { return XCTFail("\(records.state.endOfDay)") }
        XCTAssertEqual(p.code, "cancelled")
        try w.mendLink()
        records.endOfDay()
        await records.idle()
        guard case .done = records.state.endOfDay else { return XCTFail("end of day afterwards: \(records.state.endOfDay)") }
        await w.close()
    }
}

@MainActor
final class DecommissionTests: ViewModelTestCase, @unchecked Sendable {
    private func walk(_ wizard: DecommissionViewModel, reason: String, passphrase: String) {
        wizard.form.reason = reason
        wizard.next()
        wizard.form.passphrase = passphrase
        wizard.next()
    }

    func testTheWizardEndToEnd() async throws {
        let w = try await World("decom", seed: 71).open().activated().settled()
        let backup = w.dir.appendingPathComponent("decom.age").path
        let wizard = DecommissionViewModel(companion: w.phone, sn: w.sn, defaultBackupPath: backup)
        guard case .reason = wizard.state else { return XCTFail("\(wizard.state)") }
        walk(wizard, reason: "shop closed", passphrase: passphrase)
        guard case .confirm(nil) = wizard.state else { return XCTFail("\(wizard.state)") }
        wizard.begin()
        XCTAssertFalse(wizard.busy, "nothing runs before the confirmation")
        wizard.form.understood = true
        let seen = await wizard.recording {
            wizard.begin()
            await wizard.idle()
        }
        guard case let .done(outcome) = wizard.state else { return XCTFail("\(wizard.state)") }
        XCTAssertEqual(outcome.backupRecords, 2)
        XCTAssertTrue(outcome.deregistrationRef.hasPrefix("DRG-"), outcome.deregistrationRef)
        XCTAssertTrue(FileManager.default.fileExists(atPath: backup), "the backup was written")
        var steps: [String] = []
        for case let .running(p?) in seen where steps.last != p.step { steps.append(p.step) }
        let backupAt = steps.firstIndex(of: "backup"), wipeAt = steps.firstIndex(of: "wipe")
        XCTAssertTrue(backupAt != nil && wipeAt != nil && backupAt! < wipeAt!, "backup before wipe: \(steps)")
        XCTAssertFalse(try w.phone.terminals().contains { $0.sn == w.sn }, "the phone forgot the terminal")
        XCTAssertEqual(w.sim.terminals()[0].lifecycle, .decommissioned)
        await w.close()
    }

    func testRefusedByTheCore() async throws {
        let w = try await World("decom-refused", seed: 72).open().activated()
        let wizard = DecommissionViewModel(companion: w.phone, sn: w.sn,
                                           defaultBackupPath: w.dir.appendingPathComponent("x.age").path)
        walk(wizard, reason: "shop closed", passphrase: "abc")
        wizard.form.understood = true
        wizard.begin()
        await wizard.idle()
        guard case let .backup(p?) = wizard.state else { return XCTFail("\(wizard.state)") }
        XCTAssertEqual(p.code, "weak-passphrase")

        // An unsettled batch is the core's precondition, shown on the confirmation step.
        try w.sales(100)
        wizard.form.passphrase = passphrase
        wizard.next()
        wizard.begin()
        await wizard.idle()
        guard case let .confirm(refusal?) = wizard.state else { return XCTFail("\(wizard.state)") }
        XCTAssertEqual(refusal.code, "unsettled-batch")
        XCTAssertEqual(try w.phone.terminal(sn: w.sn).state, .activated, "nothing happened")
        XCTAssertEqual(w.sim.acquirerTerminalState(sn: w.sn), "active")
        await w.close()
    }

    func testLostLinkThenResumed() async throws {
        let w = try await World("decom-link", seed: 73).open().activated().settled()
        let wizard = DecommissionViewModel(companion: w.phone, sn: w.sn,
                                           defaultBackupPath: w.dir.appendingPathComponent("d.age").path)
        walk(wizard, reason: "moving shop", passphrase: passphrase)
        wizard.form.understood = true
        try await w.breakLink()
        wizard.begin()
        await wizard.idle()
        guard case let .interrupted(p, _) = wizard.state else { return XCTFail("\(wizard.state)") }
        XCTAssertTrue(p.retryable, "\(p)")
        try w.mendLink()
        wizard.retry()
        await wizard.idle()
        guard case .done = wizard.state else { return XCTFail("\(wizard.state)") }
        await w.close()
    }

    func testCancelledBeforeAnythingIsDestroyed() async throws {
        let w = try await World("decom-cancel", seed: 74).open().activated().settled()
        let wizard = DecommissionViewModel(companion: w.phone, sn: w.sn,
                                           defaultBackupPath: w.dir.appendingPathComponent("c.age").path)
        walk(wizard, reason: "changed my mind", passphrase: passphrase)
        wizard.form.understood = true
        try await w.slowLink()
        wizard.begin()
        try await wizard.waitFor("the first step reported") { if case .running(_?) = $0 { true } else { false } }
        wizard.cancel()
        await wizard.idle()
        guard case let .cancelled(p) = wizard.state else { return XCTFail("\(wizard.state)") }
        XCTAssertEqual(p.code, "cancelled")
        XCTAssertEqual(try w.phone.terminal(sn: w.sn).state, .activated)
        XCTAssertEqual(w.sim.acquirerTerminalState(sn: w.sn), "active", "not deregistered")
        await w.close()
    }

    func testCancelledPastThePointOfNoReturn() async throws {
        let w = try await World("decom-paused", seed: 75).open().activated().settled()
        let wizard = DecommissionViewModel(companion: w.phone, sn: w.sn,
                                           defaultBackupPath: w.dir.appendingPathComponent("p.age").path)
        walk(wizard, reason: "stolen", passphrase: passphrase)
        wizard.form.understood = true
        try await w.slowLink()
        wizard.begin()
        try await wizard.waitFor("deregistering") { if case let .running(p?) = $0 { p.step == "deregister" } else { false } }
        wizard.cancel()
        await wizard.idle()
        guard case let .paused(p) = wizard.state else { return XCTFail("\(wizard.state)") }
        XCTAssertEqual(p.code, "cancelled")
        XCTAssertEqual(w.sim.acquirerTerminalState(sn: w.sn), "deregistered")
        try w.mendLink()
        wizard.retry()
        await wizard.idle()
        guard case .done = wizard.state else { return XCTFail("finished after the pause: \(wizard.state)") }
        await w.close()
    }
}

@MainActor
final class SessionTests: ViewModelTestCase, @unchecked Sendable {
    func testTheSimulatedTerminalSwitch() async throws {
        let base = ProcessInfo.processInfo.environment["POSMATE_TEST_TMP"] ?? NSTemporaryDirectory()
        let session = SessionViewModel(
            config: { b in SessionViewModel.developmentConfig(dataDir: "\(base)/session-\(UUID().uuidString)") },
            acquirer: { fatalError("no acquirer client in this test") })
        session.open(.simulated(terminals: 3, seed: 81))
        await session.idle()
        guard case let .open(_, companion, sim?) = session.state else { return XCTFail("\(session.state)") }
        XCTAssertEqual(sim.terminals().count, 3)
        let found = try await posmate { try await companion.scanFor(durationMs: 300, filter: nil) }
        XCTAssertEqual(found.count, 3, "the companion sees the simulated terminals")

        session.open(.simServer(address: "127.0.0.1:9"))
        await session.idle()
        guard case let .failed(_, p) = session.state else { return XCTFail("\(session.state)") }
        XCTAssertTrue(p.retryable && p.userAction.contains("posmate sim"), "\(p)")
        session.close()
        await session.idle()
        guard case .closed = session.state else { return XCTFail("\(session.state)") }
    }
}
