//! The CLI's own log: every run's info-level events appended to `DATA_DIR/logs/posmate.log`,
//! whatever `-v`/`-q` say about stderr, so that `posmate support bundle` has the history a
//! support engineer asks for ("what did it do yesterday at the counter?"), not just what the
//! user happened to have on screen.
//!
//! It holds what stderr would hold at `-v`: events never carry secrets (the core logs no key,
//! code or full card number; a test runs whole flows at `-vvv` and scans for them). It rotates
//! at [`ROTATE_AT`] bytes, keeping one older file. Nothing is logged into a data directory
//! that does not exist (the log never creates one), and `wipe-phone` deletes the folder and
//! stops logging for the rest of the run.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use tracing_subscriber::fmt::writer::{EitherWriter, MakeWriter};

/// The log folder inside the data directory.
pub const DIR: &str = "logs";
/// The current log file's name; the rotated one has `.1` appended.
pub const FILE: &str = "posmate.log";
/// Size beyond which the log is rotated when a run starts.
pub const ROTATE_AT: u64 = 1 << 20;

/// Set when `wipe-phone` removed the logs: nothing more is written in this run.
static STOPPED: AtomicBool = AtomicBool::new(false);

/// Opens `DATA_DIR/logs/posmate.log` for each event, appending.
pub struct LogFile {
    path: Option<PathBuf>,
}

impl LogFile {
    /// The log of `data_dir` (none when it is not known), rotated first if it grew too big.
    pub fn new(data_dir: Option<&Path>) -> Self {
        let path = data_dir.filter(|d| d.is_dir()).and_then(|d| {
            let dir = d.join(DIR);
            posmate_core::private_dir::create_private_dir(&dir).ok()?;
            Some(dir.join(FILE))
        });
        if let Some(path) = &path {
            rotate(path);
        }
        LogFile { path }
    }

    fn open(&self) -> Option<File> {
        if STOPPED.load(Ordering::Relaxed) {
            return None;
        }
        let mut options = OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        options.open(self.path.as_ref()?).ok()
    }
}

impl<'a> MakeWriter<'a> for LogFile {
    type Writer = EitherWriter<File, io::Sink>;

    fn make_writer(&'a self) -> Self::Writer {
        match self.open() {
            Some(file) => EitherWriter::A(file),
            None => EitherWriter::B(io::sink()),
        }
    }
}

fn rotate(path: &Path) {
    if std::fs::metadata(path).is_ok_and(|m| m.len() > ROTATE_AT) {
        let mut older = path.as_os_str().to_owned();
        older.push(".1");
        let _ = std::fs::rename(path, older);
    }
}

/// The log files of `data_dir`, newest first.
pub fn files(data_dir: &Path) -> Vec<PathBuf> {
    let current = data_dir.join(DIR).join(FILE);
    let mut older = current.as_os_str().to_owned();
    older.push(".1");
    [current, PathBuf::from(older)]
        .into_iter()
        .filter(|p| p.is_file())
        .collect()
}

/// Deletes the log folder of `data_dir` and stops logging for this run; returns the files
/// deleted.
pub fn delete(data_dir: &Path) -> io::Result<Vec<String>> {
    STOPPED.store(true, Ordering::Relaxed);
    let files: Vec<String> = files(data_dir)
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    match std::fs::remove_dir_all(data_dir.join(DIR)) {
        Ok(()) => Ok(files),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_a_big_log_and_keeps_one_older_file() {
        let dir = tempfile::tempdir().unwrap();
        let logs = dir.path().join(DIR);
        std::fs::create_dir(&logs).unwrap();
        std::fs::write(logs.join(FILE), vec![b'x'; (ROTATE_AT + 1) as usize]).unwrap();
        let log = LogFile::new(Some(dir.path()));
        assert!(logs.join("posmate.log.1").is_file());
        assert!(!logs.join(FILE).exists());
        use std::io::Write;
        log.open().unwrap().write_all(b"line\n").unwrap();
        assert_eq!(files(dir.path()).len(), 2);
    }

    #[test]
    fn never_creates_a_data_directory() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let log = LogFile::new(Some(&missing));
        assert!(log.open().is_none());
        assert!(!missing.exists());
    }
}
