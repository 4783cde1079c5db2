//! The simulator's control operations on the sim link (`docs/sim-link.md` §4): what the
//! merchant does on the terminal itself (ring up a sale, hold a card to it), what its screen
//! shows, the simulated acquirer's registrations and clock, and fault knobs. They share the
//! link's framing and are served by `posmate sim`; the ones that make sense without a
//! separate process (terminals, screen, ring-up, acquirer, advance) also act on the
//! embedded simulation (`posmate --sim sim …`); [`apply`] carries out both.

use posmate_proto::gatt::Peripheral;
use posmate_proto::message::EntryMode;
use posmate_sim::acquirer::SimAcquirer;
use posmate_sim::serve::{Host, HostError};
use posmate_sim::terminal::{Booked, Card, CardOutcome, RequestKind, Sale, Screen};
use posmate_sim_world::embedded::Embedded;
use posmate_sim_world::link::control::{link_json, ScreenReply, ScreenView, TerminalJson};
use posmate_sim_world::link::server::ControlOps;
use posmate_sim_world::world;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::error::{CliError, Exit};
use crate::txn_kind::KindArg;

/// Control requests, tagged by `op` like the link's. `sn` takes a serial number or a
/// terminal's address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Control {
    /// Every terminal with its state and screen.
    Terminals,
    /// One terminal's screen.
    Screen { sn: String },
    /// The merchant keys in a transaction and the customer's card is read; with `count`,
    /// that many (amounts rising by one minor unit each, so none is a duplicate swipe).
    RingUp {
        sn: String,
        amount_minor: u64,
        #[serde(default = "one")]
        count: u32,
        #[serde(default = "default_currency")]
        currency: u16,
        #[serde(default = "default_pan")]
        pan: String,
        #[serde(default)]
        kind: KindArg,
        #[serde(default)]
        orig_seq: Option<u64>,
    },
    /// A card is held to the reader (answers a pending card read, or waits for one).
    PresentCard {
        sn: String,
        pan: String,
        #[serde(default = "default_expiry")]
        expiry: String,
    },
    /// Fault: the terminal's current link is lost now.
    Drop { sn: String },
    /// Signal strength and battery of one terminal.
    Set {
        sn: String,
        #[serde(default)]
        rssi: Option<i16>,
        #[serde(default)]
        battery: Option<u8>,
    },
    /// Fault: the terminal loses its link whenever a request of kind `drop_on` (a
    /// [`RequestKind`] name such as `install-keys`) arrives; `null` repairs it.
    Fault {
        sn: String,
        #[serde(default)]
        drop_on: Option<String>,
    },
    /// Latency and the drop fault for connections made from now on
    /// (`drop_after_writes: 0` turns the fault off).
    Link {
        #[serde(default)]
        latency_ms: Option<u64>,
        #[serde(default)]
        drop_after_writes: Option<u64>,
    },
    /// The simulated acquirer's merchants, terminal registrations and clock (`acquirer`
    /// is the op that carries the acquirer's own API).
    #[serde(rename = "registrations")]
    Acquirer,
    /// Moves the simulated acquirer's clock forward (reviews, dormancy, reopening).
    Advance { ms: u64 },
}

fn one() -> u32 {
    1
}

/// The most transactions one `ring-up` books.
pub const MAX_RING_UP: u32 = 100_000;

/// ISO 4217 numeric for CNY, the simulated acquirer's currency.
pub const CNY: u16 = 156;
/// A test card number (Luhn-valid, Visa test range).
pub const TEST_PAN: &str = "4111111111111111";

fn default_currency() -> u16 {
    CNY
}

fn default_pan() -> String {
    TEST_PAN.into()
}

fn default_expiry() -> String {
    "1230".into()
}

/// The terminals and acquirer the control operations act on: those of a running `posmate
/// sim` ([`Served`]) or of the embedded simulation. [`apply`] answers the operations both
/// can do in one way; the ones on a live link or a waiting card reader go to [`Fleet::live`].
pub trait Fleet {
    type Error: From<HostError>;
    /// Every terminal with its state and screen, in fleet order.
    fn terminals(&mut self) -> Vec<TerminalJson>;
    /// The full serial number and the screen of the terminal `who` names (an SN or an id).
    fn view(&mut self, who: &str) -> Result<(String, Screen), Self::Error>;
    /// Books `sale` on the terminal `who` names, as the merchant keying it in would.
    fn book(&mut self, who: &str, sale: &Sale) -> Result<Booked, Self::Error>;
    fn acquirer(&self) -> &SimAcquirer;
    /// `present-card`, `drop`, `set` and `link`.
    fn live(&mut self, control: Control) -> Result<Value, Self::Error>;
}

