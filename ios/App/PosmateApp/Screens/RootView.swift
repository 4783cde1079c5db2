import PosmateKit
import PosmateViewModels
import SwiftUI

/// The backend switch until a companion is open, then the terminal list.
struct RootView: View {
    @ObservedObject var session: SessionViewModel

    var body: some View {
        switch session.state {
        case let .open(backend, companion, simulation):
            NavigationStack {
                TerminalListView(companion: companion, simulation: simulation)
                    .toolbar {
                        ToolbarItem(placement: .topBarTrailing) {
                            Button(backendName(backend)) { session.close() }
                        }
                    }
            }
        default:
            BackendView(session: session)
        }
    }

    private func backendName(_ backend: Backend) -> String {
        switch backend {
        case .simulated: "Simulated ▾"
        case .simServer: "posmate sim ▾"
        case .bluetooth: "Bluetooth ▾"
        }
    }
}

/// The simulated-terminal switch: simulated terminals in the app, a `posmate sim` server
/// (the iOS simulator reaches the Mac at 127.0.0.1), or real terminals over Bluetooth.
struct BackendView: View {
    @ObservedObject var session: SessionViewModel
    @State private var address = "127.0.0.1:7878"

    var body: some View {
        Form {
            Section("Where are the terminals?") {
                Button("Simulated terminals (no hardware)") { session.open(.simulated()) }
                TextField("posmate sim --listen address", text: $address)
                    .textInputAutocapitalization(.never)
                    .autocorrectionDisabled()
                Button("Connect to posmate sim") { session.open(.simServer(address: address)) }
                Button("Real terminals over Bluetooth") { session.open(.bluetooth) }
            }
            Section {
                Text("For real terminals iOS asks once for Bluetooth access; posmate uses it only to reach your terminal.")
                    .font(.footnote)
            }
            switch session.state {
            case .opening: ProgressView()
            case let .failed(_, problem):
                ProblemView(problem: problem)
                if problem.code == "bluetooth-unavailable", let settings = URL(string: UIApplication.openSettingsURLString) {
                    Link("Open Settings", destination: settings)
                }
            default: EmptyView()
            }
        }
    }
}

/// The core's failure: what the merchant should do (its words), what happened, its code.
struct ProblemView: View {
    let problem: Problem

    var body: some View {
        VStack(alignment: .leading, spacing: 4) {
            Text(problem.userAction).font(.body)
            Text(problem.detail + (problem.needsInternet ? " · needs the internet" : "")).font(.caption)
            Text(problem.code).font(.caption2).foregroundStyle(.secondary)
        }
        .foregroundStyle(.red)
    }
}

/// A flow's progress as the core reports it.
struct FlowProgressView: View {
    let progress: FlowProgress?
    var onCancel: (() -> Void)?

    var body: some View {
        VStack(alignment: .leading) {
            if let progress {
                ProgressView(value: Double(progress.fraction))
                Text(progress.detail)
            } else {
                ProgressView()
                Text("Starting…")
            }
            if let onCancel { Button("Cancel", action: onCancel) }
        }
    }
}

/// An operation's state, with Retry when the core says a retry can help.
struct OperationView<T, Done: View>: View {
    let operation: OperationState<T>
    let onCancel: () -> Void
    let onRetry: () -> Void
    @ViewBuilder let done: (T) -> Done

    var body: some View {
        switch operation {
        case .idle: EmptyView()
        case let .running(p): FlowProgressView(progress: p, onCancel: onCancel)
        case let .done(result): done(result)
        case let .interrupted(problem, resumable):
            ProblemView(problem: problem)
            Button(resumable ? "Resume" : "Retry", action: onRetry)
        case let .failed(problem): ProblemView(problem: problem)
        case let .cancelled(problem): Text("Cancelled: \(problem.userAction)")
        }
    }
}

func money(_ minor: UInt64) -> String {
    String(format: "%llu.%02llu", minor / 100, minor % 100)
}
