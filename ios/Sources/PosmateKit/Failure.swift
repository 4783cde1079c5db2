import Foundation

/// A posmate call's failure, as the core reported it: the stable `code` and its `kind` apps
/// branch on, a sentence for logs, whether retrying can help, what the merchant should do next, and
/// whether the failing step needs the internet.
///
/// The generated `PosmateError` is internal to this module (UniFFI 0.32 emits error enums
/// without `public`), so this is how code outside PosmateKit reads a failure.
public struct PosmateFailure: Error, Equatable, Sendable, CustomStringConvertible {
    public let code: String
    /// The core's category of `code` (the CLI's exit codes are the same categories).
    public let kind: ErrorKind
    public let detail: String
    public let retryable: Bool
    public let userAction: String
    public let needsInternet: Bool

    public var description: String { "\(detail) (\(code))" }
}

// The initialisers are declared here, outside the struct, so that Swift keeps synthesising
// the memberwise one for this module; other modules get failures only from errors.
extension PosmateFailure {
    /// The failure carried by `error`, or nil if it is not one of posmate's.
    public init?(_ error: Error) {
        if let failure = error as? PosmateFailure {
            self = failure
            return
        }
        guard let e = error as? PosmateError else { return nil }
        switch e {
        case let .Failed(code, kind, detail, retryable, userAction, needsInternet):
            self.init(code: code, kind: kind, detail: detail, retryable: retryable, userAction: userAction,
                      needsInternet: needsInternet)
        }
    }

    /// The failure carried by `error`, to be shown; one that is not posmate's (a bug)
    /// becomes an `internal` failure, never hidden.
    public static func of(_ error: Error) -> PosmateFailure {
        PosmateFailure(error)
            ?? PosmateFailure(code: "internal", kind: .internal, detail: "\(error)", retryable: false,
                              userAction: "contact support with this error's code", needsInternet: false)
    }
}
