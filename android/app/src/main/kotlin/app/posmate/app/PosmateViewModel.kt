package app.posmate.app

import android.app.Application
import androidx.lifecycle.AndroidViewModel
import androidx.lifecycle.viewModelScope
import app.posmate.ffi.CompanionConfig
import app.posmate.ffi.Keystore
import app.posmate.ffi.PosmateCompanion
import app.posmate.viewmodel.ActivationModel
import app.posmate.viewmodel.Backend
import app.posmate.viewmodel.CardsModel
import app.posmate.viewmodel.DecommissionModel
import app.posmate.viewmodel.PairingModel
import app.posmate.viewmodel.RecordsModel
import app.posmate.viewmodel.SessionModel
import app.posmate.viewmodel.TerminalListModel
import java.io.File

/**
 * The app's one Android ViewModel: it owns the session (the backend switch) and makes the
 * screens' models, all running in [viewModelScope]. Platform glue only: where files go,
 * which keystore, the platform HTTP client to the acquirer's base URL.
 */
class PosmateViewModel(private val app: Application) : AndroidViewModel(app) {
    val session = SessionModel(
        viewModelScope,
        config = ::config,
        acquirer = { HttpAcquirerClient(BuildConfig.ACQUIRER_URL) },
    )

    /**
     * Simulated worlds and `posmate sim` start fresh, so the phone side does too (keys in
     * memory, a new folder). Real terminals use the platform keystore and the app's files.
     */
    private fun config(backend: Backend): CompanionConfig = when (backend) {
        is Backend.Simulated, is Backend.SimServer -> SessionModel.developmentConfig(
            File(app.cacheDir, "dev-${System.currentTimeMillis()}").path,
        )
        Backend.Bluetooth -> CompanionConfig(
            dataDir = File(app.filesDir, "posmate").path,
            keystore = Keystore.OS,
        )
    }

    fun terminalList(c: PosmateCompanion) = TerminalListModel(c, viewModelScope)
    fun pairing(c: PosmateCompanion) = PairingModel(c, viewModelScope)
    fun activation(c: PosmateCompanion, sn: String) = ActivationModel(c, sn, viewModelScope)
    fun cards(c: PosmateCompanion, merchantNo: String, sn: String) = CardsModel(c, merchantNo, sn, viewModelScope)
    fun records(c: PosmateCompanion, sn: String) = RecordsModel(c, sn, viewModelScope)
    fun decommission(c: PosmateCompanion, sn: String) = DecommissionModel(
        c,
        sn,
        viewModelScope,
        defaultBackupPath = File(app.filesDir, "backups/$sn-${System.currentTimeMillis()}.age")
            .also { it.parentFile?.mkdirs() }.path,
    )

    override fun onCleared() {
        session.close()
    }
}
