import PosmateKit
import PosmateViewModels
import SwiftUI

/// The decommission wizard: reason → backup → confirmations → run, as the core decides.
struct DecommissionView: View {
    @StateObject private var model: DecommissionViewModel
    @Environment(\.dismiss) private var dismiss

    init(companion: PosmateCompanion, sn: String) {
        _model = StateObject(wrappedValue: DecommissionViewModel(
            companion: companion, sn: sn, defaultBackupPath: AppConfig.backupPath(sn: sn)))
    }

    var body: some View {
        Form {
            switch model.state {
            case .reason:
                Section("Step 1 of 3 · Why is this terminal leaving service?") {
                    TextField("Reason (kept with the acquirer)", text: $model.form.reason)
                    Button("Next") { model.next() }
                }
            case let .backup(problem):
                Section("Step 2 of 3 · Backup") {
                    Text("posmate writes an encrypted backup of this terminal's records and checks it before anything is destroyed.")
                    if let problem { ProblemView(problem: problem) }
                    Text("Saved to \(model.form.backupPath)").font(.caption)
                    SecureField("Backup passphrase", text: $model.form.passphrase)
                    Text("Keep the passphrase: without it the backup cannot be read.").font(.caption)
                    Button("Back") { model.back() }
                    Button("Next") { model.next() }
                }
            case let .confirm(problem):
                Section("Step 3 of 3 · Confirm") {
                    if let problem { ProblemView(problem: problem) }
                    Text("Reason: \(model.form.reason)")
                    Text("The terminal will be deregistered with the acquirer, wiped, and forgotten by this phone.")
                    Toggle("I understand this cannot be undone.", isOn: $model.form.understood)
                    Button("Back") { model.back() }
                    Button("Decommission \(model.sn)", role: .destructive) { model.begin() }
                        .disabled(!model.canStart)
                }
            case let .running(progress):
                FlowProgressView(progress: progress) { model.cancel() }
            case let .done(o):
                Text("Decommissioned \(o.sn).")
                Text("Backup: \(o.backupRecords) record(s) in \(o.backupPath) (SHA-256 \(o.backupSha256.prefix(16))…)")
                Text("Deregistration \(o.deregistrationRef); wipe receipt \(o.receiptNonce.prefix(16))… verified.")
                Button("Done") { dismiss() }
            case let .interrupted(problem, resumable):
                ProblemView(problem: problem)
                Button(resumable ? "Resume" : "Retry") { model.retry() }
            case .paused:
                Text("The terminal is already deregistered: the decommission must be finished.")
                Button("Finish the decommission") { model.retry() }
            case .cancelled:
                Text("Cancelled before anything was destroyed; the terminal is as it was.")
                Button("Close") { dismiss() }
            }
        }
        .navigationTitle("Decommission")
    }
}
