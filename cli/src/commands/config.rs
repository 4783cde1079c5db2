//! `posmate config`: the config file and its profiles — what is in effect and why (`show`),
//! changing a profile (`set`, `unset`: checked by the same parser as the option, written
//! with the rest of the file and its comments kept), the profiles (`profiles`) and where
//! the file is (`path`). No setting is a secret (the acquirer credential is a keystore
//! entry's name), so nothing secret is ever written to the file.

use std::path::Path;

use clap::builder::PossibleValuesParser;
use serde::Serialize;

use crate::context::Ctx;
use crate::error::{CliError, Exit};
use crate::output::{table, Report};
use crate::settings::file::{PathSource, DEFAULT_PROFILE_KEY};
use crate::settings::spec::{self, SETTINGS};
use crate::settings::{ProfileSource, Settings, Shown, Source};
use crate::values::{ProfileName, Setting};

/// Show and change the config file's profiles.
#[derive(Debug, clap::Subcommand)]
#[command(
    long_about = "Show and change the config file's profiles.

Every setting comes from the first of: its option on the command line, its environment
variable, the profile in use, the default (`config show` says which). The profile in use
is --profile NAME, else POSMATE_PROFILE, else the file's default_profile, else `default`.
Each profile has its own data directory (and so its own keys) unless it sets data_dir:
the `default` profile keeps posmate's original one.

The file (--config FILE / POSMATE_CONFIG, else posmate/config.toml in the platform config
directory) holds `default_profile = \"NAME\"` and one [profiles.NAME] table per profile,
with the keys data_dir, keystore, allow_volatile_key, sim, connect_sim, acquirer_url,
acquirer_credential, backup_work_factor, json, quiet and verbose. An unknown key or a bad
value is an error naming the file, line and key (exit 2).",
    after_help = "Examples:
  posmate config show
  posmate --profile bench config set sim true
  posmate --profile bench config set keystore keyutils
  posmate config set default_profile bench
  posmate --profile prod config set acquirer_url https://acquirer.example.com/api
  posmate config profiles
  posmate --profile bench config unset sim"
)]
pub enum Action {
    /// The settings in effect, each with its source (flag, env, profile or default).
    #[command(after_help = "Examples:
  posmate config show
  posmate --profile bench --json config show | jq '.settings.keystore'")]
    Show,
    /// Set KEY to VALUE in the profile in use (created if missing).
    #[command(after_help = "Examples:
  posmate --profile bench config set sim true
  posmate --profile bench config set data_dir ~/posmate-bench
  posmate config set default_profile bench     the profile used when none is chosen

VALUE is checked as the option would check it. The file is created owner-only (0600
in a 0700 folder); the rest of it, comments included, is kept.")]
    Set {
        /// The setting (or default_profile).
        #[arg(value_parser = key_parser())]
        key: String,
        value: String,
    },
    /// Remove KEY from the profile in use (its default applies again).
    #[command(after_help = "Examples:
  posmate --profile bench config unset sim
  posmate config unset default_profile")]
    Unset {
        /// The setting (or default_profile).
        #[arg(value_parser = key_parser())]
        key: String,
    },
    /// The profiles: which one is the default, and each one's data directory.
    #[command(after_help = "Examples:
  posmate config profiles
  posmate --json config profiles | jq -r '.profiles[].name'")]
    Profiles,
    /// Where the config file is (whether or not it exists yet).
    #[command(after_help = "Examples:
  posmate config path
  \"$EDITOR\" \"$(posmate config path)\"")]
    Path,
}

fn key_parser() -> PossibleValuesParser {
    PossibleValuesParser::new(
        SETTINGS
            .iter()
            .map(|s| s.key)
            .chain(std::iter::once(DEFAULT_PROFILE_KEY)),
    )
}

pub async fn run(ctx: &Ctx, action: Action) -> Result<Exit, CliError> {
    let settings = &ctx.settings;
    match action {
        Action::Show => ctx.out.report(&ShowReport::of(settings)),
        Action::Path => ctx.out.report(&file_of(settings)),
        Action::Profiles => ctx.out.report(&profiles(settings)),
        Action::Set { key, value } => ctx.out.report(&set(settings, &key, &value)?),
        Action::Unset { key } => ctx.out.report(&unset(settings, &key)?),
    }
    Ok(Exit::Ok)
}

