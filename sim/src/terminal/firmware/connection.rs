//! One connection's volatile state (protocol.md §3 frames, §4 flow control, §5.4
//! transport): the wire, the phase of the handshake, the receive slots whose credit is
//! still out, and the queue of output waiting for the phone's credit.
//!
//! A [`Connection`] exists only between a connect and a disconnect, and the handlers that
//! touch the link are given one, so none of them has to ask whether the phone is there.

use std::collections::VecDeque;

use proto::frame::{FrameKind, Role, HELLO_MAX_FRAME};
use proto::gatt::{max_value_len, Micros, Notification};
use proto::handshake::{PairingCode, TerminalPairing};
use proto::message::{
    self, Body, CardPurpose, Close, Envelope, ErrorCode, Event, Intent, Response,
};
use proto::secure::SecureChannel;
use proto::wire::Wire;

use super::super::keypad::Stats;
use super::super::timing::FRAME_US;
use super::{err, MAX_FRAME, RX_WINDOW};

/// Where the connection stands in §3.1 negotiation and the §5 handshakes.
pub(super) enum Phase {
    AwaitHello,
    Negotiated {
        intent: Intent,
        prologue: Vec<u8>,
    },
    Pairing {
        pairing: Box<TerminalPairing>,
    },
    /// A secure session (§5.4) with the phone whose static key is `phone`.
    Secure {
        channel: SecureChannel,
        phone: [u8; 32],
    },
    /// No more frames are expected: a handshake step failed, or the phone sent CLOSE. The
    /// dispatcher also leaves it while a handler runs (the handler sets the next phase on
    /// success). A CLOSE sent now goes out in plaintext.
    Done,
}

/// Something to send once the phone has credit for it.
enum Outgoing {
    Frame {
        kind: FrameKind,
        body: Vec<u8>,
        at: Micros,
    },
    Sealed {
        envelope: Envelope,
        at: Micros,
    },
}

impl Outgoing {
    /// Whether it needs a credit (§4): every sealed message does; of plain frames, those
    /// the frame kind says.
    fn is_flow_controlled(&self) -> bool {
        match self {
            Outgoing::Frame { kind, .. } => kind.is_flow_controlled(),
            Outgoing::Sealed { .. } => true,
        }
    }
}

/// A ReadCard waiting for a card or for its deadline.
pub(super) struct PendingRead {
    pub(super) id: u32,
    pub(super) purpose: CardPurpose,
    pub(super) deadline: Micros,
}

/// What a handler wants sent, in order.
pub(super) enum Out {
    Frame(FrameKind, Vec<u8>),
    Message(u32, Body),
    /// A response that becomes ready `delay` after the frame is processed.
    Later(u32, Response, Micros),
    Close(Close),
}

/// Volatile state of one connection.
pub(super) struct Connection {
    pub(super) wire: Wire,
    max_value_len: usize,
    limits_known: bool,
    pub(super) phase: Phase,
    /// The pairing code on screen, from HELLO {intent pair} until PAIR3 is judged.
    pub(super) code: Option<PairingCode>,
    outbox: VecDeque<Outgoing>,
    pub(super) notifications: VecDeque<Notification>,
    last_not_before: Micros,
    pub(super) busy_until: Micros,
    /// When each occupied receive slot's credit goes back to the phone.
    releases: Vec<Micros>,
    /// Processed frames whose credit the wire has not granted yet.
    awaiting_grant: usize,
    pub(super) pending_read: Option<PendingRead>,
    pub(super) closing: bool,
}

impl Connection {
    /// A connection just made at `now` over a link with this ATT MTU.
    pub(super) fn new(now: Micros, mtu: u16) -> Self {
        Connection {
            wire: Wire::new(Role::Terminal, RX_WINDOW, MAX_FRAME),
            max_value_len: max_value_len(mtu),
            limits_known: false,
            phase: Phase::AwaitHello,
            code: None,
            outbox: VecDeque::new(),
            notifications: VecDeque::new(),
            last_not_before: now,
            busy_until: now,
            releases: Vec::new(),
            awaiting_grant: 0,
            pending_read: None,
            closing: false,
        }
    }

    /// Whether the terminal is done: it has said CLOSE and everything it can still send
    /// has gone out.
    pub(super) fn wants_disconnect(&self) -> bool {
        self.closing
            && self.notifications.is_empty()
            && (self.outbox.is_empty() || !self.wire.can_send())
    }

    /// Accounts a flow-controlled frame's buffer slot; `false` on overrun.
    pub(super) fn take_slot(&mut self, stats: &mut Stats, now: Micros) -> bool {
        self.releases.retain(|t| *t > now);
        let occupancy = self.releases.len() + self.awaiting_grant + 1;
        stats.max_rx_occupancy = stats.max_rx_occupancy.max(occupancy);
        if occupancy > usize::from(RX_WINDOW) {
            stats.overruns += 1;
            return false;
        }
        true
    }

    /// A flow-controlled frame was processed at `done`: its slot's credit goes back with
    /// the wire's next CREDIT frame.
    pub(super) fn frame_processed(&mut self, done: Micros) {
        let granted_before = self.wire.stats().credit_frames_out;
        if self.wire.frame_processed().is_ok() {
            self.awaiting_grant += 1;
        }
        if self.wire.stats().credit_frames_out > granted_before {
            self.releases
                .extend(std::iter::repeat_n(done, self.awaiting_grant));
            self.awaiting_grant = 0;
        }
    }

