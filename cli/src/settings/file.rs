//! The config file: where it is, reading it (every key and value checked, errors naming
//! the file, line and key: nothing in it is ignored), and changing it with `toml_edit` so
//! that the rest of the file, comments included, stays as the user wrote it.
//!
//! ```toml
//! default_profile = "bench"
//!
//! [profiles.bench]
//! sim = true
//! keystore = "keyutils"
//! ```

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use posmate_core::private_dir::create_private_dir;
use serde::Serialize;

use super::spec;
use crate::error::{CliError, Exit};
use crate::values::{ProfileName, Setting};

/// The top-level key naming the profile used when none is chosen.
pub const DEFAULT_PROFILE_KEY: &str = "default_profile";
const PROFILES_KEY: &str = "profiles";

/// Where the config file path came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PathSource {
    /// `--config FILE`.
    Flag,
    /// `POSMATE_CONFIG`.
    Env,
    /// The platform's config directory.
    Default,
}

/// A value read from the file, with the line it is on.
#[derive(Debug, Clone)]
pub struct Located<T> {
    pub value: T,
    pub line: usize,
}

/// One `[profiles.NAME]` table: its settings by key.
#[derive(Debug, Clone, Default)]
pub struct Profile {
    pub values: BTreeMap<&'static str, Located<toml_edit::Value>>,
}

/// The config file as read.
#[derive(Debug, Clone)]
pub struct ConfigFile {
    /// `None` when the platform reports no config directory and none was given.
    pub path: Option<PathBuf>,
    pub source: PathSource,
    pub exists: bool,
    text: String,
    pub default_profile: Option<Located<ProfileName>>,
    pub profiles: BTreeMap<ProfileName, Profile>,
}

/// `dirs::config_dir()/posmate/config.toml`.
pub fn default_path() -> Option<PathBuf> {
    dirs::config_dir().map(|d| d.join("posmate").join("config.toml"))
}

