package app.posmate.android

import android.Manifest
import android.content.Context
import android.os.Build
import app.posmate.kit.NativeLibrary

/**
 * What an Android app does once before its first posmate call.
 *
 * [init] loads the native library with `System.loadLibrary` on the calling thread, which
 * must be the main thread (it has the app's class loader): that runs the library's
 * `JNI_OnLoad`, which keeps the Java VM for posmate's threads and initialises btleplug's
 * Android side, whose Java classes ship in this AAR. The generated bindings then reach the
 * already loaded library through JNA (which never calls `JNI_OnLoad` by itself). It then
 * hands the application Context to posmate's `Keystore.OS`, which keeps the phone's keys
 * under an Android Keystore key; without it, opening with `Keystore.OS` fails with
 * `keystore.unavailable`.
 */
object PosmateAndroid {
    fun init(context: Context) {
        NativeLibrary.load()
        nativeInit(context.applicationContext)
    }

    /** Implemented in posmate's library (`bindings/src/platform.rs`); later calls do nothing. */
    @JvmStatic
    private external fun nativeInit(context: Context)

    /**
     * The runtime permissions a Bluetooth scan and connection need on this device:
     * BLUETOOTH_SCAN and BLUETOOTH_CONNECT from Android 12 (API 31), fine location before
     * (BLE scans count as location there).
     */
    fun bluetoothPermissions(sdk: Int = Build.VERSION.SDK_INT): Array<String> =
        if (sdk >= Build.VERSION_CODES.S) {
            arrayOf(Manifest.permission.BLUETOOTH_SCAN, Manifest.permission.BLUETOOTH_CONNECT)
        } else {
            arrayOf(Manifest.permission.ACCESS_FINE_LOCATION)
        }
}
