//! The BLE timing model of the simulated link: when each packet is on air.
//!
//! A connection has connection events at `k × conn_interval_us` (k = 0, 1, …) on the link's
//! virtual clock. In each event the central and the peripheral exchange link-layer PDUs: the
//! central sends, the peripheral answers 150 µs (T_IFS) later, and so on. A packet that
//! becomes ready while an event is already over waits for the next event.
//!
//! The model schedules each direction on its own (a simplification, documented here): a
//! data PDU costs one *exchange* of its direction's event budget,
//!
//! ```text
//! exchange = air(data PDU) + T_IFS + air(empty PDU) + T_IFS
//! ```
//!
//! (the other side's PDU in the exchange is taken to be the empty acknowledgement), and an
//! event holds at most `packets_per_event` exchanges per direction whose total fits in the
//! connection interval. When both sides send data, real exchanges piggyback the two, which
//! this model approximates by giving each direction the whole event.
//!
//! Air time of a PDU: preamble + access address (4) + header (2) + payload + MIC (4, only if
//! encrypted and the payload is not empty) + CRC (3), at the PHY's rate:
//!
//! | PHY | preamble | µs per byte | fixed extra |
//! | --- | --- | --- | --- |
//! | 1M | 1 byte | 8 | — |
//! | 2M | 2 bytes | 4 | — |
//! | Coded S=8 | 80 µs | 64 (header..CRC) | access address 256 µs, CI 16 µs, TERM1 24 µs, TERM2 24 µs |
//!
//! An ATT value of `v` bytes travels as one L2CAP PDU of `4 + 3 + v` bytes, cut into LL
//! payloads of at most `ll_max_payload` (27 without data length extension, 251 with).

use posmate_proto::gatt::{self, Micros};

/// Inter-frame space between two PDUs of an exchange (T_IFS).
pub const IFS_US: Micros = 150;
/// L2CAP basic header: length and channel id.
pub const L2CAP_HEADER: usize = 4;

/// The radio's physical layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Phy {
    Phy1M,
    Phy2M,
    /// LE Coded with S=8 coding (long range, 125 kbit/s).
    Coded,
}

impl Phy {
    /// Air time of one LL PDU whose payload (including any MIC) is `payload` bytes.
    pub fn pdu_air_us(self, payload: usize) -> Micros {
        // access address 4 is counted separately for Coded; header 2 + CRC 3 for all.
        let framed = (2 + payload + 3) as Micros;
        match self {
            Phy::Phy1M => (1 + 4) * 8 + framed * 8,
            Phy::Phy2M => (2 + 4) * 4 + framed * 4,
            Phy::Coded => 80 + 256 + 16 + 24 + framed * 64 + 24,
        }
    }
}

/// Parameters of a simulated BLE connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LinkModel {
    /// Connection interval in µs (7.5 ms .. 4 s on real links).
    pub conn_interval_us: Micros,
    /// Most data PDUs one direction sends per connection event (a controller limit).
    pub packets_per_event: u32,
    pub phy: Phy,
    /// The ATT MTU the stacks settle on when the phone asks for 517.
    pub mtu: u16,
    /// Largest LL data payload: 27, or up to 251 with data length extension.
    pub ll_max_payload: usize,
    /// Link-layer encryption (adds a 4-byte MIC to every non-empty PDU). posmate secures
    /// its data with Noise and does not bond, so the presets leave it off.
    pub encrypted: bool,
}

impl LinkModel {
    /// A modern phone: 2M PHY, 15 ms interval, 10 packets per event, MTU 247 (244-byte
    /// values, one 251-byte LL PDU each).
    pub fn phone_2m() -> Self {
        LinkModel {
            conn_interval_us: 15_000,
            packets_per_event: 10,
            phy: Phy::Phy2M,
            mtu: 247,
            ll_max_payload: 251,
            encrypted: false,
        }
    }

