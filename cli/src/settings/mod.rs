//! The effective settings of a run, each from one of four layers, strongest first: the
//! option on the command line, its environment variable, the profile in use (in the config
//! file), the default. Resolved once, before any command runs; `posmate config show` prints
//! every value with the layer it came from.
//!
//! clap gives the first two layers with their source (`ArgMatches::value_source`); no
//! global option has a clap default, which would look like a value the user gave.

pub mod file;
pub mod spec;

use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::ArgMatches;
use posmate_core::backup::WriteOptions;
use serde::Serialize;

use self::file::{ConfigFile, PathSource, Profile};
use self::spec::Spec;
use crate::error::{CliError, Exit};
use crate::global::{Global, KeystoreArg};
use crate::values::{
    AcquirerUrl, CaFile, CredentialRef, Pins, ProfileName, Setting, Verbosity, WorkFactor,
};

/// Where a setting's value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Flag,
    Env,
    Profile,
    Default,
}

/// How the profile in use was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProfileSource {
    /// `--profile NAME`.
    Flag,
    /// `POSMATE_PROFILE`.
    Env,
    /// The config file's `default_profile`.
    File,
    /// None chosen: the default profile.
    Default,
}

/// One setting as `config show` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct Shown {
    #[serde(skip)]
    pub key: &'static str,
    pub value: serde_json::Value,
    pub source: Source,
    /// The setting whose layer decided the value: this one's key, or the key of the one it
    /// cannot be on with (`--connect-sim` turns `sim` off).
    #[serde(skip)]
    pub decided_by: &'static str,
}

/// The settings in effect for this run.
#[derive(Debug, Clone)]
pub struct Settings {
    pub json: bool,
    pub quiet: bool,
    pub verbose: u8,
    /// `None` only when the platform reports no data directory and none was configured.
    pub data_dir: Option<PathBuf>,
    pub keystore: KeystoreArg,
    pub sim: bool,
    pub connect_sim: Option<String>,
    pub allow_volatile_key: bool,
    pub backup_work_factor: u8,
    /// The acquirer the flows reach over HTTPS (`crate::acquirer`); `doctor` asks its
    /// health.
    pub acquirer_url: Option<AcquirerUrl>,
    pub acquirer_credential: Option<CredentialRef>,
    /// An extra CA trusted for the acquirer.
    pub acquirer_ca: Option<CaFile>,
    /// Keys the acquirer's certificate chain must carry one of.
    pub acquirer_pin: Option<Pins>,
    pub profile: ProfileName,
    pub profile_source: ProfileSource,
    pub config: ConfigFile,
    /// Every setting in `spec::SETTINGS` order, with its source.
    pub shown: Vec<Shown>,
}

impl Settings {
    /// Resolves every setting. `creating`: the command creates the file or the profile
    /// (`config set`), so neither need exist yet.
    pub fn resolve(
        global: &Global,
        matches: &ArgMatches,
        creating: bool,
    ) -> Result<Settings, CliError> {
        let source_of = |id: &str| match matches.value_source(id) {
            Some(ValueSource::CommandLine) => Some(PathSource::Flag),
            Some(ValueSource::EnvVariable) => Some(PathSource::Env),
            _ => None,
        };
        let explicit = global.config.clone().zip(source_of("config"));
        let config = ConfigFile::load(explicit, creating)?;

        let (profile, profile_source) = match (global.profile.clone(), source_of("profile")) {
            (Some(name), Some(PathSource::Flag)) => (name, ProfileSource::Flag),
            (Some(name), Some(_)) => (name, ProfileSource::Env),
            _ => match &config.default_profile {
                Some(d) => (d.value.clone(), ProfileSource::File),
                None => (ProfileName::default_profile(), ProfileSource::Default),
            },
        };
        let table = config.profiles.get(&profile);
        if table.is_none() && !profile.is_default() && !creating {
            let file = config
                .path
                .as_ref()
                .map_or("no config file".into(), |p| p.display().to_string());
            return Err(CliError::new(
                Exit::NotFound,
                "profile-not-found",
                format!("there is no profile {profile} in {file}"),
            )
            .hint(format!(
                "`posmate config profiles` lists them; `posmate --profile {profile} config \
                 set KEY VALUE` creates this one"
            )));
        }

        let mut layers = Layers {
            matches,
            profile: table,
            config: &config,
            shown: Vec::new(),
        };
        let data_dir = layers.pick(
            &spec::DATA_DIR,
            global.data_dir.clone(),
            profile.default_data_dir(),
        )?;
        let keystore = layers.value(&spec::KEYSTORE, global.keystore, KeystoreArg::Os)?;
        let allow_volatile_key = layers.value(
            &spec::ALLOW_VOLATILE_KEY,
            Some(global.allow_volatile_key),
            false,
        )?;
        let sim = layers.value(&spec::SIM, Some(global.sim), false)?;
        let connect_sim = layers.pick(&spec::CONNECT_SIM, global.connect_sim.clone(), None)?;
        let acquirer_url = layers.pick(&spec::ACQUIRER_URL, global.acquirer_url.clone(), None)?;
        let acquirer_credential = layers.pick(
            &spec::ACQUIRER_CREDENTIAL,
            global.acquirer_credential.clone(),
            None,
        )?;
        let acquirer_ca = layers.pick(&spec::ACQUIRER_CA, global.acquirer_ca.clone(), None)?;
        let acquirer_pin = layers.pick(&spec::ACQUIRER_PIN, global.acquirer_pin.clone(), None)?;
        let work_factor = layers.value(
            &spec::BACKUP_WORK_FACTOR,
            global.backup_work_factor,
            WorkFactor(WriteOptions::default().work_factor),
        )?;
        let json = layers.value(&spec::JSON, Some(global.json), false)?;
        let quiet = layers.value(&spec::QUIET, Some(global.quiet), false)?;
        let Verbosity(verbose) = layers.value(
            &spec::VERBOSE,
            Some(Verbosity(global.verbose)),
            Verbosity(0),
        )?;

        let simulation = layers.exclusive(
            (&spec::SIM, sim),
            (&spec::CONNECT_SIM, connect_sim.is_some()),
            "--sim and --connect-sim choose different simulations; pass one",
        )?;
        let (sim, connect_sim) = match simulation {
            Some(Side::First) => (true, None),
            Some(Side::Second) => (false, connect_sim),
            None => (sim, connect_sim),
        };
        let output = layers.exclusive(
            (&spec::VERBOSE, verbose > 0),
            (&spec::QUIET, quiet),
            "--verbose and --quiet contradict each other; pass one",
        )?;
        let (verbose, quiet) = match output {
            Some(Side::First) => (verbose, false),
            Some(Side::Second) => (0, true),
            None => (verbose, quiet),
        };
        let shown = layers.shown;
        Ok(Settings {
            json,
            quiet,
            verbose,
            data_dir,
            keystore,
            sim,
            connect_sim: connect_sim.map(|a| a.as_str().to_owned()),
            allow_volatile_key,
            backup_work_factor: work_factor.0,
            acquirer_url,
            acquirer_credential,
            acquirer_ca,
            acquirer_pin,
            profile,
            profile_source,
            config,
            shown,
        })
    }

