//! The age layer: passphrase encryption with an explicit scrypt work factor, and the
//! translation of age's errors into [`BackupError`]s a merchant understands.

use std::fmt;
use std::io::{self, BufRead, Write};
use std::iter;

use age::secrecy::SecretString;
use age::stream::{StreamReader, StreamWriter};
use age::{DecryptError, Decryptor, Encryptor};
use zeroize::Zeroizing;

use super::BackupError;

/// The first bytes of every binary age file, and the first line of the version this reads.
const AGE_MAGIC: &[u8] = b"age-encryption.org/";
const AGE_V1: &[u8] = b"age-encryption.org/v1\n";

/// scrypt work factor (N = 2^log_n) for new archives: about a second and 256 MiB on a current
/// phone, which is what age itself aims for. Tests lower it with [`WriteOptions`].
pub const DEFAULT_WORK_FACTOR: u8 = 18;

/// The highest work factor this code writes or accepts when reading. scrypt needs 2^log_n KiB
/// of memory, so 20 is 1 GiB: enough for archives made by `age` on a desktop, and a cap that
/// keeps a crafted file from exhausting a phone.
pub const MAX_WORK_FACTOR: u8 = 20;

/// A backup passphrase: wiped from memory on drop, never printed.
pub struct Passphrase(Zeroizing<String>);

impl Passphrase {
    /// Shortest passphrase accepted for a new backup, in characters, ignoring surrounding
    /// spaces. The archive leaves the phone (cloud drive, e-mail), so scrypt alone stands
    /// between it and an offline guesser.
    pub const MIN_CHARS: usize = 8;

    pub fn new(passphrase: impl Into<String>) -> Self {
        Passphrase(Zeroizing::new(passphrase.into()))
    }

    /// Refuses passphrases too short to protect an archive that leaves the phone.
    pub(crate) fn check_strength(&self) -> Result<(), BackupError> {
        if self.0.trim().chars().count() < Self::MIN_CHARS {
            return Err(BackupError::WeakPassphrase {
                min_chars: Self::MIN_CHARS,
            });
        }
        Ok(())
    }

    /// A copy for age, which wipes its own copy when done.
    fn to_secret(&self) -> SecretString {
        SecretString::from(self.0.as_str())
    }
}

impl From<String> for Passphrase {
    fn from(passphrase: String) -> Self {
        Passphrase::new(passphrase)
    }
}

impl From<&str> for Passphrase {
    fn from(passphrase: &str) -> Self {
        Passphrase::new(passphrase)
    }
}

impl fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Passphrase(<redacted>)")
    }
}

/// How to write an archive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteOptions {
    /// scrypt work factor, log2(N). Clamped to `1..=MAX_WORK_FACTOR`: a value outside that
    /// would either make age panic or write a file this code refuses to read back.
    pub work_factor: u8,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            work_factor: DEFAULT_WORK_FACTOR,
        }
    }
}

/// Starts an age stream encrypted to `passphrase` on `out`. The caller must `finish()` it.
pub(crate) fn encrypt<W: Write>(
    out: W,
    passphrase: &Passphrase,
    opts: &WriteOptions,
) -> io::Result<StreamWriter<W>> {
    let mut recipient = age::scrypt::Recipient::new(passphrase.to_secret());
    recipient.set_work_factor(opts.work_factor.clamp(1, MAX_WORK_FACTOR));
    let encryptor = Encryptor::with_recipients(iter::once(&recipient as &dyn age::Recipient))
        .map_err(|e| io::Error::other(e.to_string()))?;
    encryptor.wrap_output(out)
}

/// Opens the age file on `input` with `passphrase` and returns the plaintext reader.
///
/// An I/O error while reading the header is reported as damage here; the caller knows
/// whether the disk failed and then reports that instead.
pub(crate) fn decrypt<R: BufRead>(
    mut input: R,
    passphrase: &Passphrase,
) -> Result<StreamReader<R>, BackupError> {
    let (is_age, is_v1) = match input.fill_buf() {
        Ok(head) => (head.starts_with(AGE_MAGIC), head.starts_with(AGE_V1)),
        Err(e) => return Err(BackupError::from_io(&e)),
    };
    let damaged = |detail: &str| {
        if is_age {
            BackupError::Corrupt {
                detail: detail.to_owned(),
            }
        } else {
            BackupError::NotABackup {
                detail: "it is not an age-encrypted file".to_owned(),
            }
        }
    };

    let decryptor = Decryptor::new_buffered(input).map_err(|e| match e {
        // age falls back to "unknown version" when a v1 header does not parse.
        DecryptError::UnknownFormat if is_v1 => damaged("its header is damaged"),
        DecryptError::UnknownFormat => BackupError::NotABackup {
            detail: "it uses an age format this version cannot read".to_owned(),
        },
        DecryptError::Io(_) => damaged("the file ends inside its header"),
        _ => damaged("its header is damaged"),
    })?;
    if !decryptor.is_scrypt() {
        return Err(BackupError::NotABackup {
            detail: "it is encrypted to a key, not to a passphrase".to_owned(),
        });
    }

    let mut identity = age::scrypt::Identity::new(passphrase.to_secret());
    identity.set_max_work_factor(MAX_WORK_FACTOR);
    decryptor
        .decrypt(iter::once(&identity as &dyn age::Identity))
        .map_err(|e| match e {
            DecryptError::DecryptionFailed
            | DecryptError::KeyDecryptionFailed
            | DecryptError::NoMatchingKeys => BackupError::WrongPassphrase,
            DecryptError::ExcessiveWork { required, .. } => BackupError::WorkFactorTooHigh {
                found: required,
                max: MAX_WORK_FACTOR,
            },
            DecryptError::InvalidMac => damaged("its header was altered"),
            DecryptError::Io(_) => damaged("the file ends inside its header"),
            _ => damaged("its header is damaged"),
        })
}
