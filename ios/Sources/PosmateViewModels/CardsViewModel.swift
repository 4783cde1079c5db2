import Foundation
import PosmateKit

public struct CardsState {
    public var cards: [Card] = []
    /// The last bind or unbind; `.done` holds the card bound (nil after an unbind).
    public var operation: OperationState<Card?> = .idle
    public var problem: Problem?
}

/// The merchant's cards: the list the core keeps, binding one read on the terminal or typed
/// in, unbinding. Card numbers go to the core as typed; the check digit, expiry and holder
/// rules are the core's (`card-number-check-digit`, `name-mismatch`, …), and only the
/// masked number ever comes back.
@MainActor
public final class CardsViewModel: FlowViewModel<CardsState> {
    private let companion: PosmateCompanion
    public let merchantNo: String
    /// The terminal that reads cards.
    public let sn: String

    public init(companion: PosmateCompanion, merchantNo: String, sn: String) {
        self.companion = companion
        self.merchantNo = merchantNo
        self.sn = sn
        super.init(CardsState())
    }

    public func refresh() {
        start { [self] in reload() }
    }

    /// The merchant holds the card to the terminal while the core's progress says so.
    public func bindFromTerminal(purpose: CardPurpose, holderName: String, timeoutMs: UInt32 = 60_000) {
        bind(BindInput(merchantNo: merchantNo, purpose: purpose, holderName: holderName,
                       source: .terminal(sn: sn, timeoutMs: timeoutMs)))
    }

    public func bindTyped(purpose: CardPurpose, holderName: String, pan: String, expiry: String) {
        bind(BindInput(merchantNo: merchantNo, purpose: purpose, holderName: holderName,
                       source: .manual(pan: pan, expiry: expiry)))
    }

    public func unbind(bindingId: String) {
        let merchantNo = self.merchantNo
        operation(kind: "card-unbind") { [companion] control in
            try await companion.unbindCard(merchantNo: merchantNo, bindingId: bindingId, control: control)
            return nil
        }
    }

    private func bind(_ input: BindInput) {
        operation(kind: "card-bind") { [companion] control in
            try await companion.bindCard(input: input, control: control)
        }
    }

    private func operation(kind: String, _ call: @escaping (FlowControl) async throws -> Card?) {
        start { [self] in
            await runOperation(\.operation, kind: kind, sn: sn, companion: companion, call)
            reload()
        }
    }

    private func reload() {
        var s = state
        do {
            s.cards = try posmateSync { try companion.cards(merchantNo: merchantNo) }
            s.problem = nil
        } catch {
            s.problem = Problem.of(error)
        }
        set(s)
    }
}
