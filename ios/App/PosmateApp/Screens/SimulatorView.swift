import PosmateKit
import PosmateViewModels
import SwiftUI

/// Development only: the simulated world outside the phone — what each terminal's screen
/// shows, a sale on its keypad, a lost link, and how the acquirer reviews activations.
struct SimulatorView: View {
    let simulation: Simulation
    @State private var tick = 0
    @State private var message: String?

    var body: some View {
        List {
            if let message { Text(message).foregroundStyle(.red) }
            ForEach(simulation.terminals(), id: \.sn) { t in
                Section(t.sn) {
                    Text("\(String(describing: t.lifecycle)) · journal \(t.journalHead)")
                    Text("Screen: \(String(describing: (try? simulation.screen(sn: t.sn)) as Any))")
                    Text("Letter: terminal \(t.terminalNo), activation code \(t.activationCode)")
                    Button("Sale 12.80") {
                        act { _ = try simulation.ringUpSale(sn: t.sn, amountMinor: 1280, currency: 156, pan: "6222021234567890128") }
                    }
                    Button("Drop link") { act { try simulation.dropLink(sn: t.sn) } }
                }
            }
            Section("Acquirer review of the next activations") {
                Button("Instant") { act { simulation.setReview(review: .instant) } }
                Button("Pending") { act { simulation.setReview(review: .afterPolls(polls: 2)) } }
                Button("Reject") {
                    act { simulation.setReview(review: .reject(reasonCode: "R07", reason: "merchant category not allowed")) }
                }
            }
        }
        .id(tick)
        .navigationTitle("Simulator")
        .toolbar { Button("Refresh") { tick += 1 } }
    }

    private func act(_ what: () throws -> Void) {
        do {
            try what()
            message = nil
        } catch {
            message = Problem(error)?.description ?? "\(error)"
        }
        tick += 1
    }
}
