//! The admin token: a random bearer token made at first start and kept owner-only in the
//! data directory, which the back-office surface requires. Whoever can read the data
//! directory is the sandbox's operator; nobody else can approve an activation.

use std::path::Path;

use rand::RngCore;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::error::SandboxError;
use crate::private_file::{self, Access};

/// The token file in the data directory.
pub const TOKEN_FILE: &str = "admin-token";

/// The bearer token admin calls must carry.
pub struct AdminToken(Zeroizing<String>);

impl AdminToken {
    /// The token kept in `dir`, made and written there on first use.
    pub fn load_or_create(dir: &Path) -> Result<Self, SandboxError> {
        let path = dir.join(TOKEN_FILE);
        if let Some(bytes) = private_file::read(&path)? {
            let bytes = Zeroizing::new(bytes);
            let text = std::str::from_utf8(&bytes).map_err(|_| bad(&path))?.trim();
            if text.len() < 32 || !text.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(bad(&path));
            }
            return Ok(AdminToken(Zeroizing::new(text.to_owned())));
        }
        let mut raw = Zeroizing::new([0u8; 32]);
        rand::thread_rng().fill_bytes(raw.as_mut());
        let token: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        private_file::write_atomic(&path, format!("{token}\n").as_bytes(), Access::Owner)?;
        Ok(AdminToken(Zeroizing::new(token)))
    }

    /// Whether `authorization` (the header's value) is `Bearer <this token>`, compared in
    /// constant time so the answer's timing says nothing about how much of it was right.
    pub fn admits(&self, authorization: Option<&str>) -> bool {
        let Some(given) = authorization.and_then(|a| a.strip_prefix("Bearer ")) else {
            return false;
        };
        bool::from(given.trim().as_bytes().ct_eq(self.0.as_bytes()))
    }
}

fn bad(path: &Path) -> SandboxError {
    SandboxError::Corrupt {
        path: path.to_owned(),
        detail: "not an admin token (32 or more letters and digits)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_kept_and_only_it_is_admitted() {
        let dir = tempfile::tempdir().unwrap();
        let token = AdminToken::load_or_create(dir.path()).unwrap();
        let text = std::fs::read_to_string(dir.path().join(TOKEN_FILE)).unwrap();
        let again = AdminToken::load_or_create(dir.path()).unwrap();
        let header = format!("Bearer {}", text.trim());
        assert!(token.admits(Some(&header)));
        assert!(again.admits(Some(&header)));
        assert!(!token.admits(Some(text.trim())));
        assert!(!token.admits(Some(&header[..header.len() - 1])));
        assert!(!token.admits(Some("Bearer ")));
        assert!(!token.admits(None));
    }
}
