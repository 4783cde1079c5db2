//! `posmate demo`: a terminal's whole life against the embedded simulation, through the
//! same core the apps use — scan, pair (the code read off the simulated screen), activate
//! with the simulated acquirer, bind a settlement card read on the terminal, ring up sales
//! on the terminal, sync, settle, back up, decommission (verified backup, deregistration,
//! wipe with a signed receipt) and wipe the phone. Every step crosses the simulated BLE link
//! as protocol bytes; the summary gives each step's simulated BLE time next to its wall
//! time. Without `--data-dir` it runs in a temporary directory with the mock keystore and
//! leaves nothing behind.

use posmate_core::plural::count;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use posmate_core::acquirer::{CardPurposeKind, MerchantDetails};
use posmate_core::backup::Passphrase;
use posmate_core::flows::{
    ActivationInput, ActivationOutcome, BackupSpec, BindInput, CardSourceInput, DecommissionInput,
};
use posmate_core::transport::ScanFilter;
use posmate_proto::pan::with_check_digit;
use posmate_sim::terminal::{Card, Sale};
use posmate_sim_world::embedded::Embedded;
use posmate_sim_world::world;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::consent;
use crate::context::Ctx;
use crate::error::{CliError, Exit};
use crate::fmt;
use crate::global::KeystoreArg;
use crate::output::{table, Report};
use crate::phone;
use crate::settings::{spec, Source};
use crate::simhost::control::CNY;

/// The passphrase of the demo's backups (a demo's, printed on purpose).
const PASSPHRASE: &str = "correct horse battery staple";

/// Run a terminal's whole life against the embedded simulation, in seconds.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  posmate demo                          in a temporary directory, nothing left behind
  posmate demo --sales 2000             a busier day
  posmate --data-dir demo-dir demo      keep the phone's backups and the simulated world
  posmate --json demo | jq .summary

