//! A whole simulated world for lifecycle tests: terminals on a simulated radio, a simulated
//! acquirer reached through its JSON API, and a phone (the core's `Companion`) whose data
//! directory and keystore survive being closed and reopened, as an app's do when killed.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use posmate_core::acquirer::MerchantDetails;
use posmate_core::backup::{Passphrase, WriteOptions};
use posmate_core::companion::{Companion, CompanionConfig};
use posmate_core::flows::{ActivationInput, FlowControl, SystemClock};
use posmate_core::keystore::{KeyringStore, KeystoreChoice, Namespace, SecretStore};
use posmate_core::session::SessionConfig;
use posmate_core::transport::manager::ReconnectPolicy;
use posmate_core::transport::PeripheralId;
use posmate_sim::acquirer::{MerchantSetup, Review, SimAcquirer};
use posmate_sim::terminal::{Booked, Sale};
use posmate_sim::{SimTerminal, TerminalConfig};
use posmate_sim_world::radio::timing::LinkModel;
use posmate_sim_world::radio::SimRadio;
use posmate_sim_world::world;
use zeroize::Zeroizing;

use crate::{Merchant, Typing};

pub use posmate_sim_world::world::{MERCHANT_NAME, MERCHANT_NO};
/// A merchant of these tests only, approved at once: whose terminals the demo merchant's
/// phone must not take over.
pub const OTHER_MERCHANT_NO: &str = "898310148169999";
pub const CNY: u16 = 156;
pub const PASSPHRASE: &str = "correct horse battery";

/// The terminal number the acquirer registered for terminal `i` (from 0), as the standard
/// world numbers its fleet.
pub fn terminal_no(i: usize) -> String {
    world::terminal_no(i + 1)
}

/// The activation code the acquirer gave the merchant for terminal `i` (from 0).
pub fn activation_code(i: usize) -> String {
    world::activation_code(i + 1)
}

pub struct World {
    pub radio: SimRadio,
    pub acquirer: SimAcquirer,
    pub terminals: Vec<SimTerminal>,
    pub ids: Vec<PeripheralId>,
    pub secrets: Arc<dyn SecretStore>,
    pub dir: PathBuf,
    _tmp: tempfile::TempDir,
}

impl World {
    /// `n` factory-fresh terminals (SN `SN2026W<seed><i>`), a merchant whose reviews take
    /// `review`, and an empty phone.
    pub fn new(n: usize, seed: u64, review: Review) -> Self {
        let radio = SimRadio::new(LinkModel::phone_2m());
        let acquirer = SimAcquirer::new(seed);
        world::sign_up_merchant(&acquirer, review);
        acquirer.register_merchant(MerchantSetup {
            merchant_no: OTHER_MERCHANT_NO.into(),
            legal_name: "Li Si Tea House".into(),
            review: Review::Instant,
        });
        let mut terminals = Vec::new();
        let mut ids = Vec::new();
        for i in 0..n {
            let sn = format!("SN2026W{seed:04}{i:02}");
            let t = SimTerminal::new(TerminalConfig::new(sn, seed * 100 + i as u64));
            ids.push(radio.add(Box::new(t.clone()), -50 - i as i16));
            terminals.push(t);
        }
        world::register(&acquirer, &terminals, 0);
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path().join("phone");
        let secrets: Arc<dyn SecretStore> = Arc::new(
            KeyringStore::open(KeystoreChoice::Mock, Namespace::new("world").unwrap()).unwrap(),
        );
        World {
            radio,
            acquirer,
            terminals,
            ids,
            secrets,
            dir,
            _tmp: tmp,
        }
    }

    pub fn sn(&self, i: usize) -> String {
        self.terminals[i].sn()
    }

    pub fn config(&self) -> CompanionConfig {
        let mut c = CompanionConfig::new(&self.dir, KeystoreChoice::Mock);
        c.allow_volatile_key = true;
        c.session = SessionConfig {
            step_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(5),
        };
        c.reconnect = ReconnectPolicy {
            max_attempts: 2,
            ..ReconnectPolicy::default()
        };
        c.scan_time = Duration::from_millis(200);
        // Tests write many archives: a light scrypt work factor keeps them fast.
        c.backup = WriteOptions { work_factor: 10 };
        c
    }

    /// Opens the phone (again): a fresh store on the same directory and keystore.
    pub fn phone(&self) -> Companion {
        self.phone_with(self.config())
    }

    pub fn phone_with(&self, config: CompanionConfig) -> Companion {
        let opened =
            posmate_sim_world::open::embedded(Arc::new(self.radio.clone()), &self.acquirer);
        let c = Companion::open_with_secrets(
            config,
            self.secrets.clone(),
            opened.transport,
            opened.gateway,
            Arc::new(SystemClock),
        )
        .expect("phone opens");
        c.set_code_entry(Arc::new(Merchant::new(&self.terminals[0], Typing::Right)));
        c
    }

    /// The merchant reads terminal `i`'s screen when asked for a code.
    pub fn merchant(&self, i: usize) -> Merchant {
        Merchant::new(&self.terminals[i], Typing::Right)
    }

    pub async fn pair(&self, phone: &Companion, i: usize) {
        phone.set_code_entry(Arc::new(self.merchant(i)));
        phone
            .pair(&self.ids[i], &self.merchant(i))
            .await
            .expect("pairs");
    }

    pub fn activation(&self, i: usize) -> ActivationInput {
        ActivationInput {
            sn: self.sn(i),
            terminal_no: terminal_no(i),
            merchant_no: MERCHANT_NO.into(),
            activation_code: Zeroizing::new(activation_code(i)),
            merchant: merchant_details(),
        }
    }

    /// Pairs and activates terminal `i` (the merchant's review must be instant).
    pub async fn activated(&self, phone: &Companion, i: usize) {
        self.pair(phone, i).await;
        phone
            .activate(self.activation(i), &FlowControl::default())
            .await
            .expect("activates");
    }

    /// A sale rung up on terminal `i` (the payment network tells the acquirer).
    pub fn sale(&self, i: usize, amount_minor: u64) -> Booked {
        let t = &self.terminals[i];
        let booked = t
            .ring_up(
                t.link_now(),
                &Sale::new(amount_minor, CNY, "6222021234567890128"),
            )
            .expect("sale books");
        self.acquirer.record_trade(&t.sn(), self.acquirer.now_ms());
        booked
    }

    pub fn backup_path(&self, name: &str) -> PathBuf {
        self.dir.parent().unwrap().join(name)
    }
}

pub fn merchant_details() -> MerchantDetails {
    MerchantDetails {
        legal_name: MERCHANT_NAME.into(),
        contact_phone: "+86 138 0000 0000".into(),
        address: "12 Wenhua Road, Hangzhou".into(),
    }
}

pub fn passphrase() -> Passphrase {
    Passphrase::new(PASSPHRASE)
}

/// All bytes of the files whose names start with `prefix` in `dir`.
pub fn files_bytes(dir: &Path, prefix: &str) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(prefix) {
                out.push((name, std::fs::read(e.path()).unwrap_or_default()));
            }
        }
    }
    out
}
