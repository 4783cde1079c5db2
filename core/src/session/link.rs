//! Frames over a GATT connection during the handshake, before the session's tasks run:
//! one step at a time, every wait bounded.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use posmate_proto::frame::{encode_frame, FrameKind, Role};
use posmate_proto::gatt;
use posmate_proto::message::{self, Close};
use posmate_proto::wire::{ReceivedFrame, Wire};

use super::SessionError;
use crate::transport::{Connection, LinkEvent, LinkEvents, TransportError};

/// Session frames the phone can buffer (advertised in HELLO).
pub(crate) const PHONE_RX_WINDOW: u16 = 32;
/// Largest frame the phone accepts (advertised in HELLO).
pub(crate) const PHONE_MAX_FRAME: u16 = u16::MAX;

pub(crate) struct FrameLink {
    pub(crate) conn: Arc<dyn Connection>,
    pub(crate) events: LinkEvents,
    pub(crate) wire: Wire,
    pub(crate) received: VecDeque<ReceivedFrame>,
    pub(crate) step_timeout: Duration,
}

impl FrameLink {
    pub(crate) fn new(
        conn: Arc<dyn Connection>,
        step_timeout: Duration,
    ) -> Result<Self, SessionError> {
        let events = conn
            .take_events()
            .ok_or(SessionError::Transport(TransportError::Disconnected))?;
        Ok(FrameLink {
            conn,
            events,
            wire: Wire::new(Role::Phone, PHONE_RX_WINDOW, PHONE_MAX_FRAME),
            received: VecDeque::new(),
            step_timeout,
        })
    }

    pub(crate) fn max_value_len(&self) -> usize {
        gatt::max_value_len(self.conn.mtu())
    }

    /// Queues a frame and writes it out; returns the encoded frame (for the prologue).
    pub(crate) async fn send(
        &mut self,
        kind: FrameKind,
        body: &[u8],
    ) -> Result<Vec<u8>, SessionError> {
        self.wait_for_credit(kind).await?;
        self.wire
            .send(kind, body)
            .map_err(|e| SessionError::from_wire(&e))?;
        self.flush().await?;
        Ok(encode_frame(kind, body))
    }

    /// Waits until a flow-controlled frame may be sent, reading credits as they come.
    async fn wait_for_credit(&mut self, kind: FrameKind) -> Result<(), SessionError> {
        while kind.is_flow_controlled() && !self.wire.can_send() {
            self.pump().await?;
        }
        Ok(())
    }

    /// Writes every queued packet.
    pub(crate) async fn flush(&mut self) -> Result<(), SessionError> {
        let max = self.max_value_len();
        while let Some(packet) = self.wire.poll_packet(max) {
            self.conn.write(&packet).await?;
        }
        Ok(())
    }

    /// The next session frame from the terminal. A plaintext CLOSE becomes its error.
    pub(crate) async fn recv(&mut self) -> Result<ReceivedFrame, SessionError> {
        loop {
            if let Some(frame) = self.received.pop_front() {
                // A CLOSE is the terminal's last word and it disconnects right after: read
                // it before returning any credit, or the failed write of that credit would
                // hide its reason (a wrong code, a lockout) behind "disconnected".
                if frame.kind == FrameKind::Close {
                    let close: Close = message::decode(&frame.body)
                        .map_err(|_| SessionError::Security("malformed CLOSE"))?;
                    return Err(SessionError::from_close(&close));
                }
                // The handshake handles one frame at a time: its buffer slot is free again.
                // Returning the credit is best effort: the frame has arrived, and a link that
                // dropped right after it is reported by the next send or receive. Failing
                // here would discard a PairConfirmed the terminal committed to, leaving the
                // terminal paired and the phone not.
                if frame.kind.is_flow_controlled() {
                    self.wire
                        .frame_processed()
                        .map_err(|e| SessionError::from_wire(&e))?;
                    let _ = self.flush().await;
                }
                return Ok(frame);
            }
            self.pump().await?;
        }
    }

    /// Reads one link event within the step timeout.
    async fn pump(&mut self) -> Result<(), SessionError> {
        let event = tokio::time::timeout(self.step_timeout, self.events.recv())
            .await
            .map_err(|_| SessionError::Timeout(self.step_timeout))?;
        match event {
            Some(LinkEvent::Notification(bytes)) => {
                let frames = self
                    .wire
                    .receive(&bytes)
                    .map_err(|e| SessionError::from_wire(&e))?;
                self.received.extend(frames);
                Ok(())
            }
            Some(LinkEvent::Disconnected(_)) | None => {
                Err(SessionError::Transport(TransportError::Disconnected))
            }
        }
    }

    /// Tells the terminal why we stop (best effort) and drops the link.
    pub(crate) async fn abort(&mut self, close: Close) {
        if self
            .wire
            .send(FrameKind::Close, &message::encode(&close))
            .is_ok()
        {
            let _ = self.flush().await;
        }
        let _ = self.conn.disconnect().await;
    }
}
