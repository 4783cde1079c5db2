import Foundation
import PosmateKit
import PosmateViewModels
import SwiftUI

/// The thin SwiftUI app: screens over the view models, the Bluetooth explanation and the
/// simulated-terminal switch. No business logic lives here.
@main
struct PosmateApp: App {
    @StateObject private var session = SessionViewModel(
        config: AppConfig.config(for:),
        acquirer: { HTTPAcquirerClient(baseURL: AppConfig.acquirerURL) })

    var body: some Scene {
        WindowGroup {
            RootView(session: session)
        }
    }
}

/// Platform glue: where files go, which keystore, the acquirer's address.
enum AppConfig {
    /// The acquirer API's base URL; posmate sends paths from `/v1/…`.
    static var acquirerURL: URL {
        let text = Bundle.main.object(forInfoDictionaryKey: "PosmateAcquirerURL") as? String
        return URL(string: text ?? "") ?? URL(string: "https://acquirer.example/posmate")!
    }

    /// Simulated worlds and `posmate sim` start fresh, so the phone side does too (keys in
    /// memory, a new folder). Real terminals use the Keychain and Application Support.
    static func config(for backend: Backend) -> CompanionConfig {
        let fm = FileManager.default
        switch backend {
        case .simulated, .simServer:
            let dir = fm.temporaryDirectory.appendingPathComponent("posmate-dev-\(UUID().uuidString)")
            return SessionViewModel.developmentConfig(dataDir: dir.path)
        case .bluetooth:
            let support = (try? fm.url(for: .applicationSupportDirectory, in: .userDomainMask,
                                       appropriateFor: nil, create: true)) ?? fm.temporaryDirectory
            return CompanionConfig(dataDir: support.appendingPathComponent("posmate").path, keystore: .os,
                                   allowVolatileKey: false, scanTimeMs: nil, reconnectAttempts: nil,
                                   requestTimeoutMs: nil, backupWorkFactor: nil)
        }
    }

    static func backupPath(sn: String) -> String {
        let docs = FileManager.default.urls(for: .documentDirectory, in: .userDomainMask)[0]
        let stamp = Int(Date().timeIntervalSince1970)
        return docs.appendingPathComponent("posmate-\(sn)-\(stamp).age").path
    }
}
