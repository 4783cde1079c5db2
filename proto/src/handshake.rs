//! Session establishment (`docs/protocol.md` §5): first pairing with SPAKE2 over the
//! 6-digit code feeding the psk of `Noise_XXpsk3`, and resume with `Noise_IK` over pinned
//! static keys.
//!
//! Why SPAKE2 rather than a psk made from the code directly: a 6-digit psk can be ground
//! offline from one recorded handshake in well under a second. SPAKE2 leaves an attacker
//! exactly one online guess per attempt, which the terminal's lockout bounds.
//!
//! Every step is a plain function from received bytes to bytes to send, with the
//! randomness passed in as a 32-byte seed so that a simulated terminal is deterministic and
//! a recorded session can be replayed.

use curve25519_dalek::montgomery::MontgomeryPoint;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use snow::params::{CipherChoice, DHChoice, HashChoice, NoiseParams};
use snow::resolvers::{CryptoResolver, DefaultResolver};
use snow::types::{Cipher, Dh, Hash, Random};
use snow::HandshakeState;
use spake2::{Ed25519Group, Identity, Password, Spake2};
use zeroize::{Zeroize, Zeroizing};

use crate::message::{Pair1, Pair2};
use crate::secure::SecureChannel;

/// The protocol version this implementation speaks.
pub const PROTOCOL_VERSION: u8 = 1;
/// Digits in a pairing code.
pub const CODE_DIGITS: usize = 6;

const PAIRING_PATTERN: &str = "Noise_XXpsk3_25519_ChaChaPoly_BLAKE2s";
const RESUME_PATTERN: &str = "Noise_IK_25519_ChaChaPoly_BLAKE2s";
const PROLOGUE_LABEL: &[u8] = b"posmate/1";
const PHONE_IDENTITY: &[u8] = b"posmate-phone";
const TERMINAL_IDENTITY_PREFIX: &[u8] = b"posmate-terminal:";
const PSK_SALT: &[u8] = b"posmate pairing v1";
const PSK_INFO: &[u8] = b"psk";
/// Room for any handshake message of these patterns with a small payload.
const HANDSHAKE_BUF: usize = 1024;

/// Why a handshake step failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// Pairing message 3 failed authentication: the code typed on the phone is not the one
    /// the terminal showed, or someone in the middle substituted keys.
    #[error("the pairing code did not match")]
    WrongCode,
    /// The phone's key is not among the terminal's paired phones.
    #[error("this phone is not paired with the terminal")]
    NotPaired,
    /// A handshake message failed to verify (impostor, corruption or attack).
    #[error("a handshake message failed to verify")]
    Failed,
    /// A handshake message was structurally wrong (length, SPAKE2 side byte).
    #[error("malformed handshake message")]
    Malformed,
    /// The code is not 6 decimal digits.
    #[error("a pairing code is exactly 6 digits")]
    BadCode,
}

/// A Noise static key pair (X25519). The secret half is wiped on drop.
pub struct StaticKeypair {
    secret: Zeroizing<[u8; 32]>,
    public: [u8; 32],
}

impl StaticKeypair {
    /// Derives a key pair from 32 secret bytes (a stored key, or fresh randomness).
    pub fn from_secret(secret: [u8; 32]) -> Self {
        let secret = Zeroizing::new(secret);
        let public = MontgomeryPoint::mul_base_clamped(*secret).to_bytes();
        StaticKeypair { secret, public }
    }

    /// Derives a key pair deterministically from a seed (simulated terminals).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        let mut rng = ChaCha20Rng::from_seed(seed);
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut secret);
        Self::from_secret(secret)
    }

    pub fn public(&self) -> [u8; 32] {
        self.public
    }

    /// The secret bytes, for storing in the keystore. Handle with care.
    pub fn secret(&self) -> &[u8; 32] {
        &self.secret
    }
}

impl core::fmt::Debug for StaticKeypair {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StaticKeypair")
            .field("public", &hex(&self.public))
            .finish_non_exhaustive()
    }
}

