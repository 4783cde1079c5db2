//! What every command gets: the settings in effect (`settings`), the output, and lazily opened
//! resources (data directory, keystore, the link to terminals). Opening on demand keeps
//! commands that need none of them (`completions`, `sim`) free of their failure modes.

use std::path::Path;
use std::sync::Arc;

use posmate_core::acquirer::https::client::ReqwestClient;
use posmate_core::acquirer::Gateway;
use posmate_core::keystore::{KeyringStore, KeystoreChoice, Namespace};
use posmate_core::private_dir::create_private_dir;
use tokio::sync::OnceCell;

use crate::acquirer;
use crate::error::{CliError, Exit};
use crate::global::KeystoreArg;
use crate::output::Output;
use crate::settings::{spec, Settings, Source};
use crate::transport_select::{Link, Mode};

pub struct Ctx {
    pub settings: Settings,
    pub out: Output,
    /// Whether the process got a session keyring for the keyutils store (see main).
    keyring_session: Result<(), String>,
    /// Opened once: the mock backend is a new, empty store each time it is opened.
    keystore: std::sync::Mutex<Option<Arc<KeyringStore>>>,
    link: OnceCell<Link>,
}

impl Ctx {
    pub fn new(settings: Settings, keyring_session: Result<(), String>) -> Self {
        let out = Output {
            json: settings.json,
            quiet: settings.quiet,
        };
        Ctx {
            out,
            settings,
            keyring_session,
            keystore: Default::default(),
            link: OnceCell::new(),
        }
    }

    pub fn mode(&self) -> Mode {
        match (&self.settings.connect_sim, self.settings.sim) {
            (Some(addr), _) => Mode::Remote(addr.clone()),
            (None, true) => Mode::Embedded,
            (None, false) => Mode::Bluetooth,
        }
    }

    /// The data directory as configured (it may not exist yet).
    pub fn data_dir(&self) -> Result<&Path, CliError> {
        self.settings.data_dir.as_deref().ok_or_else(|| {
            CliError::new(
                Exit::Storage,
                "no-data-dir",
                "this platform reports no data directory for posmate",
            )
            .hint("pass --data-dir DIR (or set POSMATE_DATA_DIR, or data_dir in the profile)")
        })
    }

    /// The data directory, created (owner-only) if missing.
    pub fn ensure_data_dir(&self) -> Result<&Path, CliError> {
        let dir = self.data_dir()?;
        create_private_dir(dir)
            .map_err(|e| CliError::storage(format!("cannot create {}", dir.display()), e))?;
        Ok(dir)
    }

    pub fn keystore_choice(&self) -> KeystoreChoice {
        match self.settings.keystore {
            KeystoreArg::Os => KeystoreChoice::Os,
            KeystoreArg::SecretService => KeystoreChoice::SecretService,
            KeystoreArg::Keyutils => KeystoreChoice::LinuxKeyutils,
            KeystoreArg::Mock => KeystoreChoice::Mock,
        }
    }

    /// The keystore for this data directory, opened on first use.
    pub fn keystore(&self) -> Result<Arc<KeyringStore>, CliError> {
        let mut cached = self.keystore.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(store) = &*cached {
            return Ok(store.clone());
        }
        if self.keystore_choice() == KeystoreChoice::LinuxKeyutils {
            if let Err(reason) = &self.keyring_session {
                tracing::warn!(%reason, "no session keyring of our own");
            }
        }
        let namespace = Namespace::anchored(self.ensure_data_dir()?)?;
        let store = Arc::new(KeyringStore::open(self.keystore_choice(), namespace)?);
        *cached = Some(store.clone());
        Ok(store)
    }

    /// Why joining a session keyring failed, if it did.
    pub fn keyring_session(&self) -> &Result<(), String> {
        &self.keyring_session
    }

    /// The link to terminals for this mode, opened once.
    pub async fn link(&self) -> Result<&Link, CliError> {
        self.link
            .get_or_try_init(|| async {
                let https = self.https_acquirer()?;
                Link::open(self.mode(), https, || self.ensure_data_dir()).await
            })
            .await
    }

    /// The acquirer over HTTPS the flows use instead of the mode's own, if any.
    fn https_acquirer(&self) -> Result<Option<Arc<dyn Gateway>>, CliError> {
        Ok(self.acquirer_client()?.map(acquirer::gateway))
    }

    /// The client for the acquirer the flows reach over HTTPS in this mode, if any: the
    /// one at `acquirer_url` on Bluetooth and with `--connect-sim`. With `--sim` only a URL
    /// given on the command line or in the environment counts: a profile's production URL
    /// must not take the embedded world's terminals to a real acquirer unasked.
    pub fn acquirer_client(&self) -> Result<Option<ReqwestClient>, CliError> {
        if self.mode() == Mode::Embedded && !self.acquirer_url_explicit() {
            return Ok(None);
        }
        acquirer::client(&self.settings)
    }

    /// Whether `acquirer_url` came from the command line or the environment.
    pub fn acquirer_url_explicit(&self) -> bool {
        matches!(
            self.settings.source(&spec::ACQUIRER_URL),
            Source::Flag | Source::Env
        )
    }

    /// The link if a command opened one (to save the embedded simulation afterwards).
    pub fn opened_link(&self) -> Option<&Link> {
        self.link.get()
    }
}