Without --data-dir the demo uses a temporary directory and the mock keystore (the
phone's keys live in memory), whatever --keystore says; with --data-dir it needs an
unused directory and uses the chosen keystore (a volatile one only with
--allow-volatile-key).")]
pub struct Args {
    /// How many sales the merchant rings up on the terminal.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub sales: u32,
    /// Seed of the sale amounts.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

/// One step of the demo as the summary shows it.
#[derive(Debug, Serialize)]
pub struct Step {
    pub step: &'static str,
    /// Simulated BLE time the step spent on the link (virtual: the radio is simulated).
    pub ble_ms: f64,
    pub wall_ms: f64,
    pub detail: String,
}

#[derive(Debug, Serialize)]
pub struct Summary {
    pub sn: String,
    pub merchant_no: String,
    pub terminal_no: String,
    pub sales_rung_up: u32,
    pub records_synced: u64,
    pub settled_batch: u32,
    pub totals_matched: bool,
    pub sale_total_minor: u64,
    pub settlement_card: String,
    pub deregistration_ref: String,
    pub wipe_receipt_signature: String,
    pub terminal_backup: String,
    pub phone_backup: String,
    pub ble_ms: f64,
    pub wall_ms: f64,
}

#[derive(Debug, Serialize)]
pub struct DemoReport {
    pub steps: Vec<Step>,
    pub summary: Summary,
    /// Where the phone's data and the simulated world stay (null: a temporary directory,
    /// removed at exit).
    pub data_dir: Option<String>,
}

impl Report for DemoReport {
    fn human(&self) -> String {
        let s = &self.summary;
        let rows: Vec<Vec<String>> = self
            .steps
            .iter()
            .map(|st| {
                vec![
                    st.step.to_owned(),
                    fmt::duration_ms(st.ble_ms),
                    fmt::duration_ms(st.wall_ms),
                    st.detail.clone(),
                ]
            })
            .collect();
        let mut out = format!(
            "\n{}\n",
            table(&["STEP", "BLE (SIM)", "WALL", "WHAT HAPPENED"], &rows).trim_end()
        );
        out.push_str(&format!(
            "\nterminal {} (terminal no {}, merchant {}): {} rung up, {} synced, \
             batch {} settled ({}, {})\n\
             settlement card {}; deregistration {}; wipe receipt signed {}…\n\
             backups: {} (terminal), {} (phone)\n\
             total: {} of simulated BLE time, {} wall time\n",
            s.sn,
            s.terminal_no,
            s.merchant_no,
            count(s.sales_rung_up, "sale", "sales"),
            count(s.records_synced, "record", "records"),
            s.settled_batch,
            if s.totals_matched {
                "totals match"
            } else {
                "TOTALS DIFFER"
            },
            fmt::money(s.sale_total_minor, CNY),
            s.settlement_card,
            s.deregistration_ref,
            &s.wipe_receipt_signature[..s.wipe_receipt_signature.len().min(16)],
            s.terminal_backup,
            s.phone_backup,
            fmt::duration_ms(s.ble_ms),
            fmt::duration_ms(s.wall_ms),
        ));
        match &self.data_dir {
            Some(dir) => out.push_str(&format!("kept in {dir}\n")),
            None => out.push_str("nothing was left behind (temporary directory, mock keystore)\n"),
        }
        out
    }
}

/// Times the steps: simulated BLE time from the radio's link statistics, wall time.
struct Clock<'a> {
    sim: &'a Embedded,
    out: crate::output::Output,
    steps: Vec<Step>,
    started: Instant,
    ble0: u64,
    n: usize,
}

impl Clock<'_> {
    fn start(&mut self, what: &str) {
        self.n += 1;
        self.out.note(&format!("{}. {what}", self.n));
        self.started = Instant::now();
        self.ble0 = self.sim.ble_time_us();
    }

    fn done(&mut self, step: &'static str, detail: String) {
        let st = Step {
            step,
            ble_ms: (self.sim.ble_time_us() - self.ble0) as f64 / 1000.0,
            wall_ms: self.started.elapsed().as_secs_f64() * 1000.0,
            detail,
        };
        self.out.note(&format!(
            "   {} ({} BLE, {} wall)",
            st.detail,
            fmt::duration_ms(st.ble_ms),
            fmt::duration_ms(st.wall_ms)
        ));
        self.steps.push(st);
    }
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<Exit, CliError> {
    let wall = Instant::now();
    // Without --data-dir (or POSMATE_DATA_DIR): a temporary directory and keys in memory,
    // gone at exit. A profile's data directory is a phone's, not the demo's.
    let given = matches!(
        ctx.settings.source(&spec::DATA_DIR),
        Source::Flag | Source::Env
    );
    let (tmp, global) = {
        let mut g = ctx.settings.clone();
        g.sim = true;
        g.connect_sim = None;
        let tmp = match g.data_dir.as_ref().filter(|_| given) {
            Some(dir) => {
                if dir.join(posmate_core::store::DB_FILE).exists() || dir.join("sim").exists() {
                    return Err(CliError::usage(format!(
                        "{} is already in use; the demo starts from a fresh phone and world",
                        dir.display()
                    ))
                    .hint("give an unused --data-dir, or none for a temporary one"));
                }
                None
            }
            None => {
                let tmp = tempfile::Builder::new()
                    .prefix("posmate-demo-")
                    .tempdir()
                    .map_err(|e| CliError::storage("cannot create a temporary directory", e))?;
                g.data_dir = Some(tmp.path().to_path_buf());
                g.keystore = KeystoreArg::Mock;
                Some(tmp)
            }
        };
        (tmp, g)
    };
    let kept = tmp.is_none().then(|| global.data_dir.clone()).flatten();
    let dir: PathBuf = global.data_dir.clone().expect("set above");
    let demo = Ctx::new(global, ctx.keyring_session().clone());
    if tmp.is_some() {
        consent::chosen_by_the_program(&demo, &dir)?;
    }
    let result = life(&demo, &args, &dir, wall).await;
    // A kept world is saved whatever happened; a temporary one goes with its directory.
    if kept.is_some() {
        if let Some(link) = demo.opened_link() {
            link.save()?;
        }
    }
    let (steps, summary) = result?;
    drop(tmp);
    ctx.out.report(&DemoReport {
        steps,
        summary,
        data_dir: kept.map(|d| d.display().to_string()),
    });
    Ok(Exit::Ok)
}

async fn life(
    ctx: &Ctx,
    args: &Args,
    dir: &std::path::Path,
    wall: Instant,
) -> Result<(Vec<Step>, Summary), CliError> {
    let owned = phone::open(ctx).await?;
    let phone = &owned;
    let link = ctx.link().await?;
    let sim = link
        .embedded()
        .expect("the demo runs on the embedded simulation");
    let mut clock = Clock {
        sim,
        out: ctx.out,
        steps: Vec::new(),
        started: Instant::now(),
        ble0: 0,
        n: 0,
    };

    clock.start("scanning for posmate terminals");
    let found = phone
        .scan(ScanFilter::any(), Duration::from_millis(200))
        .await?;
    let Some(chosen) = found.first().cloned() else {
        return Err(CliError::new(
            Exit::NotFound,
            "not-found",
            "no simulated terminal advertises",
        ));
    };
    clock.done(
        "scan",
        format!(
            "{} in range; the strongest is {} ({} dBm, {})",
            count(found.len(), "terminal", "terminals"),
            chosen.local_name,
            chosen.rssi.unwrap_or_default(),
            chosen.lifecycle.name()
        ),
    );

    clock.start("pairing: the merchant reads the code off the terminal's screen");
    let code = phone::code_source(ctx, true).await?;
    let row = phone.pair(&chosen.peripheral_id, &code).await?;
    let sn = row.sn.clone();
    let sn_ref: &str = &sn;
    let n = sim
        .all()
        .position(|(_, t, _)| t.sn() == sn)
        .map_or(1, |i| i + 1);
    let terminal = sim
        .find(&sn)
        .expect("the paired terminal is simulated")
        .1
        .clone();
    clock.done(
        "pair",
        format!("paired with {sn} (SPAKE2 over the 6-digit code, then Noise); its key is pinned"),
    );

    clock.start("activating with the simulated acquirer");
    let input = ActivationInput {
        sn: sn.clone(),
        terminal_no: world::terminal_no(n),
        merchant_no: world::MERCHANT_NO.into(),
        activation_code: Zeroizing::new(world::activation_code(n)),
        merchant: MerchantDetails {
            legal_name: world::MERCHANT_NAME.into(),
            contact_phone: world::MERCHANT_PHONE.into(),
            address: world::MERCHANT_ADDRESS.into(),
        },
    };
    let activated = phone::run_flow(ctx, "activation", |c| async move {
        phone.activate(input, &c).await
    })
    .await?;
    let ActivationOutcome::Activated {
        terminal_no,
        key_slots,
        ..
    } = activated
    else {
        return Err(CliError::new(
            Exit::Acquirer,
            "activation-pending",
            "the demo merchant's review should be instant",
        ));
    };
    clock.done(
        "activate",
        format!(
            "terminal {terminal_no} of merchant {}: {} keys installed, checked and signed on",
            world::MERCHANT_NO,
            key_slots.len()
        ),
    );

    clock.start("binding the settlement card: the merchant taps it on the terminal");
    terminal.present_card(
        terminal.link_now(),
        Card::tap(world::SETTLEMENT_PAN, world::SETTLEMENT_EXPIRY),
    );
    let bind = BindInput {
        merchant_no: world::MERCHANT_NO.into(),
        purpose: CardPurposeKind::Settlement,
        holder_name: world::MERCHANT_NAME.into(),
        source: CardSourceInput::Terminal {
            sn: sn.clone(),
            timeout_ms: 30_000,
        },
    };
    let card = phone::run_flow(
        ctx,
        "card",
        |c| async move { phone.bind_card(bind, &c).await },
    )
    .await?;
    let settlement_card = card.masked_pan.as_str().to_owned();
    clock.done(
        "bind card",
        format!(
            "settlement card {settlement_card} ({}) bound as {}; the phone saw only the masked number",
            card.issuer, card.binding_id
        ),
    );

    clock.start(&format!(
        "ringing up {} on the terminal",
        count(args.sales, "sale", "sales")
    ));
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(args.seed);
    let mut total = 0u64;
    for _ in 0..args.sales {
        // Amounts differ from sale to sale, as a shop's do (and no duplicate swipes).
        let amount = rng.gen_range(100..50_000u64);
        let pan = format!("62258{:011}", rng.gen_range(0..100_000_000_000u64));
        let pan = with_check_digit(&pan);
        terminal
            .ring_up(terminal.link_now(), &Sale::new(amount, CNY, &pan))
            .map_err(|e| CliError::new(Exit::Refused, "ring-up-refused", e.to_string()))?;
        total += amount;
    }
    sim.acquirer().record_trade(&sn, sim.acquirer().now_ms());
    clock.done(
        "sales",
        format!(
            "{}, {} (keyed in on the terminal, cards read there)",
            count(args.sales, "sale", "sales"),
            fmt::money(total, CNY)
        ),
    );

    clock.start("syncing the journal to the phone");
    let synced =
        phone::run_flow(ctx, "sync", |c| async move { phone.sync(sn_ref, &c).await }).await?;
    clock.done(
        "sync",
        format!(
            "{} in {}, {} of journal over the encrypted session",
            count(synced.inserted, "record", "records"),
            count(synced.pages, "page", "pages"),
            count(synced.record_bytes, "byte", "bytes")
        ),
    );

    clock.start("settling: the terminal closes its batch; totals are reconciled");
    let settled = phone::run_flow(ctx, "settlement", |c| async move {
        phone.settle(sn_ref, &c).await
    })
    .await?;
    clock.done(
        "settle",
        format!(
            "batch {}: terminal {} {}, phone {} {}: {}",
            settled.batch_no,
            count(settled.terminal.sale_count, "sale", "sales"),
            fmt::money(settled.terminal.sale_minor, CNY),
            count(settled.phone.sale_count, "sale", "sales"),
            fmt::money(settled.phone.sale_minor, CNY),
            if settled.matched {
                "they match"
            } else {
                "MISMATCH"
            }
        ),
    );

    clock.start("backing up the phone (age, scrypt; written, read back, verified)");
    let passphrase = Passphrase::new(PASSPHRASE);
    let phone_backup = dir.join("phone-before-decommission.age");
    let info = phone.backup_create(&phone_backup, &passphrase)?;
    clock.done(
        "backup",
        format!(
            "{}, {}, {} in {} ({})",
            count(info.records, "record", "records"),
            count(info.cards, "card", "cards"),
            count(info.audit_entries, "audit entry", "audit entries"),
            file_name(&phone_backup),
            count(info.size, "byte", "bytes")
        ),
    );

    clock.start("decommissioning: verified backup, deregistration, wipe with a signed receipt");
    let terminal_backup = dir.join(format!("{sn}.age"));
    let decommission = DecommissionInput {
        sn: sn.clone(),
        reason: "demo: the shop closes".into(),
        backup: BackupSpec::Write {
            path: terminal_backup.clone(),
            passphrase: Passphrase::new(PASSPHRASE),
        },
    };
    let gone = phone::run_flow(ctx, "decommission", |c| async move {
        phone.decommission(decommission, &c).await
    })
    .await?;
    clock.done(
        "decommission",
        format!(
            "deregistered as {}; the terminal wiped itself and signed a receipt (head {}) the phone verified",
            gone.deregistration_ref, gone.journal_head
        ),
    );

    clock.start("wiping the phone (after one more verified backup)");
    let final_backup = dir.join("phone-final.age");
    phone.disconnect_all().await;
    let wiped = owned.wipe_phone(&final_backup, &passphrase).await?;
    clock.done(
        "wipe phone",
        format!(
            "database key destroyed and files deleted; {} removed; backup {}",
            count(
                wiped.keystore_entries_deleted,
                "keystore entry",
                "keystore entries"
            ),
            file_name(&final_backup)
        ),
    );

    let summary = Summary {
        sn: sn.clone(),
        merchant_no: world::MERCHANT_NO.into(),
        terminal_no,
        sales_rung_up: args.sales,
        records_synced: synced.inserted,
        settled_batch: settled.batch_no,
        totals_matched: settled.matched,
        sale_total_minor: total,
        settlement_card,
        deregistration_ref: gone.deregistration_ref,
        wipe_receipt_signature: gone.receipt_signature,
        terminal_backup: file_name(&terminal_backup),
        phone_backup: file_name(&final_backup),
        ble_ms: clock.steps.iter().map(|s| s.ble_ms).sum(),
        wall_ms: wall.elapsed().as_secs_f64() * 1000.0,
    };
    Ok((clock.steps, summary))
}

fn file_name(path: &std::path::Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