/// Carries out `control` on `fleet` and returns the reply's result.
pub fn apply<F: Fleet>(fleet: &mut F, control: Control) -> Result<Value, F::Error> {
    match control {
        Control::Terminals => Ok(json!({ "terminals": fleet.terminals() })),
        Control::Screen { sn } => {
            let (sn, screen) = fleet.view(&sn)?;
            Ok(serde_json::to_value(ScreenReply {
                sn,
                screen: ScreenView::of(&screen),
            })
            .expect("serialises"))
        }
        Control::RingUp {
            sn,
            amount_minor,
            count,
            currency,
            pan,
            kind,
            orig_seq,
        } => {
            let sale = Sale {
                kind: kind.into(),
                amount_minor,
                currency,
                pan,
                orig_seq,
            };
            ring_up_many(fleet, &sn, &sale, count)
        }
        Control::Acquirer => {
            let sns: Vec<String> = fleet.terminals().into_iter().map(|t| t.sn).collect();
            Ok(serde_json::to_value(world::describe(fleet.acquirer(), &sns)).expect("serialises"))
        }
        Control::Advance { ms } => {
            fleet.acquirer().advance(ms);
            Ok(json!({ "now_ms": fleet.acquirer().now_ms() }))
        }
        live @ (Control::PresentCard { .. }
        | Control::Drop { .. }
        | Control::Set { .. }
        | Control::Fault { .. }
        | Control::Link { .. }) => fleet.live(live),
    }
}

/// Books `count` transactions like `sale` (amounts rising by one minor unit) and tells the
/// acquirer the terminal traded, as the payment network would.
fn ring_up_many<F: Fleet>(
    fleet: &mut F,
    who: &str,
    sale: &Sale,
    count: u32,
) -> Result<Value, F::Error> {
    let (sn, _) = fleet.view(who)?;
    let count = count.clamp(1, MAX_RING_UP);
    let mut first = None;
    let mut last = None;
    for i in 0..count {
        let mut one = sale.clone();
        one.amount_minor = sale.amount_minor.saturating_add(u64::from(i));
        let booked = fleet.book(who, &one)?;
        first.get_or_insert(booked.seq);
        last = Some(booked);
    }
    let acquirer = fleet.acquirer();
    acquirer.record_trade(&sn, acquirer.now_ms());
    let last = last.expect("count is at least 1");
    Ok(json!({
        "sn": sn,
        "seq": last.seq,
        "first_seq": first.unwrap_or(last.seq),
        "count": count,
        "status": format!("{:?}", last.status).to_lowercase(),
        "masked_pan": last.masked_pan,
    }))
}

/// The control operations as the sim server answers them: parsed as [`Control`], carried
/// out by [`apply`] on the served host — the same way `posmate sim ACTION` parses them.
pub fn served_ops() -> Box<ControlOps> {
    Box::new(
        |request, host, acquirer, now| match serde_json::from_value::<Control>(request) {
            Ok(c) => apply(
                &mut Served {
                    host,
                    acquirer,
                    now,
                },
                c,
            )
            .map_err(|e| (e.code().to_owned(), e.to_string())),
            Err(e) => Err((
                "bad-request".to_owned(),
                format!("unknown or malformed op: {e}"),
            )),
        },
    )
}

/// The terminals of a running `posmate sim` (its host at `now`) and its acquirer.
pub struct Served<'a> {
    pub host: &'a mut Host,
    pub acquirer: &'a SimAcquirer,
    pub now: u64,
}

