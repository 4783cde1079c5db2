//! Platform glue that must run before the core can use the phone's services.
//!
//! Android: JNA loads the library without calling `JNI_OnLoad` (uniffi #1778), so the app
//! calls `System.loadLibrary("posmate_ffi")` first; that call runs [`JNI_OnLoad`] here, which
//! keeps the Java VM and initialises btleplug's Android backend with the app's class
//! loader. Every runtime thread is attached to the VM for good when it starts
//! (uniffi #2133): btleplug calls into Java from them, and attaching per call is slow and
//! detaches threads the JVM still references. `PosmateAndroid.init(context)` then calls
//! `nativeInit`, which hands the application Context to the core's Android Keystore backend.
//! Elsewhere nothing is needed.

#[cfg(target_os = "android")]
mod android {
    use std::ffi::c_void;

    use jni::sys::{jint, JavaVM as RawVm, JNI_ERR, JNI_VERSION_1_6};
    use jni::JavaVM;

    /// Called by `System.loadLibrary`: keeps the VM and initialises btleplug.
    ///
    /// # Safety
    /// Called by the Java VM with a valid VM pointer.
    #[no_mangle]
    pub unsafe extern "system" fn JNI_OnLoad(vm: *mut RawVm, _reserved: *mut c_void) -> jint {
        if vm.is_null() {
            return JNI_ERR;
        }
        // SAFETY: the VM passes a valid pointer to its own JavaVM.
        let vm = unsafe { JavaVM::from_raw(vm) };
        match vm.attach_current_thread(|env| btleplug::platform::init(env).map_err(InitError::Btle))
        {
            Ok(()) => JNI_VERSION_1_6,
            Err(e) => {
                tracing::error!(error = %e, "posmate could not initialise Bluetooth on Android");
                JNI_ERR
            }
        }
    }

    enum InitError {
        Jni(jni::errors::Error),
        Btle(btleplug::Error),
    }

    impl std::fmt::Display for InitError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            match self {
                InitError::Jni(e) => write!(f, "attaching to the Java VM failed: {e}"),
                InitError::Btle(e) => write!(f, "btleplug's Android init failed: {e}"),
            }
        }
    }

    impl From<jni::errors::Error> for InitError {
        fn from(e: jni::errors::Error) -> Self {
            InitError::Jni(e)
        }
    }

    /// `PosmateAndroid.nativeInit(context)`: hands the application Context to the core's
    /// Android Keystore backend (`Keystore.OS`), which reaches the Keystore through it. The
    /// Context is kept as a global reference for the rest of the process; later calls change
    /// nothing. A failure is thrown to Kotlin as a `RuntimeException`.
    #[no_mangle]
    pub extern "system" fn Java_app_posmate_android_PosmateAndroid_nativeInit<'caller>(
        mut unowned: jni::EnvUnowned<'caller>,
        _class: jni::objects::JClass<'caller>,
        context: jni::objects::JObject<'caller>,
    ) {
        unowned
            .with_env(|env| -> jni::errors::Result<()> {
                if posmate_core::keystore::android::has_context() || context.is_null() {
                    return Ok(());
                }
                let vm = env.get_java_vm()?;
                let global = env.new_global_ref(&context)?;
                // SAFETY: the VM pointer is this process's; the global reference is leaked on
                // purpose (`into_raw`), so it stays valid for as long as the core may use it.
                unsafe {
                    posmate_core::keystore::android::provide_context(
                        vm.get_raw().cast(),
                        global.into_raw().cast(),
                    );
                }
                Ok(())
            })
            .resolve::<jni::errors::ThrowRuntimeExAndDefault>()
    }

    /// Attaches a runtime thread to the VM permanently (a no-op before `JNI_OnLoad`).
    pub(super) fn attach_thread() {
        if let Ok(vm) = JavaVM::singleton() {
            let _ = vm.attach_current_thread(|_| Ok::<(), jni::errors::Error>(()));
        }
    }
}

/// Platform hooks on the runtime's threads.
pub(crate) fn on_runtime_build(builder: &mut tokio::runtime::Builder) {
    #[cfg(target_os = "android")]
    builder.on_thread_start(android::attach_thread);
    #[cfg(not(target_os = "android"))]
    let _ = builder;
}
