//! The one type secrets travel in: bytes that are wiped on drop and never printed.

use zeroize::Zeroizing;

/// Secret bytes held in memory only as long as needed.
///
/// The buffer is zeroized when the value is dropped, and `Debug` prints only the length, so a
/// secret that ends up in a `tracing` field or a panic message reveals nothing. There is
/// deliberately no `Display` and no `PartialEq`: read the bytes with [`Secret::expose`] at the
/// one place that needs them.
#[derive(Clone)]
pub struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
    /// Takes ownership of `bytes`; they are wiped when the `Secret` is dropped.
    pub fn new(bytes: Vec<u8>) -> Self {
        Secret(Zeroizing::new(bytes))
    }

    /// Copies `bytes` into a new secret. The caller stays responsible for wiping its copy.
    pub fn from_slice(bytes: &[u8]) -> Self {
        Secret::new(bytes.to_vec())
    }

    /// The secret bytes. Keep the borrow short and never log it.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret(<redacted, {} bytes>)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::Secret;

    #[test]
    fn keystore_secret_debug_is_redacted() {
        let secret = Secret::from_slice(&[0xAB; 32]);
        let printed = format!("{secret:?} {secret:#?}");
        assert_eq!(format!("{secret:?}"), "Secret(<redacted, 32 bytes>)");
        assert!(!printed.to_lowercase().contains("ab"), "{printed}");
        assert!(!printed.contains("171"), "{printed}");
        assert_eq!(secret.expose(), &[0xAB; 32]);
        assert_eq!(secret.len(), 32);
        assert!(!secret.is_empty());
    }
}
