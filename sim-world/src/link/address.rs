//! Who may drive a running `posmate sim`: whoever holds its per-run token. The simulated
//! terminals show pairing codes and the simulated acquirer hands out activation codes, so
//! another local user, or a web page making the browser talk to a loopback port, must not
//! reach them. `posmate sim` draws a fresh token each run and prints the address with it
//! (`TOKEN@HOST:PORT`); for its own user it also leaves the token in a file only that user
//! can read, so `HOST:PORT` alone works on the machine the sim runs on.

use std::fmt;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::SimLinkError;

/// A sim's address with its token.
#[derive(Clone)]
pub struct SimAddress {
    socket: String,
    token: Zeroizing<String>,
}

impl fmt::Debug for SimAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimAddress")
            .field("socket", &self.socket)
            .field("token", &"<redacted>")
            .finish()
    }
}

impl SimAddress {
    pub fn new(socket: impl Into<String>, token: Zeroizing<String>) -> Self {
        SimAddress {
            socket: socket.into(),
            token,
        }
    }

    /// `TOKEN@HOST:PORT` as `posmate sim` prints it, or a loopback `HOST:PORT` (the token
    /// then comes from this user's token file for that port, if there is one).
    pub fn parse(text: &str) -> Result<SimAddress, SimLinkError> {
        if let Some((token, socket)) = text.split_once('@') {
            return Ok(SimAddress::new(socket, Zeroizing::new(token.to_owned())));
        }
        let no_token = || SimLinkError::NoToken {
            addr: text.to_owned(),
        };
        let (host, port) = text.rsplit_once(':').ok_or_else(no_token)?;
        let port: u16 = port.parse().map_err(|_| no_token())?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if !matches!(host, "127.0.0.1" | "localhost" | "::1") {
            return Err(no_token());
        }
        // No token file: no sim of this user on that port. Whether none runs there
        // (unreachable) or another user's does (unauthorized) is for the server to say.
        let token = token_file(port)
            .and_then(|path| std::fs::read_to_string(path).ok())
            .unwrap_or_default();
        Ok(SimAddress::new(
            text,
            Zeroizing::new(token.trim().to_owned()),
        ))
    }

    /// `HOST:PORT`, without the token: what messages name.
    pub fn socket(&self) -> &str {
        &self.socket
    }

    pub(crate) fn token(&self) -> &str {
        &self.token
    }

    /// `TOKEN@HOST:PORT`, for another process to connect with.
    pub fn connect_string(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("{}@{}", self.token.as_str(), self.socket))
    }
}

/// A fresh token: 128 random bits in hex.
pub fn new_token() -> Zeroizing<String> {
    let bits: u128 = rand::random();
    Zeroizing::new(format!("{bits:032x}"))
}

/// Whether `offered` is `token`, in time independent of where they differ.
pub(crate) fn same_token(offered: &str, token: &str) -> bool {
    offered.len() == token.len()
        && offered
            .bytes()
            .zip(token.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// Where the token of the sim on loopback port `port` is left for its user: the user's
/// runtime directory (`$XDG_RUNTIME_DIR`, private to the user), else their local data
/// directory.
pub fn token_file(port: u16) -> Option<PathBuf> {
    let base = dirs::runtime_dir().or_else(dirs::data_local_dir)?;
    Some(
        base.join("posmate")
            .join("sim-links")
            .join(format!("{port}.token")),
    )
}

/// The token file of a running sim; removed when dropped (the sim stopped), unless a sim
/// started since on the same port has written its own.
pub struct TokenFile {
    path: PathBuf,
    token: Zeroizing<String>,
}

impl TokenFile {
    /// Leaves `token` for loopback port `port`, readable by this user only.
    pub fn publish(port: u16, token: &str) -> std::io::Result<TokenFile> {
        let path = token_file(port)
            .ok_or_else(|| std::io::Error::other("this user has no runtime or data directory"))?;
        write_private(&path, token)?;
        Ok(TokenFile {
            path,
            token: Zeroizing::new(token.to_owned()),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TokenFile {
    fn drop(&mut self) {
        let ours =
            std::fs::read_to_string(&self.path).is_ok_and(|t| same_token(t.trim(), &self.token));
        if ours {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(unix)]
fn write_private(path: &Path, token: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let dir = path.parent().expect("a token file has a folder");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let _ = std::fs::remove_file(path);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(token.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, token: &str) -> std::io::Result<()> {
    std::fs::create_dir_all(path.parent().expect("a token file has a folder"))?;
    std::fs::write(path, token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_with_its_token_reads_back_and_hides_the_token() {
        let a = SimAddress::parse("0123abcd@127.0.0.1:7878").unwrap();
        assert_eq!(a.socket(), "127.0.0.1:7878");
        assert_eq!(a.token(), "0123abcd");
        assert_eq!(a.connect_string().as_str(), "0123abcd@127.0.0.1:7878");
        assert!(!format!("{a:?}").contains("0123abcd"));
    }

    #[test]
    fn a_remote_address_without_a_token_is_refused() {
        for text in ["10.0.0.2:7878", "sim.example:7878", "7878", "127.0.0.1:x"] {
            let e = SimAddress::parse(text).unwrap_err();
            assert!(matches!(e, SimLinkError::NoToken { .. }), "{text}: {e}");
        }
    }

    #[test]
    fn tokens_are_fresh_and_compared_whole() {
        let (a, b) = (new_token(), new_token());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        assert!(same_token(&a, &a.clone()));
        assert!(!same_token(&a, &b));
        assert!(!same_token(&a[..31], &a));
        assert!(!same_token("", &a));
    }

    #[test]
    fn a_stopping_sim_leaves_the_token_of_the_one_started_after_it() {
        let port = 1 + (rand::random::<u16>() % 60_000);
        let old = TokenFile::publish(port, "aaaa").unwrap();
        let new = TokenFile::publish(port, "bbbb").unwrap();
        drop(old);
        assert_eq!(std::fs::read_to_string(new.path()).unwrap(), "bbbb");
        let path = new.path().to_owned();
        drop(new);
        assert!(!path.exists());
    }
}
