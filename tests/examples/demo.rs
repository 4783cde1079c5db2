//! The README's first command until the `posmate` CLI lands: three simulated terminals in
//! range of a simulated 2M-PHY radio; the phone scans, pairs with one (the merchant reads
//! the code off the terminal's screen), asks for its info, disconnects, and reconnects
//! without a code. Everything crosses the simulated link as protocol bytes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use posmate_core::session::{self, CodeEntry, SessionConfig};
use posmate_core::transport::sim_link::timing::LinkModel;
use posmate_core::transport::sim_link::SimRadio;
use posmate_core::transport::{scan_for, Connection, ScanFilter, Transport};
use posmate_proto::handshake::StaticKeypair;
use posmate_proto::message::{Request, Response};
use posmate_sim::fleet::fleet;
use posmate_sim::terminal::{Screen, SimTerminal};

/// The merchant looks at the terminal and types what it shows.
struct ReadsTheScreen(SimTerminal);

#[async_trait]
impl CodeEntry for ReadsTheScreen {
    async fn enter_code(&self, sn: &str) -> Option<String> {
        match self.0.screen() {
            Screen::PairingCode(code) => {
                println!("  terminal {sn} shows code {code}; the merchant types it in");
                Some(code)
            }
            other => {
                println!("  terminal shows {other:?}, no code: cancelling");
                None
            }
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let wall = Instant::now();
    let radio = SimRadio::new(LinkModel::phone_2m());
    let terminals = fleet("SN2026DEMO", 3, 42);
    let mut ids = Vec::new();
    for (i, t) in terminals.iter().enumerate() {
        ids.push(radio.add(Box::new(t.clone()), -50 - 8 * i as i16));
    }

    println!("1. scanning for posmate terminals");
    let found = scan_for(&radio, ScanFilter::any(), Duration::from_millis(300)).await?;
    for c in &found {
        println!(
            "  {:<16} rssi {:>4} dBm  SN …{}  {}  protocol v{}",
            c.local_name,
            c.rssi.unwrap_or_default(),
            c.sn_suffix,
            c.lifecycle.name(),
            c.protocol_version
        );
    }
    let chosen = found.first().ok_or("no terminal found")?;
    let terminal = terminals
        .iter()
        .find(|t| t.sn().ends_with(&chosen.sn_suffix))
        .ok_or("scan result matches no terminal")?
        .clone();

    println!("2. pairing with {} (strongest signal)", chosen.local_name);
    let phone = StaticKeypair::from_secret(rand::random());
    let config = SessionConfig::default();
    let conn: Arc<dyn Connection> = Arc::from(radio.connect(&chosen.id).await?);
    let (session, paired) = session::pair(
        conn,
        &phone,
        |_| None,
        &ReadsTheScreen(terminal.clone()),
        &config,
    )
    .await?;
    println!(
        "  paired; terminal identity key {}",
        hex(&paired.terminal_key[..8])
    );

    println!("3. reading the terminal's info over the encrypted session");
    let Response::Info(info) = session.request(Request::GetInfo).await? else {
        return Err("unexpected response to GetInfo".into());
    };
    println!(
        "  SN {}  model {}  firmware {}  battery {}%  state {}  journal head {}",
        info.sn,
        info.model,
        info.firmware,
        info.battery_pct,
        info.lifecycle.name(),
        info.journal_head
    );
    session.close().await;

    println!("4. reconnecting: resume with the pinned key, no code");
    let pin = paired.terminal_key;
    let conn: Arc<dyn Connection> = Arc::from(radio.connect(&chosen.id).await?);
    let session = session::resume(conn, &phone, |_| Some(pin), &config).await?;
    let Response::Pong { payload } = session
        .request(Request::Ping {
            payload: b"still there?".to_vec(),
        })
        .await?
    else {
        return Err("unexpected response to Ping".into());
    };
    println!("  resumed; ping echoed {} bytes", payload.len());
    session.close().await;

    let ble: u64 = radio.stats(&chosen.id).iter().map(|s| s.elapsed_us).sum();
    println!(
        "done: {:.1} ms of simulated BLE time (2M PHY, 15 ms interval), {:.1} ms wall time",
        ble as f64 / 1000.0,
        wall.elapsed().as_secs_f64() * 1000.0
    );
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
