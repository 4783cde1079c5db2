import Foundation
import PosmateKit

/// The platform's HTTP client (URLSession) bound to the acquirer's base URL, for the
/// Bluetooth backend. It carries one exchange and says what happened; routes, the
/// `Idempotency-Key`, problem answers and retries are posmate's, so this class only maps
/// URLSession's failures onto `AcquirerHttpReply`. The phone's trust store and App Transport
/// Security apply. Bodies are never logged: one may carry a typed card number.
final class HTTPAcquirerClient: AcquirerHttpClient {
    let baseURL: URL
    private let session: URLSession

    init(baseURL: URL) {
        self.baseURL = baseURL
        // Answers go to posmate as they are: no cache, no cookies, no followed redirect.
        let configuration = URLSessionConfiguration.ephemeral
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        configuration.urlCache = nil
        configuration.httpShouldSetCookies = false
        session = URLSession(configuration: configuration, delegate: NoRedirects(), delegateQueue: nil)
    }

    func send(request: AcquirerHttpRequest) async -> AcquirerHttpReply {
        let text = baseURL.absoluteString.trimmingCharacters(in: CharacterSet(charactersIn: "/")) + request.path
        guard let url = URL(string: text) else {
            return .couldNotConnect(detail: "not a URL: \(request.path)")
        }
        var urlRequest = URLRequest(url: url, timeoutInterval: 20)
        switch request.method {
        case .get: urlRequest.httpMethod = "GET"
        case .post: urlRequest.httpMethod = "POST"
        case .delete: urlRequest.httpMethod = "DELETE"
        }
        for header in request.headers {
            urlRequest.setValue(header.value, forHTTPHeaderField: header.name)
        }
        urlRequest.httpBody = request.body
        do {
            let (data, response) = try await session.data(for: urlRequest)
            guard let http = response as? HTTPURLResponse else {
                return .connectionFailed(detail: "not an HTTP answer")
            }
            let headers = http.allHeaderFields.map { HttpHeader(name: "\($0.key)", value: "\($0.value)") }
            return .answered(response: AcquirerHttpResponse(status: UInt16(clamping: http.statusCode),
                                                            headers: headers, body: data))
        } catch let error as URLError {
            return Self.reply(to: error)
        } catch {
            return .connectionFailed(detail: error.localizedDescription)
        }
    }

    static func reply(to error: URLError) -> AcquirerHttpReply {
        let detail = "URLError \(error.code.rawValue): \(error.localizedDescription)"
        switch error.code {
        // The handshake refused the acquirer's certificate: nothing was sent.
        case .serverCertificateUntrusted, .serverCertificateHasUnknownRoot:
            return .certificateRefused(problem: .unknownCa, detail: detail)
        case .serverCertificateHasBadDate:
            return .certificateRefused(problem: .expired, detail: detail)
        case .serverCertificateNotYetValid:
            return .certificateRefused(problem: .notYetValid, detail: detail)
        case .secureConnectionFailed, .clientCertificateRejected, .clientCertificateRequired:
            return .certificateRefused(problem: .other, detail: detail)
        // No connection was made.
        case .cannotFindHost, .dnsLookupFailed, .cannotConnectToHost, .notConnectedToInternet,
             .internationalRoamingOff, .dataNotAllowed, .callIsActive,
             .appTransportSecurityRequiresSecureConnection:
            return .couldNotConnect(detail: detail)
        // URLSession does not tell a connect timeout from a lost answer, so this never claims
        // the acquirer did not act; the same Idempotency-Key makes posmate's retry safe.
        case .timedOut:
            return .timedOut(maybeSent: true)
        default:
            return .connectionFailed(detail: detail)
        }
    }
}

/// Hands a redirect to posmate as the answer it is instead of following it.
private final class NoRedirects: NSObject, URLSessionTaskDelegate, Sendable {
    func urlSession(_ session: URLSession, task: URLSessionTask,
                    willPerformHTTPRedirection response: HTTPURLResponse,
                    newRequest request: URLRequest) async -> URLRequest? {
        nil
    }
}
