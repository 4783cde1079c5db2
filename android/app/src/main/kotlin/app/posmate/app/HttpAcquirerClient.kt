package app.posmate.app

import app.posmate.ffi.AcquirerHttpClient
import app.posmate.ffi.AcquirerHttpReply
import app.posmate.ffi.AcquirerHttpRequest
import app.posmate.ffi.AcquirerHttpResponse
import app.posmate.ffi.CertificateProblem
import app.posmate.ffi.HttpHeader
import app.posmate.ffi.HttpMethod
import java.io.IOException
import java.net.ConnectException
import java.net.HttpURLConnection
import java.net.NoRouteToHostException
import java.net.SocketTimeoutException
import java.net.URL
import java.net.UnknownHostException
import java.security.cert.CertPathBuilderException
import java.security.cert.CertPathValidatorException
import java.security.cert.CertificateExpiredException
import java.security.cert.CertificateNotYetValidException
import javax.net.ssl.SSLHandshakeException
import javax.net.ssl.SSLPeerUnverifiedException
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.withContext

/**
 * The platform's HTTP client (HttpURLConnection) bound to the acquirer's base URL, for the
 * Bluetooth backend. It carries one exchange and says what happened; routes, the
 * `Idempotency-Key`, problem answers and retries are posmate's, so this class only maps the
 * platform's failures onto [AcquirerHttpReply]. The phone's trust store and network security
 * config (CAs, pins) apply. Bodies are never logged: one may carry a typed card number.
 */
class HttpAcquirerClient(private val baseUrl: String) : AcquirerHttpClient {
    override suspend fun send(request: AcquirerHttpRequest): AcquirerHttpReply = withContext(Dispatchers.IO) {
        val connection = try {
            URL(baseUrl.trimEnd('/') + request.path).openConnection() as HttpURLConnection
        } catch (e: IOException) {
            return@withContext AcquirerHttpReply.CouldNotConnect("cannot open ${request.path}: ${e.message}")
        }
        try {
            connection.requestMethod = when (request.method) {
                HttpMethod.GET -> "GET"
                HttpMethod.POST -> "POST"
                HttpMethod.DELETE -> "DELETE"
            }
            connection.connectTimeout = 10_000
            connection.readTimeout = 20_000
            // Answers go to posmate as they are: a redirect or a cached answer would hide
            // what the acquirer said.
            connection.instanceFollowRedirects = false
            connection.useCaches = false
            for (header in request.headers) connection.setRequestProperty(header.name, header.value)
            val body = request.body
            connection.doOutput = body != null

            // Connecting includes the TLS handshake: a failure here means nothing was sent.
            try {
                connection.connect()
            } catch (e: SocketTimeoutException) {
                return@withContext AcquirerHttpReply.TimedOut(maybeSent = false)
            } catch (e: IOException) {
                return@withContext refused(e) ?: unconnected(e)
            }
            try {
                if (body != null) connection.outputStream.use { it.write(body) }
                val status = connection.responseCode
                val stream = if (status < 400) connection.inputStream else connection.errorStream
                val headers = connection.headerFields.flatMap { (name, values) ->
                    // The status line is listed under a null name.
                    if (name == null) emptyList() else values.map { HttpHeader(name, it) }
                }
                AcquirerHttpReply.Answered(
                    AcquirerHttpResponse(status.toUShort(), headers, stream?.use { it.readBytes() } ?: ByteArray(0)),
                )
            } catch (e: SocketTimeoutException) {
                // Sent: the acquirer may have acted; the same Idempotency-Key makes a retry safe.
                AcquirerHttpReply.TimedOut(maybeSent = true)
            } catch (e: IOException) {
                refused(e) ?: AcquirerHttpReply.ConnectionFailed(describe(e))
            }
        } finally {
            connection.disconnect()
        }
    }

    private fun unconnected(e: IOException): AcquirerHttpReply = when (e) {
        is UnknownHostException, is ConnectException, is NoRouteToHostException ->
            AcquirerHttpReply.CouldNotConnect(describe(e))
        else -> AcquirerHttpReply.ConnectionFailed(describe(e))
    }

    /** A refused certificate, with the problem the merchant can act on; null for other failures. */
    private fun refused(e: IOException): AcquirerHttpReply? {
        if (e !is SSLHandshakeException && e !is SSLPeerUnverifiedException) return null
        return AcquirerHttpReply.CertificateRefused(problem(e), describe(e))
    }

    /** The most specific cause wins: a path validation failure often wraps an expiry. */
    private fun problem(e: IOException): CertificateProblem {
        val causes = generateSequence(e as Throwable) { it.cause }.take(8).toList()
        for (cause in causes) {
            when (cause) {
                is CertificateExpiredException -> return CertificateProblem.EXPIRED
                is CertificateNotYetValidException -> return CertificateProblem.NOT_YET_VALID
            }
        }
        for (cause in causes) {
            // No path to a trusted root, as the JVM's trust manager reports it.
            if (cause is CertPathBuilderException) return CertificateProblem.UNKNOWN_CA
            if (cause is CertPathValidatorException) {
                return when (cause.reason) {
                    CertPathValidatorException.BasicReason.EXPIRED -> CertificateProblem.EXPIRED
                    CertPathValidatorException.BasicReason.NOT_YET_VALID -> CertificateProblem.NOT_YET_VALID
                    // "Trust anchor for certification path not found".
                    else -> CertificateProblem.UNKNOWN_CA
                }
            }
        }
        // The network security config's <pin-set> refuses with "Pin verification failed".
        if (causes.any { it.message?.contains("Pin verification failed") == true }) return CertificateProblem.PIN_MISMATCH
        // HttpsURLConnection's hostname check: "Hostname … not verified".
        if (e is SSLPeerUnverifiedException) return CertificateProblem.WRONG_HOST
        return CertificateProblem.OTHER
    }

    private fun describe(e: Throwable) = "${e.javaClass.simpleName}: ${e.message}"
}
