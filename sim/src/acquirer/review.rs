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
}
