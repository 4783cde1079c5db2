//! A minimal test phone: drives a `SimTerminal` purely through protocol bytes with
//! `proto::wire::Wire` (phone role) and the phone side of `proto::handshake`.

#![allow(dead_code)]

use std::collections::VecDeque;

use posmate_proto::frame::{encode_frame, FrameKind, Role};
use posmate_proto::gatt::{max_value_len, Micros, Peripheral};
use posmate_proto::handshake::{prologue, PairingCode, PhonePairing, PhoneResume, StaticKeypair};
use posmate_proto::keybundle::{self, BundleKey, KeyBundle, KeyKind};
use posmate_proto::message::{
    self, Body, Close, Envelope, Event, Hello, HelloAck, Intent, Pair2, Request, Response,
};
use posmate_proto::secure::SecureChannel;
use posmate_proto::wire::{ReceivedFrame, Wire};
use posmate_sim::terminal::Screen;
use posmate_sim::{SimTerminal, TerminalConfig};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

pub const SN: &str = "SN20260000A1";

pub fn terminal(seed: u64) -> SimTerminal {
    SimTerminal::new(TerminalConfig::new(SN, seed))
}

/// What the terminal said when it ended a handshake or session.
#[derive(Debug)]
pub enum Ended {
    Close(Close),
    /// Nothing more arrived.
    Silent,
}

pub struct Link {
    pub term: SimTerminal,
    pub wire: Wire,
    pub now: Micros,
    pub max: usize,
    pub inbox: VecDeque<ReceivedFrame>,
    /// Every notification value received, for determinism checks.
    pub transcript: Vec<u8>,
    pub channel: Option<SecureChannel>,
    pub prologue: Vec<u8>,
    pub ack: Option<HelloAck>,
    pub next_id: u32,
    pub events: Vec<Event>,
}

impl Link {
    pub fn connect(term: &SimTerminal, now: Micros) -> Link {
        Self::connect_with(term, now, 65535)
    }

    /// A phone that accepts frames of at most `max_frame` bytes.
    pub fn connect_with(term: &SimTerminal, now: Micros, max_frame: u16) -> Link {
        let mut t = term.clone();
        t.on_connect(now, 247);
        Link {
            term: t,
            wire: Wire::new(Role::Phone, 32, max_frame),
            now,
            max: max_value_len(247),
            inbox: VecDeque::new(),
            transcript: Vec::new(),
            channel: None,
            prologue: Vec::new(),
            ack: None,
            next_id: 1,
            events: Vec::new(),
        }
    }

    pub fn disconnect(&mut self) {
        self.term.on_disconnect(self.now);
    }

    /// Writes every pending packet to the terminal.
    pub fn flush_out(&mut self) {
        while let Some(p) = self.wire.poll_packet(self.max) {
            self.term.on_write(self.now, &p);
        }
    }

    pub fn send(&mut self, kind: FrameKind, body: &[u8]) {
        self.wire.send(kind, body).expect("phone has credit");
        self.flush_out();
    }

    /// Delivers every queued notification, advancing the clock to each `not_before`.
    pub fn pump(&mut self) {
        loop {
            let mut any = false;
            while let Some(n) = self.term.poll_notification(self.now) {
                any = true;
                assert!(n.data.len() <= self.max);
                self.now = self.now.max(n.not_before);
                self.transcript.extend_from_slice(&n.data);
                for f in self
                    .wire
                    .receive(&n.data)
                    .expect("terminal sends valid frames")
                {
                    if f.kind.is_flow_controlled() {
                        self.wire.frame_processed().unwrap();
                    }
                    self.inbox.push_back(f);
                }
            }
            self.flush_out();
            if !any {
                break;
            }
        }
    }

    pub fn recv(&mut self) -> Option<ReceivedFrame> {
        self.pump();
        self.inbox.pop_front()
    }

    /// The CLOSE the terminal sent (plaintext, or sealed after the handshake).
    pub fn expect_close(&mut self) -> Close {
        match self.next_message() {
            Some(Body::Close(c)) => c,
            other => panic!("expected CLOSE, got {other:?}"),
        }
    }

    /// The next frame, decoded: plaintext CLOSE or opened SECURE body.
    pub fn next_message(&mut self) -> Option<Body> {
        let f = self.recv()?;
        match f.kind {
            FrameKind::Close => Some(Body::Close(message::decode(&f.body).unwrap())),
            FrameKind::Secure => {
                let env = self
                    .channel
                    .as_mut()
                    .expect("secure session")
                    .open_envelope(&f.body)
                    .unwrap();
                Some(env.body)
            }
            k => panic!("unexpected {k:?}"),
        }
    }

    /// Delivers everything pending and records the events; anything else is a failure.
    pub fn drain_events(&mut self) {
        self.pump();
        while !self.inbox.is_empty() {
            match self.next_message() {
                Some(Body::Event(e)) => self.events.push(e),
                other => panic!("expected only events, got {other:?}"),
            }
        }
    }

    pub fn hello(&mut self, intent: Intent) -> HelloAck {
        self.hello_versions(1, 1, intent).expect("HELLO_ACK")
    }

