//! `posmate_core::terminals`: pairing pins the terminal's key in the keystore, reconnecting
//! needs no code, an impostor with the same SN is refused until the merchant forgets the
//! terminal.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use posmate_core::keystore::{KeyringStore, KeystoreChoice, Namespace, PhoneIdentity, SecretStore};
use posmate_core::session::{CodeEntry, SessionError};
use posmate_core::terminals::{LinkError, Terminals};
use posmate_core::transport::manager::ReconnectPolicy;
use posmate_proto::message::{Request, Response};
use posmate_sim::terminal::{Screen, SimTerminal, TerminalConfig};
use posmate_sim_world::radio::SimRadio;

struct ReadsTheScreen(SimTerminal);

#[async_trait]
impl CodeEntry for ReadsTheScreen {
    async fn enter_code(&self, _sn: &str) -> Option<String> {
        match self.0.screen() {
            Screen::PairingCode(code) => Some(code),
            _ => None,
        }
    }
}

fn terminals(radio: &Arc<SimRadio>, secrets: &Arc<KeyringStore>) -> Terminals {
    let policy = ReconnectPolicy {
        max_attempts: 2,
        jitter: false,
        ..ReconnectPolicy::default()
    };
    Terminals::new(radio.clone(), secrets.clone(), Default::default(), policy)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pair_pins_reconnect_needs_no_code_and_impostor_is_refused_until_forgotten() {
    let radio = Arc::new(SimRadio::default());
    let secrets = Arc::new(
        KeyringStore::open(
            KeystoreChoice::Mock,
            Namespace::new("terminals-test").unwrap(),
        )
        .unwrap(),
    );
    let real = SimTerminal::new(TerminalConfig::new("SN-PIN-0001", 1));
    let id = radio.add(Box::new(real.clone()), -40);
    let terminals = terminals(&radio, &secrets);

    // Nothing pinned, no identity yet.
    assert_eq!(terminals.pinned("SN-PIN-0001").unwrap(), None);
    assert!(secrets.get(PhoneIdentity::NAME).unwrap().is_none());

    let session = terminals
        .pair(&id, &ReadsTheScreen(real.clone()))
        .await
        .unwrap();
    let pin = terminals
        .pinned("SN-PIN-0001")
        .unwrap()
        .expect("pinned after pairing");
    assert_eq!(&pin, session.terminal_key());
    let identity = secrets
        .get(PhoneIdentity::NAME)
        .unwrap()
        .expect("identity created");
    assert!(
        matches!(session.request(Request::GetInfo).await.unwrap(), Response::Info(i) if i.sn == "SN-PIN-0001")
    );
    session.close().await;

    // Reconnect: no code entry at all, same identity.
    let session = terminals.connect(&id).await.unwrap();
    assert!(matches!(
        session
            .request(Request::Ping { payload: vec![1] })
            .await
            .unwrap(),
        Response::Pong { .. }
    ));
    session.close().await;
    assert_eq!(
        secrets.get(PhoneIdentity::NAME).unwrap().unwrap().expose(),
        identity.expose()
    );

    // The real terminal leaves; a device with the same SN but another key takes its place.
    assert!(radio.remove(&id));
    let impostor = SimTerminal::new(TerminalConfig::new("SN-PIN-0001", 999));
    let impostor_id = radio.add(Box::new(impostor.clone()), -40);
    let started = tokio::time::Instant::now();
    match terminals.connect(&impostor_id).await {
        Err(LinkError::Session(SessionError::PossibleImpostor { sn })) => {
            assert_eq!(sn, "SN-PIN-0001")
        }
        other => panic!("expected PossibleImpostor, got {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "an impostor is not retried"
    );
    match terminals
        .pair(&impostor_id, &ReadsTheScreen(impostor.clone()))
        .await
    {
        Err(LinkError::Session(SessionError::PossibleImpostor { .. })) => {}
        other => panic!("expected PossibleImpostor on pair, got {other:?}"),
    }
    assert_eq!(
        terminals.pinned("SN-PIN-0001").unwrap(),
        Some(pin),
        "the pin stands"
    );

    // The merchant forgets the terminal (it was replaced) and pairs the new one.
    assert!(terminals.forget("SN-PIN-0001").unwrap());
    let session = terminals
        .pair(&impostor_id, &ReadsTheScreen(impostor))
        .await
        .unwrap();
    let new_pin = terminals.pinned("SN-PIN-0001").unwrap().unwrap();
    assert_ne!(new_pin, pin);
    assert_eq!(&new_pin, session.terminal_key());
    session.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_to_an_unpaired_terminal_is_not_paired_without_retries() {
    let radio = Arc::new(SimRadio::default());
    let secrets = Arc::new(
        KeyringStore::open(
            KeystoreChoice::Mock,
            Namespace::new("terminals-test-2").unwrap(),
        )
        .unwrap(),
    );
    let t = SimTerminal::new(TerminalConfig::new("SN-PIN-0002", 2));
    let id = radio.add(Box::new(t), -40);
    match terminals(&radio, &secrets).connect(&id).await {
        Err(LinkError::Session(SessionError::NotPaired)) => {}
        other => panic!("expected NotPaired, got {other:?}"),
    }
}