/// The 6-digit code a terminal shows on its screen. Wiped on drop; never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct PairingCode(Zeroizing<[u8; CODE_DIGITS]>);

impl PairingCode {
    /// A uniformly random code (rejection sampling, no modulo bias).
    pub fn random(rng: &mut impl RngCore) -> Self {
        let n = loop {
            let v = rng.next_u32();
            // 4_294_000_000 is the largest multiple of 1_000_000 below 2^32.
            if v < 4_294_000_000 {
                break v % 1_000_000;
            }
        };
        let mut digits = [0u8; CODE_DIGITS];
        let mut rest = n;
        for d in digits.iter_mut().rev() {
            *d = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        PairingCode(Zeroizing::new(digits))
    }

    /// Parses what the merchant typed: exactly 6 digits, spaces ignored.
    pub fn parse(typed: &str) -> Result<Self, HandshakeError> {
        let mut digits = [0u8; CODE_DIGITS];
        let mut n = 0;
        for c in typed.chars().filter(|c| !c.is_whitespace()) {
            if !c.is_ascii_digit() || n == CODE_DIGITS {
                digits.zeroize();
                return Err(HandshakeError::BadCode);
            }
            digits[n] = c as u8;
            n += 1;
        }
        if n != CODE_DIGITS {
            digits.zeroize();
            return Err(HandshakeError::BadCode);
        }
        Ok(PairingCode(Zeroizing::new(digits)))
    }

    /// The digits, for showing on the terminal's screen.
    pub fn as_str(&self) -> &str {
        // Only ASCII digits are ever stored.
        core::str::from_utf8(&self.0[..]).unwrap_or("??????")
    }
}

impl core::fmt::Debug for PairingCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("PairingCode(******)")
    }
}

/// The prologue both handshakes start from: it binds HELLO and HELLO_ACK (version,
/// windows, the terminal's advertised key) into the session, so a downgrade fails.
pub fn prologue(hello_frame: &[u8], hello_ack_frame: &[u8]) -> Vec<u8> {
    let mut p =
        Vec::with_capacity(PROLOGUE_LABEL.len() + hello_frame.len() + hello_ack_frame.len());
    p.extend_from_slice(PROLOGUE_LABEL);
    p.extend_from_slice(hello_frame);
    p.extend_from_slice(hello_ack_frame);
    p
}

fn terminal_identity(sn: &str) -> Vec<u8> {
    let mut id = TERMINAL_IDENTITY_PREFIX.to_vec();
    id.extend_from_slice(sn.as_bytes());
    id
}

fn spake_array(msg: Vec<u8>) -> Result<[u8; 33], HandshakeError> {
    msg.try_into().map_err(|_| HandshakeError::Malformed)
}

fn psk_from_spake(key: &[u8]) -> Zeroizing<[u8; 32]> {
    let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(PSK_SALT), key);
    let mut psk = Zeroizing::new([0u8; 32]);
    // 32 bytes is always a valid HKDF-SHA256 output length.
    let _ = hk.expand(PSK_INFO, &mut psk[..]);
    psk
}

fn builder<'a>(pattern: &str, seed: [u8; 32]) -> snow::Builder<'a> {
    // The patterns are compile-time constants that parse.
    let params: NoiseParams = pattern
        .parse()
        .unwrap_or_else(|_| unreachable_pattern(pattern));
    snow::Builder::with_resolver(params, Box::new(SeededResolver { seed }))
}

#[cold]
fn unreachable_pattern(pattern: &str) -> NoiseParams {
    panic!("built-in Noise pattern {pattern} does not parse")
}

fn write(hs: &mut HandshakeState) -> Result<Vec<u8>, HandshakeError> {
    let mut buf = vec![0u8; HANDSHAKE_BUF];
    let n = hs
        .write_message(&[], &mut buf)
        .map_err(|_| HandshakeError::Failed)?;
    buf.truncate(n);
    Ok(buf)
}

fn read(hs: &mut HandshakeState, msg: &[u8]) -> Result<(), snow::Error> {
    if msg.len() > HANDSHAKE_BUF {
        return Err(snow::Error::Input);
    }
    let mut payload = vec![0u8; HANDSHAKE_BUF];
    hs.read_message(msg, &mut payload).map(|_| ())
}

