import Foundation
import PosmateKit
#if canImport(Combine)
@preconcurrency import Combine
#endif

/// A failure exactly as the core reported it. Screens show `detail` and `userAction` and
/// branch only on `code`, its `kind` and the flags, never on the text.
public typealias Problem = PosmateFailure

/// The stable codes the screens branch on (the core defines them; docs/cli.md lists them).
public enum Codes {
    public static let cancelled = "cancelled"
    public static let activationRejected = "activation-rejected"
    public static let weakPassphrase = "weak-passphrase"
}

/// One long operation on a screen (a sync, an end of day, a card binding), as the core
/// reports it.
public enum OperationState<T> {
    case idle
    /// Running; `progress` is the core's last report (none before the first step).
    case running(FlowProgress?)
    case done(T)
    /// Stopped by something outside the phone (a lost link, no internet): the core says a
    /// retry can succeed. `resumable` when the core kept the flow open to be finished.
    case interrupted(Problem, resumable: Bool)
    /// The core refused or failed; retrying the same thing will not help.
    case failed(Problem)
    /// The core stopped the flow at a step boundary because the merchant cancelled.
    case cancelled(Problem)

    public var isRunning: Bool {
        if case .running = self { return true }
        return false
    }

    public var progress: FlowProgress? {
        if case let .running(p) = self { return p }
        return nil
    }

    public var result: T? {
        if case let .done(r) = self { return r }
        return nil
    }

    public var problem: Problem? {
        switch self {
        case let .interrupted(p, _), let .failed(p), let .cancelled(p): return p
        default: return nil
        }
    }
}

/// A screen's state holder: no UIKit, no SwiftUI. The app observes it (it is an
/// `ObservableObject` where Combine exists); tests drive it against the simulated mode.
/// Actions start work and return at once; `state` says what happened.
@MainActor
open class ViewModel<State> {
    public private(set) var state: State
    private var hooks: [UUID: (State) -> Void] = [:]
    private var task: Task<Void, Never>?

    #if canImport(Combine)
    /// Sent before every change, on the main actor only (`nonisolated(unsafe)`: the
    /// protocol requirement is nonisolated, the publisher is only used from the main actor).
    public nonisolated(unsafe) let objectWillChange = ObservableObjectPublisher()
    #endif

    public init(_ initial: State) {
        state = initial
    }

    /// Sets the state and tells observers.
    func set(_ new: State) {
        willChange()
        state = new
        for h in hooks.values { h(new) }
    }

    /// Tells SwiftUI something it shows (a form field) is about to change.
    func willChange() {
        #if canImport(Combine)
        objectWillChange.send()
        #endif
    }

    /// Calls `hook` with every new state, on the main actor as it is set, until `unwatch`
    /// (for observers other than SwiftUI, and tests).
    public func watch(_ hook: @escaping (State) -> Void) -> UUID {
        let id = UUID()
        hooks[id] = hook
        return id
    }

    public func unwatch(_ id: UUID) {
        hooks[id] = nil
    }

    /// Whether an action's work is running.
    public var busy: Bool { task != nil }

    /// Starts `work` unless another action's work is running (a second tap does not start a
    /// second flow). Returns whether it started.
    @discardableResult
    func start(_ work: @escaping @MainActor () async -> Void) -> Bool {
        if task != nil { return false }
        task = Task { @MainActor in
            await work()
            self.task = nil
        }
        return true
    }

    /// Waits for the running action, if any.
    public func idle() async {
        await task?.value
    }
}

#if canImport(Combine)
extension ViewModel: ObservableObject {}
#endif

/// A screen that runs the core's flows, one at a time, behind a Cancel button: it keeps the
/// running flow's switch so that `cancel()` reaches whichever flow the screen started.
@MainActor
open class FlowViewModel<State>: ViewModel<State> {
    private var run: FlowRun?

    /// Stops the running flow at its next step (the core answers `cancelled`).
    public func cancel() {
        run?.cancel()
    }

    /// Runs `call` as the screen's flow, handing each progress report to `onProgress` on the
    /// main actor, in order, before the outcome is returned; the screen turns the outcome or
    /// the failure into its own state.
    func cancellableFlow<T>(
        onProgress: @escaping @MainActor (FlowProgress) -> Void,
        _ call: (FlowControl) async throws -> T
    ) async -> Result<T, Error> {
        let flowRun = FlowRun()
        run = flowRun
        defer { run = nil }
        let reports = Task { @MainActor in
            for await p in flowRun.progress { onProgress(p) }
        }
        let result: Result<T, Error>
        do {
            result = .success(try await flowRun.run(call))
        } catch {
            result = .failure(error)
        }
        await reports.value
        return result
    }

    /// Runs the flow of `kind` for terminal `sn` into the one operation of the state at
    /// `field`: running with the core's progress, then done, or what `failedOperation` makes
    /// of the core's failure (`kind` is the core's flow kind, to find it open after an
    /// interruption).
    func runOperation<T>(
        _ field: WritableKeyPath<State, OperationState<T>>, kind: String, sn: String, companion: PosmateCompanion,
        _ call: (FlowControl) async throws -> T
    ) async {
        var s = state
        s[keyPath: field] = .running(nil)
        set(s)
        let result = await cancellableFlow(onProgress: { [weak self] p in
            guard let self else { return }
            var s = self.state
            s[keyPath: field] = .running(p)
            self.set(s)
        }, call)
        s = state
        switch result {
        case let .success(outcome): s[keyPath: field] = .done(outcome)
        case let .failure(error): s[keyPath: field] = companion.failedOperation(error, kind: kind, sn: sn)
        }
        set(s)
    }
}

extension PosmateCompanion {
    /// The open flow of `kind` for terminal `sn`, as the core keeps it.
    func openFlow(kind: String, sn: String) -> FlowInfo? {
        ((try? openFlows()) ?? []).first { $0.kind == kind && $0.sn == sn }
    }

    /// The screen state for a failed flow, from what the core says: its code, whether a
    /// retry can help, and whether it kept the flow open.
    func failedOperation<T>(_ error: Error, kind: String, sn: String) -> OperationState<T> {
        let problem = Problem.of(error)
        if problem.code == Codes.cancelled { return .cancelled(problem) }
        if problem.retryable {
            return .interrupted(problem, resumable: openFlow(kind: kind, sn: sn) != nil)
        }
        return .failed(problem)
    }
}
