//! What a front end tells its user about any failure, whichever crate it comes from.

use super::{Error, ErrorKind};

/// The four answers every front end needs about a failure (its stable code, its kind,
/// whether a retry can help, what to do next) plus whether the internet is involved.
/// The core's [`Error`] answers them, and so does every error met beside the core (the sim
/// link's, say), so the bindings turn any of them into their error in one function
/// instead of one copy per source.
pub trait Advice: std::fmt::Display {
    fn code(&self) -> &str;
    fn kind(&self) -> ErrorKind;
    fn is_retryable(&self) -> bool;
    fn user_action(&self) -> String;
    /// Only the acquirer's steps reach the internet.
    fn needs_internet(&self) -> bool {
        false
    }
}

impl Advice for Error {
    fn code(&self) -> &str {
        Error::code(self)
    }
    fn kind(&self) -> ErrorKind {
        Error::kind(self)
    }
    fn is_retryable(&self) -> bool {
        Error::is_retryable(self)
    }
    fn user_action(&self) -> String {
        Error::user_action(self)
    }
    fn needs_internet(&self) -> bool {
        Error::needs_internet(self)
    }
}
