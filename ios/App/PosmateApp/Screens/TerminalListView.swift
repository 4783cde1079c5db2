import PosmateKit
import PosmateViewModels
import SwiftUI

/// Terminals in range and known ones, with signal, state and link.
struct TerminalListView: View {
    let companion: PosmateCompanion
    let simulation: Simulation?
    @StateObject private var model: TerminalListViewModel

    init(companion: PosmateCompanion, simulation: Simulation?) {
        self.companion = companion
        self.simulation = simulation
        _model = StateObject(wrappedValue: TerminalListViewModel(companion: companion))
    }

    var body: some View {
        List {
            if let problem = model.state.problem { ProblemView(problem: problem) }
            if model.state.scanning { Text("Scanning…").foregroundStyle(.secondary) }
            ForEach(model.state.items) { item in
                if let known = item.known {
                    NavigationLink {
                        TerminalView(companion: companion, simulation: simulation, sn: known.sn)
                    } label: { TerminalRow(item: item) }
                } else {
                    NavigationLink {
                        PairingView(companion: companion, simulation: simulation, peripheralId: item.peripheralId)
                    } label: { TerminalRow(item: item) }
                }
            }
            if let simulation {
                NavigationLink("Simulator") { SimulatorView(simulation: simulation) }
            }
        }
        .navigationTitle("Terminals")
        .refreshable { model.refresh() }
        .onAppear {
            model.open()
            model.scan()
        }
        .onDisappear { model.stopScan() }
    }
}

private struct TerminalRow: View {
    let item: TerminalItem

    var body: some View {
        HStack {
            VStack(alignment: .leading) {
                Text(item.known?.sn ?? item.name)
                Text(details).font(.caption).foregroundStyle(.secondary)
            }
            Spacer()
            if let rssi = item.rssi {
                Image(systemName: "cellularbars", variableValue: bars(rssi))
                Text("\(rssi) dBm").font(.caption)
            } else {
                Text("not in range").font(.caption)
            }
        }
    }

    private var details: String {
        var parts: [String] = []
        if let state = item.known?.state { parts.append("on this phone: \(state)") }
        if let lifecycle = item.advertised { parts.append("advertises: \(lifecycle)") }
        if item.pairingOpen { parts.append("pairing open") }
        if item.pairingLocked { parts.append("pairing locked") }
        switch item.link {
        case .idle: break
        case .connecting: parts.append("connecting")
        case .connected: parts.append("connected")
        case let .connectFailed(code, _): parts.append("connect failed (\(code))")
        case let .disconnected(reason): parts.append("disconnected (\(reason))")
        }
        return parts.joined(separator: " · ")
    }

    /// Signal as a fraction of bars, for the eye only.
    private func bars(_ rssi: Int16) -> Double {
        rssi >= -55 ? 1 : rssi >= -67 ? 0.75 : rssi >= -80 ? 0.5 : 0.25
    }
}
