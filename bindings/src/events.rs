//! Connection states for the UI: the core's [`LinkState`]s (every connection the companion
//! opens, per peripheral, in order; a lost link reported at once) in the apps' types.

use posmate_core::transport::observed::{LinkEnd, LinkState};

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum DisconnectReason {
    /// The phone closed it (`disconnect()`, or the terminal was wiped).
    ClosedByPhone,
    /// The radio link went down (out of range, terminal switched off).
    LinkLost,
    /// The session over it ended (it failed, or the companion let it go).
    Released,
}

/// What happened to a connection to a terminal.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum ConnectionState {
    Connecting {
        peripheral_id: String,
    },
    Connected {
        peripheral_id: String,
        mtu: u16,
    },
    /// This attempt failed; the core may try again under its reconnect policy.
    ConnectFailed {
        peripheral_id: String,
        code: String,
        detail: String,
    },
    Disconnected {
        peripheral_id: String,
        reason: DisconnectReason,
    },
}

impl From<LinkEnd> for DisconnectReason {
    fn from(end: LinkEnd) -> Self {
        match end {
            LinkEnd::ClosedByPhone => DisconnectReason::ClosedByPhone,
            LinkEnd::LinkLost => DisconnectReason::LinkLost,
            LinkEnd::Released => DisconnectReason::Released,
        }
    }
}

impl From<LinkState> for ConnectionState {
    fn from(state: LinkState) -> Self {
        match state {
            LinkState::Connecting { peripheral } => ConnectionState::Connecting {
                peripheral_id: peripheral.as_str().into(),
            },
            LinkState::Connected { peripheral, mtu } => ConnectionState::Connected {
                peripheral_id: peripheral.as_str().into(),
                mtu,
            },
            LinkState::ConnectFailed {
                peripheral,
                code,
                detail,
            } => ConnectionState::ConnectFailed {
                peripheral_id: peripheral.as_str().into(),
                code: code.into(),
                detail,
            },
            LinkState::Disconnected { peripheral, reason } => ConnectionState::Disconnected {
                peripheral_id: peripheral.as_str().into(),
                reason: reason.into(),
            },
        }
    }
}
