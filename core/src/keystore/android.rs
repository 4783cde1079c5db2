//! Android-only setup for the Android Keystore backend.
//!
//! That backend (android-native-keyring-store) reaches the Keystore and the app's private
//! preferences through JNI, with the Java VM and an `android.content.Context` it takes from
//! `ndk-context`. Nothing sets that context in an app that embeds posmate as a library, and
//! reading it unset panics, so the UniFFI layer's JNI entry point hands the context over
//! here and the backend checks [`has_context`] before it opens the store.

use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

static PROVIDED: AtomicBool = AtomicBool::new(false);
static PROVIDING: Mutex<()> = Mutex::new(());

/// Records the Java VM and the application's Context for the Keystore backend. Returns
/// `false`, changing nothing, if a context was provided before (the first one is kept).
///
/// # Safety
/// `vm` must be the process's `JavaVM*` and `context` a JNI *global* reference to the
/// application Context that is never deleted: both are used for the rest of the process.
pub unsafe fn provide_context(vm: *mut c_void, context: *mut c_void) -> bool {
    let _once = PROVIDING.lock().unwrap_or_else(|e| e.into_inner());
    if PROVIDED.load(Ordering::Acquire) {
        return false;
    }
    // SAFETY: the caller vouches for both pointers; the lock and flag make this the only
    // initialisation, which ndk-context requires.
    unsafe { ndk_context::initialize_android_context(vm, context) };
    PROVIDED.store(true, Ordering::Release);
    true
}

/// Whether [`provide_context`] has run.
pub fn has_context() -> bool {
    PROVIDED.load(Ordering::Acquire)
}
