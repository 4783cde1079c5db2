package app.posmate.app

import android.content.pm.PackageManager
import android.os.Bundle
import androidx.activity.ComponentActivity
import androidx.activity.compose.BackHandler
import androidx.activity.compose.rememberLauncherForActivityResult
import androidx.activity.compose.setContent
import androidx.activity.result.contract.ActivityResultContracts
import androidx.activity.viewModels
import androidx.compose.material3.MaterialTheme
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.saveable.rememberSaveable
import androidx.compose.runtime.setValue
import androidx.core.content.ContextCompat
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import app.posmate.android.PosmateAndroid
import app.posmate.app.screens.ActivationScreen
import app.posmate.app.screens.BackendScreen
import app.posmate.app.screens.CardsScreen
import app.posmate.app.screens.DecommissionScreen
import app.posmate.app.screens.PairingScreen
import app.posmate.app.screens.RecordsScreen
import app.posmate.app.screens.SimulatorScreen
import app.posmate.app.screens.TerminalListScreen
import app.posmate.app.screens.TerminalScreen
import app.posmate.viewmodel.Backend
import app.posmate.viewmodel.SessionState

/** Where the app is. Navigation is a plain stack: the app has a handful of screens. */
sealed interface Route {
    data object Terminals : Route
    data class Pairing(val peripheralId: String) : Route
    data class Terminal(val sn: String) : Route
    data class Activation(val sn: String) : Route
    data class Cards(val sn: String, val merchantNo: String) : Route
    data class Records(val sn: String) : Route
    data class Decommission(val sn: String) : Route
    data object Simulator : Route
}

class MainActivity : ComponentActivity() {
    private val model: PosmateViewModel by viewModels()

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        // Before any posmate call, on the main thread: runs JNI_OnLoad (JNA would not) and
        // gives Keystore.OS the Context it reaches the Android Keystore through.
        PosmateAndroid.init(this)
        setContent {
            MaterialTheme { App(model) }
        }
    }

    private fun granted(permissions: Array<String>) = permissions.all {
        ContextCompat.checkSelfPermission(this, it) == PackageManager.PERMISSION_GRANTED
    }

    @Composable
    private fun App(model: PosmateViewModel) {
        val session by model.session.state.collectAsStateWithLifecycle()
        var stack by remember { mutableStateOf(listOf<Route>(Route.Terminals)) }
        var permissionDenied by rememberSaveable { mutableStateOf(false) }
        val needed = remember { PosmateAndroid.bluetoothPermissions() }
        val askPermissions = rememberLauncherForActivityResult(
            ActivityResultContracts.RequestMultiplePermissions(),
        ) { results ->
            permissionDenied = !results.values.all { it }
            if (!permissionDenied) model.session.open(Backend.Bluetooth)
        }

        fun go(route: Route) {
            stack = stack + route
        }

        fun back() {
            if (stack.size > 1) stack = stack.dropLast(1)
        }

        BackHandler(enabled = stack.size > 1) { back() }

        val open = session as? SessionState.Open
        if (open == null) {
            BackendScreen(
                state = session,
                permissionDenied = permissionDenied,
                onChoose = { backend ->
                    if (backend == Backend.Bluetooth && !granted(needed)) {
                        askPermissions.launch(needed)
                    } else {
                        model.session.open(backend)
                    }
                },
            )
            return
        }
        val c = open.companion
        when (val route = stack.last()) {
            Route.Terminals -> TerminalListScreen(
                model = remember(c) { model.terminalList(c) },
                backend = open.backend,
                hasSimulator = open.simulation != null,
                onPair = { go(Route.Pairing(it)) },
                onOpen = { go(Route.Terminal(it)) },
                onSimulator = { go(Route.Simulator) },
                onSwitchBackend = {
                    stack = listOf(Route.Terminals)
                    model.session.close()
                },
            )
            is Route.Pairing -> PairingScreen(
                model = remember(c, route) { model.pairing(c) },
                peripheralId = route.peripheralId,
                simulation = open.simulation,
                onDone = { back() },
            )
            is Route.Terminal -> TerminalScreen(
                companion = c,
                sn = route.sn,
                onActivate = { go(Route.Activation(route.sn)) },
                onCards = { merchantNo -> go(Route.Cards(route.sn, merchantNo)) },
                onRecords = { go(Route.Records(route.sn)) },
                onDecommission = { go(Route.Decommission(route.sn)) },
                onBack = { back() },
            )
            is Route.Activation -> ActivationScreen(
                model = remember(c, route) { model.activation(c, route.sn).also { it.resumeIfOpen() } },
                simulation = open.simulation,
                onDone = { back() },
            )
            is Route.Cards -> CardsScreen(
                model = remember(c, route) { model.cards(c, route.merchantNo, route.sn).also { it.refresh() } },
                simulation = open.simulation,
                onBack = { back() },
            )
            is Route.Records -> RecordsScreen(
                model = remember(c, route) { model.records(c, route.sn).also { it.refresh() } },
                onBack = { back() },
            )
            is Route.Decommission -> DecommissionScreen(
                model = remember(c, route) { model.decommission(c, route.sn) },
                onFinished = { stack = listOf(Route.Terminals) },
                onBack = { back() },
            )
            Route.Simulator -> SimulatorScreen(
                simulation = open.simulation ?: return,
                onBack = { back() },
            )
        }
    }
}
