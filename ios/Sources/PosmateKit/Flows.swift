import Foundation

/// A flow's cancel switch and its progress as an `AsyncStream`, for a screen with a Cancel
/// button.
///
/// `cancel()` asks the core to stop the flow at its next step boundary; the call then
/// throws the core's `cancelled` failure (past its point of no return the core pauses the
/// flow instead; it shows in `openFlows()`). Swift does not always drop a Rust future when
/// its task is cancelled (bdk-ffi #1090), so `run` also cancels the flow when the calling
/// task is cancelled.
public final class FlowRun: Sendable {
    /// Pass this to the flow's call.
    public let control: FlowControl
    /// The core's progress reports, in order; finished when `run` returns.
    public let progress: AsyncStream<FlowProgress>
    private let continuation: AsyncStream<FlowProgress>.Continuation

    public init() {
        let (stream, continuation) = AsyncStream.makeStream(of: FlowProgress.self)
        progress = stream
        self.continuation = continuation
        control = FlowControl(listener: ProgressToStream(continuation))
    }

    public func cancel() {
        control.cancel()
    }

    public var isCancelled: Bool { control.isCancelled() }

    /// Runs `call` with `control` on the caller's actor; posmate's errors are rethrown as
    /// `PosmateFailure`.
    public func run<T>(
        isolation: isolated (any Actor)? = #isolation,
        _ call: (FlowControl) async throws -> T
    ) async throws -> T {
        defer { continuation.finish() }
        do {
            return try await withTaskCancellationHandler {
                try await call(control)
            } onCancel: {
                control.cancel()
            }
        } catch {
            throw PosmateFailure(error) ?? error
        }
    }
}

private final class ProgressToStream: ProgressListener {
    let continuation: AsyncStream<FlowProgress>.Continuation

    init(_ continuation: AsyncStream<FlowProgress>.Continuation) {
        self.continuation = continuation
    }

    func onProgress(progress: FlowProgress) {
        continuation.yield(progress)
    }
}

/// Runs a posmate call on the caller's actor, rethrowing its errors as `PosmateFailure`.
public func posmate<T>(
    isolation: isolated (any Actor)? = #isolation,
    _ call: () async throws -> T
) async throws -> T {
    do {
        return try await call()
    } catch {
        throw PosmateFailure(error) ?? error
    }
}

/// Runs a synchronous posmate call (a store read), rethrowing its errors as `PosmateFailure`.
public func posmateSync<T>(_ call: () throws -> T) throws -> T {
    do {
        return try call()
    } catch {
        throw PosmateFailure(error) ?? error
    }
}

/// The code entry the core calls while pairing, as an async closure: return the digits
/// the merchant typed, or nil if they cancelled.
public func codeEntry(_ enter: @escaping @Sendable (String) async -> String?) -> CodeEntry {
    ClosureCodeEntry(enter)
}

private final class ClosureCodeEntry: CodeEntry {
    let enter: @Sendable (String) async -> String?

    init(_ enter: @escaping @Sendable (String) async -> String?) {
        self.enter = enter
    }

    func enterCode(sn: String) async -> String? {
        await enter(sn)
    }
}
