//! First pairing and resume, driven step by step over a [`FrameLink`]
//! (`docs/protocol.md` §3.1, §5.2, §5.3). Nothing is persisted here: the caller pins the
//! terminal's key only after this returns, i.e. after the terminal confirmed the pairing,
//! so a link lost at any step leaves no half-paired state on the phone.

use std::sync::Arc;

use async_trait::async_trait;
use posmate_proto::frame::{encode_frame, FrameKind};
use posmate_proto::handshake::{
    self, PairingCode, PhonePairing, PhoneResume, StaticKeypair, PROTOCOL_VERSION,
};
use posmate_proto::message::{
    self, Body, Close, CloseReason, Event, Hello, HelloAck, Intent, Pair2, PairingState,
};
use posmate_proto::secure::SecureChannel;

use super::link::{FrameLink, PHONE_MAX_FRAME, PHONE_RX_WINDOW};
use super::{Session, SessionConfig, SessionError};
use crate::transport::Connection;

/// Asks the merchant for the code the terminal shows. `None` means they cancelled.
#[async_trait]
pub trait CodeEntry: Send + Sync {
    async fn enter_code(&self, sn: &str) -> Option<String>;
}

/// What a successful pairing established: the caller pins `terminal_key` for `sn`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paired {
    pub sn: String,
    pub terminal_key: [u8; 32],
}

struct Greeting {
    ack: HelloAck,
    prologue: Vec<u8>,
}

async fn greet(link: &mut FrameLink, intent: Intent) -> Result<Greeting, SessionError> {
    let hello = Hello {
        min_version: PROTOCOL_VERSION,
        max_version: PROTOCOL_VERSION,
        intent,
        rx_window: PHONE_RX_WINDOW,
        max_frame: PHONE_MAX_FRAME,
    };
    let hello_frame = link
        .send(FrameKind::Hello, &message::encode(&hello))
        .await?;
    let frame = link.recv().await?;
    if frame.kind != FrameKind::HelloAck {
        return Err(violation(link, "expected HELLO_ACK").await);
    }
    let Ok(ack) = message::decode::<HelloAck>(&frame.body) else {
        return Err(violation(link, "malformed HELLO_ACK").await);
    };
    if ack.version != PROTOCOL_VERSION {
        link.abort(Close::new(CloseReason::VersionUnsupported, ""))
            .await;
        return Err(SessionError::VersionUnsupported {
            min: ack.version,
            max: ack.version,
            ours: PROTOCOL_VERSION,
        });
    }
    link.wire.set_peer_limits(ack.rx_window, ack.max_frame);
    let prologue = handshake::prologue(
        &hello_frame,
        &encode_frame(FrameKind::HelloAck, &frame.body),
    );
    Ok(Greeting { ack, prologue })
}

async fn violation(link: &mut FrameLink, what: &'static str) -> SessionError {
    link.abort(Close::new(CloseReason::ProtocolViolation, what))
        .await;
    SessionError::Security(what)
}