/// The config file: `config path`, and part of `config show`.
#[derive(Debug, Serialize)]
pub struct FileReport {
    pub path: Option<String>,
    pub source: PathSource,
    pub exists: bool,
}

fn file_of(settings: &Settings) -> FileReport {
    FileReport {
        path: settings.config.path.as_deref().map(display),
        source: settings.config.source,
        exists: settings.config.exists,
    }
}

impl Report for FileReport {
    fn human(&self) -> String {
        format!(
            "{}\n",
            self.path.as_deref().unwrap_or("(no config directory)")
        )
    }
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

#[derive(Debug, Serialize)]
pub struct ProfileReport {
    pub name: String,
    pub source: ProfileSource,
}

#[derive(Debug, Serialize)]
pub struct ShowReport {
    pub config_file: FileReport,
    pub profile: ProfileReport,
    pub settings: serde_json::Map<String, serde_json::Value>,
    #[serde(skip)]
    rows: Vec<Shown>,
}

impl ShowReport {
    fn of(settings: &Settings) -> ShowReport {
        let rows = settings.shown.clone();
        ShowReport {
            config_file: file_of(settings),
            profile: ProfileReport {
                name: settings.profile.to_string(),
                source: settings.profile_source,
            },
            settings: rows
                .iter()
                .map(|s| {
                    let entry = serde_json::to_value(s).expect("a setting serialises");
                    (s.key.to_owned(), entry)
                })
                .collect(),
            rows,
        }
    }
}

impl Report for ShowReport {
    fn human(&self) -> String {
        let file = match (&self.config_file.path, self.config_file.exists) {
            (Some(path), true) => path.clone(),
            (Some(path), false) => format!("{path} (not written yet)"),
            (None, _) => "(none: the platform has no config directory)".into(),
        };
        let from = match self.profile.source {
            ProfileSource::Flag => "--profile",
            ProfileSource::Env => "POSMATE_PROFILE",
            ProfileSource::File => "the file's default_profile",
            ProfileSource::Default => "none chosen",
        };
        let rows: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|s| {
                let value = match &s.value {
                    serde_json::Value::Null => "-".to_owned(),
                    serde_json::Value::String(text) => text.clone(),
                    other => other.to_string(),
                };
                let source = match s.source {
                    Source::Flag => spec::find(s.decided_by).map_or("flag", |spec| spec.flag),
                    Source::Env => spec::find(s.decided_by).map_or("env", |spec| spec.env),
                    Source::Profile => "profile",
                    Source::Default => "default",
                };
                vec![s.key.to_owned(), value, source.to_owned()]
            })
            .collect();
        format!(
            "config file  {file}\nprofile      {} ({from})\n\n{}",
            self.profile.name,
            table(&["SETTING", "VALUE", "FROM"], &rows)
        )
    }
}

#[derive(Debug, Serialize)]
pub struct ProfileRow {
    pub name: String,
    /// The profile used when none is chosen.
    pub default: bool,
    pub in_use: bool,
    pub data_dir: Option<String>,
    /// How many settings its table holds.
    pub settings: usize,
}

#[derive(Debug, Serialize)]
pub struct ProfilesReport {
    pub path: Option<String>,
    pub profiles: Vec<ProfileRow>,
}

fn profiles(settings: &Settings) -> ProfilesReport {
    let config = &settings.config;
    let default = config
        .default_profile
        .as_ref()
        .map_or_else(ProfileName::default_profile, |d| d.value.clone());
    let mut names: Vec<ProfileName> = config.profiles.keys().cloned().collect();
    if !names.iter().any(ProfileName::is_default) {
        names.insert(0, ProfileName::default_profile());
    }
    let profiles = names
        .into_iter()
        .map(|name| {
            let table = config.profiles.get(&name);
            let data_dir = table
                .and_then(|t| t.values.get(spec::DATA_DIR.key))
                .and_then(|v| std::path::PathBuf::from_toml(&v.value).ok())
                .or_else(|| name.default_data_dir());
            ProfileRow {
                default: name == default,
                in_use: name == settings.profile,
                data_dir: data_dir.as_deref().map(display),
                settings: table.map_or(0, |t| t.values.len()),
                name: name.to_string(),
            }
        })
        .collect();
    ProfilesReport {
        path: config.path.as_deref().map(display),
        profiles,
    }
}