    pub fn hello_versions(&mut self, min: u8, max: u8, intent: Intent) -> Result<HelloAck, Close> {
        let hello = message::encode(&Hello {
            min_version: min,
            max_version: max,
            intent,
            rx_window: 32,
            max_frame: self.wire.local_max_frame(),
        });
        self.send(FrameKind::Hello, &hello);
        let f = self.recv().expect("terminal answers HELLO");
        if f.kind == FrameKind::Close {
            return Err(message::decode(&f.body).unwrap());
        }
        assert_eq!(f.kind, FrameKind::HelloAck);
        let ack: HelloAck = message::decode(&f.body).unwrap();
        self.wire.set_peer_limits(ack.rx_window, ack.max_frame);
        self.prologue = prologue(
            &encode_frame(FrameKind::Hello, &hello),
            &encode_frame(FrameKind::HelloAck, &f.body),
        );
        self.ack = Some(ack.clone());
        Ok(ack)
    }

    /// First pairing after `hello(Intent::Pair)`, typing `typed`. Ok = the terminal's static
    /// key (PairConfirmed seen).
    pub fn pair(&mut self, phone: &StaticKeypair, typed: &str) -> Result<[u8; 32], Ended> {
        let ack = self.ack.clone().expect("HELLO first");
        let code = PairingCode::parse(typed).unwrap();
        let (p, pair1) = PhonePairing::start(phone, &code, SN, &self.prologue, [1; 32]).unwrap();
        self.send(FrameKind::Pair1, &message::encode(&pair1));
        let f = self.recv().ok_or(Ended::Silent)?;
        if f.kind == FrameKind::Close {
            return Err(Ended::Close(message::decode(&f.body).unwrap()));
        }
        assert_eq!(f.kind, FrameKind::Pair2);
        let pair2: Pair2 = message::decode(&f.body).unwrap();
        let (channel, terminal_static, pair3) = p.on_pair2(&pair2).unwrap();
        assert_eq!(terminal_static, ack.static_key);
        self.send(FrameKind::Pair3, &pair3);
        let f = self.recv().ok_or(Ended::Silent)?;
        if f.kind == FrameKind::Close {
            return Err(Ended::Close(message::decode(&f.body).unwrap()));
        }
        self.channel = Some(channel);
        self.inbox.push_front(f);
        match self.next_message() {
            Some(Body::Event(Event::PairConfirmed { sn })) if sn == SN => Ok(terminal_static),
            other => panic!("expected PairConfirmed, got {other:?}"),
        }
    }

    /// Pairs with the code the terminal shows.
    pub fn pair_shown(&mut self, phone: &StaticKeypair) -> [u8; 32] {
        let ack = self.hello(Intent::Pair);
        let Screen::PairingCode(code) = self.term.screen() else {
            panic!("no code on screen: {:?}", self.term.screen());
        };
        let code = PairingCode::parse(&code).unwrap();
        let (p, pair1) = PhonePairing::start(phone, &code, SN, &self.prologue, [1; 32]).unwrap();
        self.send(FrameKind::Pair1, &message::encode(&pair1));
        let f = self.recv().unwrap();
        assert_eq!(f.kind, FrameKind::Pair2, "{f:?}");
        let (channel, terminal_static, pair3) =
            p.on_pair2(&message::decode(&f.body).unwrap()).unwrap();
        assert_eq!(terminal_static, ack.static_key);
        self.send(FrameKind::Pair3, &pair3);
        self.channel = Some(channel);
        match self.next_message() {
            Some(Body::Event(Event::PairConfirmed { .. })) => terminal_static,
            other => panic!("expected PairConfirmed, got {other:?}"),
        }
    }

    pub fn resume(&mut self, phone: &StaticKeypair, pinned: &[u8; 32]) -> Result<(), Close> {
        let ack = self.hello(Intent::Resume);
        assert_eq!(&ack.static_key, pinned, "pinned key changed");
        let (r, resume1) = PhoneResume::start(phone, pinned, &self.prologue, [2; 32]).unwrap();
        self.send(FrameKind::Resume1, &resume1);
        let f = self.recv().expect("answer to RESUME1");
        if f.kind == FrameKind::Close {
            return Err(message::decode(&f.body).unwrap());
        }
        assert_eq!(f.kind, FrameKind::Resume2);
        self.channel = Some(r.on_resume2(&f.body).unwrap());
        Ok(())
    }

    /// Sends one request and returns its response; events seen meanwhile go to `events`.
    pub fn request(&mut self, req: Request) -> Response {
        let id = self.send_request(req);
        self.response(id)
    }

    pub fn send_request(&mut self, req: Request) -> u32 {
        let id = self.next_id;
        self.next_id += 1;
        let body = self
            .channel
            .as_mut()
            .unwrap()
            .seal_envelope(&Envelope {
                id,
                body: Body::Request(req),
            })
            .unwrap();
        self.send(FrameKind::Secure, &body);
        id
    }

    pub fn response(&mut self, id: u32) -> Response {
        loop {
            match self.next_message() {
                Some(Body::Response(r)) => {
                    return r;
                }
                Some(Body::Event(e)) => self.events.push(e),
                other => panic!("waiting for response {id}, got {other:?}"),
            }
        }
    }
}

/// Acquirer side: a bundle for `term` sealed to its device key.
pub fn bundle_for(device_key: &[u8; 32], sn: &str) -> Vec<u8> {
    let bundle = KeyBundle {
        terminal_no: "T0000001".into(),
        merchant_no: "M100000000000001".into(),
        keys: vec![
            BundleKey {
                slot: 0,
                kind: KeyKind::Tmk,
                key: [0x11; 16],
            },
            BundleKey {
                slot: 1,
                kind: KeyKind::PinKey,
                key: [0x22; 16],
            },
        ],
    };
    keybundle::seal(device_key, sn, &bundle, &mut ChaCha20Rng::seed_from_u64(99)).unwrap()
}
