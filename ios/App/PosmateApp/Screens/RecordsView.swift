import PosmateKit
import PosmateViewModels
import SwiftUI

/// A terminal's records page by page, sync, and end of day with the core's totals.
struct RecordsView: View {
    @StateObject private var model: RecordsViewModel

    init(companion: PosmateCompanion, sn: String) {
        _model = StateObject(wrappedValue: RecordsViewModel(companion: companion, sn: sn))
    }

    var body: some View {
        List {
            if let problem = model.state.problem { ProblemView(problem: problem) }
            Section {
                HStack {
                    Button("Sync") { model.sync() }
                    Spacer()
                    Button("End of day") { model.endOfDay() }
                }
                .buttonStyle(.bordered)
                OperationView(operation: model.state.sync, onCancel: { model.cancel() },
                              onRetry: { model.sync() }) { outcome in
                    Text("\(outcome.inserted) new record(s).")
                }
                OperationView(operation: model.state.endOfDay, onCancel: { model.cancel() },
                              onRetry: { model.endOfDay() }) { s in
                    Text("Batch \(s.batchNo) closed: \(s.terminal.saleCount) sale(s), \(money(s.terminal.saleMinor))")
                    Text(s.matched ? "The phone's records match the terminal's totals."
                                   : "The phone's totals (\(money(s.phone.saleMinor))) differ from the terminal's.")
                }
            }
            Section("Records") {
                ForEach(model.state.records, id: \.seq) { r in
                    VStack(alignment: .leading) {
                        Text("\(String(describing: r.kind)) \(money(r.amountMinor)) · \(String(describing: r.status))")
                        Text("#\(r.seq) · batch \(r.batchNo) · \(r.maskedPan) · auth \(r.authCode)").font(.caption)
                    }
                }
                if model.state.next != nil {
                    Button("Older records") { model.loadMore() }
                }
            }
        }
        .navigationTitle("Records · \(model.sn)")
        .task { model.refresh() }
    }
}
