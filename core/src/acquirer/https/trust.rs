//! Which servers the default client trusts, and why it refused one.
//!
//! Roots: Mozilla's (webpki-roots, compiled in) plus an optional extra CA for a sandbox or
//! private acquirer. Not rustls-platform-verifier: its verifier takes no extra roots on
//! Android and needs the app's JNI context and a bundled Kotlin component there, and the
//! phone apps reach the acquirer through their own platform client anyway
//! (`super::HttpClient`); one verifier behaves the same wherever posmate's client runs.
//!
//! Pins (SHA-256 of a certificate's SubjectPublicKeyInfo, base64, as OkHttp and HPKP write
//! them) are checked on top of the usual validation, inside the handshake: a mismatch
//! aborts it, so not a byte of the request is sent.

use std::sync::Arc;

use base64::Engine;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256};

use crate::acquirer::TlsReason;

/// A pinned key: the SHA-256 of a certificate's DER SubjectPublicKeyInfo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpkiPin(pub [u8; 32]);

impl SpkiPin {
    /// `sha256/BASE64` or bare `BASE64` (standard alphabet, padded), as OkHttp prints them.
    pub fn parse(text: &str) -> Result<SpkiPin, String> {
        let b64 = text.strip_prefix("sha256/").unwrap_or(text);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| "a pin is the base64 of a SHA-256 (sha256/… as OkHttp prints it)")?;
        let hash: [u8; 32] = bytes
            .try_into()
            .map_err(|_| "a pin is a SHA-256: 32 bytes, 44 base64 characters")?;
        Ok(SpkiPin(hash))
    }

    /// The pin of a DER SubjectPublicKeyInfo.
    pub fn of_spki(spki_der: &[u8]) -> SpkiPin {
        SpkiPin(Sha256::digest(spki_der).into())
    }
}

impl std::fmt::Display for SpkiPin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let b64 = base64::engine::general_purpose::STANDARD.encode(self.0);
        write!(f, "sha256/{b64}")
    }
}

/// The certificates of a PEM file (a CA bundle); refused if it holds none, so a wrong
/// file (a key, an empty file) is caught when configured rather than at the first call.
pub fn certificates_from_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("it is not a PEM certificate file ({e})"))?;
    if certs.is_empty() {
        return Err("it holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into());
    }
    Ok(certs)
}

/// The verifier of the default client: Mozilla's roots and `extra`, then `pins`.
pub fn verifier(
    extra: &[CertificateDer<'static>],
    pins: &[SpkiPin],
    provider: Arc<CryptoProvider>,
) -> Result<Arc<dyn ServerCertVerifier>, String> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for cert in extra {
        roots
            .add(cert.clone())
            .map_err(|e| format!("the extra CA cannot be a trust anchor: {e}"))?;
    }
    let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| format!("cannot build the certificate verifier: {e}"))?;
    Ok(Arc::new(Pinned {
        inner,
        pins: pins.to_vec(),
    }))
}

/// Validation as usual, then at least one certificate of the chain the server presented
/// must carry a pinned key (when there are pins): pinning the acquirer's intermediate CA
/// survives its leaf being renewed.
#[derive(Debug)]
struct Pinned {
    inner: Arc<WebPkiServerVerifier>,
    pins: Vec<SpkiPin>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verified = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )?;
        if self.pins.is_empty() {
            return Ok(verified);
        }
        let pinned = std::iter::once(end_entity)
            .chain(intermediates)
            .filter_map(|cert| spki_of(cert))
            .any(|spki| self.pins.contains(&SpkiPin::of_spki(spki)));
        if pinned {
            Ok(verified)
        } else {
            // rustls's own code for "an application-defined check failed": nothing else in
            // this verifier produces it, so `classify` reads it as the pin.
            Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Why rustls refused the server, for the fix.
pub fn classify(error: &rustls::Error) -> TlsReason {
    match error {
        rustls::Error::InvalidCertificate(e) => match e {
            CertificateError::UnknownIssuer => TlsReason::UnknownCa,
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                TlsReason::Expired
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                TlsReason::NotYetValid
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                TlsReason::WrongHost
            }
            CertificateError::ApplicationVerificationFailure => TlsReason::PinMismatch,
            _ => TlsReason::Other,
        },
        _ => TlsReason::Other,
    }
}

/// The DER SubjectPublicKeyInfo inside a DER certificate: `Certificate ::= SEQUENCE {
/// tbsCertificate SEQUENCE { [0] version OPTIONAL, serialNumber, signature, issuer,
/// validity, subject, subjectPublicKeyInfo, … }, … }` (RFC 5280). `None` for anything that
/// does not parse (the pin then does not match).
pub fn spki_of(cert: &[u8]) -> Option<&[u8]> {
    let (certificate, _) = tlv(cert, 0x30)?;
    let mut tbs = tlv(certificate.content, 0x30)?.0.content;
    if tbs.first() == Some(&0xA0) {
        tbs = tlv(tbs, 0xA0)?.1;
    }
    // serialNumber, signature, issuer, validity, subject.
    for tag in [0x02, 0x30, 0x30, 0x30, 0x30] {
        tbs = tlv(tbs, tag)?.1;
    }
    let (spki, _) = tlv(tbs, 0x30)?;
    Some(spki.whole)
}

/// One DER element.
struct Element<'a> {
    /// Tag, length and content.
    whole: &'a [u8],
    content: &'a [u8],
}

/// The element of `tag` at the start of `input`, and what follows it.
fn tlv(input: &[u8], tag: u8) -> Option<(Element<'_>, &[u8])> {
    if *input.first()? != tag {
        return None;
    }
    let first = *input.get(1)?;
    let (len, header) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7F);
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for b in input.get(2..2 + n)? {
            len = (len << 8) | usize::from(*b);
        }
        (len, 2 + n)
    };
    let end = header.checked_add(len)?;
    let whole = input.get(..end)?;
    Some((
        Element {
            whole,
            content: &whole[header..],
        },
        &input[end..],
    ))
}
