//! Why the sandbox could not start or keep its books. Each error names the file or address
//! involved and has a stable code for the CLI; none ever carries a request body, a key or
//! the admin token.

use std::path::PathBuf;

/// A failure of the sandbox itself (not of an API call, which is answered as a problem).
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// Reading or writing a file of the data directory failed.
    #[error("{what} ({}): {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file of the data directory exists but is not what the sandbox wrote.
    #[error("{} is not the sandbox's: {detail}", path.display())]
    Corrupt { path: PathBuf, detail: String },
    /// Certificates or keys could not be made, read or used.
    #[error("TLS: {detail}")]
    Tls { detail: String },
    /// The listening address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    /// The sandbox answered with a problem (RFC 9457); `code` is the problem's.
    #[error("{title} (HTTP {status}, {code})")]
    Refused {
        status: u16,
        code: String,
        title: String,
        hint: String,
    },
    /// A client call (the admin client) failed before an answer came back.
    #[error("cannot reach the sandbox at {url}: {detail}")]
    Unreachable { url: String, detail: String },
}

impl SandboxError {
    /// A stable code for logs and the CLI.
    pub fn code(&self) -> &'static str {
        match self {
            SandboxError::Io { .. } => "sandbox-io",
            SandboxError::Corrupt { .. } => "sandbox-corrupt",
            SandboxError::Tls { .. } => "sandbox-tls",
            SandboxError::Listen { .. } => "listen-failed",
            SandboxError::Refused { .. } => "sandbox-refused",
            SandboxError::Unreachable { .. } => "sandbox-unreachable",
        }
    }

    pub(crate) fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        SandboxError::Io {
            what,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn tls(detail: impl std::fmt::Display) -> Self {
        SandboxError::Tls {
            detail: detail.to_string(),
        }
    }
}