impl Report for ProfilesReport {
    fn human(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .profiles
            .iter()
            .map(|p| {
                let mut mark = String::new();
                if p.in_use {
                    mark.push('*');
                }
                if p.default {
                    mark.push_str(" (default)");
                }
                vec![
                    p.name.clone(),
                    mark.trim().to_owned(),
                    p.data_dir.clone().unwrap_or_else(|| "-".into()),
                ]
            })
            .collect();
        format!("{}* in use\n", table(&["PROFILE", "", "DATA DIR"], &rows))
    }
}

/// What `config set` and `config unset` did.
#[derive(Debug, Serialize)]
pub struct ChangeReport {
    pub path: String,
    /// The profile changed (null for the top-level default_profile).
    pub profile: Option<String>,
    pub key: String,
    /// The value now set (null after unset).
    pub value: serde_json::Value,
    /// Whether the file changed.
    pub changed: bool,
}

impl Report for ChangeReport {
    fn human(&self) -> String {
        let place = match &self.profile {
            Some(profile) => format!("profile {profile}"),
            None => "the file".into(),
        };
        match (&self.value, self.changed) {
            (serde_json::Value::Null, true) => {
                format!("{} removed from {place} in {}\n", self.key, self.path)
            }
            (serde_json::Value::Null, false) => {
                format!(
                    "{} was not set in {place}; {} unchanged\n",
                    self.key, self.path
                )
            }
            (value, _) => format!("{} = {value} in {place} in {}\n", self.key, self.path),
        }
    }
}

fn set(settings: &Settings, key: &str, value: &str) -> Result<ChangeReport, CliError> {
    let config = &settings.config;
    if key == DEFAULT_PROFILE_KEY {
        let name = ProfileName::parse(value).map_err(|e| bad_value(key, &e))?;
        if !name.is_default() && !config.profiles.contains_key(&name) {
            return Err(CliError::new(
                Exit::NotFound,
                "profile-not-found",
                format!("there is no profile {name} to make the default"),
            )
            .hint(format!(
                "create it first: posmate --profile {name} config set KEY VALUE"
            )));
        }
        config.set_default_profile(Some(&name))?;
        return Ok(ChangeReport {
            path: path_of(settings),
            profile: None,
            key: key.to_owned(),
            value: name.to_json(),
            changed: true,
        });
    }
    let spec = spec::find(key).ok_or_else(|| CliError::usage(format!("no setting {key}")))?;
    let toml = (spec.to_toml)(value).map_err(|e| bad_value(key, &e))?;
    let shown = toml_json(&toml);
    let path = config.set(&settings.profile, spec.key, toml)?;
    Ok(ChangeReport {
        path: display(&path),
        profile: Some(settings.profile.to_string()),
        key: key.to_owned(),
        value: shown,
        changed: true,
    })
}

fn unset(settings: &Settings, key: &str) -> Result<ChangeReport, CliError> {
    let config = &settings.config;
    let (profile, changed) = if key == DEFAULT_PROFILE_KEY {
        (None, config.set_default_profile(None)?)
    } else {
        (
            Some(settings.profile.to_string()),
            config.unset(&settings.profile, key)?,
        )
    };
    Ok(ChangeReport {
        path: path_of(settings),
        profile,
        key: key.to_owned(),
        value: serde_json::Value::Null,
        changed,
    })
}

fn path_of(settings: &Settings) -> String {
    settings
        .config
        .path
        .as_deref()
        .map(display)
        .unwrap_or_default()
}

/// A value `config set` refused: the option's own message (a refused credential
/// reference's message does not repeat the text, which may be a pasted secret).
fn bad_value(key: &str, reason: &str) -> CliError {
    CliError::new(Exit::Usage, "invalid-input", format!("{key}: {reason}"))
        .hint("`posmate config --help` lists the settings and their values")
}

/// A TOML value as JSON, for the report.
fn toml_json(value: &toml_edit::Value) -> serde_json::Value {
    match value {
        toml_edit::Value::Boolean(b) => (*b.value()).into(),
        toml_edit::Value::Integer(i) => (*i.value()).into(),
        toml_edit::Value::String(s) => s.value().clone().into(),
        other => other.to_string().trim().into(),
    }
}
