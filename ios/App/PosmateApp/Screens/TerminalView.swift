import PosmateKit
import PosmateViewModels
import SwiftUI

/// One terminal as this phone knows it, and what can be done with it. Every action is
/// offered; the core refuses what does not apply and says why.
struct TerminalView: View {
    let companion: PosmateCompanion
    let simulation: Simulation?
    let sn: String
    @State private var terminal: Terminal?
    @State private var problem: Problem?

    var body: some View {
        List {
            if let problem { ProblemView(problem: problem) }
            if let t = terminal {
                Section {
                    Text("\(t.model) · firmware \(t.firmware)")
                    Text("State: \(String(describing: t.state))")
                    if let merchant = t.merchantNo { Text("Merchant \(merchant) · terminal \(t.terminalNo ?? "—")") }
                }
                Section {
                    NavigationLink("Activate") {
                        ActivationView(companion: companion, simulation: simulation, sn: sn)
                    }
                    if let merchant = t.merchantNo {
                        NavigationLink("Cards") {
                            CardsView(companion: companion, simulation: simulation, merchantNo: merchant, sn: sn)
                        }
                    }
                    NavigationLink("Records and end of day") { RecordsView(companion: companion, sn: sn) }
                    NavigationLink("Decommission…") { DecommissionView(companion: companion, sn: sn) }
                }
            }
        }
        .navigationTitle(sn)
        .task { load() }
    }

    private func load() {
        do {
            terminal = try posmateSync { try companion.terminal(sn: sn) }
            problem = nil
        } catch {
            problem = Problem(error)
        }
    }
}