impl ConfigFile {
    /// Reads and checks the file. A missing file at the default place is an empty one; a
    /// missing file given explicitly is an error unless `may_be_missing` (`config set`,
    /// which creates it).
    pub fn load(
        explicit: Option<(PathBuf, PathSource)>,
        may_be_missing: bool,
    ) -> Result<ConfigFile, CliError> {
        let (path, source) = match explicit {
            Some((path, source)) => (Some(path), source),
            None => (default_path(), PathSource::Default),
        };
        let mut file = ConfigFile {
            path,
            source,
            exists: false,
            text: String::new(),
            default_profile: None,
            profiles: BTreeMap::new(),
        };
        let Some(path) = file.path.clone() else {
            return Ok(file);
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                file.exists = true;
                file.text = text;
                file.parse(&path)?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if source != PathSource::Default && !may_be_missing {
                    return Err(CliError::new(
                        Exit::NotFound,
                        "config-not-found",
                        format!("there is no config file {}", path.display()),
                    )
                    .hint(
                        "check the path given with --config or POSMATE_CONFIG; `posmate \
                         config set KEY VALUE` creates the file",
                    ));
                }
            }
            Err(e) => {
                return Err(CliError::storage(
                    format!("cannot read the config file {}", path.display()),
                    e,
                ))
            }
        }
        Ok(file)
    }

    fn parse(&mut self, path: &Path) -> Result<(), CliError> {
        let doc = toml_edit::Document::parse(self.text.clone()).map_err(|e| {
            invalid(
                path,
                line_of(&self.text, e.span()),
                None,
                e.message().trim(),
            )
        })?;
        let text = &self.text;
        for (key, item) in doc.as_table().iter() {
            let line = key_line(text, doc.as_table(), key, item);
            match key {
                DEFAULT_PROFILE_KEY => {
                    let name = item
                        .as_value()
                        .ok_or_else(|| "expected a string".to_owned())
                        .and_then(ProfileName::from_toml)
                        .map_err(|e| invalid(path, line, Some(key), &e))?;
                    self.default_profile = Some(Located { value: name, line });
                }
                PROFILES_KEY => {
                    let profiles = item.as_table_like().ok_or_else(|| {
                        invalid(path, line, Some(key), "expected a table of profiles")
                    })?;
                    for (name, table) in profiles.iter() {
                        let line = line_of(text, item_span(profiles.get_key_value(name), table));
                        let profile = ProfileName::parse(name)
                            .map_err(|e| invalid(path, line, Some(name), &e))?;
                        let table = table.as_table_like().ok_or_else(|| {
                            invalid(path, line, Some(name), "expected a table of settings")
                        })?;
                        let settings = read_profile(path, text, table)?;
                        self.profiles.insert(profile, settings);
                    }
                }
                other => {
                    return Err(
                        invalid(path, line, Some(other), "no such key").hint(format!(
                            "the top level holds only `{DEFAULT_PROFILE_KEY}` and \
                         [{PROFILES_KEY}.NAME] tables"
                        )),
                    )
                }
            }
        }
        if let Some(default) = &self.default_profile {
            if !default.value.is_default() && !self.profiles.contains_key(&default.value) {
                return Err(invalid(
                    path,
                    default.line,
                    Some(DEFAULT_PROFILE_KEY),
                    &format!("there is no [profiles.{}] table", default.value),
                ));
            }
        }
        Ok(())
    }

    /// A `config-invalid` error at `line` of this file.
    pub fn invalid_at(&self, line: usize, key: &str, reason: &str) -> CliError {
        invalid(
            self.path.as_deref().unwrap_or(Path::new("config.toml")),
            line,
            Some(key),
            reason,
        )
    }

    /// The path, or the error saying there is none.
    fn require_path(&self) -> Result<&Path, CliError> {
        self.path.as_deref().ok_or_else(|| {
            CliError::new(
                Exit::Storage,
                "no-config-dir",
                "this platform reports no config directory for posmate",
            )
            .hint("pass --config FILE (or set POSMATE_CONFIG)")
        })
    }

    /// The file parsed for editing (the text was checked when it was loaded).
    fn editable(&self) -> Result<toml_edit::DocumentMut, CliError> {
        self.text.parse().map_err(|e: toml_edit::TomlError| {
            CliError::new(Exit::Usage, "config-invalid", e.message().to_owned())
        })
    }

    /// Sets `key` to `value` in `profile`'s table (created if missing); returns the path.
    pub fn set(
        &self,
        profile: &ProfileName,
        key: &str,
        value: toml_edit::Value,
    ) -> Result<PathBuf, CliError> {
        let path = self.require_path()?.to_path_buf();
        let mut doc = self.editable()?;
        let profiles = doc
            .entry(PROFILES_KEY)
            .or_insert_with(|| {
                let mut t = toml_edit::Table::new();
                t.set_implicit(true);
                toml_edit::Item::Table(t)
            })
            .as_table_like_mut()
            .ok_or_else(|| CliError::usage("[profiles] is not a table"))?;
        let table = profiles
            .entry(profile.as_str())
            .or_insert(toml_edit::table())
            .as_table_like_mut()
            .ok_or_else(|| CliError::usage(format!("profiles.{profile} is not a table")))?;
        table.insert(key, toml_edit::Item::Value(value));
        write_private(&path, &doc.to_string())?;
        Ok(path)
    }

    /// Removes `key` from `profile`'s table; returns whether it was there.
    pub fn unset(&self, profile: &ProfileName, key: &str) -> Result<bool, CliError> {
        let path = self.require_path()?.to_path_buf();
        let mut doc = self.editable()?;
        let removed = doc
            .get_mut(PROFILES_KEY)
            .and_then(|p| p.as_table_like_mut())
            .and_then(|p| p.get_mut(profile.as_str()))
            .and_then(|t| t.as_table_like_mut())
            .and_then(|t| t.remove(key))
            .is_some();
        if removed {
            write_private(&path, &doc.to_string())?;
        }
        Ok(removed)
    }

    /// Sets or removes the top-level `default_profile`; returns whether the file changed.
    pub fn set_default_profile(&self, name: Option<&ProfileName>) -> Result<bool, CliError> {
        let path = self.require_path()?.to_path_buf();
        let mut doc = self.editable()?;
        let changed = match name {
            Some(name) => {
                doc.insert(DEFAULT_PROFILE_KEY, toml_edit::value(name.as_str()));
                true
            }
            None => doc.remove(DEFAULT_PROFILE_KEY).is_some(),
        };
        if changed {
            write_private(&path, &doc.to_string())?;
        }
        Ok(changed)
    }
}

/// One profile's table: every key a setting, every value one its option would take.
fn read_profile(
    path: &Path,
    text: &str,
    table: &dyn toml_edit::TableLike,
) -> Result<Profile, CliError> {
    let mut values = BTreeMap::new();
    for (key, item) in table.iter() {
        let line = line_of(text, item_span(table.get_key_value(key), item));
        let spec = spec::find(key).ok_or_else(|| {
            invalid(path, line, Some(key), "no such setting").hint(format!(
                "a profile's settings are {}; see `posmate config --help`",
                spec::keys()
            ))
        })?;
        let value = item
            .as_value()
            .ok_or_else(|| format!("expected {}", spec.kind.name()))
            .and_then(|v| (spec.check)(v).map(|()| v.clone()))
            .map_err(|e| invalid(path, line, Some(key), &e))?;
        values.insert(spec.key, Located { value, line });
    }
    Ok(Profile { values })
}

/// A `config-invalid` error: `FILE:LINE: key `KEY`: REASON`.
fn invalid(path: &Path, line: usize, key: Option<&str>, reason: &str) -> CliError {
    let at = match key {
        Some(key) => format!("{}:{line}: key `{key}`: {reason}", path.display()),
        None => format!("{}:{line}: {reason}", path.display()),
    };
    CliError::new(Exit::Usage, "config-invalid", at).hint(
        "edit the file to fix or remove that line; `posmate config --help` lists the settings",
    )
}

