//! What `posmate sim` does beside serving the link (`posmate_sim_world::link::server`):
//! prints what the terminals' screens show and the link events, and keeps the terminals'
//! flash and the acquirer's books in the state file.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use posmate_sim_world::link::control::ScreenView;
use posmate_sim_world::link::server::{HostEvent, Shared};
use posmate_sim_world::state;
use tokio::sync::mpsc;

/// Prints screen changes and link events, and keeps the state file current, until the
/// process ends.
pub async fn watch(
    shared: Arc<Shared>,
    mut events: mpsc::UnboundedReceiver<HostEvent>,
    print: impl Fn(&HostEvent),
    state_file: Option<PathBuf>,
) {
    let mut changed = shared.subscribe();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut saved: Option<String> = None;
    // A busy link changes the host on every write: save at most every SAVE_EVERY.
    let mut dirty = true;
    let mut last_save: Option<Instant> = None;
    loop {
        tokio::select! {
            Some(event) = events.recv() => print(&event),
            _ = changed.changed() => dirty = true,
            _ = tick.tick() => {}
        }
        for (sn, screen) in shared.read(|h, now| h.screen_changes(now)) {
            print(&HostEvent::Screen {
                sn,
                screen: ScreenView::of(&screen),
            });
        }
        if let Some(path) = &state_file {
            if dirty && last_save.is_none_or(|t| t.elapsed() >= SAVE_EVERY) {
                save_if_changed(&shared, path, &mut saved);
                dirty = false;
                last_save = Some(Instant::now());
            }
        }
    }
}

/// How often, at most, the state file is rewritten while the world changes.
pub const SAVE_EVERY: Duration = Duration::from_millis(250);

/// Writes the state file when the terminals' flash or the acquirer's books differ from what
/// was last written.
pub fn save_if_changed(shared: &Shared, path: &std::path::Path, last: &mut Option<String>) {
    let fleet = shared
        .read(|h, _| h.saved())
        .with_acquirer(shared.acquirer().save());
    let text = serde_json::to_string(&fleet).expect("a fleet serialises");
    if last.as_deref() == Some(text.as_str()) {
        return;
    }
    match state::save(path, &fleet) {
        Ok(()) => *last = Some(text),
        Err(e) => tracing::error!(error = %e, "could not save the simulated terminals"),
    }
}