/// First pairing: the terminal shows a code, the merchant types it, SPAKE2 + Noise XXpsk3.
/// `pinned` is the key already pinned for this terminal, if any: a terminal presenting a
/// different one is refused until the merchant forgets it.
pub async fn pair(
    conn: Arc<dyn Connection>,
    identity: &StaticKeypair,
    pinned: impl Fn(&str) -> Option<[u8; 32]>,
    code_entry: &dyn CodeEntry,
    config: &SessionConfig,
) -> Result<(Session, Paired), SessionError> {
    let mut link = FrameLink::new(conn, config.step_timeout)?;
    let Greeting { ack, prologue } = greet(&mut link, Intent::Pair).await?;
    if let Some(pin) = pinned(&ack.sn) {
        if pin != ack.static_key {
            link.abort(Close::new(CloseReason::Bye, "identity mismatch"))
                .await;
            return Err(SessionError::PossibleImpostor { sn: ack.sn });
        }
    }
    match ack.pairing {
        PairingState::Open => {}
        PairingState::Locked => {
            link.abort(Close::new(CloseReason::Bye, "")).await;
            return Err(SessionError::PairingLocked {
                retry_after: std::time::Duration::from_millis(u64::from(ack.retry_after_ms)),
            });
        }
        PairingState::Closed => {
            link.abort(Close::new(CloseReason::Bye, "")).await;
            return Err(SessionError::Closed(
                "the terminal is not accepting pairing right now".into(),
            ));
        }
    }

    let Some(typed) = code_entry.enter_code(&ack.sn).await else {
        link.abort(Close::new(CloseReason::Bye, "cancelled")).await;
        return Err(SessionError::Cancelled);
    };
    let Ok(code) = PairingCode::parse(&typed) else {
        link.abort(Close::new(CloseReason::Bye, "")).await;
        return Err(SessionError::BadCode);
    };
    drop(typed);

    let (phone, pair1) = PhonePairing::start(identity, &code, &ack.sn, &prologue, rand::random())
        .map_err(|_| SessionError::HandshakeFailed)?;
    drop(code);
    link.send(FrameKind::Pair1, &message::encode(&pair1))
        .await?;

    let frame = link.recv().await?;
    if frame.kind != FrameKind::Pair2 {
        return Err(violation(&mut link, "expected PAIR2").await);
    }
    let Ok(pair2) = message::decode::<Pair2>(&frame.body) else {
        return Err(violation(&mut link, "malformed PAIR2").await);
    };
    let (mut channel, terminal_key, pair3) = match phone.on_pair2(&pair2) {
        Ok(done) => done,
        Err(_) => {
            link.abort(Close::new(CloseReason::HandshakeFailed, ""))
                .await;
            return Err(SessionError::HandshakeFailed);
        }
    };
    if terminal_key != ack.static_key {
        link.abort(Close::new(CloseReason::HandshakeFailed, ""))
            .await;
        return Err(SessionError::HandshakeFailed);
    }
    link.send(FrameKind::Pair3, &pair3).await?;

    // The terminal answers a right code with PairConfirmed, a wrong one with CLOSE.
    let frame = link.recv().await?;
    if frame.kind != FrameKind::Secure {
        return Err(violation(&mut link, "expected PairConfirmed").await);
    }
    match channel.open_envelope(&frame.body) {
        Ok(env) if matches!(&env.body, Body::Event(Event::PairConfirmed { sn }) if *sn == ack.sn) =>
            {}
        Ok(_) => return Err(violation(&mut link, "expected PairConfirmed").await),
        Err(_) => {
            let _ = link.conn.disconnect().await;
            return Err(SessionError::Security(
                "the pairing confirmation failed authentication",
            ));
        }
    }
    let session = Session::start(link, channel, ack.sn.clone(), terminal_key, config);
    Ok((
        session,
        Paired {
            sn: ack.sn,
            terminal_key,
        },
    ))
}

/// Reconnect to a paired terminal: Noise IK with the pinned key, one round trip, no code.
/// `pinned` looks the pinned key up by the SN the terminal reports.
pub async fn resume(
    conn: Arc<dyn Connection>,
    identity: &StaticKeypair,
    pinned: impl Fn(&str) -> Option<[u8; 32]>,
    config: &SessionConfig,
) -> Result<Session, SessionError> {
    let mut link = FrameLink::new(conn, config.step_timeout)?;
    let Greeting { ack, prologue } = greet(&mut link, Intent::Resume).await?;
    let Some(pin) = pinned(&ack.sn) else {
        link.abort(Close::new(CloseReason::Bye, "")).await;
        return Err(SessionError::NotPaired);
    };
    if pin != ack.static_key {
        link.abort(Close::new(CloseReason::Bye, "identity mismatch"))
            .await;
        return Err(SessionError::PossibleImpostor { sn: ack.sn });
    }
    let (phone, resume1) = PhoneResume::start(identity, &pin, &prologue, rand::random())
        .map_err(|_| SessionError::HandshakeFailed)?;
    link.send(FrameKind::Resume1, &resume1).await?;
    let frame = link.recv().await?;
    if frame.kind != FrameKind::Resume2 {
        return Err(violation(&mut link, "expected RESUME2").await);
    }
    let channel: SecureChannel = match phone.on_resume2(&frame.body) {
        Ok(channel) => channel,
        Err(_) => {
            link.abort(Close::new(CloseReason::HandshakeFailed, ""))
                .await;
            return Err(SessionError::PossibleImpostor { sn: ack.sn });
        }
    };
    Ok(Session::start(link, channel, ack.sn, pin, config))
}
