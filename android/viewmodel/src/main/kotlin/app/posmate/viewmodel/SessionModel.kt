package app.posmate.viewmodel

import app.posmate.ffi.AcquirerHttpClient
import app.posmate.ffi.CompanionConfig
import app.posmate.ffi.Keystore
import app.posmate.ffi.PosmateCompanion
import app.posmate.ffi.PosmateException
import app.posmate.ffi.SimReview
import app.posmate.ffi.Simulation
import app.posmate.ffi.SimulationOptions
import kotlinx.coroutines.CoroutineScope

/** Where terminals and the acquirer are: the app's simulated-terminal switch. */
sealed interface Backend {
    /** Simulated terminals and acquirer in this process (no hardware, no network). */
    data class Simulated(
        val terminals: UInt = 2u,
        val seed: ULong = 1u,
        val review: SimReview? = null,
    ) : Backend

    /**
     * A running `posmate sim --listen ADDRESS`, shared with other apps or the CLI. From
     * the Android emulator the host machine is `10.0.2.2`.
     */
    data class SimServer(val address: String) : Backend

    /** Real terminals over the phone's Bluetooth, the acquirer through the app's [AcquirerHttpClient]. */
    data object Bluetooth : Backend
}

sealed interface SessionState {
    data object Closed : SessionState
    data class Opening(val backend: Backend) : SessionState
    data class Open(
        val backend: Backend,
        val companion: PosmateCompanion,
        /** The simulated world, in simulated mode: its screens show pairing codes. */
        val simulation: Simulation?,
    ) : SessionState

    data class Failed(val backend: Backend, val problem: Problem) : SessionState
}

/**
 * Opens the companion on the chosen backend. The data directory, keystore and the
 * HTTP client to the acquirer (one exchange at a time) are the app's; everything else, the
 * API's routes, keys and retries included, is the core's.
 */
class SessionModel(
    scope: CoroutineScope,
    private val config: (Backend) -> CompanionConfig,
    private val acquirer: () -> AcquirerHttpClient,
) : ScreenModel<SessionState>(SessionState.Closed, scope) {
    fun open(backend: Backend) {
        start {
            closeCurrent()
            current = SessionState.Opening(backend)
            current = try {
                when (backend) {
                    is Backend.Simulated -> {
                        val sim = Simulation(SimulationOptions(backend.terminals, backend.seed, backend.review))
                        SessionState.Open(backend, PosmateCompanion.openSimulated(config(backend), sim), sim)
                    }
                    is Backend.SimServer -> SessionState.Open(
                        backend,
                        PosmateCompanion.openSimServer(config(backend), backend.address),
                        null,
                    )
                    Backend.Bluetooth -> SessionState.Open(
                        backend,
                        PosmateCompanion.openBluetooth(config(backend), acquirer()),
                        null,
                    )
                }
            } catch (e: PosmateException) {
                SessionState.Failed(backend, Problem.of(e))
            }
        }
    }

    fun close() {
        start {
            closeCurrent()
            current = SessionState.Closed
        }
    }

    private suspend fun closeCurrent() {
        val open = current as? SessionState.Open ?: return
        open.companion.shutdown()
        open.companion.destroy()
        open.simulation?.destroy()
    }

    companion object {
        /** A configuration for development: keys in memory, cheap backups. */
        fun developmentConfig(dataDir: String): CompanionConfig = CompanionConfig(
            dataDir = dataDir,
            keystore = Keystore.MOCK,
            allowVolatileKey = true,
        )
    }
}