    /// Queues a handler's output, ready at `done`. A CLOSE is sealed once the session is
    /// secure and plaintext before, and ends reading.
    pub(super) fn queue(&mut self, outs: Vec<Out>, done: Micros) {
        for out in outs {
            let item = match out {
                Out::Frame(kind, body) => Outgoing::Frame {
                    kind,
                    body,
                    at: done,
                },
                Out::Message(id, body) => Outgoing::Sealed {
                    envelope: Envelope { id, body },
                    at: done,
                },
                Out::Later(id, resp, delay) => Outgoing::Sealed {
                    envelope: Envelope {
                        id,
                        body: Body::Response(resp),
                    },
                    at: done + delay,
                },
                Out::Close(close) => {
                    self.closing = true;
                    self.code = None;
                    self.close_item(close, done)
                }
            };
            self.outbox.push_back(item);
        }
    }

    /// A CLOSE as it goes out in the current phase.
    fn close_item(&self, close: Close, at: Micros) -> Outgoing {
        if matches!(&self.phase, Phase::Secure { .. }) {
            Outgoing::Sealed {
                envelope: Envelope {
                    id: 0,
                    body: Body::Close(close),
                },
                at,
            }
        } else {
            Outgoing::Frame {
                kind: FrameKind::Close,
                body: message::encode(&close),
                at,
            }
        }
    }

    /// Sends a CLOSE now (outside a handler) and stops reading.
    pub(super) fn close(&mut self, close: Close, at: Micros) {
        self.closing = true;
        self.code = None;
        if !self.limits_known {
            // Before HELLO the phone's window is unknown; a CLOSE is tiny and always taken.
            self.wire.set_peer_limits(1, HELLO_MAX_FRAME as u16);
            self.limits_known = true;
        }
        let item = self.close_item(close, at);
        self.outbox.push_back(item);
        self.flush(at);
    }

    /// HELLO told the phone's receive window and largest frame.
    pub(super) fn set_peer_limits(&mut self, rx_window: u16, max_frame: u16) {
        self.wire.set_peer_limits(rx_window, max_frame);
        self.limits_known = true;
    }

    /// Sends an event if a secure session is up.
    pub(super) fn notify(&mut self, now: Micros, event: Event) {
        if self.closing || !matches!(self.phase, Phase::Secure { .. }) {
            return;
        }
        self.outbox.push_back(Outgoing::Sealed {
            envelope: Envelope {
                id: 0,
                body: Body::Event(event),
            },
            at: now + FRAME_US,
        });
        self.flush(now);
    }

    /// Answers a pending ReadCard whose deadline has passed by `now` with
    /// `card-read-timeout`, at its deadline (§6.1: at the next link event at or after it).
    pub(super) fn time_out_read(&mut self, now: Micros) {
        let Some(read) = self.pending_read.take_if(|r| r.deadline <= now) else {
            return;
        };
        let body = Body::Response(err(
            ErrorCode::CardReadTimeout,
            "no card was presented in time",
        ));
        self.outbox.push_back(Outgoing::Sealed {
            envelope: Envelope { id: read.id, body },
            at: read.deadline,
        });
        self.flush(read.deadline);
    }

    /// Answers a pending ReadCard with `resp`, ready at `at`.
    pub(super) fn answer_read(&mut self, read: PendingRead, resp: Response, at: Micros) {
        self.outbox.push_back(Outgoing::Sealed {
            envelope: Envelope {
                id: read.id,
                body: Body::Response(resp),
            },
            at,
        });
    }

    /// Moves queued output into the wire as credits allow and packs it into notifications.
    pub(super) fn flush(&mut self, now: Micros) {
        while let Some(item) = self.outbox.pop_front() {
            if item.is_flow_controlled() && !self.wire.can_send() {
                self.outbox.push_front(item);
                break;
            }
            let (kind, body, at) = match item {
                Outgoing::Frame { kind, body, at } => (kind, body, at),
                Outgoing::Sealed { envelope, at } => {
                    let sealed = match &mut self.phase {
                        Phase::Secure { channel, .. } => channel.seal_envelope(&envelope),
                        _ => continue,
                    };
                    match sealed {
                        Ok(body) => (FrameKind::Secure, body, at),
                        Err(_) => {
                            // The channel was poisoned by a failed open: say why in
                            // plaintext, the only way left.
                            if let Body::Close(c) = envelope.body {
                                (FrameKind::Close, message::encode(&c), at)
                            } else {
                                continue;
                            }
                        }
                    }
                }
            };
            if self.wire.send(kind, &body).is_err() {
                continue;
            }
            self.drain(at.max(now));
        }
        self.drain(now);
    }

    /// Packs what the wire has ready into notifications, none earlier than the last.
    fn drain(&mut self, at: Micros) {
        let at = at.max(self.last_not_before);
        while let Some(data) = self.wire.poll_packet(self.max_value_len) {
            self.notifications.push_back(Notification {
                not_before: at,
                data,
            });
            self.last_not_before = at;
        }
    }
}