    /// Where `spec`'s value came from.
    pub fn source(&self, spec: &Spec) -> Source {
        self.shown
            .iter()
            .find(|s| s.key == spec.key)
            .map_or(Source::Default, |s| s.source)
    }
}

/// The layers below the command line: the profile's table in the file, then the default.
struct Layers<'a> {
    matches: &'a ArgMatches,
    profile: Option<&'a Profile>,
    config: &'a ConfigFile,
    shown: Vec<Shown>,
}

impl Layers<'_> {
    /// Like [`Self::pick`], for a setting that always has a value.
    fn value<T: Setting + Clone>(
        &mut self,
        spec: &'static Spec,
        given: Option<T>,
        default: T,
    ) -> Result<T, CliError> {
        let value = self.pick(spec, given, Some(default.clone()))?;
        Ok(value.unwrap_or(default))
    }

    /// The value of `spec` from the strongest layer that has one. `given` is clap's value,
    /// used only when clap says it came from the command line or the environment.
    fn pick<T: Setting>(
        &mut self,
        spec: &'static Spec,
        given: Option<T>,
        default: Option<T>,
    ) -> Result<Option<T>, CliError> {
        let line = match self.matches.value_source(spec.key) {
            Some(ValueSource::CommandLine) => Some(Source::Flag),
            Some(ValueSource::EnvVariable) => Some(Source::Env),
            _ => None,
        };
        let (value, source) = match (line, given) {
            (Some(source), Some(value)) => (Some(value), source),
            _ => match self.profile.and_then(|p| p.values.get(spec.key)) {
                Some(located) => {
                    let value = T::from_toml(&located.value)
                        .map_err(|e| self.config.invalid_at(located.line, spec.key, &e))?;
                    (Some(value), Source::Profile)
                }
                None => (default, Source::Default),
            },
        };
        self.shown.push(Shown {
            key: spec.key,
            value: value
                .as_ref()
                .map_or(serde_json::Value::Null, Setting::to_json),
            source,
            decided_by: spec.key,
        });
        Ok(value)
    }

    /// Two settings that cannot both be on: when both are, the one from the stronger layer
    /// wins; both on the command line are a usage error; from the same lower layer the
    /// second wins. The loser is shown off, from the winner's source. `None`: not both on.
    fn exclusive(
        &mut self,
        (a, a_on): (&Spec, bool),
        (b, b_on): (&Spec, bool),
        conflict: &str,
    ) -> Result<Option<Side>, CliError> {
        if !(a_on && b_on) {
            return Ok(None);
        }
        let source = |key: &str| {
            self.shown
                .iter()
                .position(|s| s.key == key)
                .expect("picked before")
        };
        let (ia, ib) = (source(a.key), source(b.key));
        let (sa, sb) = (self.shown[ia].source, self.shown[ib].source);
        if sa == Source::Flag && sb == Source::Flag {
            return Err(CliError::usage(conflict).hint("`posmate --help` explains the options"));
        }
        let (loser, winner) = if sa < sb { (ib, ia) } else { (ia, ib) };
        let off = match &self.shown[loser].value {
            serde_json::Value::Bool(_) => serde_json::Value::Bool(false),
            serde_json::Value::Number(_) => 0.into(),
            _ => serde_json::Value::Null,
        };
        self.shown[loser].value = off;
        self.shown[loser].source = self.shown[winner].source;
        self.shown[loser].decided_by = self.shown[winner].key;
        Ok(Some(if winner == ia {
            Side::First
        } else {
            Side::Second
        }))
    }
}

/// Which of two exclusive settings won.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    First,
    Second,
}
