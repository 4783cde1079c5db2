//! The acquirers the contract runs against, each behind [`AcquirerUnderTest`]: the phone's
//! [`Gateway`] to it, and the few back-office actions a case needs (sign a merchant up,
//! register a terminal, list and decide reviews, move the clock), done the way that
//! acquirer's staff do them.
//!
//! * [`InProcess`]: the simulated acquirer (`posmate-sim`) reached through the in-process
//!   exchange the embedded world (`--sim`) wires, its back office called directly.
//! * [`Sandbox`]: `posmate-sandbox` serving on loopback, reached through the core's real
//!   [`HttpsGateway`] (reqwest over rustls, trusting only the sandbox's CA file), its back
//!   office over the admin surface with the admin token.

use std::sync::Arc;

use async_trait::async_trait;
use posmate_core::acquirer::https::client::{ClientOptions, ReqwestClient};
use posmate_core::acquirer::https::retry::RetryPolicy;
use posmate_core::acquirer::https::{HttpsGateway, Method};
use posmate_core::acquirer::{Gateway, RemoteGateway};
use posmate_sandbox::admin::{
    Clock, ClockChange, Decided, MerchantJson, ReviewJson, Reviews, TerminalRegistration,
    TerminalView,
};
use posmate_sandbox::client::Client;
use posmate_sandbox::{Config, Identity, Running, SandboxError};
use posmate_sim::acquirer::{Decision, MerchantSetup, PendingReview, Review, SimAcquirer};
use posmate_sim_world::acquirer::InProcess as Exchange;

/// An acquirer the contract is run against. Every back-office action is the acquirer's
/// own, never a shortcut into the phone; a refusal comes back as the acquirer's stable
/// error code, so both sides are compared on the same words.
#[async_trait]
pub trait AcquirerUnderTest: Send + Sync {
    /// What the phone's flows call.
    fn gateway(&self) -> &dyn Gateway;
    /// Signs a merchant up whose activations wait for a person's decision.
    async fn sign_up(&self, merchant_no: &str, legal_name: &str);
    /// The manufacturer's record of a terminal and the numbers the acquirer gave it.
    async fn register_terminal(
        &self,
        sn: &str,
        device_key: [u8; 32],
        terminal_no: &str,
        code: &str,
    );
    /// The applications waiting for the back office, oldest first.
    async fn reviews(&self) -> Vec<PendingReview>;
    /// Decides one; `Err` is the acquirer's error code.
    async fn decide(&self, application_id: &str, decision: Decision) -> Result<(), String>;
    /// Lets `ms` of the acquirer's clock pass.
    async fn advance(&self, ms: u64);
}

/// The simulated acquirer in process, as `--sim` reaches it.
pub struct InProcess {
    acquirer: SimAcquirer,
    gateway: RemoteGateway<Exchange>,
}

impl InProcess {
    pub async fn start() -> Self {
        let acquirer = SimAcquirer::new(11);
        let gateway = posmate_sim_world::acquirer::gateway(&acquirer);
        InProcess { acquirer, gateway }
    }
}

#[async_trait]
impl AcquirerUnderTest for InProcess {
    fn gateway(&self) -> &dyn Gateway {
        &self.gateway
    }

    async fn sign_up(&self, merchant_no: &str, legal_name: &str) {
        self.acquirer.register_merchant(MerchantSetup {
            merchant_no: merchant_no.into(),
            legal_name: legal_name.into(),
            review: Review::Manual,
        });
    }

    async fn register_terminal(
        &self,
        sn: &str,
        device_key: [u8; 32],
        terminal_no: &str,
        code: &str,
    ) {
        self.acquirer
            .register_terminal(sn, device_key, terminal_no, code);
    }

    async fn reviews(&self) -> Vec<PendingReview> {
        self.acquirer.pending_reviews()
    }

