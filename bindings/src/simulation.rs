//! Simulated mode, like Stripe Terminal's simulated reader: terminals on a simulated radio
//! and a simulated acquirer with a registered merchant, in this process. The companion
//! reaches them through the same protocol bytes and JSON API as real ones, so an app runs
//! every screen with no hardware; the knobs here are what the world outside the phone
//! does (a sale rung up on the keypad, a card held to the terminal, a link that drops,
//! the acquirer's clock moving on).
//!
//! A `Simulation` outlives companions opened on it, as the real world outlives an app
//! that is killed and started again.

use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use futures::StreamExt;
use posmate_core::transport::{Connection, ScanFilter, ScanStream, Transport, TransportError};

use posmate_acquirer_api::http::{from_http, reply_to_http};
use posmate_acquirer_api::{decode_reply, encode_request, AcquirerError};
use posmate_core::transport::PeripheralId;
use posmate_proto::message::{CardPurpose as ProtoPurpose, RecordStatus};
use posmate_sim::acquirer::{Review, SimAcquirer};
use posmate_sim::terminal::{Card as SimCard, KeypadError, Sale, Screen};
use posmate_sim::{SimTerminal, TerminalConfig};
use posmate_sim_world::open::Mode;
use posmate_sim_world::radio::faults::{Direction, FaultPlan, PacketRef};
use posmate_sim_world::radio::timing::LinkModel;
use posmate_sim_world::radio::SimRadio;
use posmate_sim_world::world;

use crate::acquirer_http::{self, AcquirerHttpClient, AcquirerHttpReply, AcquirerHttpRequest};
use crate::activation::MerchantDetails;
use crate::cards::CardPurpose;
use crate::companion::{CompanionConfig, PosmateCompanion};
use crate::error::PosmateError;
use crate::terminals::Lifecycle;

/// Signal of the first terminal; each next one is 5 dB weaker.
const FIRST_RSSI: i16 = -48;

/// How the acquirer reviews the merchant's activations.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum SimReview {
    /// Approved on submission.
    Instant,
    /// Pending until its status was asked `polls` times.
    AfterPolls { polls: u32 },
    /// Pending until `ms` of the acquirer's clock have passed (`advance_acquirer_clock`).
    AfterMs { ms: u64 },
    /// Pending, then rejected with this reason at the first status poll.
    Reject { reason_code: String, reason: String },
}

impl From<SimReview> for Review {
    fn from(r: SimReview) -> Self {
        match r {
            SimReview::Instant => Review::Instant,
            SimReview::AfterPolls { polls } => Review::AfterPolls(polls),
            SimReview::AfterMs { ms } => Review::After(ms),
            SimReview::Reject {
                reason_code,
                reason,
            } => Review::Reject {
                reason_code,
                reason,
            },
        }
    }
}

#[derive(Debug, Clone, uniffi::Record)]
pub struct SimulationOptions {
    /// Factory-fresh terminals in range.
    #[uniffi(default = 1)]
    pub terminals: u32,
    /// Serial numbers, keys and the acquirer's choices follow from it: same seed, same run.
    #[uniffi(default = 1)]
    pub seed: u64,
    /// Default: instant approval.
    #[uniffi(default = None)]
    pub review: Option<SimReview>,
}

/// The merchant the simulated acquirer signed up.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SimMerchant {
    pub merchant_no: String,
    pub details: MerchantDetails,
}

/// A simulated terminal and what the acquirer's letter says about it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SimTerminalInfo {
    pub sn: String,
    /// Where it can be reached now; none while out of range.
    pub peripheral_id: Option<String>,
    pub terminal_no: String,
    pub activation_code: String,
    pub lifecycle: Lifecycle,
    pub journal_head: u64,
}

/// What the terminal's screen shows.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum SimScreen {
    Unactivated,
    Idle,
    Suspended,
    Wiped,
    /// Pairing: the code the merchant types on the phone.
    PairingCode {
        code: String,
    },
    Locked {
        retry_after_ms: u64,
    },
    /// Waiting for a card the phone asked it to read.
    PresentCard {
        purpose: CardPurpose,
    },
}

impl From<Screen> for SimScreen {
    fn from(s: Screen) -> Self {
        match s {
            Screen::Unactivated => SimScreen::Unactivated,
            Screen::Idle => SimScreen::Idle,
            Screen::Suspended => SimScreen::Suspended,
            Screen::Wiped => SimScreen::Wiped,
            Screen::PairingCode(code) => SimScreen::PairingCode { code },
            Screen::Locked { retry_after_ms } => SimScreen::Locked { retry_after_ms },
            Screen::PresentCard { purpose } => SimScreen::PresentCard {
                purpose: match purpose {
                    ProtoPurpose::Settlement => CardPurpose::Settlement,
                    ProtoPurpose::Credit => CardPurpose::Credit,
                },
            },
        }
    }
}

