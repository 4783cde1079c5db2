//! The phone's paired terminals: pair, reconnect, forget.
//!
//! This is where the session layer meets the keystore. The phone's Noise identity and each
//! terminal's pinned key live only in the OS keystore ([`SecretStore`]); a pin is written
//! only after the terminal confirmed the pairing, and a terminal whose key differs from its
//! pin is refused until the merchant forgets it. Reconnection runs under the
//! [`ConnectionManager`]'s documented policy and publishes its states. The flows reach
//! terminals by serial number through `terminal_link`, built on these.

use std::sync::{Arc, Mutex};

use posmate_proto::handshake::StaticKeypair;
use tokio::sync::broadcast;

use crate::keystore::{KeystoreError, PhoneIdentity, SecretStore, TerminalPins};
use crate::session::{self, CodeEntry, Session, SessionConfig, SessionError};
use crate::transport::manager::{
    ConnectionManager, ConnectionState, Established, ManagerError, ReconnectPolicy,
};
use crate::transport::{Connection, PeripheralId, Transport};

/// Why pairing, reconnecting or forgetting failed.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Keystore(#[from] KeystoreError),
    #[error("could not reach the terminal after {attempts} attempts: {last}")]
    GaveUp { attempts: u32, last: String },
}

impl LinkError {
    /// A stable code for logs, the CLI and the FFI layer.
    pub fn code(&self) -> &'static str {
        match self {
            LinkError::Session(e) => e.code(),
            LinkError::Keystore(e) => e.code(),
            LinkError::GaveUp { .. } => "unreachable",
        }
    }
}

impl Established for Session {
    fn mtu(&self) -> u16 {
        Session::mtu(self)
    }
}

/// A pairing just made, and whether it pinned the terminal's key for the first time.
pub(crate) struct NewPairing {
    pub session: Session,
    pub pinned_now: bool,
}

/// Pairs with, reconnects to and forgets terminals.
pub struct Terminals {
    transport: Arc<dyn Transport>,
    secrets: Arc<dyn SecretStore>,
    config: SessionConfig,
    manager: ConnectionManager,
}

impl Terminals {
    pub fn new(
        transport: Arc<dyn Transport>,
        secrets: Arc<dyn SecretStore>,
        config: SessionConfig,
        policy: ReconnectPolicy,
    ) -> Self {
        Terminals {
            transport,
            secrets,
            config,
            manager: ConnectionManager::new(policy),
        }
    }

    /// Connection states of reconnect attempts, in order.
    pub fn states(&self) -> broadcast::Receiver<ConnectionState> {
        self.manager.subscribe()
    }

    fn identity(&self) -> Result<StaticKeypair, KeystoreError> {
        let secret = PhoneIdentity::load_or_create(&*self.secrets, &mut rand::rngs::OsRng)?;
        Ok(StaticKeypair::from_secret(*secret))
    }

    /// The pinned key of `sn`, if any.
    pub fn pinned(&self, sn: &str) -> Result<Option<[u8; 32]>, KeystoreError> {
        TerminalPins::new(&*self.secrets).get(sn)
    }

    /// First pairing: the merchant types the code the terminal shows. The terminal's key is
    /// pinned once the terminal has confirmed.
    pub async fn pair(
        &self,
        id: &PeripheralId,
        code: &dyn CodeEntry,
    ) -> Result<Session, LinkError> {
        Ok(self.pair_pinning(id, code).await?.session)
    }

