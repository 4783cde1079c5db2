//! A terminal's whole life against the sandbox acquirer as a real network peer: the
//! `posmate-sandbox` server on this runtime, over HTTPS on the guest's loopback, and the
//! phone's acquirer the core's `HttpsGateway` over its reqwest client trusting only the
//! sandbox's CA. The merchant and the terminal are registered through the sandbox's admin
//! surface, which is also where the acquirer's books are checked at the end.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use posmate_core::acquirer::https::client::{ClientOptions, ReqwestClient};
use posmate_core::acquirer::https::retry::RetryPolicy;
use posmate_core::acquirer::https::{self, HttpsGateway, Method};
use posmate_core::acquirer::{AcquirerError, Gateway};
use posmate_core::backup::{self, Passphrase};
use posmate_core::companion::Companion;
use posmate_core::flows::{BackupSpec, DecommissionInput, FlowControl};
use posmate_core::transport::btle::{BtleOptions, BtleTransport};
use posmate_core::transport::ScanFilter;
use posmate_proto::gatt::Lifecycle;
use posmate_sandbox::admin::{MerchantJson, ReviewJson, TerminalRegistration, TerminalView};
use posmate_sandbox::client::Client;
use posmate_sandbox::{Config, Identity, Started};
use posmate_sim_world::world::{self, MERCHANT_NAME, MERCHANT_NO};

use crate::cases::{
    activate_and_bind, all_records, chain, check, first_match, ms, CaseResult, Env,
};
use crate::harness::{self, Peripheral, CENTRAL};

const SN3: &str = "SN2026100003";
/// The terminal's place in the world's numbering (its terminal number, activation code).
const T3: usize = 3;
/// Sales rung up on the terminal before the sync.
const SALES: u64 = 200;
const PASSPHRASE: &str = "correct horse battery staple";

/// Starts the sandbox, runs the life, and stops the sandbox whatever the outcome.
pub async fn run(env: &mut Env) -> CaseResult {
    loopback_up()?;
    env.retire().await?;
    // The terminal is served from the adapter earlier terminals were: the phone's BlueZ
    // forgets what it cached about them.
    harness::forget_peripheral().await?;
    let data_dir = env.args.work.join("sandbox");
    let running = posmate_sandbox::start(Config {
        listen: "127.0.0.1:0".into(),
        data_dir,
        identity: Identity::Generated { hosts: vec![] },
        demo: false,
    })
    .await
    .map_err(|e| {
        format!(
            "starting the sandbox on the guest's loopback: {}",
            chain(&e)
        )
    })?;
    let started = running.started.clone();
    let outcome = life(env, &started).await;
    running.shutdown().await;
    outcome
}

/// The guest must have a loopback interface, up: the sandbox listens on it.
fn loopback_up() -> Result<(), String> {
    let flags = std::fs::read_to_string("/sys/class/net/lo/flags").map_err(|e| {
        format!(
            "the guest has no loopback interface (/sys/class/net/lo/flags: {e}); the sandbox \
             needs one (the guest script brings lo up: xtask/src/ble.rs)"
        )
    })?;
    let flags = u32::from_str_radix(flags.trim().trim_start_matches("0x"), 16)
        .map_err(|e| format!("/sys/class/net/lo/flags is {flags:?}: {e}"))?;
    // IFF_UP
    check(flags & 0x1 != 0, || {
        format!(
            "the guest's loopback interface is down (flags {flags:#x}); the guest script must \
             run `ip link set lo up` (xtask/src/ble.rs)"
        )
    })
}

async fn life(env: &mut Env, started: &Started) -> CaseResult {
    let ca_file = started
        .ca_file
        .as_deref()
        .ok_or("the sandbox made no CA of its own")?;
    let admin = Client::new(&started.base_url, ca_file)
        .and_then(|c| c.with_token_file(&started.token_file))
        .map_err(|e| format!("the admin client: {}", chain(&e)))?;
    let state = env.state_file("t3");
    let t3 = harness::write_terminal(&state, SN3, 9003)?;
    register(&admin, &t3.device_key()).await?;
    let gateway = gateway(&started.base_url, ca_file).await?;

    let p3 = Peripheral::start(&env.args, &state, SN3, "t3").await?;
    let phone = harness::phone_with(&env.args.work.join("phone-https"), gateway).await?;
    let result = on_the_phone(env, &admin, &phone, &p3).await;
    phone.disconnect_all().await;
    p3.stop().await?;
    let (took, total) = result?;

    let view: TerminalView = admin
        .admin(Method::Get, &format!("terminals/{SN3}"), None::<&()>)
        .await
        .map_err(|e| format!("looking the terminal up: {}", chain(&e)))?;
    check(view.state == "deregistered", || {
        format!("the acquirer's books show {view:?}, not deregistered")
    })?;
    check(view.applications == 1, || {
        format!("the acquirer's books show {view:?}: not activated exactly once")
    })?;
    Ok(format!(
        "over HTTPS to {}: activated, card bound, {SALES} sales ({total} minor) synced in {}, \
         settled (matched), decommissioned with a verified backup; the acquirer's books: \
         deregistered, 1 application",
        started.base_url,
        ms(took)
    ))
}

