//! A home directory of its own for a test (HOME, XDG_CONFIG_HOME and XDG_DATA_HOME in a
//! temporary directory: no real user file is read or written), and reading an effective
//! setting back from `posmate config show`.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use posmate_core::keystore::{wipe_all, KeyringStore, KeystoreChoice, Namespace};
use serde_json::Value;

use crate::common::{bare, check_schema};

/// A home directory of its own; the keyutils keys of the data directories posmate made
/// under it are deleted when it is dropped.
pub struct Home {
    pub dir: tempfile::TempDir,
}

impl Home {
    pub fn new() -> Home {
        Home {
            dir: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("config/posmate/config.toml")
    }

    pub fn data_home(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn profile_dir(&self, name: &str) -> PathBuf {
        self.data_home().join("posmate/profiles").join(name)
    }

    /// Writes the config file, owner-only whatever the umask (doctor warns otherwise).
    pub fn write_config(&self, text: &str) {
        let path = self.config_path();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
    }

    pub fn config_text(&self) -> String {
        std::fs::read_to_string(self.config_path()).unwrap()
    }

    /// `posmate` with a clean environment in this home.
    pub fn posmate(&self) -> Command {
        let mut cmd = bare();
        cmd.env("HOME", self.dir.path())
            .env("XDG_CONFIG_HOME", self.dir.path().join("config"))
            .env("XDG_DATA_HOME", self.data_home());
        cmd
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        #[cfg(target_os = "linux")]
        {
            if posmate_core::keystore::linux::join_session_keyring().is_err() {
                return;
            }
            let mut dirs = vec![self.data_home().join("posmate")];
            if let Ok(entries) = std::fs::read_dir(self.data_home().join("posmate/profiles")) {
                dirs.extend(entries.flatten().map(|e| e.path()));
            }
            for dir in dirs
                .iter()
                .filter(|d| d.join("keystore-namespace").exists())
            {
                if let Some(store) = keyutils(dir) {
                    let _ = wipe_all(&store);
                }
            }
        }
    }
}

/// The keyutils store of a data directory, as posmate opens it.
pub fn keyutils(dir: &Path) -> Option<KeyringStore> {
    posmate_core::keystore::linux::join_session_keyring().ok()?;
    let ns = Namespace::anchored(dir).ok()?;
    KeyringStore::open(KeystoreChoice::LinuxKeyutils, ns).ok()
}

/// Runs `config show` and returns `key`'s effective value and source, from the JSON
/// document when the output is JSON, else from the readable table.
pub fn effective(cmd: &mut Command, key: &str) -> (Value, String) {
    let out = cmd.args(["config", "show"]).output().expect("posmate runs");
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if let Ok(doc) = serde_json::from_slice::<Value>(&out.stdout) {
        check_schema("config-show", &doc);
        let entry = &doc["settings"][key];
        return (
            entry["value"].clone(),
            entry["source"].as_str().unwrap().to_owned(),
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let row: Vec<&str> = text
        .lines()
        .find(|l| l.split_whitespace().next() == Some(key))
        .unwrap_or_else(|| panic!("no row {key} in:\n{text}"))
        .split_whitespace()
        .collect();
    let value = match row[1] {
        "-" => Value::Null,
        v => serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_owned())),
    };
    let source = match row[2] {
        flag if flag.starts_with("--") => "flag",
        env if env.starts_with("POSMATE_") => "env",
        other => other,
    };
    (value, source.to_owned())
}