/// A sale the terminal booked.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SimSale {
    pub seq: u64,
    /// Cards ending in 0002 are declined, as the simulated network does.
    pub approved: bool,
    pub masked_pan: String,
}

/// Which way a packet travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum LinkDirection {
    ToTerminal,
    ToPhone,
}

impl LinkDirection {
    fn packet(self, index: u64) -> PacketRef {
        match self {
            LinkDirection::ToTerminal => PacketRef::to_terminal(index),
            LinkDirection::ToPhone => PacketRef::to_phone(index),
        }
    }
}

/// A fault on the simulated link. Packets count from 0 per connection and direction.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum SimFault {
    /// The link is lost right after this packet is delivered.
    DisconnectAfter {
        direction: LinkDirection,
        packet: u64,
    },
    /// This packet never arrives.
    DropPacket {
        direction: LinkDirection,
        packet: u64,
    },
    /// The MTU exchange never completes (23-byte MTU: slow, many packets).
    MtuStuckAt23,
    /// Every packet in `direction` arrives `ms` later.
    ExtraLatency { direction: LinkDirection, ms: u64 },
}

struct Slot {
    terminal: SimTerminal,
    /// The address apps see: the terminal's first radio id, kept when it leaves range and
    /// comes back (a real terminal's Bluetooth address does not change).
    address: PeripheralId,
    /// Its id on the simulated radio now; `None` while out of range.
    id: Option<PeripheralId>,
    rssi: i16,
    terminal_no: String,
    activation_code: String,
}

/// The simulated world outside the phone.
#[derive(uniffi::Object)]
pub struct Simulation {
    radio: SimRadio,
    acquirer: SimAcquirer,
    slots: Mutex<Vec<Slot>>,
}

impl Simulation {
    /// The radio as the companion's transport, terminals at their stable addresses.
    pub(crate) fn transport(self: &Arc<Self>) -> SimTransport {
        SimTransport { sim: self.clone() }
    }

    /// The radio id of the terminal apps know at `address`.
    fn radio_id(&self, address: &PeripheralId) -> Option<PeripheralId> {
        self.lock()
            .iter()
            .find(|s| &s.address == address)
            .and_then(|s| s.id.clone())
    }

    /// The stable address of the terminal at radio id `id`.
    fn address_of(&self, id: &PeripheralId) -> Option<PeripheralId> {
        self.lock()
            .iter()
            .find(|s| s.id.as_ref() == Some(id))
            .map(|s| s.address.clone())
    }

    pub(crate) fn acquirer(&self) -> &SimAcquirer {
        &self.acquirer
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Slot>> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn with_slot<T>(&self, sn: &str, f: impl FnOnce(&mut Slot) -> T) -> Result<T, PosmateError> {
        let mut slots = self.lock();
        let slot = slots
            .iter_mut()
            .find(|s| s.terminal.sn() == sn)
            .ok_or_else(|| PosmateError::invalid("sn", format!("no simulated terminal {sn}")))?;
        Ok(f(slot))
    }

    fn in_range(&self, sn: &str) -> Result<PeripheralId, PosmateError> {
        self.with_slot(sn, |s| s.id.clone())?.ok_or_else(|| {
            PosmateError::new(
                "sim-out-of-range",
                format!("simulated terminal {sn} is out of range"),
                false,
                "bring it back into range with set_in_range",
            )
        })
    }
}

#[uniffi::export]
impl Simulation {
    #[uniffi::constructor]
    pub fn new(options: SimulationOptions) -> Arc<Self> {
        let radio = SimRadio::new(LinkModel::phone_2m());
        let acquirer = SimAcquirer::new(options.seed);
        world::sign_up(
            &acquirer,
            options.review.map(Into::into).unwrap_or(Review::Instant),
        );
        let slots: Vec<Slot> = (0..options.terminals as usize)
            .map(|i| {
                let sn = format!("SN2026A{:04}{i:02}", options.seed % 10_000);
                let terminal =
                    SimTerminal::new(TerminalConfig::new(sn, options.seed * 100 + i as u64));
                let rssi = FIRST_RSSI - 5 * i as i16;
                let id = radio.add(Box::new(terminal.clone()), rssi);
                Slot {
                    terminal,
                    address: id.clone(),
                    id: Some(id),
                    rssi,
                    terminal_no: world::terminal_no(i + 1),
                    activation_code: world::activation_code(i + 1),
                }
            })
            .collect();
        world::register(&acquirer, slots.iter().map(|s| &s.terminal), 0);
        Arc::new(Simulation {
            radio,
            acquirer,
            slots: Mutex::new(slots),
        })
    }

