import Foundation

extension PosmateCompanion {
    /// Terminals as a scan sees them, for as long as the stream is iterated: iterating
    /// starts the scan, ending the iteration (or cancelling its task) cancels it. The same
    /// terminal comes again when its signal or state changes. The stream throws the core's
    /// `PosmateFailure` when the scan cannot run (Bluetooth off or not allowed).
    public func scanResults(filter: ScanFilter? = nil) -> AsyncThrowingStream<ScannedTerminal, Error> {
        AsyncThrowingStream { continuation in
            let handle = scan(listener: ScanToStream(continuation), filter: filter)
            continuation.onTermination = { _ in handle.cancel() }
        }
    }

    /// Every connection state of the links this companion opens (pairing, flows,
    /// reconnects), in order, while iterated.
    public func connectionStates() -> AsyncStream<ConnectionState> {
        AsyncStream { continuation in
            let handle = subscribeConnectionStates(listener: StatesToStream(continuation))
            continuation.onTermination = { _ in handle.cancel() }
        }
    }
}

/// Listeners run on posmate's threads; a continuation may be yielded to from any thread.
private final class ScanToStream: ScanListener {
    let continuation: AsyncThrowingStream<ScannedTerminal, Error>.Continuation

    init(_ continuation: AsyncThrowingStream<ScannedTerminal, Error>.Continuation) {
        self.continuation = continuation
    }

    func onTerminal(terminal: ScannedTerminal) {
        continuation.yield(terminal)
    }

    func onError(error: PosmateError) {
        continuation.finish(throwing: PosmateFailure(error) ?? error)
    }
}

private final class StatesToStream: ConnectionListener {
    let continuation: AsyncStream<ConnectionState>.Continuation

    init(_ continuation: AsyncStream<ConnectionState>.Continuation) {
        self.continuation = continuation
    }

    func onState(state: ConnectionState) {
        continuation.yield(state)
    }
}
