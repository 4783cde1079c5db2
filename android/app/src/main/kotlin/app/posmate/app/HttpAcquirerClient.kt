package app.posmate.app

import app.posmate.ffi.AcquirerClient
import app.posmate.ffi.AcquirerReply
import java.io.IOException
import java.net.HttpURLConnection
import java.net.SocketTimeoutException
import java.net.URL
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.withContext

/**
 * The acquirer's JSON API over HTTPS for the Bluetooth backend: posmate hands over each
 * request body and gets the answer back; what the bodies mean is the core's business.
 * Bodies are never logged (one may carry a typed card number).
 */
class HttpAcquirerClient(private val url: String) : AcquirerClient {
    override suspend fun call(body: ByteArray): AcquirerReply = withContext(Dispatchers.IO) {
        val connection = try {
            URL(url).openConnection() as HttpURLConnection
        } catch (e: IOException) {
            return@withContext AcquirerReply.Unreachable("cannot open $url: ${e.message}")
        }
        try {
            connection.requestMethod = "POST"
            connection.connectTimeout = 10_000
            connection.readTimeout = 20_000
            connection.doOutput = true
            connection.setRequestProperty("Content-Type", "application/json")
            try {
                connection.outputStream.use { it.write(body) }
            } catch (e: IOException) {
                // Nothing reached the acquirer.
                return@withContext AcquirerReply.Unreachable("${e.javaClass.simpleName}: ${e.message}")
            }
            val stream = if (connection.responseCode < 400) connection.inputStream else connection.errorStream
            AcquirerReply.Answered(stream?.use { it.readBytes() } ?: ByteArray(0))
        } catch (e: SocketTimeoutException) {
            // Sent; the answer may be lost: the request id makes the core's retry safe.
            AcquirerReply.Timeout
        } catch (e: IOException) {
            AcquirerReply.Timeout
        } finally {
            connection.disconnect()
        }
    }
}
