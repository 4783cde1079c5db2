package app.posmate.kit

/**
 * Loads posmate's native library the way Android needs it.
 *
 * The generated bindings reach the library through JNA, and JNA never calls `JNI_OnLoad`
 * (uniffi #1778). On Android that function keeps the Java VM and initialises btleplug's
 * Java side with the app's class loader, so `System.loadLibrary` must run first, once, on
 * a thread that has the app's class loader (the main thread). On a desktop JVM nothing
 * needs it: JNA finds the library through `jna.library.path`.
 */
object NativeLibrary {
    /** The library's name without `lib` and `.so`: what `System.loadLibrary` takes. */
    const val NAME = "posmate_ffi"

    @Volatile
    private var loaded = false

    /** Loads the library with [loader] (for tests) unless it was loaded already. */
    @Synchronized
    fun load(loader: (String) -> Unit = System::loadLibrary) {
        if (!loaded) {
            loader(NAME)
            loaded = true
        }
    }

    val isLoaded: Boolean get() = loaded
}