    /// An old phone: 1M PHY, 30 ms interval, 4 packets per event, MTU 23 (20-byte values),
    /// no data length extension.
    pub fn legacy_1m() -> Self {
        LinkModel {
            conn_interval_us: 30_000,
            packets_per_event: 4,
            phy: Phy::Phy1M,
            mtu: 23,
            ll_max_payload: 27,
            encrypted: false,
        }
    }

    /// LL payload sizes of the PDUs that carry one ATT value of `value_len` bytes.
    pub fn fragments(&self, value_len: usize) -> Vec<usize> {
        let mut left = L2CAP_HEADER + gatt::ATT_HEADER + value_len;
        let max = self.ll_max_payload.max(27);
        let mut out = Vec::with_capacity(left.div_ceil(max));
        while left > 0 {
            let n = left.min(max);
            out.push(n);
            left -= n;
        }
        out
    }

    /// Air time of a data PDU with `payload` LL payload bytes.
    pub fn data_pdu_air_us(&self, payload: usize) -> Micros {
        let mic = if self.encrypted && payload > 0 { 4 } else { 0 };
        self.phy.pdu_air_us(payload + mic)
    }

    /// Air time of an empty PDU (the acknowledgement).
    pub fn empty_pdu_air_us(&self) -> Micros {
        self.phy.pdu_air_us(0)
    }

    /// Event time one data PDU uses: itself, T_IFS, the empty answer, T_IFS.
    pub fn exchange_us(&self, payload: usize) -> Micros {
        self.data_pdu_air_us(payload) + IFS_US + self.empty_pdu_air_us() + IFS_US
    }

    /// ATT value bytes per second one direction carries when the sender keeps every event
    /// full of `mtu − 3`-byte values. Measured by running the scheduler over 1000 events,
    /// which is exact when a value fits one LL PDU (the presets) since every event is then
    /// filled alike.
    pub fn payload_capacity_bytes_per_sec(&self) -> f64 {
        self.capacity_for(self.mtu)
    }

    pub(crate) fn capacity_for(&self, mtu: u16) -> f64 {
        const EVENTS: u64 = 1000;
        let value = gatt::max_value_len(mtu);
        let horizon = EVENTS * self.conn_interval_us;
        let mut dir = DirSchedule::default();
        let mut values = 0u64;
        loop {
            let mut last_start = 0;
            let mut in_horizon = true;
            for (i, frag) in self.fragments(value).into_iter().enumerate() {
                let ready = if i == 0 { 0 } else { last_start };
                let (start, _) = dir.place(self, ready, frag, 0);
                last_start = start;
                in_horizon &= start < horizon;
            }
            if !in_horizon {
                break;
            }
            values += 1;
        }
        (values * value as u64) as f64 * 1e6 / horizon as f64
    }
}

/// Which exchanges of which events one direction has used so far. Packets are placed in
/// causal order, so only the last used event matters.
#[derive(Debug, Clone, Default)]
pub(crate) struct DirSchedule {
    /// The event currently being filled, if any.
    event: Option<u64>,
    used: u32,
    used_us: Micros,
    /// End of the last exchange placed (an oversized PDU can run past its event).
    busy_until: Micros,
}