/// The span of a key (or, failing that, of its value).
fn item_span(
    key: Option<(&toml_edit::Key, &toml_edit::Item)>,
    item: &toml_edit::Item,
) -> Option<std::ops::Range<usize>> {
    key.and_then(|(k, _)| k.span()).or_else(|| item.span())
}

fn key_line(text: &str, table: &toml_edit::Table, key: &str, item: &toml_edit::Item) -> usize {
    line_of(text, item_span(table.get_key_value(key), item))
}

/// The 1-based line of a byte offset (line 1 when the parser gave no position).
fn line_of(text: &str, span: Option<std::ops::Range<usize>>) -> usize {
    let at = span.map_or(0, |s| s.start.min(text.len()));
    text.as_bytes()[..at]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Writes `text` to `path` owner-only (0600, in a folder created 0700), through a file
/// beside it renamed into place, so a crash leaves the old file or the new one.
fn write_private(path: &Path, text: &str) -> Result<(), CliError> {
    let fail = |e| CliError::storage(format!("cannot write {}", path.display()), e);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_private_dir(dir).map_err(fail)?;
    }
    let tmp = path.with_extension("toml.tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp).map_err(fail)?;
    file.write_all(text.as_bytes()).map_err(fail)?;
    file.sync_all().map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<ConfigFile, CliError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, text).unwrap();
        ConfigFile::load(Some((path, PathSource::Flag)), false)
    }

    #[test]
    fn errors_name_the_line_and_the_key() {
        let cases = [
            (
                "[profiles.a]\nsim = true\nsimm = true\n",
                3,
                "simm",
                "no such setting",
            ),
            (
                "[profiles.a]\n\nbackup_work_factor = 30\n",
                3,
                "backup_work_factor",
                "10 to 20",
            ),
            ("[profiles.a]\nsim = \"yes\"\n", 2, "sim", "a boolean"),
            ("colour = true\n", 1, "colour", "no such key"),
            ("[profiles.\"a b\"]\nsim = true\n", 1, "a b", "profile name"),
            (
                "default_profile = \"prod\"\n[profiles.a]\n",
                1,
                "default_profile",
                "no [profiles.prod]",
            ),
            (
                "[profiles.a]\nacquirer_url = \"http://acq.example.com\"\n",
                2,
                "acquirer_url",
                "https://",
            ),
        ];
        for (text, line, key, reason) in cases {
            let err = load(text).unwrap_err();
            assert_eq!(
                (err.code.as_str(), err.status),
                ("config-invalid", Exit::Usage)
            );
            assert!(
                err.message
                    .contains(&format!("config.toml:{line}: key `{key}`:"))
                    && err.message.contains(reason),
                "{text:?}: {}",
                err.message
            );
        }
        let err = load("[profiles.a\nsim = true\n").unwrap_err();
        assert!(err.message.contains("config.toml:1:"), "{}", err.message);
    }

    #[test]
    fn an_explicit_file_must_exist_the_default_one_need_not() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.toml");
        let err = ConfigFile::load(Some((missing.clone(), PathSource::Env)), false).unwrap_err();
        assert_eq!(
            (err.code.as_str(), err.status),
            ("config-not-found", Exit::NotFound)
        );
        let file = ConfigFile::load(Some((missing, PathSource::Env)), true).unwrap();
        assert!(!file.exists && file.profiles.is_empty());
    }

    #[test]
    fn edits_keep_the_rest_of_the_file_and_its_comments() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new/config.toml");
        let original = "# my bench\ndefault_profile = \"a\"\n\n[profiles.a] # the bench\nsim = true # always\n";
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, original).unwrap();
        let file = ConfigFile::load(Some((path.clone(), PathSource::Flag)), false).unwrap();
        let b = ProfileName::parse("b").unwrap();
        file.set(&b, "keystore", toml_edit::Value::from("mock"))
            .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with(original), "{text}");
        assert!(
            text.contains("[profiles.b]\nkeystore = \"mock\"\n"),
            "{text}"
        );

        let file = ConfigFile::load(Some((path.clone(), PathSource::Flag)), false).unwrap();
        let a = ProfileName::parse("a").unwrap();
        assert!(file.unset(&a, "sim").unwrap());
        let file = ConfigFile::load(Some((path.clone(), PathSource::Flag)), false).unwrap();
        assert!(!file.unset(&a, "sim").unwrap(), "the key is gone");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("# my bench\n") && text.contains("[profiles.a] # the bench\n"));
        assert!(!text.contains("sim = true"), "{text}");
    }

    #[cfg(unix)]
    #[test]
    fn a_new_file_is_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("posmate/config.toml");
        let file = ConfigFile::load(Some((path.clone(), PathSource::Flag)), true).unwrap();
        file.set(&ProfileName::default_profile(), "sim", true.to_toml())
            .unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
    }
}
