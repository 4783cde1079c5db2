//! The sandbox's TLS material. At first start it makes its own certificate authority (kept
//! in the data directory: `ca.pem` for clients to trust, its key owner-only) and, at every
//! start, a server certificate for `localhost`, `127.0.0.1`, `::1` and the `--host` names
//! asked for, signed by that CA: the CA a client trusts stays the same while the names may
//! change between runs. An operator may bring their own certificate and key instead.
//!
//! rustls with the ring provider only, TLS 1.3 and 1.2, HTTP/1.1 by ALPN.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SerialNumber,
};
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::SandboxError;
use crate::private_file::{self, Access};

/// The CA certificate clients trust (`--cacert`, the app's debug trust store).
pub const CA_FILE: &str = "ca.pem";
const CA_KEY_FILE: &str = "ca-key.pem";
/// The server certificate of the current run and its key.
pub const SERVER_CERT_FILE: &str = "server.pem";
const SERVER_KEY_FILE: &str = "server-key.pem";
/// The names every sandbox certificate holds.
pub const DEFAULT_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];
const CA_NAME: &str = "posmate sandbox acquirer CA";

/// Where the server's certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// Made by the sandbox's own CA for the default names and these extra ones.
    Generated { hosts: Vec<String> },
    /// The operator's certificate chain and private key (PEM files).
    Provided { cert: PathBuf, key: PathBuf },
}

/// The rustls configuration for the listener, and the CA file clients should trust when
/// the sandbox made the certificate.
pub fn server_config(
    dir: &Path,
    identity: &Identity,
) -> Result<(Arc<ServerConfig>, Option<PathBuf>), SandboxError> {
    let (chain, key, ca) = match identity {
        Identity::Generated { hosts } => {
            let (cert, key) = generate(dir, hosts)?;
            (cert, key, Some(dir.join(CA_FILE)))
        }
        Identity::Provided { cert, key } => (read_chain(cert)?, read_key(key)?, None),
    };
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(SandboxError::tls)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| SandboxError::tls(format!("the certificate and key do not fit: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((Arc::new(config), ca))
}

/// The CA (made at first start, read after) and a fresh server certificate it signed.
fn generate(
    dir: &Path,
    hosts: &[String],
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), SandboxError> {
    let year = this_year();
    let ca_key_path = dir.join(CA_KEY_FILE);
    let ca_key = match private_file::read(&ca_key_path)? {
        Some(pem) => {
            let text = String::from_utf8(pem).map_err(|_| corrupt(&ca_key_path))?;
            KeyPair::from_pem(&text).map_err(|_| corrupt(&ca_key_path))?
        }
        None => {
            let key = KeyPair::generate().map_err(SandboxError::tls)?;
            let mut params = ca_params();
            params.not_before = date_time_ymd(year - 1, 1, 1);
            params.not_after = date_time_ymd(year + 10, 1, 1);
            let cert = params.self_signed(&key).map_err(SandboxError::tls)?;
            private_file::write_atomic(
                &ca_key_path,
                key.serialize_pem().as_bytes(),
                Access::Owner,
            )?;
            private_file::write_atomic(&dir.join(CA_FILE), cert.pem().as_bytes(), Access::Public)?;
            key
        }
    };
    if private_file::read(&dir.join(CA_FILE))?.is_none() {
        return Err(SandboxError::Corrupt {
            path: dir.join(CA_FILE),
            detail: "the CA's key is there but its certificate is missing; delete ca-key.pem \
                     to make a new CA (clients must then trust the new ca.pem)"
                .into(),
        });
    }
    // Signing needs the CA's name and key only, both the same at every start.
    let issuer = Issuer::new(ca_params(), ca_key);
    let mut names: Vec<String> = DEFAULT_NAMES.iter().map(|n| (*n).to_owned()).collect();
    names.extend(
        hosts
            .iter()
            .filter(|h| !names.contains(h))
            .cloned()
            .collect::<Vec<_>>(),
    );
    let mut params = CertificateParams::new(names)
        .map_err(|e| SandboxError::tls(format!("a --host name is not a DNS name or IP: {e}")))?;
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, "posmate sandbox acquirer");
    params.not_before = date_time_ymd(year - 1, 1, 1);
    params.not_after = date_time_ymd(year + 1, 12, 31);
    params.serial_number = Some(SerialNumber::from(
        rand::random::<u64>().to_be_bytes().to_vec(),
    ));
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    let key = KeyPair::generate().map_err(SandboxError::tls)?;
    let cert = params.signed_by(&key, &issuer).map_err(SandboxError::tls)?;
    private_file::write_atomic(
        &dir.join(SERVER_KEY_FILE),
        key.serialize_pem().as_bytes(),
        Access::Owner,
    )?;
    private_file::write_atomic(
        &dir.join(SERVER_CERT_FILE),
        cert.pem().as_bytes(),
        Access::Public,
    )?;
    let der = PrivateKeyDer::try_from(key.serialize_der()).map_err(SandboxError::tls)?;
    Ok((vec![cert.der().clone()], der))
}

/// rustls on *ring*, the one provider the sandbox builds with (aws-lc-rs would need a C
/// toolchain and cmake on every developer's machine). rustls 0.23.48 deprecates it for
/// lacking post-quantum key exchange, which a test acquirer on loopback does not need; a
/// real acquirer's TLS is its own.
#[allow(deprecated)]
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, CA_NAME);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
}

/// The certificates of a PEM file (a CA's, for a client to trust; a chain, for the server).
pub fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, SandboxError> {
    let bytes = private_file::read(path)?.ok_or_else(|| missing(path))?;
    let chain = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| corrupt(path))?;
    if chain.is_empty() {
        return Err(corrupt(path));
    }
    Ok(chain)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, SandboxError> {
    let bytes = private_file::read(path)?.ok_or_else(|| missing(path))?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|_| corrupt(path))
}

fn missing(path: &Path) -> SandboxError {
    SandboxError::io(
        "cannot read",
        path,
        std::io::Error::from(std::io::ErrorKind::NotFound),
    )
}

fn corrupt(path: &Path) -> SandboxError {
    SandboxError::Corrupt {
        path: path.to_owned(),
        detail: "not a PEM certificate or key".into(),
    }
}

/// The current year, for validity periods (a year either side is plenty of slack for a
/// wrong clock).
fn this_year() -> i32 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    1970 + i32::try_from(secs / 31_556_952).unwrap_or(0)
}