    /// [`Terminals::pair`], also saying whether the pin is new, so that a caller refusing
    /// the terminal after all (it is not the one it expected) can take the pin back with
    /// [`Terminals::forget`] without dropping one that was there before.
    pub(crate) async fn pair_pinning(
        &self,
        id: &PeripheralId,
        code: &dyn CodeEntry,
    ) -> Result<NewPairing, LinkError> {
        let identity = self.identity()?;
        let conn: Arc<dyn Connection> = Arc::from(
            self.transport
                .connect(id)
                .await
                .map_err(SessionError::from)?,
        );
        let lookup = PinLookup::new(&*self.secrets);
        let result = session::pair(conn, &identity, |sn| lookup.get(sn), code, &self.config).await;
        lookup.check()?;
        let (session, paired) = result?;
        let pins = TerminalPins::new(&*self.secrets);
        let pinned = pins.get(&paired.sn).and_then(|before| {
            pins.pin(&paired.sn, &paired.terminal_key)
                .map(|()| before.is_none())
        });
        match pinned {
            Ok(pinned_now) => Ok(NewPairing {
                session,
                pinned_now,
            }),
            Err(e) => {
                // Without a pin the phone could not resume; end the session rather than
                // leave a pairing that only the terminal remembers in use.
                session.close().await;
                Err(e.into())
            }
        }
    }

    /// Reconnects to a paired terminal (no code), retrying under the reconnect policy.
    /// Wrong identity, not-paired and version errors are not retried.
    pub async fn connect(&self, id: &PeripheralId) -> Result<Session, LinkError> {
        let identity = self.identity()?;
        let result = self
            .manager
            .run_with(
                |_attempt| async {
                    let conn: Arc<dyn Connection> = Arc::from(self.transport.connect(id).await?);
                    let lookup = PinLookup::new(&*self.secrets);
                    let result =
                        session::resume(conn, &identity, |sn| lookup.get(sn), &self.config).await;
                    lookup.check().map_err(ResumeError::Keystore)?;
                    result.map_err(ResumeError::Session)
                },
                ResumeError::is_retryable,
            )
            .await;
        match result {
            Ok(session) => Ok(session),
            Err(ManagerError::NotRetryable { error, .. }) => Err(error.into()),
            Err(ManagerError::GaveUp { attempts, last }) => Err(LinkError::GaveUp {
                attempts,
                last: last.to_string(),
            }),
        }
    }

    /// Forgets a terminal's pinned key, so that a terminal with a new identity (wiped or
    /// replaced) can be paired. Returns whether a pin existed.
    pub fn forget(&self, sn: &str) -> Result<bool, KeystoreError> {
        TerminalPins::new(&*self.secrets).forget(sn)
    }
}

/// One reconnect attempt's failure.
#[derive(Debug, thiserror::Error)]
enum ResumeError {
    #[error(transparent)]
    Session(SessionError),
    #[error(transparent)]
    Keystore(KeystoreError),
}

impl ResumeError {
    fn is_retryable(&self) -> bool {
        match self {
            ResumeError::Session(e) => match e {
                SessionError::NotPaired
                | SessionError::PossibleImpostor { .. }
                | SessionError::VersionUnsupported { .. }
                | SessionError::HandshakeFailed => false,
                other => other.is_retryable(),
            },
            ResumeError::Keystore(_) => false,
        }
    }
}

impl From<crate::transport::TransportError> for ResumeError {
    fn from(e: crate::transport::TransportError) -> Self {
        ResumeError::Session(SessionError::Transport(e))
    }
}

impl From<ResumeError> for LinkError {
    fn from(e: ResumeError) -> Self {
        match e {
            ResumeError::Session(e) => LinkError::Session(e),
            ResumeError::Keystore(e) => LinkError::Keystore(e),
        }
    }
}

/// Looks pins up during a handshake (which asks by the SN the terminal reports) and keeps
/// the first keystore error, so that an unreadable keystore is reported as such rather than
/// mistaken for "not pinned".
struct PinLookup<'a> {
    secrets: &'a dyn SecretStore,
    error: Mutex<Option<KeystoreError>>,
}

impl<'a> PinLookup<'a> {
    fn new(secrets: &'a dyn SecretStore) -> Self {
        PinLookup {
            secrets,
            error: Mutex::new(None),
        }
    }

    fn get(&self, sn: &str) -> Option<[u8; 32]> {
        match TerminalPins::new(self.secrets).get(sn) {
            Ok(pin) => pin,
            Err(e) => {
                self.error
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get_or_insert(e);
                None
            }
        }
    }

    fn check(self) -> Result<(), KeystoreError> {
        match self.error.into_inner().unwrap_or_else(|p| p.into_inner()) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}
