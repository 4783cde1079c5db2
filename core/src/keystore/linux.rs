//! Linux-only setup for the kernel keyutils backend.

use super::error::{KeystoreError, Result};

/// `KEYCTL_JOIN_SESSION_KEYRING` from `<linux/keyctl.h>`.
const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;

/// Gives the calling thread a new anonymous session keyring and joins it.
///
/// The keyutils store anchors keys in the session keyring; processes started outside a login
/// session (containers, CI, services) may have none, or only the user's shared default one. Keys are also
/// linked to the user's persistent keyring, which the store links into the session keyring,
/// so keys written by an earlier process are still found after joining a fresh one.
///
/// The session keyring belongs to the thread's credentials and is inherited by threads and
/// processes spawned afterwards: call this at startup, before starting worker threads (and in
/// each test thread).
pub fn join_session_keyring() -> Result<()> {
    // SAFETY: keyctl(KEYCTL_JOIN_SESSION_KEYRING, NULL) takes a nullable C string; passing
    // NULL asks for an anonymous keyring. No memory is shared with the kernel beyond that.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_JOIN_SESSION_KEYRING,
            std::ptr::null::<libc::c_char>(),
        )
    };
    if ret >= 0 {
        return Ok(());
    }
    let err = std::io::Error::last_os_error();
    let (reason, fix) = match err.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) => (
            format!("joining a session keyring was refused ({err})"),
            "the sandbox forbids keyctl (e.g. Docker's default seccomp profile); allow the \
             keyctl syscall or choose another keystore",
        ),
        Some(libc::ENOSYS) => (
            format!("the kernel has no key-retention service ({err})"),
            "use a kernel built with CONFIG_KEYS or choose another keystore",
        ),
        Some(libc::EDQUOT) => (
            format!("the user's key quota is exhausted ({err})"),
            "remove stale keys (`keyctl show`) or raise /proc/sys/kernel/keys/maxkeys",
        ),
        _ => (
            format!("keyctl failed ({err})"),
            "choose another keystore and report this error",
        ),
    };
    Err(KeystoreError::Unavailable {
        backend: "linux-keyutils",
        reason,
        fix: fix.into(),
    })
}
