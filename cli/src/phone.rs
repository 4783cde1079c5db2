//! The phone: the core's `Companion` on this data directory, wired to the link and the
//! acquirer this mode uses (`transport_select`). Also how flows report progress (an indicatif
//! bar on stderr) and how Ctrl-C cancels them (between steps, through the `CancelToken`).

use std::future::Future;
use std::sync::Arc;

use indicatif::ProgressBar;
use posmate_core::backup::WriteOptions;
use posmate_core::companion::{Companion, CompanionConfig};
use posmate_core::flows::{CancelToken, FlowControl, Progress, ProgressSink, SystemClock};
use posmate_core::keystore::SecretStore;

use crate::code_entry::CodeSource;
use crate::consent;
use crate::context::Ctx;
use crate::error::CliError;
use crate::output::Output;

/// Opens the phone for this data directory and mode.
pub async fn open(ctx: &Ctx) -> Result<Companion, CliError> {
    // The keystore and the user's consent to it come first: a refusal must leave no
    // database and no simulated world behind.
    let secrets: Arc<dyn SecretStore> = ctx.keystore()?;
    let data_dir = ctx.ensure_data_dir()?.to_path_buf();
    let backend = secrets.backend();
    let consent = consent::require(ctx, &data_dir, &backend)?;
    let link = ctx.link().await?;
    let mut config = CompanionConfig::new(&data_dir, ctx.keystore_choice());
    config.allow_volatile_key = consent.allows_volatile_key();
    config.scan_time = link.default_scan();
    config.backup = WriteOptions {
        work_factor: ctx.settings.backup_work_factor,
    };
    let phone = Companion::open_with_secrets(
        config,
        secrets,
        link.transport.clone(),
        link.gateway.clone(),
        Arc::new(SystemClock),
    )?;
    consent::record_if_given_now(ctx, &data_dir, &backend, &consent)?;
    phone.set_code_entry(Arc::new(code_source(ctx, false).await?));
    Ok(phone)
}

/// Where pairing codes come from: `--sim` reads the simulated terminal's screen; with
/// `--connect-sim`, `from_screen` asks the sim for it; otherwise the user types it.
pub async fn code_source(ctx: &Ctx, from_screen: bool) -> Result<CodeSource, CliError> {
    let link = ctx.link().await?;
    Ok(match (link.embedded(), link.remote()) {
        (Some(sim), _) => {
            CodeSource::EmbeddedScreen(sim.all().map(|(_, t, _)| t.clone()).collect(), ctx.out)
        }
        (None, Some(remote)) if from_screen => CodeSource::RemoteScreen(remote.clone(), ctx.out),
        _ => CodeSource::Prompt(ctx.out),
    })
}

/// A progress bar for flows, on stderr; hidden with `--json`, `-q` or when stderr is not a
/// terminal. Every step is also logged at info level (`-v`).
pub struct Bar(ProgressBar);

impl Bar {
    pub fn new(out: &Output, what: &str) -> Bar {
        let bar = out.bar(1000);
        bar.set_prefix(what.to_owned());
        Bar(bar)
    }

    pub fn finish(&self) {
        self.0.finish_and_clear();
    }
}

impl ProgressSink for Bar {
    fn on_progress(&self, p: &Progress) {
        // A whole percentage: the float's digits read as noise (and as long digit runs).
        let percent = (p.fraction.clamp(0.0, 1.0) * 100.0).round() as u8;
        tracing::info!(flow = %p.flow_id, step = %p.step, percent, "{}", p.detail);
        self.0
            .set_position((p.fraction.clamp(0.0, 1.0) * 1000.0) as u64);
        self.0.set_message(p.detail.clone());
    }
}

/// Runs one flow with a progress bar; the first Ctrl-C cancels it between steps (the flow
/// ends with `cancelled`, exit 8, its state saved), a second one quits at once.
pub async fn run_flow<T, F, Fut>(ctx: &Ctx, what: &str, flow: F) -> Result<T, CliError>
where
    F: FnOnce(FlowControl) -> Fut,
    Fut: Future<Output = Result<T, posmate_core::error::Error>>,
{
    let bar = Arc::new(Bar::new(&ctx.out, what));
    let control = FlowControl {
        progress: bar.clone(),
        cancel: CancelToken::new(),
    };
    let cancel = control.cancel.clone();
    let result = cancellable(ctx, flow(control), cancel).await;
    bar.finish();
    result.map_err(CliError::from)
}

/// Awaits `fut`; Ctrl-C sets `cancel` (once), a second Ctrl-C exits with 130.
pub async fn cancellable<T>(ctx: &Ctx, fut: impl Future<Output = T>, cancel: CancelToken) -> T {
    let mut fut = std::pin::pin!(fut);
    loop {
        tokio::select! {
            out = &mut fut => return out,
            signal = tokio::signal::ctrl_c() => {
                if signal.is_err() {
                    // No signal handling here: just wait for the flow.
                    return fut.await;
                }
                if cancel.is_cancelled() {
                    eprintln!("interrupted");
                    std::process::exit(130);
                }
                cancel.cancel();
                ctx.out.note(
                    "\nstopping after the current step (its state is saved; Ctrl-C again quits at once)",
                );
            }
        }
    }
}
