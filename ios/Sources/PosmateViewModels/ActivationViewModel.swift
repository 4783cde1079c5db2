import Foundation
import PosmateKit

/// The activation form: what the acquirer's letter says, typed by the merchant.
public struct ActivationForm: Equatable, Sendable {
    public var terminalNo = ""
    public var merchantNo = ""
    public var activationCode = ""
    public var legalName = ""
    public var contactPhone = ""
    public var address = ""

    public init(terminalNo: String = "", merchantNo: String = "", activationCode: String = "",
                legalName: String = "", contactPhone: String = "", address: String = "") {
        self.terminalNo = terminalNo
        self.merchantNo = merchantNo
        self.activationCode = activationCode
        self.legalName = legalName
        self.contactPhone = contactPhone
        self.address = address
    }
}

public enum ActivationState {
    /// The form; `problem` is the core's verdict on the last submission (bad input…).
    case editing(Problem?)
    case submitting(FlowProgress?)
    /// The acquirer is reviewing: check again after `retryAfterMs`. `problem`: why the last
    /// check got no answer (no internet…), if it failed.
    case pendingReview(applicationId: String, retryAfterMs: UInt64, checking: Bool, problem: Problem?)
    case activated(terminalNo: String, merchantNo: String, testTxnRef: String, keySlots: [KeySlotProof])
    /// The acquirer said no; the problem carries its reason and what to do.
    case rejected(Problem)
    /// Stopped by a lost link or no internet. `resumable` when the core kept the flow:
    /// `retry()` resumes it without a second application.
    case interrupted(Problem, resumable: Bool)
    case cancelled(Problem)
}

/// The activation form and what follows it. Every rule is the core's: the form is sent as
/// typed and the core answers with `invalid-input` (the field and what is wrong) or runs
/// the flow; pending review, rejection and key checks are the acquirer's and the core's.
@MainActor
public final class ActivationViewModel: FlowViewModel<ActivationState> {
    private let companion: PosmateCompanion
    public let sn: String
    private let pollAutomatically: Bool
    private var poll: Task<Void, Never>?
    private static let kind = "activation"

    public var form = ActivationForm() {
        willSet { willChange() }
    }

    public init(companion: PosmateCompanion, sn: String, pollAutomatically: Bool = true) {
        self.companion = companion
        self.sn = sn
        self.pollAutomatically = pollAutomatically
        super.init(.editing(nil))
    }

    /// Shows a pending activation left from before (the app was closed during review).
    public func resumeIfOpen() {
        start { [self] in
            if companion.openFlow(kind: Self.kind, sn: sn) != nil { await status() }
        }
    }

    public func submit() {
        let f = form
        let input = ActivationInput(
            sn: sn, terminalNo: f.terminalNo, merchantNo: f.merchantNo, activationCode: f.activationCode,
            merchant: MerchantDetails(legalName: f.legalName, contactPhone: f.contactPhone, address: f.address))
        start { [self] in
            await flow { [companion] control in try await companion.activate(input: input, control: control) }
        }
    }

    /// Asks the acquirer again about a pending review.
    public func checkStatus() {
        start { [self] in await status() }
    }

    /// After an interruption: resumes the kept flow, or submits again if none was kept.
    public func retry() {
        if case .interrupted(_, true) = state { checkStatus() } else { submit() }
    }

    /// Back to the form (after a rejection, a cancel or an interruption).
    public func backToForm() {
        if !busy { set(.editing(nil)) }
    }

    private func status() async {
        if case let .pendingReview(id, after, _, _) = state {
            set(.pendingReview(applicationId: id, retryAfterMs: after, checking: true, problem: nil))
        }
        let sn = self.sn
        await flow { [companion] control in try await companion.activationStatus(sn: sn, control: control) }
    }

    private func flow(_ call: (FlowControl) async throws -> ActivationOutcome) async {
        poll?.cancel()
        var pendingBefore: (String, UInt64)?
        if case let .pendingReview(id, after, _, _) = state { pendingBefore = (id, after) } else { set(.submitting(nil)) }
        let result = await cancellableFlow(onProgress: { [weak self] p in
            guard let self, case .submitting = self.state else { return }
            self.set(.submitting(p))
        }, call)
        switch result {
        case let .success(.activated(_, _, terminalNo, merchantNo, testTxnRef, keySlots)):
            set(.activated(terminalNo: terminalNo, merchantNo: merchantNo, testTxnRef: testTxnRef, keySlots: keySlots))
        case let .success(.pending(_, applicationId, retryAfterMs)):
            set(.pendingReview(applicationId: applicationId, retryAfterMs: retryAfterMs, checking: false, problem: nil))
        case let .failure(error):
            let p = Problem.of(error)
            if p.code == Codes.activationRejected {
                set(.rejected(p))
            } else if p.code == Codes.cancelled {
                set(.cancelled(p))
            } else if let (id, after) = pendingBefore, p.retryable {
                // Still under review; the check itself failed (no internet): keep waiting.
                set(.pendingReview(applicationId: id, retryAfterMs: after, checking: false, problem: p))
            } else if p.retryable {
                set(.interrupted(p, resumable: companion.openFlow(kind: Self.kind, sn: sn) != nil))
            } else {
                set(.editing(p))
            }
        }
        schedulePoll()
    }

    private func schedulePoll() {
        guard pollAutomatically, case let .pendingReview(_, after, _, _) = state else { return }
        poll = Task { @MainActor [weak self] in
            try? await Task.sleep(nanoseconds: after * 1_000_000)
            if !Task.isCancelled { self?.checkStatus() }
        }
    }
}