impl DirSchedule {
    /// Places one LL PDU of `payload` bytes that may not start before `ready`; `offset` is
    /// where this direction's PDU sits inside an exchange (0 for the central, the empty PDU
    /// plus T_IFS for the peripheral). Returns (start, end) of its air time.
    pub(crate) fn place(
        &mut self,
        model: &LinkModel,
        ready: Micros,
        payload: usize,
        offset: Micros,
    ) -> (Micros, Micros) {
        let interval = model.conn_interval_us.max(1);
        let cost = model.exchange_us(payload);
        let air = model.data_pdu_air_us(payload);
        if let Some(event) = self.event {
            let fits =
                self.used < model.packets_per_event.max(1) && self.used_us + cost <= interval;
            let start = event * interval + self.used_us + offset;
            if fits && start >= ready {
                self.used += 1;
                self.used_us += cost;
                self.busy_until = start - offset + cost;
                return (start, start + air);
            }
        }
        let after_current = self.event.map_or(0, |e| e + 1);
        let causal = ready.saturating_sub(offset).div_ceil(interval);
        let free = self.busy_until.div_ceil(interval);
        let event = after_current.max(causal).max(free);
        // First PDU of a fresh event: always fits (an oversized one runs past the event).
        self.event = Some(event);
        self.used = 1;
        self.used_us = cost;
        let start = event * interval + offset;
        self.busy_until = start - offset + cost;
        (start, start + air)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn air_times_follow_the_phy() {
        // 2M: (2 preamble + 4 AA + 2 header + 251 + 3 CRC) × 4 µs.
        assert_eq!(Phy::Phy2M.pdu_air_us(251), 1048);
        assert_eq!(Phy::Phy2M.pdu_air_us(0), 44);
        // 1M: (1 + 4 + 2 + 27 + 3) × 8 µs.
        assert_eq!(Phy::Phy1M.pdu_air_us(27), 296);
        assert_eq!(Phy::Phy1M.pdu_air_us(0), 80);
        assert_eq!(Phy::Coded.pdu_air_us(0), 400 + 5 * 64);
    }

    #[test]
    fn mic_only_when_encrypted_and_not_empty() {
        let mut m = LinkModel::phone_2m();
        let plain = m.data_pdu_air_us(251);
        m.encrypted = true;
        assert_eq!(m.data_pdu_air_us(251), plain + 16);
        assert_eq!(m.data_pdu_air_us(0), m.empty_pdu_air_us());
    }

    #[test]
    fn fragments_split_the_l2cap_pdu() {
        let m = LinkModel::phone_2m();
        assert_eq!(m.fragments(244), vec![251]);
        assert_eq!(m.fragments(514), vec![251, 251, 19]);
        let legacy = LinkModel::legacy_1m();
        assert_eq!(legacy.fragments(20), vec![27]);
        assert_eq!(
            legacy.fragments(244),
            vec![27; 9].into_iter().chain([8]).collect::<Vec<_>>()
        );
    }

    #[test]
    fn presets_capacity() {
        // phone_2m: exchange 1048 + 150 + 44 + 150 = 1392 µs, 10 fit in 15 ms, so 10 × 244
        // bytes per 15 ms.
        let cap = LinkModel::phone_2m().payload_capacity_bytes_per_sec();
        assert!((cap - 2440.0 / 0.015).abs() < 1e-6, "{cap}");
        // legacy_1m: 4 × 20 bytes per 30 ms.
        let cap = LinkModel::legacy_1m().payload_capacity_bytes_per_sec();
        assert!((cap - 80.0 / 0.03).abs() < 1e-6, "{cap}");
    }

    #[test]
    fn air_time_limits_an_event_before_the_packet_count() {
        let m = LinkModel {
            packets_per_event: 100,
            ..LinkModel::legacy_1m()
        };
        // exchange = 296 + 150 + 80 + 150 = 676 µs; 30 000 / 676 = 44.
        let mut d = DirSchedule::default();
        let starts: Vec<_> = (0..45).map(|_| d.place(&m, 0, 27, 0).0).collect();
        assert_eq!(starts[43], 43 * 676);
        assert_eq!(starts[44], 30_000);
    }

    #[test]
    fn late_packet_waits_for_next_event() {
        let m = LinkModel::phone_2m();
        let mut d = DirSchedule::default();
        assert_eq!(d.place(&m, 0, 251, 0), (0, 1048));
        // Ready after the event's next free exchange started: next event.
        assert_eq!(d.place(&m, 2_000, 251, 0).0, 15_000);
        // Peripheral side sits after the empty PDU and T_IFS.
        let mut p = DirSchedule::default();
        assert_eq!(p.place(&m, 0, 251, 194).0, 194);
    }
}
