//! Fault injection on the simulated link.
//!
//! Faults name packets by [`PacketRef`]: a direction and the 0-based index of the packet
//! *as its sender offered it* in that direction (the phone's 4th write is
//! `PacketRef::to_terminal(3)`, whatever happened to earlier packets). Duplicates and
//! packets injected by the on-path hook do not shift the count.
//!
//! For one packet the effects apply in this order: drop; corrupt; the on-path hook (which
//! may modify, drop or add packets); duplicate; then, once delivered, stall and disconnect.

use std::fmt;
use std::sync::{Arc, Mutex};

use posmate_proto::gatt::Micros;

/// Which way a packet travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Direction {
    /// Phone → terminal: a write to RX.
    ToTerminal,
    /// Terminal → phone: a notification on TX.
    ToPhone,
}

/// The `index`-th packet (from 0) its sender offered in `direction`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PacketRef {
    pub direction: Direction,
    pub index: u64,
}

impl PacketRef {
    pub fn to_terminal(index: u64) -> Self {
        PacketRef {
            direction: Direction::ToTerminal,
            index,
        }
    }

    pub fn to_phone(index: u64) -> Self {
        PacketRef {
            direction: Direction::ToPhone,
            index,
        }
    }
}

/// What the on-path hook does with a packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Pass it on (as the hook may have modified it).
    Forward,
    /// Swallow it.
    Drop,
    /// Pass it on, then send these packets after it in the same direction (a replay).
    ForwardThenInject(Vec<Vec<u8>>),
}

type HookFn = dyn FnMut(Direction, &mut Vec<u8>) -> Action + Send;

/// A programmable attacker or impairment on the path: it sees every packet in both
/// directions, after the indexed faults, and may rewrite, drop or add packets. Shared by the
/// connections made under one plan, so a relaying or replaying attacker keeps its memory
/// across reconnects.
#[derive(Clone)]
pub struct OnPathHook(Arc<Mutex<HookFn>>);

impl OnPathHook {
    pub fn new(f: impl FnMut(Direction, &mut Vec<u8>) -> Action + Send + 'static) -> Self {
        OnPathHook(Arc::new(Mutex::new(f)))
    }

    pub(crate) fn apply(&self, direction: Direction, packet: &mut Vec<u8>) -> Action {
        let mut f = self.0.lock().unwrap_or_else(|e| e.into_inner());
        f(direction, packet)
    }
}

impl fmt::Debug for OnPathHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OnPathHook")
    }
}

/// Faults applied to a connection, set per device with `SimRadio::set_faults` before
/// connecting. Build with the methods; the default plan is a perfect link.
#[derive(Debug, Clone, Default)]
pub struct FaultPlan {
    pub(crate) disconnect_after: Option<PacketRef>,
    pub(crate) drop: Vec<PacketRef>,
    pub(crate) corrupt: Vec<(PacketRef, usize)>,
    pub(crate) duplicate: Vec<PacketRef>,
    pub(crate) stall: Vec<(PacketRef, Micros)>,
    pub(crate) latency_to_terminal: Micros,
    pub(crate) latency_to_phone: Micros,
    pub(crate) mtu_stuck: bool,
    pub(crate) hook: Option<OnPathHook>,
}

impl FaultPlan {
    pub fn new() -> Self {
        FaultPlan::default()
    }

    /// The link drops (`LinkLost`) right after `packet` is delivered; in its direction
    /// nothing after it arrives.
    pub fn disconnect_after(mut self, packet: PacketRef) -> Self {
        self.disconnect_after = Some(packet);
        self
    }

    /// `packet` uses its air time but never arrives.
    pub fn drop_packet(mut self, packet: PacketRef) -> Self {
        self.drop.push(packet);
        self
    }

    /// Byte `byte` (modulo the packet's length) of `packet` arrives inverted (XOR 0xFF).
    pub fn corrupt(mut self, packet: PacketRef, byte: usize) -> Self {
        self.corrupt.push((packet, byte));
        self
    }

    /// `packet` arrives twice, the copy in the next free slot.
    pub fn duplicate(mut self, packet: PacketRef) -> Self {
        self.duplicate.push(packet);
        self
    }

    /// Every packet in `direction` arrives `us` later than the timing model says.
    pub fn extra_latency(mut self, direction: Direction, us: Micros) -> Self {
        match direction {
            Direction::ToTerminal => self.latency_to_terminal = us,
            Direction::ToPhone => self.latency_to_phone = us,
        }
        self
    }

