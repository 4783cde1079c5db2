//! A terminal's identity cannot be swapped: the SN the phone records is the one the pairing
//! handshake proved, never one a message names, and the device key learnt the first time
//! is the terminal — a different one under the same SN is refused as an impostor, whatever
//! the path (pairing again after the pin was forgotten, a flow reading the terminal), and a
//! refused pairing leaves no pin, no row and an audit entry behind.

use posmate_core::companion::Companion;
use posmate_core::flows::FlowControl;
use posmate_core::keystore::TerminalPins;
use posmate_core::store::TerminalRow;
use posmate_sim::acquirer::Review;
use posmate_sim::{SimTerminal, TerminalConfig};
use posmate_tests::world::*;
use posmate_tests::{Merchant, Typing};

/// The codes of the refused pairings of `sn` in the audit log.
fn refused_pairings(phone: &Companion, sn: &str) -> Vec<String> {
    phone
        .audit_entries(0, 1000)
        .unwrap()
        .into_iter()
        .filter(|e| {
            e.event.action == "pair"
                && e.event.outcome == "refused"
                && e.event.sn.as_deref() == Some(sn)
        })
        .map(|e| {
            let code = e.event.detail.get("code").and_then(|c| c.as_str());
            code.unwrap_or("<none>").to_owned()
        })
        .collect()
}

fn row(phone: &Companion, sn: &str) -> TerminalRow {
    phone.terminal(sn).expect("the row is there")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_naming_another_sn_in_its_report_is_not_recorded() {
    let w = World::new(2, 41, Review::Instant);
    let phone = w.phone();
    w.activated(&phone, 0).await;
    let (victim, rogue) = (w.sn(0), w.sn(1));
    let before = row(&phone, &victim);

    // Terminal 1 proves its own SN in the handshake, then names terminal 0 in its report.
    w.terminals[1].set_claimed_sn(Some(victim.clone()));
    let e = phone
        .pair(&w.ids[1], &w.merchant(1))
        .await
        .expect_err("a terminal reporting another SN is refused");
    assert_eq!(e.code(), "identity-mismatch", "{e}");
    assert!(e.to_string().contains(&rogue) && e.to_string().contains(&victim));

    // Nothing of it stays: terminal 0's row as it was, no row and no pin for terminal 1.
    assert_eq!(row(&phone, &victim), before);
    assert_eq!(phone.terminals().unwrap().len(), 1);
    let pins = TerminalPins::new(&*w.secrets);
    assert_eq!(
        pins.get(&rogue).unwrap(),
        None,
        "the refused pairing's pin is taken back"
    );
    assert!(
        pins.get(&victim).unwrap().is_some(),
        "terminal 0 stays paired"
    );
    let refused = refused_pairings(&phone, &rogue);
    assert_eq!(refused, ["identity-mismatch"]);
    phone.verify_audit().expect("the audit chain holds");

    // Terminal 0 still works with the phone; honest firmware on terminal 1 pairs.
    phone.info(&victim).await.expect("terminal 0 answers");
    w.terminals[1].set_claimed_sn(None);
    w.pair(&phone, 1).await;
    assert_eq!(row(&phone, &rogue).device_key, w.terminals[1].device_key());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_device_key_under_a_known_sn_is_an_impostor_even_after_forgetting() {
    let w = World::new(1, 42, Review::Instant);
    let phone = w.phone();
    w.activated(&phone, 0).await;
    let sn = w.sn(0);
    let learnt = row(&phone, &sn).device_key;

    // The merchant forgets the pin (as for a wiped terminal); the real terminal leaves and a
    // board with the same SN but its own factory key takes its place.
    let pins = TerminalPins::new(&*w.secrets);
    assert!(pins.forget(&sn).unwrap());
    assert!(w.radio.remove(&w.ids[0]));
    let impostor = SimTerminal::new(TerminalConfig::new(sn.clone(), 9_042));
    assert_ne!(impostor.device_key(), learnt);
    let impostor_id = w.radio.add(Box::new(impostor.clone()), -40);

    let e = phone
        .pair(&impostor_id, &Merchant::new(&impostor, Typing::Right))
        .await
        .expect_err("a changed device key is refused");
    assert_eq!(e.code(), "device-key-changed", "{e}");
    assert_eq!(
        row(&phone, &sn).device_key,
        learnt,
        "never silently replaced"
    );
    assert_eq!(
        row(&phone, &sn).peripheral_id.as_deref(),
        Some(w.ids[0].as_str())
    );
    assert_eq!(
        pins.get(&sn).unwrap(),
        None,
        "the impostor's pin is taken back"
    );
    assert_eq!(refused_pairings(&phone, &sn), ["device-key-changed"]);

    // A phone opened again (the learnt key is in the database, not in memory) still refuses.
    drop(phone);
    let phone = w.phone();
    let e = phone
        .pair(&impostor_id, &Merchant::new(&impostor, Typing::Right))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "device-key-changed");

    // The real terminal comes back and pairs again: its key is the learnt one.
    assert!(w.radio.remove(&impostor_id));
    let back = w.radio.add(Box::new(w.terminals[0].clone()), -40);
    phone
        .pair(&back, &w.merchant(0))
        .await
        .expect("the real terminal pairs again");
    let info = phone.info(&sn).await.unwrap();
    assert_eq!(info.device_key, learnt);
    phone
        .sync(&sn, &FlowControl::default())
        .await
        .expect("and works");
}
