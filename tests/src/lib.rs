//! Shared harness for the scenario tests: a simulated radio with simulated terminals in
//! range, and a phone identity. The core reaches the terminals only through protocol bytes
//! over the simulated link; the harness reads the terminal's screen as a merchant would.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use posmate_core::keystore::{
    KeyringStore, KeystoreChoice, Namespace, PhoneIdentity, TerminalPins,
};
use posmate_core::session::{self, CodeEntry, Paired, Session, SessionConfig, SessionError};
use posmate_core::transport::{Connection, PeripheralId};
use posmate_proto::frame::{decode_frame, FrameKind, CRC32C};
use posmate_proto::handshake::StaticKeypair;
use posmate_proto::segment::{Channel, Reassembler, Segmenter};
use posmate_sim::terminal::{Nvm, Screen};
use posmate_sim::{SimTerminal, TerminalConfig};
use posmate_sim_world::radio::faults::{Action, Direction, FaultPlan, OnPathHook};
use posmate_sim_world::radio::trace::{Trace, TraceKind};
use posmate_sim_world::radio::{LinkStats, SimConnection, SimRadio};
use rand::rngs::StdRng;
use rand::SeedableRng;

pub mod world;
pub use posmate_core as core;
pub use posmate_proto as proto;
pub use posmate_sim as sim;

/// Session timeouts short enough for tests that expect one to fire.
pub fn short_config() -> SessionConfig {
    SessionConfig {
        step_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(2),
    }
}

/// The terminal's Noise static public key, as its flash holds it.
pub fn static_key_of(nvm: &Nvm) -> [u8; 32] {
    StaticKeypair::from_secret(nvm.noise_secret).public()
}

/// A radio with one factory-fresh terminal in range.
pub struct Rig {
    pub radio: SimRadio,
    pub terminal: SimTerminal,
    pub id: PeripheralId,
}

impl Rig {
    pub fn new(sn: &str, seed: u64) -> Self {
        Self::with_terminal(SimTerminal::new(TerminalConfig::new(sn, seed)))
    }

    pub fn with_terminal(terminal: SimTerminal) -> Self {
        let radio = SimRadio::default();
        let id = radio.add(Box::new(terminal.clone()), -50);
        Rig {
            radio,
            terminal,
            id,
        }
    }

    /// Faults for the next connections (`FaultPlan::new()` for a perfect link).
    pub fn faults(&self, plan: FaultPlan) {
        self.radio.set_faults(&self.id, plan);
    }

    pub fn connect(&self) -> Arc<SimConnection> {
        Arc::new(self.radio.connect_sim(&self.id).expect("terminal in range"))
    }

    /// The trace of the latest connection.
    pub fn last_trace(&self) -> Trace {
        self.radio
            .traces(&self.id)
            .pop()
            .expect("a connection was made")
    }

    pub fn last_stats(&self) -> LinkStats {
        self.radio
            .stats(&self.id)
            .pop()
            .expect("a connection was made")
    }

    pub fn static_key(&self) -> [u8; 32] {
        static_key_of(&self.terminal.nvm_snapshot())
    }

    pub fn paired_phones(&self) -> Vec<[u8; 32]> {
        self.terminal.nvm_snapshot().paired_phones.clone()
    }

    pub fn failures(&self) -> u32 {
        self.terminal.nvm_snapshot().lockout.failures
    }
}

/// The phone: its identity key and its keystore (the mock store), where pins live.
pub struct Phone {
    pub identity: StaticKeypair,
    pub store: KeyringStore,
}

impl Phone {
    /// A phone whose identity is created (from `seed`) in a fresh mock keystore.
    pub fn new(seed: u64) -> Self {
        let store = KeyringStore::open(
            KeystoreChoice::Mock,
            Namespace::new(&format!("phone{seed}")).unwrap(),
        )
        .expect("mock keystore");
        let secret = PhoneIdentity::load_or_create(&store, &mut StdRng::seed_from_u64(seed))
            .expect("identity");
        Phone {
            identity: StaticKeypair::from_secret(*secret),
            store,
        }
    }

    pub fn public(&self) -> [u8; 32] {
        self.identity.public()
    }

    pub fn pins(&self) -> TerminalPins<'_> {
        TerminalPins::new(&self.store)
    }

    pub fn pin_of(&self, sn: &str) -> Option<[u8; 32]> {
        self.pins().get(sn).expect("keystore readable")
    }

    /// Pairs as the app does: pins are read from the keystore, and the terminal's key is
    /// pinned only once `pair` returned it (after the terminal confirmed).
    pub async fn pair(
        &self,
        conn: Arc<SimConnection>,
        entry: &dyn CodeEntry,
        config: &SessionConfig,
    ) -> Result<(Session, Paired), SessionError> {
        let conn: Arc<dyn Connection> = conn;
        let (session, paired) =
            session::pair(conn, &self.identity, |sn| self.pin_of(sn), entry, config).await?;
        self.pins()
            .pin(&paired.sn, &paired.terminal_key)
            .expect("pin stored");
        Ok((session, paired))
    }

    pub async fn resume(
        &self,
        conn: Arc<SimConnection>,
        config: &SessionConfig,
    ) -> Result<Session, SessionError> {
        let conn: Arc<dyn Connection> = conn;
        session::resume(conn, &self.identity, |sn| self.pin_of(sn), config).await
    }
}