    /// The MTU exchange never completes: the connection stays at MTU 23.
    pub fn mtu_stuck_at_23(mut self) -> Self {
        self.mtu_stuck = true;
        self
    }

    /// When `packet` arrives the terminal runs out of buffer for `duration` µs:
    /// `Peripheral::stall_until(arrival + duration)`. For a write the stall starts just
    /// before the terminal receives it.
    pub fn stall_terminal(mut self, packet: PacketRef, duration: Micros) -> Self {
        self.stall.push((packet, duration));
        self
    }

    /// Puts `hook` on the path (replacing any earlier one).
    pub fn on_path(mut self, hook: OnPathHook) -> Self {
        self.hook = Some(hook);
        self
    }

    pub(crate) fn latency(&self, direction: Direction) -> Micros {
        match direction {
            Direction::ToTerminal => self.latency_to_terminal,
            Direction::ToPhone => self.latency_to_phone,
        }
    }

    pub(crate) fn stall_for(&self, packet: PacketRef) -> Option<Micros> {
        self.stall
            .iter()
            .find(|(p, _)| *p == packet)
            .map(|&(_, d)| d)
    }

    /// What arrives for one offered packet, in order, with a note per fault applied.
    pub(crate) fn apply(&self, packet: PacketRef, value: &[u8]) -> (Vec<Vec<u8>>, Vec<String>) {
        let mut notes = Vec::new();
        if self.drop.contains(&packet) {
            notes.push("dropped".to_owned());
            return (Vec::new(), notes);
        }
        let mut bytes = value.to_vec();
        for &(_, at) in self.corrupt.iter().filter(|(p, _)| *p == packet) {
            if !bytes.is_empty() {
                let i = at % bytes.len();
                bytes[i] ^= 0xFF;
                notes.push(format!("corrupted byte {i}"));
            }
        }
        let before_hook = bytes.clone();
        let mut out = Vec::new();
        let mut injected = Vec::new();
        let forward = match &self.hook {
            None => true,
            Some(hook) => match hook.apply(packet.direction, &mut bytes) {
                Action::Forward => true,
                Action::Drop => {
                    notes.push("dropped by on-path hook".to_owned());
                    false
                }
                Action::ForwardThenInject(extra) => {
                    notes.push(format!(
                        "on-path hook injected {}",
                        posmate_core::plural::count(extra.len(), "packet", "packets")
                    ));
                    injected = extra;
                    true
                }
            },
        };
        if forward {
            if before_hook != bytes {
                notes.push("rewritten by on-path hook".to_owned());
            }
            if self.duplicate.contains(&packet) {
                notes.push("duplicated".to_owned());
                out.push(bytes.clone());
            }
            out.push(bytes);
        }
        out.extend(injected);
        (out, notes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_compose_in_documented_order() {
        let p = PacketRef::to_terminal(1);
        let plan = FaultPlan::new().corrupt(p, 5).duplicate(p);
        let (out, notes) = plan.apply(p, &[1, 2, 3]);
        assert_eq!(out, vec![vec![1, 2, 0xFC], vec![1, 2, 0xFC]]);
        assert_eq!(notes, ["corrupted byte 2", "duplicated"]);
        let (out, _) = plan.apply(PacketRef::to_phone(1), &[1, 2, 3]);
        assert_eq!(out, vec![vec![1, 2, 3]]);
        let dropped = FaultPlan::new().drop_packet(p).duplicate(p);
        assert_eq!(dropped.apply(p, &[9]).0, Vec::<Vec<u8>>::new());
    }

    #[test]
    fn hook_can_rewrite_drop_and_inject() {
        let hook = OnPathHook::new(|dir, bytes: &mut Vec<u8>| match (dir, bytes.first()) {
            (Direction::ToPhone, _) => Action::Drop,
            (_, Some(0)) => Action::ForwardThenInject(vec![vec![7]]),
            _ => {
                bytes.push(0xEE);
                Action::Forward
            }
        });
        let plan = FaultPlan::new().on_path(hook);
        assert!(plan.apply(PacketRef::to_phone(0), &[1]).0.is_empty());
        assert_eq!(
            plan.apply(PacketRef::to_terminal(0), &[0]).0,
            vec![vec![0], vec![7]]
        );
        assert_eq!(
            plan.apply(PacketRef::to_terminal(1), &[1]).0,
            vec![vec![1, 0xEE]]
        );
    }
}
