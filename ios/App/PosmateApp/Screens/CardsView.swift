import PosmateKit
import PosmateViewModels
import SwiftUI

/// The merchant's cards; binding one read on the terminal or typed in; unbinding.
struct CardsView: View {
    let simulation: Simulation?
    @StateObject private var model: CardsViewModel
    @State private var purpose: CardPurpose = .settlement
    @State private var holder = ""
    @State private var pan = ""
    @State private var expiry = ""

    init(companion: PosmateCompanion, simulation: Simulation?, merchantNo: String, sn: String) {
        self.simulation = simulation
        _model = StateObject(wrappedValue: CardsViewModel(companion: companion, merchantNo: merchantNo, sn: sn))
    }

    var body: some View {
        Form {
            if let problem = model.state.problem { ProblemView(problem: problem) }
            Section("Bound cards") {
                ForEach(model.state.cards, id: \.bindingId) { card in
                    HStack {
                        VStack(alignment: .leading) {
                            Text("\(card.maskedPan) · \(String(describing: card.purpose))")
                            Text("\(card.issuer) · \(card.holderName) · \(card.source)").font(.caption)
                        }
                        Spacer()
                        Button("Unbind") { model.unbind(bindingId: card.bindingId) }
                    }
                }
            }
            OperationView(operation: model.state.operation, onCancel: { model.cancel() },
                          onRetry: { model.refresh() }) { card in
                Text(card.map { "Bound \($0.maskedPan)." } ?? "Unbound.")
            }
            Section("Bind a card") {
                Picker("Purpose", selection: $purpose) {
                    Text("Settlement").tag(CardPurpose.settlement)
                    Text("Credit").tag(CardPurpose.credit)
                }
                TextField("Card holder (as registered)", text: $holder)
                Button("Read it on the terminal") { model.bindFromTerminal(purpose: purpose, holderName: holder) }
                if let simulation {
                    Button("Simulator: hold a test card to the terminal") {
                        _ = try? simulation.presentCard(sn: model.sn, pan: "6222021234567890128", expiry: "1229")
                    }
                }
                TextField("Card number", text: $pan).keyboardType(.numberPad)
                TextField("Expiry (MMYY)", text: $expiry).keyboardType(.numberPad)
                Button("Bind the typed card") {
                    model.bindTyped(purpose: purpose, holderName: holder, pan: pan, expiry: expiry)
                }
            }
        }
        .navigationTitle("Cards")
        .task { model.refresh() }
    }
}