/// What the merchant types when asked for the code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Typing {
    /// The code the terminal shows.
    Right,
    /// A code one off from the one shown.
    Wrong,
    /// Cancels the dialog.
    Cancel,
}

/// A merchant reading the code off a terminal's screen.
pub struct Merchant {
    terminal: SimTerminal,
    typing: Typing,
    /// Every code seen on the screen, in order.
    pub seen: Mutex<Vec<String>>,
}

impl Merchant {
    pub fn new(terminal: &SimTerminal, typing: Typing) -> Self {
        Merchant {
            terminal: terminal.clone(),
            typing,
            seen: Mutex::new(Vec::new()),
        }
    }
}

#[async_trait]
impl CodeEntry for Merchant {
    async fn enter_code(&self, sn: &str) -> Option<String> {
        // With no code on the screen (the link dropped, say) the merchant can only cancel.
        let Screen::PairingCode(code) = self.terminal.screen() else {
            return None;
        };
        let _ = sn;
        self.seen.lock().unwrap().push(code.clone());
        match self.typing {
            Typing::Right => Some(code),
            Typing::Wrong => Some(off_by_one(&code)),
            Typing::Cancel => None,
        }
    }
}

/// A 6-digit code that differs from `code`.
pub fn off_by_one(code: &str) -> String {
    let n: u32 = code.parse().expect("6 digits");
    format!("{:06}", (n + 1) % 1_000_000)
}

/// Whole frames in a stream of packets, as `(channel, kind, body)`.
pub fn frames_in(packets: &[&[u8]]) -> Vec<(Channel, FrameKind, Vec<u8>)> {
    let mut r = Reassembler::new(usize::from(u16::MAX) + 1);
    let mut out = Vec::new();
    for p in packets {
        for (ch, raw) in r.push(p).expect("well-formed segments") {
            let (kind, body) = decode_frame(&raw).expect("well-formed frame");
            out.push((ch, kind, body.to_vec()));
        }
    }
    out
}

/// Kinds of the session-channel frames the terminal received (`ToTerminal`) or sent
/// (`ToPhone`) on a connection, in order.
pub fn session_kinds(trace: &Trace, direction: Direction) -> Vec<FrameKind> {
    let packets = match direction {
        Direction::ToTerminal => trace.writes(),
        Direction::ToPhone => trace.notifications(),
    };
    frames_in(&packets)
        .into_iter()
        .filter(|(ch, _, _)| *ch == Channel::Session)
        .map(|(_, k, _)| k)
        .collect()
}

/// Whether the link of `trace` went down.
pub fn disconnected(trace: &Trace) -> bool {
    trace
        .events
        .iter()
        .any(|e| matches!(e.kind, TraceKind::Disconnect { .. }))
}

/// A raw frame (`kind ‖ body ‖ crc`) with its CRC recomputed, so that a modified frame
/// passes the CRC check and reaches the layer above.
pub fn fix_crc(frame: &mut [u8]) {
    let n = frame.len() - 4;
    let crc = CRC32C.checksum(&frame[..n]);
    frame[n..].copy_from_slice(&crc.to_le_bytes());
}

/// A frame on the path, as the hook sees it: channel and raw frame bytes.
pub type PathFrame = (Channel, Vec<u8>);

/// An on-path attacker working on whole frames: each direction's packets are reassembled
/// into frames, handed to `f`, and whatever `f` returns is segmented afresh (with the
/// sequence numbers the receiver expects) into the packet that goes on. A packet that
/// completes no frame is swallowed; its frame goes on with the packet that completes it.
pub fn frame_hook(
    mut f: impl FnMut(Direction, Vec<PathFrame>) -> Vec<PathFrame> + Send + 'static,
) -> OnPathHook {
    struct Side {
        reasm: Reassembler,
        seg: Segmenter,
    }
    let mut sides = [0, 1].map(|_| Side {
        reasm: Reassembler::new(usize::from(u16::MAX) + 1),
        seg: Segmenter::new(),
    });
    OnPathHook::new(move |direction, packet: &mut Vec<u8>| {
        let side = &mut sides[match direction {
            Direction::ToTerminal => 0,
            Direction::ToPhone => 1,
        }];
        let Ok(frames) = side.reasm.push(packet) else {
            return Action::Forward;
        };
        for (channel, frame) in f(direction, frames) {
            side.seg.push_frame(channel, frame);
        }
        let mut out = Vec::new();
        while let Some(p) = side.seg.next_packet(1 << 16) {
            out.extend_from_slice(&p);
        }
        if out.is_empty() {
            return Action::Drop;
        }
        *packet = out;
        Action::Forward
    })
}

/// The kind of a raw frame.
pub fn kind_of(frame: &[u8]) -> Option<FrameKind> {
    frame.first().and_then(|&k| FrameKind::from_code(k))
}
