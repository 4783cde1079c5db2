//! Recording a simulated connection and replaying it against a fresh terminal.
//!
//! A [`Trace`] is written from the terminal's point of view, so that it says exactly what
//! firmware saw: `Write` is a value delivered to `on_write` (after link faults), `Notify` is
//! a value the terminal returned from `poll_notification` (before link faults), with the
//! time it was polled and the time it reached the phone. `Stall` and the link faults are
//! recorded too. Serialised as JSON lines, one event per line, bytes as lowercase hex.

use posmate_proto::gatt::{Micros, Peripheral};
use serde::{Deserialize, Serialize};

use super::faults::Direction;
use posmate_core::transport::DisconnectReason;

/// One recorded event at link time `t` (µs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceEvent {
    pub t: Micros,
    #[serde(flatten)]
    pub kind: TraceKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum TraceKind {
    /// The connection is up with this MTU (`on_connect`).
    Connect { mtu: u16 },
    /// The terminal received this value (`on_write`).
    Write {
        #[serde(with = "hex_bytes")]
        data: Vec<u8>,
    },
    /// The terminal emitted this value when polled at `t`; it reached the phone at
    /// `arrives` unless a fault intervened.
    Notify {
        arrives: Micros,
        #[serde(with = "hex_bytes")]
        data: Vec<u8>,
    },
    /// The link told the terminal it is out of buffer until `until` (`stall_until`).
    Stall { until: Micros },
    /// A fault changed packet `index` of `direction` (informational).
    Fault {
        direction: Direction,
        index: u64,
        what: String,
    },
    /// The link went down (`on_disconnect`).
    Disconnect { reason: DisconnectReason },
}

/// The events of one connection, in the order they happened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trace {
    pub events: Vec<TraceEvent>,
}

/// A trace line that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("trace line {line} is not a valid trace event")]
pub struct TraceParseError {
    pub line: usize,
    #[source]
    source: serde_json::Error,
}

impl Trace {
    pub(crate) fn push(&mut self, t: Micros, kind: TraceKind) {
        self.events.push(TraceEvent { t, kind });
    }

    /// One JSON object per line.
    pub fn to_json_lines(&self) -> String {
        let mut out = String::new();
        for event in &self.events {
            // A TraceEvent holds only integers, strings and enums: it always serialises.
            out.push_str(&serde_json::to_string(event).expect("trace event serialises"));
            out.push('\n');
        }
        out
    }

    /// Reads what [`Trace::to_json_lines`] wrote; blank lines are skipped.
    pub fn from_json_lines(text: &str) -> Result<Trace, TraceParseError> {
        let events = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                serde_json::from_str(l).map_err(|source| TraceParseError {
                    line: i + 1,
                    source,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Trace { events })
    }

    /// Values the terminal received, in order.
    pub fn writes(&self) -> Vec<&[u8]> {
        self.events
            .iter()
            .filter_map(|e| match &e.kind {
                TraceKind::Write { data } => Some(data.as_slice()),
                _ => None,
            })
            .collect()
    }

    /// Values the terminal emitted, in order.
    pub fn notifications(&self) -> Vec<&[u8]> {
        self.events
            .iter()
            .filter_map(|e| match &e.kind {
                TraceKind::Notify { data, .. } => Some(data.as_slice()),
                _ => None,
            })
            .collect()
    }
}

/// Where a replayed terminal first behaved differently from the recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Divergence {
    /// Index of the notification (from 0) that differs.
    pub index: usize,
    /// What the recording has (`None`: the recording has no further notification here).
    pub expected: Option<Vec<u8>>,
    /// What the replayed terminal emitted (`None`: nothing).
    pub got: Option<Vec<u8>>,
}

/// Outcome of [`replay`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayReport {
    pub writes_replayed: usize,
    pub notifications_matched: usize,
    pub divergence: Option<Divergence>,
}

impl ReplayReport {
    pub fn is_exact(&self) -> bool {
        self.divergence.is_none()
    }
}

