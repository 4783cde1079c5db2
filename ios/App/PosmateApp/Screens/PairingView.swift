import PosmateKit
import PosmateViewModels
import SwiftUI

/// Pairing: the merchant types the code the terminal shows; the core judges it.
struct PairingView: View {
    let simulation: Simulation?
    let peripheralId: String
    @StateObject private var model: PairingViewModel
    @State private var code = ""
    @Environment(\.dismiss) private var dismiss

    init(companion: PosmateCompanion, simulation: Simulation?, peripheralId: String) {
        self.simulation = simulation
        self.peripheralId = peripheralId
        _model = StateObject(wrappedValue: PairingViewModel(companion: companion))
    }

    var body: some View {
        Form {
            switch model.state {
            case .idle, .connecting, .verifying:
                ProgressView()
            case let .awaitingCode(_, sn):
                Text("Type the code terminal \(sn) shows.")
                if let simulation, case let .pairingCode(shown)? = try? simulation.screen(sn: sn) {
                    // Development: the simulated terminal's screen, as the merchant would read it.
                    Text("Simulated terminal's screen: \(shown)").foregroundStyle(.secondary)
                }
                TextField("Code", text: $code).keyboardType(.numberPad)
                Button("Pair") { model.submitCode(code) }
                Button("Cancel", role: .cancel) { model.cancel() }
            case let .paired(terminal):
                Text("Paired with \(terminal.sn) (\(terminal.model), firmware \(terminal.firmware)).")
                Button("Done") { dismiss() }
            case let .failed(problem):
                ProblemView(problem: problem)
                Button("Try again") {
                    code = ""
                    model.pair(peripheralId: peripheralId)
                }
            case .cancelled:
                Text("Pairing cancelled; nothing was stored.")
                Button("Close") { dismiss() }
            }
        }
        .navigationTitle("Pair a terminal")
        .task { if case .idle = model.state { model.pair(peripheralId: peripheralId) } }
    }
}
