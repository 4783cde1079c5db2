//! The flows' link to terminals by serial number ([`TerminalLink`]): one open session per
//! terminal, finding a terminal's peripheral by the SN it advertises when its address is
//! unknown or stale, and refusing a session to any terminal but the one asked for.
//!
//! [`Terminals`] pairs and reconnects by peripheral; this layer adds what needs the store
//! (which terminals this phone knows, and where each was last seen), so the companion only
//! hands it the store and the clock. It is its own module, above `terminals` and `flows`
//! (whose `TerminalLink` it implements), so neither of those depends on the other.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use crate::error::{Error, Result};
use crate::flows::{Clock, TerminalLink};
use crate::session::{CodeEntry, Session, SessionError};
use crate::store::{Store, TerminalRow};
use crate::terminals::{LinkError, NewPairing, Terminals};
use crate::transport::{scan_for, PeripheralId, ScanFilter, Transport, TransportError};

/// The terminal `sn` as this phone recorded it.
pub(crate) fn known(store: &Store, sn: &str) -> Result<TerminalRow> {
    store
        .read(|tx| tx.terminal(sn))?
        .ok_or_else(|| Error::UnknownTerminal { sn: sn.into() })
}

/// The open sessions, by SN, and what is needed to open more.
pub(crate) struct Sessions {
    terminals: Terminals,
    /// For finding a terminal by SN (the same transport `terminals` connects over).
    transport: Arc<dyn Transport>,
    /// How long to scan for a terminal whose address is not known.
    scan_time: Duration,
    open: tokio::sync::Mutex<HashMap<String, Arc<Session>>>,
    /// Where codes come from when a flow must pair again (after a wipe lost its pairing).
    code_entry: Mutex<Option<Arc<dyn CodeEntry>>>,
}

impl Sessions {
    pub(crate) fn new(
        terminals: Terminals,
        transport: Arc<dyn Transport>,
        scan_time: Duration,
    ) -> Self {
        Sessions {
            terminals,
            transport,
            scan_time,
            open: tokio::sync::Mutex::new(HashMap::new()),
            code_entry: Mutex::new(None),
        }
    }

    pub(crate) fn set_code_entry(&self, entry: Arc<dyn CodeEntry>) {
        *self.code_entry.lock().unwrap_or_else(|e| e.into_inner()) = Some(entry);
    }

    /// First pairing with the terminal at `id`; [`Sessions::keep`] the session once the
    /// terminal is recorded.
    pub(crate) async fn pair(&self, id: &PeripheralId, code: &dyn CodeEntry) -> Result<NewPairing> {
        Ok(self.terminals.pair_pinning(id, code).await?)
    }

    /// Ends a pairing the phone refused after all (`pairing` is not the terminal it
    /// expected), taking back the pin it added.
    pub(crate) async fn refuse(&self, pairing: NewPairing) {
        let sn = pairing.session.sn().to_owned();
        pairing.session.close().await;
        if pairing.pinned_now {
            if let Err(e) = self.terminals.forget(&sn) {
                tracing::warn!(sn, error = %e, "could not remove the pin of a refused pairing");
            }
        }
    }

    /// Keeps `session` as the open one to `sn`.
    pub(crate) async fn keep(&self, sn: String, session: Session) {
        self.open.lock().await.insert(sn, Arc::new(session));
    }

    /// Closes every open session no flow still holds.
    pub(crate) async fn close_all(&self) {
        let sessions: Vec<_> = self.open.lock().await.drain().collect();
        for (_, s) in sessions {
            if let Ok(s) = Arc::try_unwrap(s) {
                s.close().await;
            }
        }
    }

    /// The link a flow uses, recording what it learns in `store`.
    pub(crate) fn link<'a>(&'a self, store: &'a Store, clock: &'a dyn Clock) -> Link<'a> {
        Link {
            sessions: self,
            store,
            clock,
        }
    }
}

/// The sessions as one flow's [`TerminalLink`].
pub(crate) struct Link<'a> {
    sessions: &'a Sessions,
    store: &'a Store,
    clock: &'a dyn Clock,
}

