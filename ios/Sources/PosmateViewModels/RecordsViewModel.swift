import Foundation
import PosmateKit

public struct RecordsState {
    /// Newest first, the pages loaded so far.
    public var records: [TransactionRecord] = []
    /// Where the next page starts; nil once the last page is loaded.
    public var next: HistoryCursor?
    public var sync: OperationState<SyncOutcome> = .idle
    /// End of day: the core syncs, closes the batch and checks the totals.
    public var endOfDay: OperationState<SettlementOutcome> = .idle
    public var problem: Problem?
}

/// A terminal's records, page by page, with sync and end of day. Totals, batch matching and
/// what is settled are the core's; the screen shows its outcome as is.
@MainActor
public final class RecordsViewModel: FlowViewModel<RecordsState> {
    private let companion: PosmateCompanion
    public let sn: String
    private let pageSize: UInt32

    public init(companion: PosmateCompanion, sn: String, pageSize: UInt32 = 50) {
        self.companion = companion
        self.sn = sn
        self.pageSize = pageSize
        super.init(RecordsState())
    }

    /// Reloads from the newest record.
    public func refresh() {
        start { [self] in load(after: nil) }
    }

    public func loadMore() {
        guard let next = state.next else { return }
        start { [self] in load(after: next) }
    }

    /// Fetches the terminal's new records.
    public func sync() {
        let sn = self.sn
        operate(\.sync, kind: "sync") { [companion] control in
            try await companion.sync(sn: sn, control: control)
        }
    }

    /// Runs end of day. After an interruption the same call resumes the settlement the core
    /// kept open (it never settles a batch twice).
    public func endOfDay() {
        let sn = self.sn
        operate(\.endOfDay, kind: "settlement") { [companion] control in
            try await companion.settle(sn: sn, control: control)
        }
    }

    /// Runs a flow into one operation of the state, then reloads the first page.
    private func operate<T>(_ field: WritableKeyPath<RecordsState, OperationState<T>>, kind: String,
                            _ call: @escaping (FlowControl) async throws -> T) {
        start { [self] in
            await runOperation(field, kind: kind, sn: sn, companion: companion, call)
            load(after: nil)
        }
    }

    private func load(after: HistoryCursor?) {
        var s = state
        do {
            let page = try posmateSync {
                try companion.history(query: HistoryQuery(sn: sn, limit: pageSize, after: after))
            }
            s.records = after == nil ? page.records : s.records + page.records
            s.next = page.next
            s.problem = nil
        } catch {
            s.problem = Problem.of(error)
        }
        set(s)
    }
}