/// The merchant (approved on submission) and the terminal, through the admin surface.
async fn register(admin: &Client, device_key: &[u8; 32]) -> Result<(), String> {
    let merchant = MerchantJson {
        merchant_no: MERCHANT_NO.into(),
        legal_name: MERCHANT_NAME.into(),
        review: ReviewJson::Instant,
    };
    let _: MerchantJson = admin
        .admin(Method::Post, "merchants", Some(&merchant))
        .await
        .map_err(|e| format!("registering the merchant: {}", chain(&e)))?;
    let registration = TerminalRegistration {
        sn: SN3.into(),
        device_key: device_key.iter().map(|b| format!("{b:02x}")).collect(),
        terminal_no: world::terminal_no(T3),
        activation_code: world::activation_code(T3),
    };
    let view: TerminalView = admin
        .admin(Method::Post, "terminals", Some(&registration))
        .await
        .map_err(|e| format!("registering the terminal: {}", chain(&e)))?;
    check(view.applications == 0, || {
        format!("a fresh terminal has {view:?}")
    })
}

/// The phone's acquirer: the core's client trusting the sandbox's CA, which it needs (a
/// client without it refuses the sandbox's certificate).
async fn gateway(base_url: &str, ca_file: &Path) -> Result<Arc<dyn Gateway>, String> {
    let untrusting = ReqwestClient::new(base_url, &ClientOptions::default())
        .map_err(|e| format!("a client without the sandbox's CA: {e}"))?;
    match https::health(&untrusting).await {
        Err(AcquirerError::Tls { .. }) => {}
        other => {
            return Err(format!(
                "without the sandbox's CA the health check should fail on TLS: {other:?}"
            ))
        }
    }
    let ca = std::fs::read(ca_file).map_err(|e| format!("{}: {e}", ca_file.display()))?;
    let options = ClientOptions {
        extra_ca_pem: Some(ca),
        ..ClientOptions::default()
    };
    let client = ReqwestClient::new(base_url, &options).map_err(|e| format!("the client: {e}"))?;
    https::health(&client)
        .await
        .map_err(|e| format!("the sandbox's health over HTTPS: {}", chain(&e)))?;
    Ok(Arc::new(HttpsGateway::https(
        Arc::new(client),
        RetryPolicy::default(),
    )))
}

/// Pair over BlueZ → activate → bind → sales → sync → settle → decommission. Returns the
/// sync's time and the sales' total.
async fn on_the_phone(
    env: &Env,
    admin: &Client,
    phone: &Companion,
    p3: &Peripheral,
) -> Result<(Duration, u64), String> {
    let ctl = FlowControl::default();
    let scanner = BtleTransport::new(BtleOptions {
        adapter: Some(CENTRAL.into()),
        ..BtleOptions::default()
    })
    .await
    .map_err(|e| chain(&e))?;
    let (found, _) = first_match(
        &scanner,
        ScanFilter::sn_suffix("100003"),
        Duration::from_secs(10),
        |_| true,
    )
    .await?
    .ok_or("scan found no terminal within 10 s")?;
    let row = phone
        .pair(&found.peripheral_id, &p3.merchant())
        .await
        .map_err(|e| format!("pair: {}", chain(&e)))?;
    check(row.sn == SN3, || format!("paired with {}", row.sn))?;

    activate_and_bind(phone, SN3, T3, &ctl).await?;

    let total = p3.ring_up(SALES, 2_000).await?;
    // The payment network reports the terminal trading (it keeps it from going dormant).
    let _: TerminalView = admin
        .admin(
            Method::Post,
            "trades",
            Some(&serde_json::json!({ "sn": SN3 })),
        )
        .await
        .map_err(|e| format!("reporting a trade: {}", chain(&e)))?;
    let start = Instant::now();
    let synced = phone
        .sync(SN3, &ctl)
        .await
        .map_err(|e| format!("sync: {}", chain(&e)))?;
    let took = start.elapsed();
    check(synced.inserted == SALES && synced.last_seq == SALES, || {
        format!("{synced:?}")
    })?;
    let held = all_records(phone, SN3)?.len();
    check(held as u64 == SALES, || format!("{held} held"))?;
    env.measure(
        &format!("sync with the sandbox over HTTPS as acquirer ({SALES} records)"),
        ms(took),
    );

    let settled = phone
        .settle(SN3, &ctl)
        .await
        .map_err(|e| format!("settle: {}", chain(&e)))?;
    check(settled.matched, || format!("{settled:?}"))?;
    check(
        u64::from(settled.terminal.sale_count) == SALES && settled.terminal.sale_minor == total,
        || format!("{settled:?}"),
    )?;

    let path = env.args.work.join("t3.age");
    let d = phone
        .decommission(
            DecommissionInput {
                sn: SN3.into(),
                reason: "shop closed".into(),
                backup: BackupSpec::Write {
                    path: path.clone(),
                    passphrase: Passphrase::new(PASSPHRASE),
                },
            },
            &ctl,
        )
        .await
        .map_err(|e| format!("decommission: {}", chain(&e)))?;
    check(d.backup_records == SALES, || format!("{d:?}"))?;
    // The backup left behind opens with the passphrase and is the file the flow verified.
    let summary = backup::verify_archive(&path, &Passphrase::new(PASSPHRASE), None)
        .map_err(|e| format!("the backup {}: {}", path.display(), chain(&e)))?;
    check(summary.sha256_hex() == d.backup_sha256, || {
        format!(
            "the backup on disk is {}, the flow recorded {}",
            summary.sha256_hex(),
            d.backup_sha256
        )
    })?;
    check(phone.terminal(SN3).is_err(), || {
        "the phone still knows the terminal".into()
    })?;
    first_match(
        &scanner,
        ScanFilter::sn_suffix("100003"),
        Duration::from_secs(10),
        |c| c.lifecycle == Lifecycle::Decommissioned,
    )
    .await?
    .ok_or("the terminal does not advertise decommissioned")?;
    Ok((took, total))
}
