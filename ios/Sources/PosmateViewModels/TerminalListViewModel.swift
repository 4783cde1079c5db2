import Foundation
import PosmateKit

/// What the phone last heard about a terminal's link, from the core's connection states.
public enum LinkState: Equatable, Sendable {
    case idle
    case connecting
    case connected(mtu: UInt16)
    case connectFailed(code: String, detail: String)
    case disconnected(DisconnectReason)
}

/// One row of the terminal list: what the radio sees and what the phone knows.
public struct TerminalItem: Identifiable {
    /// What pairing takes.
    public let peripheralId: String
    /// The advertised name, or the serial number of a known terminal not in range.
    public let name: String
    /// Signal in dBm while in range.
    public let rssi: Int16?
    /// The lifecycle the terminal advertises (nil while not in range).
    public let advertised: Lifecycle?
    public let pairingOpen: Bool
    public let pairingLocked: Bool
    /// The phone's record of it, once paired.
    public let known: Terminal?
    public let link: LinkState

    public var id: String { peripheralId.isEmpty ? name : peripheralId }
    public var inRange: Bool { advertised != nil }
}

public struct TerminalListState {
    public var items: [TerminalItem] = []
    public var scanning = false
    public var problem: Problem?
}

/// The terminal list: terminals in range (from a scan) merged with the ones this phone
/// knows (from the core's store), each with its link state. Known terminals first, then
/// the strongest signal.
@MainActor
public final class TerminalListViewModel: ViewModel<TerminalListState> {
    private let companion: PosmateCompanion
    private var seen: [String: ScannedTerminal] = [:]
    private var known: [Terminal] = []
    private var links: [String: LinkState] = [:]
    private var scanTask: Task<Void, Never>?
    private var statesTask: Task<Void, Never>?

    public init(companion: PosmateCompanion) {
        self.companion = companion
        super.init(TerminalListState())
    }

    /// Loads the known terminals and follows connection states until `close()`.
    public func open() {
        if statesTask == nil {
            let states = companion.connectionStates()
            statesTask = Task { @MainActor [weak self] in
                for await s in states { self?.onConnection(s) }
            }
        }
        refresh()
    }

    /// Reloads the terminals this phone knows.
    public func refresh() {
        do {
            known = try posmateSync { try companion.terminals() }
            publish(problem: nil)
        } catch {
            publish(problem: Problem.of(error))
        }
    }

    /// Scans until `stopScan()`; a scan that cannot run shows the core's problem.
    public func scan() {
        if scanTask != nil { return }
        var s = state
        s.scanning = true
        s.problem = nil
        set(s)
        let results = companion.scanResults()
        scanTask = Task { @MainActor [weak self] in
            do {
                for try await t in results {
                    self?.seen[t.peripheralId] = t
                    self?.publish()
                }
            } catch {
                self?.publish(problem: Problem.of(error))
            }
            self?.scanEnded()
        }
    }

    public func stopScan() {
        scanTask?.cancel()
        scanEnded()
    }

    public func close() {
        stopScan()
        statesTask?.cancel()
        statesTask = nil
    }

    private func scanEnded() {
        scanTask = nil
        var s = state
        s.scanning = false
        set(s)
    }

    private func onConnection(_ state: ConnectionState) {
        switch state {
        case let .connecting(id): links[id] = .connecting
        case let .connected(id, mtu): links[id] = .connected(mtu: mtu)
        case let .connectFailed(id, code, detail): links[id] = .connectFailed(code: code, detail: detail)
        case let .disconnected(id, reason): links[id] = .disconnected(reason)
        }
        publish()
    }

    private func publish(problem: Problem?? = nil) {
        let byId = Dictionary(known.compactMap { k in k.peripheralId.map { ($0, k) } }, uniquingKeysWith: { a, _ in a })
        let inRange = seen.values.map { t in
            TerminalItem(peripheralId: t.peripheralId, name: t.localName, rssi: t.rssi, advertised: t.lifecycle,
                         pairingOpen: t.pairingOpen, pairingLocked: t.pairingLocked,
                         known: byId[t.peripheralId], link: links[t.peripheralId] ?? .idle)
        }
        let away = known.filter { k in k.peripheralId.map { seen[$0] == nil } ?? true }.map { k in
            TerminalItem(peripheralId: k.peripheralId ?? "", name: k.sn, rssi: nil, advertised: nil,
                         pairingOpen: false, pairingLocked: false, known: k,
                         link: k.peripheralId.flatMap { links[$0] } ?? .idle)
        }
        var s = state
        s.items = (inRange + away).sorted { a, b in
            if (a.known != nil) != (b.known != nil) { return a.known != nil }
            return (a.rssi ?? Int16.min) > (b.rssi ?? Int16.min)
        }
        if let problem { s.problem = problem }
        set(s)
    }
}