    /// The merchant the acquirer signed up: what an activation form is filled with.
    pub fn merchant(&self) -> SimMerchant {
        SimMerchant {
            merchant_no: world::MERCHANT_NO.into(),
            details: MerchantDetails {
                legal_name: world::MERCHANT_NAME.into(),
                contact_phone: world::MERCHANT_PHONE.into(),
                address: world::MERCHANT_ADDRESS.into(),
            },
        }
    }

    pub fn terminals(&self) -> Vec<SimTerminalInfo> {
        self.lock()
            .iter()
            .map(|s| {
                let info = s.terminal.info();
                SimTerminalInfo {
                    sn: info.sn.clone(),
                    peripheral_id: s.id.as_ref().map(|_| s.address.as_str().into()),
                    terminal_no: s.terminal_no.clone(),
                    activation_code: s.activation_code.clone(),
                    lifecycle: info.lifecycle.into(),
                    journal_head: info.journal_head,
                }
            })
            .collect()
    }

    /// What terminal `sn`'s screen shows now (the pairing code, while pairing).
    pub fn screen(&self, sn: String) -> Result<SimScreen, PosmateError> {
        self.with_slot(&sn, |s| s.terminal.screen().into())
    }

    /// The merchant rings up a sale on the terminal's keypad and the customer pays with
    /// card `pan` (the terminal keeps only its masked form). The acquirer hears of the trade,
    /// which keeps the terminal from going dormant.
    pub fn ring_up_sale(
        &self,
        sn: String,
        amount_minor: u64,
        currency: u16,
        pan: String,
    ) -> Result<SimSale, PosmateError> {
        let terminal = self.with_slot(&sn, |s| s.terminal.clone())?;
        let booked = terminal
            .ring_up(
                terminal.link_now(),
                &Sale::new(amount_minor, currency, &pan),
            )
            .map_err(keypad_error)?;
        self.acquirer.record_trade(&sn, self.acquirer.now_ms());
        Ok(SimSale {
            seq: booked.seq,
            approved: booked.status == RecordStatus::Approved,
            masked_pan: booked.masked_pan,
        })
    }

    /// A card held to the terminal: answers a card read the phone asked for, or waits for
    /// the next one. Returns whether a read was waiting.
    pub fn present_card(
        &self,
        sn: String,
        pan: String,
        expiry: String,
    ) -> Result<bool, PosmateError> {
        let terminal = self.with_slot(&sn, |s| s.terminal.clone())?;
        let outcome = terminal.present_card(terminal.link_now(), SimCard::tap(&pan, &expiry));
        Ok(outcome == posmate_sim::terminal::CardOutcome::Answered)
    }

    /// Faults for the terminal's connections from now on (the open one is not affected:
    /// `drop_link` ends it). An empty list is a perfect link.
    pub fn set_faults(&self, sn: String, faults: Vec<SimFault>) -> Result<(), PosmateError> {
        let id = self.in_range(&sn)?;
        let plan = faults
            .into_iter()
            .fold(FaultPlan::new(), |plan, f| match f {
                SimFault::DisconnectAfter { direction, packet } => {
                    plan.disconnect_after(direction.packet(packet))
                }
                SimFault::DropPacket { direction, packet } => {
                    plan.drop_packet(direction.packet(packet))
                }
                SimFault::MtuStuckAt23 => plan.mtu_stuck_at_23(),
                SimFault::ExtraLatency { direction, ms } => plan.extra_latency(
                    match direction {
                        LinkDirection::ToTerminal => Direction::ToTerminal,
                        LinkDirection::ToPhone => Direction::ToPhone,
                    },
                    ms.saturating_mul(1_000),
                ),
            });
        self.radio.set_faults(&id, plan);
        Ok(())
    }

    /// The terminal leaves range (an open link is lost) or comes back (at the same
    /// address).
    pub fn set_in_range(&self, sn: String, in_range: bool) -> Result<(), PosmateError> {
        let radio = self.radio.clone();
        self.with_slot(&sn, |s| match (&s.id, in_range) {
            (Some(id), false) => {
                radio.remove(id);
                s.id = None;
            }
            (None, true) => s.id = Some(radio.add(Box::new(s.terminal.clone()), s.rssi)),
            _ => {}
        })
    }

    /// Loses the open link to the terminal now (it steps out of range and straight back).
    pub fn drop_link(&self, sn: String) -> Result<(), PosmateError> {
        self.in_range(&sn)?;
        self.set_in_range(sn.clone(), false)?;
        self.set_in_range(sn, true)
    }

    /// Moves the acquirer's clock on (reviews, dormancy and reopening come due).
    pub fn advance_acquirer_clock(&self, ms: u64) {
        self.acquirer.advance(ms);
    }

    pub fn acquirer_now_ms(&self) -> u64 {
        self.acquirer.now_ms()
    }

    /// Offline: every acquirer call fails as when the phone has no internet.
    pub fn set_acquirer_online(&self, online: bool) {
        self.acquirer.set_online(online);
    }