fn remote_static(hs: &HandshakeState) -> Result<[u8; 32], HandshakeError> {
    hs.get_remote_static()
        .and_then(|k| <[u8; 32]>::try_from(k).ok())
        .ok_or(HandshakeError::Failed)
}

fn finish(mut hs: HandshakeState) -> Result<SecureChannel, HandshakeError> {
    if !hs.is_handshake_finished() {
        return Err(HandshakeError::Failed);
    }
    let hash: [u8; 32] = hs
        .get_handshake_hash()
        .try_into()
        .map_err(|_| HandshakeError::Failed)?;
    let initiator = hs.is_initiator();
    let (mut i2r, mut r2i) = hs.dangerously_get_raw_split();
    let channel = SecureChannel::from_split(initiator, i2r, r2i, hash);
    i2r.zeroize();
    r2i.zeroize();
    Ok(channel)
}

/// The phone's side of a first pairing, between PAIR1 and PAIR2.
pub struct PhonePairing {
    spake: Spake2<Ed25519Group>,
    noise: HandshakeState,
}

impl PhonePairing {
    /// Starts pairing with the code the merchant typed. Returns PAIR1.
    pub fn start(
        local: &StaticKeypair,
        code: &PairingCode,
        sn: &str,
        prologue: &[u8],
        seed: [u8; 32],
    ) -> Result<(PhonePairing, Pair1), HandshakeError> {
        let mut rng = ChaCha20Rng::from_seed(seed);
        let mut noise_seed = [0u8; 32];
        rng.fill_bytes(&mut noise_seed);
        let (spake, spake_msg) = Spake2::<Ed25519Group>::start_a_with_rng(
            &Password::new(code.0.as_slice()),
            &Identity::new(PHONE_IDENTITY),
            &Identity::new(&terminal_identity(sn)),
            &mut rng,
        );
        let mut noise = builder(PAIRING_PATTERN, noise_seed)
            .local_private_key(local.secret())
            .and_then(|b| b.prologue(prologue))
            .and_then(|b| b.build_initiator())
            .map_err(|_| HandshakeError::Failed)?;
        noise_seed.zeroize();
        let m1 = write(&mut noise)?;
        Ok((
            PhonePairing { spake, noise },
            Pair1 {
                spake: spake_array(spake_msg)?,
                noise: m1,
            },
        ))
    }

    /// Consumes PAIR2. Returns the session, the terminal's static key (to pin once the
    /// terminal confirms) and PAIR3's body.
    pub fn on_pair2(
        self,
        pair2: &Pair2,
    ) -> Result<(SecureChannel, [u8; 32], Vec<u8>), HandshakeError> {
        let PhonePairing { spake, mut noise } = self;
        let key = Zeroizing::new(
            spake
                .finish(&pair2.spake)
                .map_err(|_| HandshakeError::Malformed)?,
        );
        read(&mut noise, &pair2.noise).map_err(|_| HandshakeError::Failed)?;
        let psk = psk_from_spake(&key);
        noise
            .set_psk(3, &psk[..])
            .map_err(|_| HandshakeError::Failed)?;
        let terminal_static = remote_static(&noise)?;
        let m3 = write(&mut noise)?;
        Ok((finish(noise)?, terminal_static, m3))
    }
}

/// The terminal's side of a first pairing, between PAIR2 and PAIR3.
pub struct TerminalPairing {
    noise: HandshakeState,
}

