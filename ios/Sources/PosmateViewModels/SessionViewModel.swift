import Foundation
import PosmateKit

/// Where terminals and the acquirer are: the app's simulated-terminal switch.
public enum Backend: Equatable, Sendable {
    /// Simulated terminals and acquirer in this process (no hardware, no network).
    case simulated(terminals: UInt32 = 2, seed: UInt64 = 1)
    /// A running `posmate sim --listen ADDRESS`, shared with other apps or the CLI (the
    /// iOS simulator reaches the Mac at `127.0.0.1`).
    case simServer(address: String)
    /// Real terminals over Bluetooth; the acquirer through the app's `AcquirerHttpClient`.
    case bluetooth
}

public enum SessionState {
    case closed
    case opening(Backend)
    /// `simulation` in simulated mode: its screens show the pairing codes.
    case open(Backend, PosmateCompanion, simulation: Simulation?)
    case failed(Backend, Problem)
}

/// Opens the companion on the chosen backend. The data directory, keystore and the HTTP
/// client to the acquirer (one exchange at a time) are the app's; everything else, the API's
/// routes, keys and retries included, is the core's.
@MainActor
public final class SessionViewModel: ViewModel<SessionState> {
    private let config: (Backend) -> CompanionConfig
    private let acquirer: () -> AcquirerHttpClient

    public init(config: @escaping (Backend) -> CompanionConfig, acquirer: @escaping () -> AcquirerHttpClient) {
        self.config = config
        self.acquirer = acquirer
        super.init(.closed)
    }

    public func open(_ backend: Backend, review: SimReview? = nil) {
        start { [self] in
            await closeCurrent()
            set(.opening(backend))
            let config = self.config(backend)
            do {
                switch backend {
                case let .simulated(terminals, seed):
                    let sim = Simulation(options: SimulationOptions(terminals: terminals, seed: seed, review: review))
                    let companion = try await posmate { try await PosmateCompanion.openSimulated(config: config, simulation: sim) }
                    set(.open(backend, companion, simulation: sim))
                case let .simServer(address):
                    let companion = try await posmate { try await PosmateCompanion.openSimServer(config: config, address: address) }
                    set(.open(backend, companion, simulation: nil))
                case .bluetooth:
                    let client = acquirer()
                    let companion = try await posmate { try await PosmateCompanion.openBluetooth(config: config, acquirer: client) }
                    set(.open(backend, companion, simulation: nil))
                }
            } catch {
                set(.failed(backend, Problem.of(error)))
            }
        }
    }

    public func close() {
        start { [self] in
            await closeCurrent()
            set(.closed)
        }
    }

    private func closeCurrent() async {
        if case let .open(_, companion, _) = state {
            await companion.shutdown()
        }
    }

    /// A configuration for development: keys in memory, cheap backups.
    public nonisolated static func developmentConfig(dataDir: String) -> CompanionConfig {
        CompanionConfig(dataDir: dataDir, keystore: .mock, allowVolatileKey: true, scanTimeMs: nil,
                        reconnectAttempts: nil, requestTimeoutMs: nil, backupWorkFactor: nil)
    }
}