impl Link<'_> {
    /// Finds `sn` advertising nearby (the strongest signal wins) and records its address.
    async fn peripheral_for(&self, sn: &str) -> Result<PeripheralId> {
        let suffix: String = sn
            .chars()
            .rev()
            .take(6)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let found = scan_for(
            &*self.sessions.transport,
            ScanFilter::sn_suffix(suffix),
            self.sessions.scan_time,
        )
        .await
        .map_err(SessionError::from)?;
        let id = found
            .into_iter()
            .max_by_key(|c| c.rssi.unwrap_or(i16::MIN))
            .map(|c| c.peripheral_id)
            .ok_or_else(|| Error::Unreachable {
                sn: sn.into(),
                attempts: 1,
                last: "not advertising nearby".into(),
            })?;
        let now = self.clock.now_ms();
        self.store.write(|tx| {
            if let Some(mut row) = tx.terminal(sn)? {
                row.peripheral_id = Some(id.as_str().into());
                row.updated_at_ms = now;
                tx.upsert_terminal(&row)?;
            }
            Ok(())
        })?;
        Ok(id)
    }

    /// Reconnects to `sn` at its recorded address, looking for it again if it moved.
    async fn connect(&self, sn: &str) -> Result<Session> {
        let row = known(self.store, sn)?;
        let id = match &row.peripheral_id {
            Some(id) => PeripheralId::new(id.clone()),
            None => self.peripheral_for(sn).await?,
        };
        let terminals = &self.sessions.terminals;
        let result = match terminals.connect(&id).await {
            Err(LinkError::Session(SessionError::Transport(TransportError::NotFound {
                ..
            }))) => {
                let id = self.peripheral_for(sn).await?;
                terminals.connect(&id).await
            }
            other => other,
        };
        match result {
            Ok(s) => expect_sn(s, sn).await,
            Err(LinkError::GaveUp { attempts, last }) => Err(Error::Unreachable {
                sn: sn.into(),
                attempts,
                last,
            }),
            Err(LinkError::Session(SessionError::NotPaired)) => {
                Err(Error::NeedsPairing { sn: sn.into() })
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// `session` if it is to `sn`; otherwise it is closed and refused.
async fn expect_sn(session: Session, sn: &str) -> Result<Session> {
    if session.sn() == sn {
        return Ok(session);
    }
    let found = session.sn().to_owned();
    session.close().await;
    Err(Error::WrongTerminal {
        expected: sn.into(),
        found,
    })
}

#[async_trait]
impl TerminalLink for Link<'_> {
    async fn session(&self, sn: &str) -> Result<Arc<Session>> {
        let mut sessions = self.sessions.open.lock().await;
        if let Some(s) = sessions.get(sn) {
            if s.is_open() {
                return Ok(s.clone());
            }
        }
        sessions.remove(sn);
        let session = Arc::new(self.connect(sn).await?);
        sessions.insert(sn.into(), session.clone());
        Ok(session)
    }

    async fn drop_session(&self, sn: &str) {
        self.sessions.open.lock().await.remove(sn);
    }

    async fn repair(&self, sn: &str) -> Result<Arc<Session>> {
        let entry = self
            .sessions
            .code_entry
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(|| Error::NeedsPairing { sn: sn.into() })?;
        let id = self.peripheral_for(sn).await?;
        let pairing = self.sessions.pair(&id, &*entry).await?;
        if pairing.session.sn() != sn {
            let found = pairing.session.sn().to_owned();
            self.sessions.refuse(pairing).await;
            return Err(Error::WrongTerminal {
                expected: sn.into(),
                found,
            });
        }
        let session = Arc::new(pairing.session);
        self.sessions
            .open
            .lock()
            .await
            .insert(sn.into(), session.clone());
        Ok(session)
    }

    fn forget(&self, sn: &str) -> Result<()> {
        self.sessions.terminals.forget(sn)?;
        Ok(())
    }
}
