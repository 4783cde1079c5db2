import PosmateKit
import PosmateViewModels
import SwiftUI

/// The activation form and what follows: the form goes to the core as typed, and the core's
/// verdict (bad input, pending review, rejection, a lost link) is what the screen shows.
struct ActivationView: View {
    let simulation: Simulation?
    @StateObject private var model: ActivationViewModel
    @Environment(\.dismiss) private var dismiss

    init(companion: PosmateCompanion, simulation: Simulation?, sn: String) {
        self.simulation = simulation
        _model = StateObject(wrappedValue: ActivationViewModel(companion: companion, sn: sn))
    }

    var body: some View {
        Form {
            switch model.state {
            case let .editing(problem):
                if let problem { ProblemView(problem: problem) }
                if let simulation {
                    Button("Fill from the simulated acquirer's letter") { fill(from: simulation) }
                }
                TextField("Terminal number", text: $model.form.terminalNo)
                TextField("Merchant number", text: $model.form.merchantNo).keyboardType(.numberPad)
                TextField("Activation code", text: $model.form.activationCode)
                TextField("Merchant's legal name", text: $model.form.legalName)
                TextField("Contact phone", text: $model.form.contactPhone).keyboardType(.phonePad)
                TextField("Address", text: $model.form.address)
                Button("Activate") { model.submit() }
            case let .submitting(progress):
                FlowProgressView(progress: progress) { model.cancel() }
            case let .pendingReview(applicationId, retryAfterMs, checking, problem):
                Text("The acquirer is reviewing application \(applicationId).")
                Text("posmate checks again in \(retryAfterMs / 1000) s.")
                if let problem { ProblemView(problem: problem) }
                if checking { ProgressView() } else { Button("Check now") { model.checkStatus() } }
            case let .activated(terminalNo, merchantNo, testTxnRef, keySlots):
                Text("Activated: terminal \(terminalNo) for merchant \(merchantNo).")
                Text("\(keySlots.count) keys installed and checked; test transaction \(testTxnRef).")
                Button("Done") { dismiss() }
            case let .rejected(problem):
                ProblemView(problem: problem)
                Button("Back to the form") { model.backToForm() }
            case let .interrupted(problem, resumable):
                ProblemView(problem: problem)
                Button(resumable ? "Resume" : "Retry") { model.retry() }
                Button("Back to the form") { model.backToForm() }
            case let .cancelled(problem):
                Text("Activation cancelled: \(problem.userAction)")
                Button("Back to the form") { model.backToForm() }
            }
        }
        .navigationTitle("Activate \(model.sn)")
        .task { model.resumeIfOpen() }
    }

    /// Development: the simulated acquirer's letter for this terminal.
    private func fill(from simulation: Simulation) {
        guard let t = simulation.terminals().first(where: { $0.sn == model.sn }) else { return }
        let m = simulation.merchant()
        model.form = ActivationForm(terminalNo: t.terminalNo, merchantNo: m.merchantNo,
                                    activationCode: t.activationCode, legalName: m.details.legalName,
                                    contactPhone: m.details.contactPhone, address: m.details.address)
    }
}