    /// The next `count` acquirer calls take effect but their answers are lost.
    pub fn lose_acquirer_answers(&self, count: u32) {
        self.acquirer.lose_answers(count);
    }

    /// How the acquirer reviews the merchant's next activations.
    pub fn set_review(&self, review: SimReview) {
        world::sign_up_merchant(&self.acquirer, review.into());
    }

    /// The acquirer's back-office view of `sn`: `unknown`, `pending`, `active`, `dormant`
    /// or `deregistered`.
    pub fn acquirer_terminal_state(&self, sn: String) -> String {
        self.acquirer.terminal_state(&sn).into()
    }

    /// How many activation applications were ever made for `sn` (a resumed activation
    /// must not make a second).
    pub fn acquirer_activations(&self, sn: String) -> u32 {
        self.acquirer.activations(&sn) as u32
    }

    /// Answers one HTTP exchange as the acquirer's server would (the API's published HTTP
    /// mapping over the simulated acquirer), so an app can try its own
    /// [`AcquirerHttpClient`] plumbing (`open_simulated_with_client`) by relaying to this.
    /// Offline (`set_acquirer_online(false)`) nothing connects; a lost answer
    /// (`lose_acquirer_answers`) is a timeout after the acquirer acted.
    pub fn serve_acquirer_http(&self, request: AcquirerHttpRequest) -> AcquirerHttpReply {
        let reply = from_http(&request.into()).and_then(|call| {
            self.acquirer
                .call(&encode_request(&call))
                .and_then(|bytes| decode_reply(&bytes))
        });
        match reply {
            Err(AcquirerError::Unreachable { detail }) => {
                AcquirerHttpReply::CouldNotConnect { detail }
            }
            Err(AcquirerError::Timeout) => AcquirerHttpReply::TimedOut { maybe_sent: true },
            reply => AcquirerHttpReply::Answered {
                response: reply_to_http(&reply).into(),
            },
        }
    }
}

/// The simulated radio as the companion sees it: terminals at their stable addresses.
pub(crate) struct SimTransport {
    sim: Arc<Simulation>,
}

#[async_trait]
impl Transport for SimTransport {
    async fn scan(&self, filter: ScanFilter) -> Result<ScanStream, TransportError> {
        let sim = self.sim.clone();
        let stream = self.sim.radio.scan(filter).await?;
        Ok(Box::pin(stream.map(move |mut c| {
            if let Some(address) = sim.address_of(&c.peripheral_id) {
                c.peripheral_id = address;
            }
            c
        })))
    }

    async fn connect(&self, id: &PeripheralId) -> Result<Box<dyn Connection>, TransportError> {
        let radio_id = self
            .sim
            .radio_id(id)
            .ok_or_else(|| TransportError::NotFound { id: id.clone() })?;
        self.sim.radio.connect(&radio_id).await
    }
}

fn keypad_error(e: KeypadError) -> PosmateError {
    let code = match &e {
        KeypadError::NotInService => "sim-not-in-service",
        KeypadError::BadCard => "sim-bad-card",
        KeypadError::DuplicateSwipe { .. } => "sim-duplicate-swipe",
        KeypadError::Busy => "sim-busy",
        KeypadError::Refused(_) => "sim-refused",
    };
    PosmateError::new(
        code,
        format!("the simulated terminal refused the sale: {e}"),
        matches!(e, KeypadError::Busy),
        "activate the terminal first, or ring up another sale",
    )
}

#[uniffi::export]
impl PosmateCompanion {
    /// Simulated mode: the terminals and acquirer of `simulation`, in this process. The app
    /// keeps the `Simulation` to act as the world outside the phone.
    #[uniffi::constructor]
    pub async fn open_simulated(
        config: CompanionConfig,
        simulation: Arc<Simulation>,
    ) -> Result<Arc<Self>, PosmateError> {
        let mode = Mode::Embedded {
            transport: Arc::new(simulation.transport()),
            acquirer: simulation.acquirer().clone(),
        };
        Self::open(config, mode, None).await
    }

    /// The terminals of `simulation`, the acquirer through the app's own HTTP client, as
    /// on a phone with real terminals: to try that client against a sandbox acquirer, or
    /// against `simulation.serve_acquirer_http`.
    #[uniffi::constructor]
    pub async fn open_simulated_with_client(
        config: CompanionConfig,
        simulation: Arc<Simulation>,
        acquirer: Arc<dyn AcquirerHttpClient>,
    ) -> Result<Arc<Self>, PosmateError> {
        let mode = Mode::Embedded {
            transport: Arc::new(simulation.transport()),
            acquirer: simulation.acquirer().clone(),
        };
        Self::open(config, mode, Some(acquirer_http::gateway(acquirer))).await
    }
}
