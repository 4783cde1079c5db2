import Foundation
import PosmateKit

/// What the wizard collects.
public struct DecommissionForm: Equatable, Sendable {
    public var reason = ""
    /// Where the encrypted backup is written (the app's choice of folder).
    public var backupPath = ""
    public var passphrase = ""
    /// The merchant confirmed the terminal will be deregistered and wiped for good.
    public var understood = false
}

public enum DecommissionState {
    /// Step 1: why (kept with the acquirer and in the audit trail).
    case reason
    /// Step 2: the backup taken before anything is destroyed.
    case backup(Problem?)
    /// Step 3: the confirmations; the problem is the core's refusal of the last attempt
    /// (an unsettled batch, a terminal not activated…).
    case confirm(Problem?)
    case running(FlowProgress?)
    case done(DecommissionOutcome)
    /// A lost link or no internet stopped it; `resumable` when the core kept the flow:
    /// `retry()` continues where it stopped (the backup is not taken twice).
    case interrupted(Problem, resumable: Bool)
    /// Cancelled past the point of no return (the terminal is deregistered): the core
    /// paused the flow and `retry()` must finish it.
    case paused(Problem)
    /// Cancelled before anything was destroyed: the terminal is as it was.
    case cancelled(Problem)
}

/// The decommission wizard: reason → backup → confirmations → run. The wizard only walks the
/// merchant through the inputs; preconditions (settled batch, synced journal, activated
/// terminal), passphrase strength, the verified backup before any destructive step and the
/// point of no return are the core's, and its answers decide the next state.
@MainActor
public final class DecommissionViewModel: FlowViewModel<DecommissionState> {
    private let companion: PosmateCompanion
    public let sn: String
    private static let kind = "decommission"

    public var form: DecommissionForm {
        willSet { willChange() }
    }

    public init(companion: PosmateCompanion, sn: String, defaultBackupPath: String) {
        self.companion = companion
        self.sn = sn
        form = DecommissionForm(backupPath: defaultBackupPath)
        super.init(.reason)
    }

    /// The next step of the wizard (the inputs are judged by the core when it runs).
    public func next() {
        switch state {
        case .reason: set(.backup(nil))
        case .backup: set(.confirm(nil))
        default: break
        }
    }

    public func back() {
        switch state {
        case .backup: set(.reason)
        case .confirm, .cancelled: set(.backup(nil))
        default: break
        }
    }

    /// Whether the final button is enabled: the merchant ticked the confirmation.
    public var canStart: Bool {
        if case .confirm = state { return form.understood }
        return false
    }

    /// Runs the decommission (from the confirmation step, once confirmed).
    public func begin() {
        if canStart { launch() }
    }

    /// Continues an interrupted or paused decommission where the core stopped it.
    public func retry() {
        switch state {
        case .interrupted, .paused: launch()
        default: break
        }
    }

    private func launch() {
        let f = form
        let input = DecommissionInput(sn: sn, reason: f.reason,
                                      backup: .write(path: f.backupPath, passphrase: f.passphrase))
        start { [self] in
            set(.running(nil))
            let result = await cancellableFlow(onProgress: { [weak self] p in
                guard let self, case .running = self.state else { return }
                self.set(.running(p))
            }) { [companion] control in try await companion.decommission(input: input, control: control) }
            switch result {
            case let .success(outcome): set(.done(outcome))
            case let .failure(error): set(failed(Problem.of(error)))
            }
        }
    }

    private func failed(_ p: Problem) -> DecommissionState {
        let open = companion.openFlow(kind: Self.kind, sn: sn)
        if p.code == Codes.cancelled {
            return open?.status == .paused ? .paused(p) : .cancelled(p)
        }
        if p.retryable { return .interrupted(p, resumable: open != nil) }
        if p.code == Codes.weakPassphrase { return .backup(p) }
        return .confirm(p)
    }
}