impl TerminalPairing {
    /// Answers PAIR1 with PAIR2, using the code currently on the terminal's screen.
    pub fn on_pair1(
        local: &StaticKeypair,
        code: &PairingCode,
        sn: &str,
        prologue: &[u8],
        pair1: &Pair1,
        seed: [u8; 32],
    ) -> Result<(TerminalPairing, Pair2), HandshakeError> {
        let mut rng = ChaCha20Rng::from_seed(seed);
        let mut noise_seed = [0u8; 32];
        rng.fill_bytes(&mut noise_seed);
        let (spake, spake_msg) = Spake2::<Ed25519Group>::start_b_with_rng(
            &Password::new(code.0.as_slice()),
            &Identity::new(PHONE_IDENTITY),
            &Identity::new(&terminal_identity(sn)),
            &mut rng,
        );
        let key = Zeroizing::new(
            spake
                .finish(&pair1.spake)
                .map_err(|_| HandshakeError::Malformed)?,
        );
        let psk = psk_from_spake(&key);
        let mut noise = builder(PAIRING_PATTERN, noise_seed)
            .local_private_key(local.secret())
            .and_then(|b| b.prologue(prologue))
            .and_then(|b| b.psk(3, &psk))
            .and_then(|b| b.build_responder())
            .map_err(|_| HandshakeError::Failed)?;
        noise_seed.zeroize();
        // In psk mode message 1's payload is already authenticated against the prologue, so a
        // tampered HELLO / HELLO_ACK fails here.
        read(&mut noise, &pair1.noise).map_err(|_| HandshakeError::Failed)?;
        let m2 = write(&mut noise)?;
        Ok((
            TerminalPairing { noise },
            Pair2 {
                spake: spake_array(spake_msg)?,
                noise: m2,
            },
        ))
    }

    /// Verifies PAIR3. A failure here is a wrong code (or a man in the middle) and counts
    /// towards the lockout. Returns the session and the phone's static key to store.
    pub fn on_pair3(self, pair3: &[u8]) -> Result<(SecureChannel, [u8; 32]), HandshakeError> {
        let mut noise = self.noise;
        read(&mut noise, pair3).map_err(|_| HandshakeError::WrongCode)?;
        let phone_static = remote_static(&noise)?;
        Ok((finish(noise)?, phone_static))
    }
}

/// The phone's side of a resume, between RESUME1 and RESUME2.
pub struct PhoneResume {
    noise: HandshakeState,
}

impl PhoneResume {
    /// Starts IK towards the pinned terminal key. Returns RESUME1's body.
    pub fn start(
        local: &StaticKeypair,
        terminal_static: &[u8; 32],
        prologue: &[u8],
        seed: [u8; 32],
    ) -> Result<(PhoneResume, Vec<u8>), HandshakeError> {
        let mut noise = builder(RESUME_PATTERN, seed)
            .local_private_key(local.secret())
            .and_then(|b| b.remote_public_key(terminal_static))
            .and_then(|b| b.prologue(prologue))
            .and_then(|b| b.build_initiator())
            .map_err(|_| HandshakeError::Failed)?;
        let m1 = write(&mut noise)?;
        Ok((PhoneResume { noise }, m1))
    }

    /// Verifies RESUME2: only the holder of the pinned key can produce it.
    pub fn on_resume2(self, resume2: &[u8]) -> Result<SecureChannel, HandshakeError> {
        let mut noise = self.noise;
        read(&mut noise, resume2).map_err(|_| HandshakeError::Failed)?;
        finish(noise)
    }
}

/// The terminal's side of a resume.
pub struct TerminalResume;

impl TerminalResume {
    /// Verifies RESUME1 and, if the phone is paired, answers with RESUME2's body.
    pub fn on_resume1(
        local: &StaticKeypair,
        prologue: &[u8],
        resume1: &[u8],
        is_paired: impl Fn(&[u8; 32]) -> bool,
        seed: [u8; 32],
    ) -> Result<(SecureChannel, Vec<u8>, [u8; 32]), HandshakeError> {
        let mut noise = builder(RESUME_PATTERN, seed)
            .local_private_key(local.secret())
            .and_then(|b| b.prologue(prologue))
            .and_then(|b| b.build_responder())
            .map_err(|_| HandshakeError::Failed)?;
        read(&mut noise, resume1).map_err(|_| HandshakeError::Failed)?;
        let phone_static = remote_static(&noise)?;
        if !is_paired(&phone_static) {
            return Err(HandshakeError::NotPaired);
        }
        let m2 = write(&mut noise)?;
        Ok((finish(noise)?, m2, phone_static))
    }
}

