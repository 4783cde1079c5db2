import Foundation
import PosmateKit

public enum PairingState {
    case idle
    /// Connecting to the terminal and starting the pairing handshake.
    case connecting(peripheralId: String)
    /// The terminal shows a code: the merchant types it.
    case awaitingCode(peripheralId: String, sn: String)
    /// The typed code is being checked by the handshake.
    case verifying(sn: String)
    case paired(Terminal)
    /// The core's answer: a wrong code, pairing locked, the terminal out of reach…
    case failed(Problem)
    /// The merchant cancelled the code entry; the core stopped and stored nothing.
    case cancelled(Problem)
}

/// Pairing code entry. The core asks for the code when the handshake needs it; this model
/// shows `.awaitingCode` and hands the core what the merchant typed, unchecked: the code's
/// format and correctness are the core's and the terminal's to judge.
@MainActor
public final class PairingViewModel: ViewModel<PairingState> {
    private let companion: PosmateCompanion
    private var pending: CheckedContinuation<String?, Never>?

    public init(companion: PosmateCompanion) {
        self.companion = companion
        super.init(.idle)
    }

    public func pair(peripheralId: String) {
        start { [self] in
            set(.connecting(peripheralId: peripheralId))
            let entry = codeEntry { [weak self] sn in
                await self?.askForCode(peripheralId: peripheralId, sn: sn)
            }
            do {
                let terminal = try await posmate { try await companion.pair(peripheralId: peripheralId, codeEntry: entry) }
                set(.paired(terminal))
            } catch {
                let p = Problem.of(error)
                set(p.code == Codes.cancelled ? .cancelled(p) : .failed(p))
            }
        }
    }

    /// The digits the merchant typed, passed on as typed.
    public func submitCode(_ code: String) {
        guard let pending else { return }
        self.pending = nil
        pending.resume(returning: code)
    }

    /// Stops pairing: the core is told the merchant gave no code.
    public func cancel() {
        guard let pending else { return }
        self.pending = nil
        pending.resume(returning: nil)
    }

    public func reset() {
        if !busy { set(.idle) }
    }

    private func askForCode(peripheralId: String, sn: String) async -> String? {
        let code = await withCheckedContinuation { continuation in
            pending = continuation
            set(.awaitingCode(peripheralId: peripheralId, sn: sn))
        }
        if code != nil { set(.verifying(sn: sn)) }
        return code
    }
}