impl Fleet for Served<'_> {
    type Error = HostError;

    fn terminals(&mut self) -> Vec<TerminalJson> {
        self.host
            .terminals(self.now)
            .iter()
            .map(Into::into)
            .collect()
    }

    fn view(&mut self, who: &str) -> Result<(String, Screen), HostError> {
        self.host
            .terminals(self.now)
            .into_iter()
            .find(|t| t.sn == who || t.id == who)
            .map(|t| (t.sn, t.screen))
            .ok_or_else(|| HostError::NotFound(who.to_owned()))
    }

    fn book(&mut self, who: &str, sale: &Sale) -> Result<Booked, HostError> {
        self.host.ring_up(who, self.now, sale)
    }

    fn acquirer(&self) -> &SimAcquirer {
        self.acquirer
    }

    fn live(&mut self, control: Control) -> Result<Value, HostError> {
        let (host, now) = (&mut *self.host, self.now);
        match control {
            Control::PresentCard { sn, pan, expiry } => {
                let card = Card {
                    pan,
                    expiry,
                    entry: EntryMode::Tap,
                };
                let outcome = host.present_card(&sn, now, card)?;
                Ok(json!({ "outcome": match outcome {
                    CardOutcome::Answered => "answered",
                    CardOutcome::Held => "held",
                }}))
            }
            Control::Drop { sn } => Ok(json!({ "dropped": host.drop_link(&sn, now)? })),
            Control::Set { sn, rssi, battery } => {
                if let Some(rssi) = rssi {
                    host.set_rssi(&sn, rssi)?;
                }
                if let Some(pct) = battery {
                    host.set_battery(&sn, pct)?;
                }
                Ok(json!({}))
            }
            Control::Fault { sn, drop_on } => {
                let kind = drop_on.as_deref().map(request_kind).transpose()?;
                let sn = host.set_drop_on(&sn, kind)?;
                Ok(json!({ "sn": sn, "drop_on": kind.map(RequestKind::name) }))
            }
            Control::Link {
                latency_ms,
                drop_after_writes,
            } => {
                let mut config = host.config();
                if let Some(ms) = latency_ms {
                    config.latency_us = ms.saturating_mul(1000);
                }
                if let Some(n) = drop_after_writes {
                    config.drop_after_writes = (n > 0).then_some(n);
                }
                host.set_config(config);
                Ok(link_json(&config))
            }
            other => apply(self, other),
        }
    }
}

/// The request kind a `fault` names; an unknown name is refused with the names there are.
pub fn request_kind(name: &str) -> Result<RequestKind, HostError> {
    RequestKind::parse(name).ok_or_else(|| {
        let names: Vec<&str> = RequestKind::ALL.iter().map(|k| k.name()).collect();
        HostError::BadFault(format!(
            "no request kind '{name}'; one of: {}",
            names.join(", ")
        ))
    })
}

/// The embedded simulation. Operations that need a live link or a card held to a reader
/// while another process waits (`present-card`, `drop`, `set`, `fault`, `link`) are for a running
/// `posmate sim` only.
impl Fleet for &Embedded {
    type Error = CliError;

    fn terminals(&mut self) -> Vec<TerminalJson> {
        self.all()
            .map(|(id, t, rssi)| {
                let adv = t.advertisement();
                TerminalJson {
                    id: id.to_string(),
                    sn: t.sn(),
                    local_name: adv.local_name,
                    rssi,
                    lifecycle: adv.lifecycle.name().into(),
                    screen: ScreenView::of(&t.screen()),
                    connected: false,
                }
            })
            .collect()
    }

    fn view(&mut self, who: &str) -> Result<(String, Screen), CliError> {
        let (_, t, _) = self.find(who).ok_or_else(|| unknown_embedded(who))?;
        Ok((t.sn(), t.screen()))
    }

    fn book(&mut self, who: &str, sale: &Sale) -> Result<Booked, CliError> {
        let (_, t, _) = self.find(who).ok_or_else(|| unknown_embedded(who))?;
        t.ring_up(t.link_now(), sale)
            .map_err(|e| HostError::from(e).into())
    }

    fn acquirer(&self) -> &SimAcquirer {
        Embedded::acquirer(self)
    }

    fn live(&mut self, _: Control) -> Result<Value, CliError> {
        Err(CliError::usage(
            "this action needs a running `posmate sim`: the embedded simulation lives only while a command runs",
        )
        .hint("start `posmate sim` in another shell and drop --sim"))
    }
}

fn unknown_embedded(who: &str) -> CliError {
    CliError::new(
        Exit::NotFound,
        "not-found",
        format!("no simulated terminal {who}"),
    )
    .hint("`posmate --sim sim terminals` lists them")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_requests_parse_with_defaults() {
        let c: Control =
            serde_json::from_str(r#"{"op":"ring-up","sn":"SN1","amount_minor":1250}"#).unwrap();
        assert_eq!(
            c,
            Control::RingUp {
                sn: "SN1".into(),
                amount_minor: 1250,
                count: 1,
                currency: CNY,
                pan: TEST_PAN.into(),
                kind: KindArg::default(),
                orig_seq: None
            }
        );
        let v = ScreenView::of(&Screen::PairingCode("012345".into()));
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"{"kind":"pairing-code","code":"012345"}"#
        );
        assert_eq!(v.human(), "pairing code 012345");
        let locked = ScreenView::of(&Screen::Locked {
            retry_after_ms: 1_500,
        });
        assert_eq!(locked.human(), "locked (retry in 2 s)");
    }
}
