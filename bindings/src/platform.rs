//! Platform glue that must run before the core can use the phone's services.
//!
//! Android: JNA loads the library without calling `JNI_OnLoad` (uniffi #1778), so the app
//! calls `System.loadLibrary("posmate_ffi")` first; that call runs [`JNI_OnLoad`] here, which
//! keeps the Java VM and initialises btleplug's Android backend with the app's class
//! loader. Every runtime thread is attached to the VM for good when it starts
//! (uniffi #2133): btleplug calls into Java from them, and attaching per call is slow and
//! detaches threads the JVM still references. Elsewhere nothing is needed.

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
