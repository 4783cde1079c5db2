//! How the acquirer reviews a merchant's activations: a setting of the merchant's sign-up,
//! in a module of its own so that the books (`state`) can name it without importing the
//! acquirer's front, which imports the books.

/// How the acquirer's review of a merchant's activations goes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Review {
    /// Approved on submission.
    Instant,
    /// Pending until the application's status has been asked `n` times (approved then).
    AfterPolls(u32),
    /// Pending until this many milliseconds of the acquirer's clock have passed.
    After(u64),
    /// Pending on submission, rejected with this reason at the first status poll.
    Reject { reason_code: String, reason: String },
    /// Pending until the acquirer's staff decide ([`SimAcquirer::decide_review`]): the
    /// sandbox acquirer's back office, where a person approves or rejects each application.
    ///
    /// [`SimAcquirer::decide_review`]: crate::acquirer::SimAcquirer::decide_review
    Manual,
}

/// An application waiting for the acquirer's decision, as the back office lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PendingReview {
    pub application_id: String,
    pub sn: String,
    pub merchant_no: String,
    pub terminal_no: String,
    pub submitted_at_ms: u64,
}

/// What the back office decides about a pending application.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// Issue the terminal's keys.
    Approve,
    /// Refuse it; `reason_code` is the acquirer's, `reason` tells the merchant what to fix.
    Reject { reason_code: String, reason: String },
}