/// Resolves snow's primitives: randomness from the caller's seed (deterministic
/// simulation, replayable traces) and X25519 keys held in wiped-on-drop memory; hash and
/// cipher from snow's default resolver.
struct SeededResolver {
    seed: [u8; 32],
}

impl Drop for SeededResolver {
    fn drop(&mut self) {
        self.seed.zeroize();
    }
}

impl CryptoResolver for SeededResolver {
    fn resolve_rng(&self) -> Option<Box<dyn Random>> {
        Some(Box::new(SeededRng(ChaCha20Rng::from_seed(self.seed))))
    }

    fn resolve_dh(&self, choice: &DHChoice) -> Option<Box<dyn Dh>> {
        match choice {
            DHChoice::Curve25519 => Some(Box::new(WipedX25519::default())),
            _ => None,
        }
    }

    fn resolve_hash(&self, choice: &HashChoice) -> Option<Box<dyn Hash>> {
        DefaultResolver.resolve_hash(choice)
    }

    fn resolve_cipher(&self, choice: &CipherChoice) -> Option<Box<dyn Cipher>> {
        DefaultResolver.resolve_cipher(choice)
    }
}

struct SeededRng(ChaCha20Rng);

impl Random for SeededRng {
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), snow::Error> {
        self.0.fill_bytes(dest);
        Ok(())
    }
}

/// X25519 whose private key is wiped when snow drops it.
#[derive(Default)]
struct WipedX25519 {
    private: Zeroizing<[u8; 32]>,
    public: [u8; 32],
}

