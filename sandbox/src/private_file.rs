//! Files of the data directory, written so that a crash never leaves half of one: the new
//! content goes to a temporary file in the same directory, is flushed to the disk, renamed
//! over the old one, and the directory itself is flushed so the rename survives a power
//! cut. Secrets (the books, keys, the admin token) are owner-only from their first byte.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::error::SandboxError;

/// Who may read a file the sandbox writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Only the owner (0600): books, private keys, the admin token.
    Owner,
    /// Anyone (0644): certificates clients must be able to read.
    Public,
}

impl Access {
    fn mode(self) -> u32 {
        match self {
            Access::Owner => 0o600,
            Access::Public => 0o644,
        }
    }
}

/// Creates `dir` (and its parents) owner-only if it does not exist.
pub fn create_dir(dir: &Path) -> Result<(), SandboxError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| SandboxError::io("cannot create the data directory", dir, e))
}

/// Replaces `path` with `bytes` atomically and durably (temporary file, fsync, rename,
/// fsync of the directory).
pub fn write_atomic(path: &Path, bytes: &[u8], access: Access) -> Result<(), SandboxError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.tmp"));
    let fail = |what, e| SandboxError::io(what, path, e);
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(access.mode())
        .open(&tmp)
        .map_err(|e| fail("cannot write", e))?;
    // A temporary file left by an older run keeps its mode: set it again.
    file.set_permissions(fs::Permissions::from_mode(access.mode()))
        .map_err(|e| fail("cannot restrict", e))?;
    file.write_all(bytes).map_err(|e| fail("cannot write", e))?;
    file.sync_all().map_err(|e| fail("cannot flush", e))?;
    drop(file);
    fs::rename(&tmp, path).map_err(|e| fail("cannot replace", e))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| fail("cannot flush the directory of", e))
}

/// The content of `path`, or `None` if it does not exist.
pub fn read(path: &Path) -> Result<Option<Vec<u8>>, SandboxError> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(SandboxError::io("cannot read", path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_replaces_the_file_with_the_asked_mode_and_no_leftover() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("books.json");
        write_atomic(&path, b"one", Access::Public).unwrap();
        write_atomic(&path, b"two", Access::Owner).unwrap();
        assert_eq!(read(&path).unwrap().as_deref(), Some(&b"two"[..]));
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file is left");
        assert_eq!(read(&dir.path().join("none")).unwrap(), None);
    }
}