/// Feeds the recorded writes, stalls, connect and disconnect into `peripheral` at their
/// recorded times, polling it exactly where the link did, and compares every notification
/// it emits with the recording. Stops at the first divergence.
pub fn replay(trace: &Trace, peripheral: &mut dyn Peripheral) -> ReplayReport {
    let mut report = ReplayReport {
        writes_replayed: 0,
        notifications_matched: 0,
        divergence: None,
    };
    // Time of the delivery whose drain is in progress: once the recording moves on, the
    // replayed terminal must have nothing more to say at that time.
    let mut draining: Option<Micros> = None;
    let diverged = |report: &mut ReplayReport, expected: Option<&[u8]>, got: Option<Vec<u8>>| {
        report.divergence = Some(Divergence {
            index: report.notifications_matched,
            expected: expected.map(<[u8]>::to_vec),
            got,
        });
    };
    let finish_drain = |p: &mut dyn Peripheral, draining: &mut Option<Micros>| {
        draining
            .take()
            .and_then(|t| p.poll_notification(t))
            .map(|n| n.data)
    };
    for event in &trace.events {
        match &event.kind {
            TraceKind::Connect { mtu } => {
                if let Some(extra) = finish_drain(peripheral, &mut draining) {
                    diverged(&mut report, None, Some(extra));
                    return report;
                }
                peripheral.on_connect(event.t, *mtu);
                draining = Some(event.t);
            }
            TraceKind::Write { data } => {
                if let Some(extra) = finish_drain(peripheral, &mut draining) {
                    diverged(&mut report, None, Some(extra));
                    return report;
                }
                peripheral.on_write(event.t, data);
                report.writes_replayed += 1;
                draining = Some(event.t);
            }
            TraceKind::Notify { data, .. } => {
                let got = peripheral.poll_notification(event.t).map(|n| n.data);
                if got.as_deref() != Some(data.as_slice()) {
                    diverged(&mut report, Some(data), got);
                    return report;
                }
                report.notifications_matched += 1;
            }
            TraceKind::Stall { until } => peripheral.stall_until(*until),
            TraceKind::Fault { .. } => {}
            TraceKind::Disconnect { .. } => {
                // The link stopped polling when it went down; whatever the terminal still
                // had queued was never sent.
                draining = None;
                peripheral.on_disconnect(event.t);
            }
        }
    }
    if let Some(extra) = finish_drain(peripheral, &mut draining) {
        diverged(&mut report, None, Some(extra));
    }
    report
}

mod hex_bytes {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        let mut out = String::with_capacity(bytes.len() * 2);
        for b in bytes {
            out.push_str(&format!("{b:02x}"));
        }
        s.serialize_str(&out)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        if text.len() % 2 != 0 {
            return Err(D::Error::custom("odd number of hex digits"));
        }
        (0..text.len())
            .step_by(2)
            .map(|i| {
                text.get(i..i + 2)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| D::Error::custom("invalid hex digit"))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_round_trip_and_reject_garbage() {
        let mut trace = Trace::default();
        trace.push(0, TraceKind::Connect { mtu: 247 });
        trace.push(
            1048,
            TraceKind::Write {
                data: vec![0, 0xAB, 0xff],
            },
        );
        trace.push(
            1048,
            TraceKind::Notify {
                arrives: 16_242,
                data: vec![],
            },
        );
        trace.push(
            2000,
            TraceKind::Fault {
                direction: Direction::ToPhone,
                index: 0,
                what: "dropped".into(),
            },
        );
        trace.push(3000, TraceKind::Stall { until: 9000 });
        trace.push(
            9000,
            TraceKind::Disconnect {
                reason: DisconnectReason::LinkLost,
            },
        );
        let text = trace.to_json_lines();
        assert_eq!(text.lines().count(), 6);
        assert!(text.contains(r#""data":"00abff""#), "{text}");
        assert_eq!(Trace::from_json_lines(&text).unwrap(), trace);
        let bad = text.replace("00abff", "00abf");
        assert_eq!(Trace::from_json_lines(&bad).unwrap_err().line, 2);
    }
}