impl Dh for WipedX25519 {
    fn name(&self) -> &'static str {
        "25519"
    }

    fn pub_len(&self) -> usize {
        32
    }

    fn priv_len(&self) -> usize {
        32
    }

    fn set(&mut self, privkey: &[u8]) {
        let n = privkey.len().min(32);
        self.private[..n].copy_from_slice(&privkey[..n]);
        self.public = MontgomeryPoint::mul_base_clamped(*self.private).to_bytes();
    }

    fn generate(&mut self, rng: &mut dyn Random) -> Result<(), snow::Error> {
        rng.try_fill_bytes(&mut self.private[..])?;
        self.public = MontgomeryPoint::mul_base_clamped(*self.private).to_bytes();
        Ok(())
    }

    fn pubkey(&self) -> &[u8] {
        &self.public
    }

    fn privkey(&self) -> &[u8] {
        &self.private[..]
    }

    fn dh(&self, pubkey: &[u8], out: &mut [u8]) -> Result<(), snow::Error> {
        let point: [u8; 32] = pubkey
            .get(..32)
            .and_then(|p| p.try_into().ok())
            .ok_or(snow::Error::Dh)?;
        let shared = Zeroizing::new(MontgomeryPoint(point).mul_clamped(*self.private).to_bytes());
        // An all-zero output means a low-order point: refuse it (RFC 7748 §6.1).
        if shared.iter().all(|&b| b == 0) {
            return Err(snow::Error::Dh);
        }
        let n = out.len().min(32);
        out[..n].copy_from_slice(&shared[..n]);
        Ok(())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SN: &str = "SN-TEST-0001";

    fn seed(n: u8) -> [u8; 32] {
        [n; 32]
    }

    fn pair(
        typed: &str,
        shown: &str,
    ) -> Result<(SecureChannel, SecureChannel, [u8; 32], [u8; 32]), HandshakeError> {
        let phone = StaticKeypair::from_seed(seed(1));
        let terminal = StaticKeypair::from_seed(seed(2));
        let prologue = prologue(b"hello", b"ack");
        let (p, pair1) =
            PhonePairing::start(&phone, &PairingCode::parse(typed)?, SN, &prologue, seed(3))?;
        let (t, pair2) = TerminalPairing::on_pair1(
            &terminal,
            &PairingCode::parse(shown)?,
            SN,
            &prologue,
            &pair1,
            seed(4),
        )?;
        let (pch, terminal_static, pair3) = p.on_pair2(&pair2)?;
        let (tch, phone_static) = t.on_pair3(&pair3)?;
        assert_eq!(terminal_static, terminal.public());
        assert_eq!(phone_static, phone.public());
        Ok((pch, tch, terminal_static, phone_static))
    }

    #[test]
    fn right_code_pairs_and_channel_works() {
        let (mut p, mut t, _, _) = pair("123456", "123456").unwrap();
        assert_eq!(p.handshake_hash(), t.handshake_hash());
        let ct = p.seal(b"GetInfo").unwrap();
        assert_eq!(t.open(&ct).unwrap(), b"GetInfo");
    }

    #[test]
    fn wrong_code_is_detected_by_terminal() {
        assert_eq!(
            pair("123457", "123456").err(),
            Some(HandshakeError::WrongCode)
        );
    }

    #[test]
    fn prologue_mismatch_fails() {
        let phone = StaticKeypair::from_seed(seed(1));
        let terminal = StaticKeypair::from_seed(seed(2));
        let code = PairingCode::parse("000001").unwrap();
        let (_, pair1) = PhonePairing::start(&phone, &code, SN, b"posmate/1 v1", seed(3)).unwrap();
        assert_eq!(
            TerminalPairing::on_pair1(&terminal, &code, SN, b"posmate/1 v0", &pair1, seed(4)).err(),
            Some(HandshakeError::Failed)
        );
    }

    #[test]
    fn resume_needs_pinned_key_and_paired_phone() {
        let phone = StaticKeypair::from_seed(seed(1));
        let terminal = StaticKeypair::from_seed(seed(2));
        let impostor = StaticKeypair::from_seed(seed(9));
        let prologue = prologue(b"h", b"a");
        let known = phone.public();

        let (p, r1) = PhoneResume::start(&phone, &terminal.public(), &prologue, seed(5)).unwrap();
        let (mut tch, r2, who) =
            TerminalResume::on_resume1(&terminal, &prologue, &r1, |k| *k == known, seed(6))
                .unwrap();
        assert_eq!(who, phone.public());
        let mut pch = p.on_resume2(&r2).unwrap();
        assert_eq!(tch.open(&pch.seal(b"x").unwrap()).unwrap(), b"x");

        // An impostor without the pinned key cannot even read RESUME1.
        let (_, r1) = PhoneResume::start(&phone, &terminal.public(), &prologue, seed(5)).unwrap();
        assert_eq!(
            TerminalResume::on_resume1(&impostor, &prologue, &r1, |_| true, seed(6)).err(),
            Some(HandshakeError::Failed)
        );
        // A terminal that does not know the phone says so.
        assert_eq!(
            TerminalResume::on_resume1(&terminal, &prologue, &r1, |_| false, seed(6)).err(),
            Some(HandshakeError::NotPaired)
        );
    }

    #[test]
    fn codes_parse_and_draw() {
        assert!(PairingCode::parse("12345").is_err());
        assert!(PairingCode::parse("1234567").is_err());
        assert!(PairingCode::parse("12a456").is_err());
        assert_eq!(PairingCode::parse(" 123 456 ").unwrap().as_str(), "123456");
        let mut rng = ChaCha20Rng::from_seed([0; 32]);
        for _ in 0..100 {
            let c = PairingCode::random(&mut rng);
            assert_eq!(c.as_str().len(), 6);
            assert!(c.as_str().bytes().all(|b| b.is_ascii_digit()));
        }
        assert_eq!(
            format!("{:?}", PairingCode::parse("123456").unwrap()),
            "PairingCode(******)"
        );
    }

    #[test]
    fn same_seeds_give_same_bytes() {
        let phone = StaticKeypair::from_seed(seed(1));
        let code = PairingCode::parse("424242").unwrap();
        let (_, a) = PhonePairing::start(&phone, &code, SN, b"p", seed(3)).unwrap();
        let (_, b) = PhonePairing::start(&phone, &code, SN, b"p", seed(3)).unwrap();
        assert_eq!((a.spake, a.noise.clone()), (b.spake, b.noise));
    }
}
