//! When a long-running command (`posmate sim`, `posmate acquirer serve`) should stop: the
//! user's Ctrl-C, or SIGTERM from a service manager or a test harness where there is one.

/// Returns once Ctrl-C or (on Unix) SIGTERM arrives.
pub async fn requested() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