    async fn decide(&self, application_id: &str, decision: Decision) -> Result<(), String> {
        self.acquirer
            .decide_review(application_id, decision)
            .map_err(|e| e.code().to_owned())
    }

    async fn advance(&self, ms: u64) {
        self.acquirer.advance(ms);
    }
}

/// The sandbox acquirer over HTTPS on loopback.
pub struct Sandbox {
    gateway: HttpsGateway,
    admin: Client,
    /// Serving until the test's runtime ends; kept so the data directory outlives it.
    _running: Running,
    _dir: tempfile::TempDir,
}

impl Sandbox {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let running = posmate_sandbox::start(Config {
            listen: "127.0.0.1:0".into(),
            data_dir: dir.path().to_path_buf(),
            identity: Identity::Generated { hosts: vec![] },
            demo: false,
        })
        .await
        .expect("the sandbox starts");
        let started = &running.started;
        let ca_file = started.ca_file.as_deref().expect("a generated CA");
        let options = ClientOptions {
            extra_ca_pem: Some(std::fs::read(ca_file).expect("the sandbox's CA file")),
            ..ClientOptions::default()
        };
        let client = ReqwestClient::new(&started.base_url, &options).expect("a client");
        // The flows' own policy: a retry would show up as a second application if the
        // sandbox ever applied a repeated Idempotency-Key twice.
        let gateway = HttpsGateway::https(Arc::new(client), RetryPolicy::default());
        let admin = Client::new(&started.base_url, ca_file)
            .and_then(|c| c.with_token_file(&started.token_file))
            .expect("an admin client");
        Sandbox {
            gateway,
            admin,
            _running: running,
            _dir: dir,
        }
    }
}

/// The problem code of a refusal; anything else is a broken test setup.
fn code(e: SandboxError) -> String {
    match e {
        SandboxError::Refused { code, .. } => code,
        other => panic!("the admin call did not get an answer: {other}"),
    }
}

#[async_trait]
impl AcquirerUnderTest for Sandbox {
    fn gateway(&self) -> &dyn Gateway {
        &self.gateway
    }

    async fn sign_up(&self, merchant_no: &str, legal_name: &str) {
        let m = MerchantJson {
            merchant_no: merchant_no.into(),
            legal_name: legal_name.into(),
            review: ReviewJson::Manual,
        };
        let back: MerchantJson = self
            .admin
            .admin(Method::Post, "merchants", Some(&m))
            .await
            .expect("the merchant is signed up");
        assert_eq!(back, m);
    }

    async fn register_terminal(
        &self,
        sn: &str,
        device_key: [u8; 32],
        terminal_no: &str,
        code: &str,
    ) {
        let registration = TerminalRegistration {
            sn: sn.into(),
            device_key: device_key.iter().map(|b| format!("{b:02x}")).collect(),
            terminal_no: terminal_no.into(),
            activation_code: code.into(),
        };
        let view: TerminalView = self
            .admin
            .admin(Method::Post, "terminals", Some(&registration))
            .await
            .expect("the terminal is registered");
        assert_eq!(view.sn, sn);
    }

    async fn reviews(&self) -> Vec<PendingReview> {
        let r: Reviews = self
            .admin
            .admin(Method::Get, "reviews", None::<&()>)
            .await
            .expect("the reviews");
        r.reviews
    }

    async fn decide(&self, application_id: &str, decision: Decision) -> Result<(), String> {
        let path = format!("reviews/{application_id}/decision");
        let decided: Decided = self
            .admin
            .admin(Method::Post, &path, Some(&decision))
            .await
            .map_err(code)?;
        assert_eq!(
            (decided.application_id.as_str(), &decided.decision),
            (application_id, &decision)
        );
        Ok(())
    }

    async fn advance(&self, ms: u64) {
        let change = ClockChange {
            set_ms: None,
            advance_ms: Some(ms),
        };
        let _: Clock = self
            .admin
            .admin(Method::Post, "clock", Some(&change))
            .await
            .expect("the clock moves");
    }
}
