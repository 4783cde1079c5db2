//! The types a setting's value can have, each with the one parser its option, its
//! environment variable, the config file and `posmate config set` all go through, so a
//! value that one of them accepts is never refused by another.

use std::path::PathBuf;

use clap::builder::TypedValueParser;
use clap::ValueEnum;
use posmate_core::acquirer::https::client::{certificates_from_pem, SpkiPin};

/// The `--keystore` choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KeystoreArg {
    Os,
    SecretService,
    Keyutils,
    Mock,
}

/// How a value is written in the config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bool,
    Int,
    Text,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Bool => "a boolean (true or false)",
            Kind::Int => "an integer",
            Kind::Text => "a string",
        }
    }
}

/// A setting's value type.
pub trait Setting: Sized {
    const KIND: Kind;
    /// Parses the text form (what `--option VALUE` and `config set KEY VALUE` take).
    fn parse(text: &str) -> Result<Self, String>;
    /// The text form, as `parse` takes it back.
    fn text(&self) -> String;

    /// From a value in the config file: of the right TOML type, then through [`parse`].
    fn from_toml(value: &toml_edit::Value) -> Result<Self, String> {
        let text = match (Self::KIND, value) {
            (Kind::Bool, toml_edit::Value::Boolean(b)) => b.value().to_string(),
            (Kind::Int, toml_edit::Value::Integer(i)) => i.value().to_string(),
            (Kind::Text, toml_edit::Value::String(s)) => s.value().clone(),
            (kind, _) => return Err(format!("expected {}", kind.name())),
        };
        Self::parse(&text)
    }

    /// The value as the config file holds it.
    fn to_toml(&self) -> toml_edit::Value {
        let text = self.text();
        match Self::KIND {
            Kind::Bool => toml_edit::Value::from(text == "true"),
            Kind::Int => toml_edit::Value::from(text.parse::<i64>().unwrap_or_default()),
            Kind::Text => toml_edit::Value::from(text),
        }
    }

    /// The value in `config show --json`.
    fn to_json(&self) -> serde_json::Value {
        let text = self.text();
        match Self::KIND {
            Kind::Bool => serde_json::Value::Bool(text == "true"),
            Kind::Int => text
                .parse::<u64>()
                .map_or(serde_json::Value::Null, Into::into),
            Kind::Text => serde_json::Value::String(text),
        }
    }
}

/// On/off switches: `true`/`false`, `yes`/`no`, `on`/`off`, `1`/`0`, as clap's boolish
/// parser reads `POSMATE_SIM=1`.
impl Setting for bool {
    const KIND: Kind = Kind::Bool;
    fn parse(text: &str) -> Result<Self, String> {
        clap::builder::BoolishValueParser::new()
            .parse_ref(
                &clap::Command::new("posmate"),
                None,
                std::ffi::OsStr::new(text),
            )
            .map_err(|_| format!("'{text}' is not true or false (nor yes/no, on/off, 1/0)"))
    }
    fn text(&self) -> String {
        self.to_string()
    }
}

/// A directory. `~/` is the home directory (a config file gets no shell expansion); a
/// relative path is made absolute against the current directory, so a profile never
/// depends on where posmate was started.
impl Setting for PathBuf {
    const KIND: Kind = Kind::Text;
    fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Err("an empty path".into());
        }
        let path = match text.strip_prefix("~/") {
            Some(rest) => dirs::home_dir()
                .ok_or("this platform reports no home directory for '~/'")?
                .join(rest),
            None => PathBuf::from(text),
        };
        std::path::absolute(&path).map_err(|e| format!("cannot resolve '{text}': {e}"))
    }
    fn text(&self) -> String {
        self.display().to_string()
    }
    /// In the file a relative path would depend on the current directory: refused.
    fn from_toml(value: &toml_edit::Value) -> Result<Self, String> {
        let text = value.as_str().ok_or("expected a string")?;
        if !text.starts_with("~/") && !std::path::Path::new(text).is_absolute() {
            return Err(format!(
                "'{text}' is relative: write an absolute path or one starting with ~/"
            ));
        }
        Self::parse(text)
    }
}

/// Any `--keystore` choice, by its command-line name.
impl Setting for KeystoreArg {
    const KIND: Kind = Kind::Text;
    fn parse(text: &str) -> Result<Self, String> {
        KeystoreArg::from_str(text, false).map_err(|_| {
            let names: Vec<String> = KeystoreArg::value_variants()
                .iter()
                .filter_map(|v| v.to_possible_value())
                .map(|p| p.get_name().to_owned())
                .collect();
            format!(
                "'{text}' is not a keystore; choose one of {}",
                names.join(", ")
            )
        })
    }
    fn text(&self) -> String {
        self.to_possible_value()
            .map(|p| p.get_name().to_owned())
            .unwrap_or_default()
    }
}

/// The address of a running `posmate sim`: `TOKEN@HOST:PORT` as it printed it, or a
/// loopback `HOST:PORT` of a sim this user runs (its token is read from the user's token
/// file). Never echoed back in an error: it may hold the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimAddr(String);

impl SimAddr {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Setting for SimAddr {
    const KIND: Kind = Kind::Text;
    fn parse(text: &str) -> Result<Self, String> {
        let bad = || "it is not TOKEN@HOST:PORT or HOST:PORT (such as 127.0.0.1:7878)".to_owned();
        let socket = text.split_once('@').map_or(text, |(_, socket)| socket);
        let (host, port) = socket.rsplit_once(':').ok_or_else(bad)?;
        if host.is_empty() || host.contains(char::is_whitespace) || port.parse::<u16>().is_err() {
            return Err(bad());
        }
        Ok(SimAddr(text.to_owned()))
    }
    fn text(&self) -> String {
        self.0.clone()
    }
}

/// The scrypt work factor (log2 N) of new backups, 10 to 20.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkFactor(pub u8);

impl Setting for WorkFactor {
    const KIND: Kind = Kind::Int;
    fn parse(text: &str) -> Result<Self, String> {
        match text.parse::<u8>() {
            Ok(n) if (10..=20).contains(&n) => Ok(WorkFactor(n)),
            _ => Err(format!("'{text}' is not a work factor from 10 to 20")),
        }
    }
    fn text(&self) -> String {
        self.0.to_string()
    }
}

/// How much is logged: 0 warnings, 1 info, 2 debug, 3 (or more) trace — the number of `-v`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verbosity(pub u8);

impl Setting for Verbosity {
    const KIND: Kind = Kind::Int;
    fn parse(text: &str) -> Result<Self, String> {
        text.parse()
            .map(Verbosity)
            .map_err(|_| format!("'{text}' is not a level: 0 warnings, 1 info, 2 debug, 3 trace"))
    }
    fn text(&self) -> String {
        self.0.to_string()
    }
}

/// The acquirer's base URL: `https://`, or `http://` to this machine only (a development
/// acquirer), so the merchant's traffic never crosses a network in clear. No user,
/// password, query or fragment: a secret in a URL would end up in the config file and in
/// logs, and the credential has its own setting (a keystore reference). A refused URL is
/// not repeated in the error, in case it held one anyway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcquirerUrl(String);

impl AcquirerUrl {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Setting for AcquirerUrl {
    const KIND: Kind = Kind::Text;
    fn parse(text: &str) -> Result<Self, String> {
        let (secure, rest) = if let Some(rest) = text.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = text.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err("not an https:// URL".into());
        };
        if rest.contains(['?', '#']) {
            return Err("an acquirer URL has no query or fragment".into());
        }
        let authority = rest.split('/').next().unwrap_or_default();
        if authority.contains('@') {
            return Err(
                "an acquirer URL carries no user or password: name the keystore \
                        entry holding the credential in acquirer_credential"
                    .into(),
            );
        }
        let host = host_of(authority).ok_or("the URL has no valid host")?;
        let local = matches!(host, "localhost" | "127.0.0.1" | "::1");
        if !secure && !local {
            return Err(
                "plain http to another machine: use https:// (http:// only for \
                        localhost, 127.0.0.1 or [::1])"
                    .into(),
            );
        }
        Ok(AcquirerUrl(text.to_owned()))
    }
    fn text(&self) -> String {
        self.0.clone()
    }
}

/// The host of `host[:port]` or `[v6][:port]`, if the port (when there is one) is a port
/// and the host is made of the characters host names and addresses use.
fn host_of(authority: &str) -> Option<&str> {
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (host, after) = v6.split_once(']')?;
            (host, after.strip_prefix(':'))
        }
        None => match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    if let Some(port) = port {
        port.parse::<u16>().ok().filter(|p| *p != 0)?;
    }
    let ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'));
    ok.then_some(host)
}

/// An extra CA for the acquirer (a sandbox's or a private acquirer's): a PEM file that
/// exists and holds at least one certificate, checked when configured so a wrong file is
/// named then, not at the first call. Paths as for directories (`~/`, made absolute).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaFile {
    pub path: PathBuf,
}

impl CaFile {
    /// The file's certificates as PEM, read again (it may have changed since it was
    /// checked).
    pub fn read(&self) -> Result<Vec<u8>, String> {
        let pem = std::fs::read(&self.path)
            .map_err(|e| format!("cannot read {}: {e}", self.path.display()))?;
        certificates_from_pem(&pem).map_err(|e| format!("{}: {e}", self.path.display()))?;
        Ok(pem)
    }
}

impl Setting for CaFile {
    const KIND: Kind = Kind::Text;
    fn parse(text: &str) -> Result<Self, String> {
        let file = CaFile {
            path: PathBuf::parse(text)?,
        };
        file.read()?;
        Ok(file)
    }
    fn text(&self) -> String {
        self.path.display().to_string()
    }
    fn from_toml(value: &toml_edit::Value) -> Result<Self, String> {
        let path = PathBuf::from_toml(value)?;
        Self::parse(&path.display().to_string())
    }
}

/// Pinned acquirer keys: SHA-256 hashes of a SubjectPublicKeyInfo, `sha256/BASE64` as
/// OkHttp prints them, separated by commas (pin the next key too before the acquirer
/// rotates it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pins(pub Vec<SpkiPin>);

impl Setting for Pins {
    const KIND: Kind = Kind::Text;
    fn parse(text: &str) -> Result<Self, String> {
        let pins = text
            .split(',')
            .map(|p| SpkiPin::parse(p.trim()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Pins(pins))
    }
    fn text(&self) -> String {
        let pins: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        pins.join(",")
    }
}

/// The acquirer credential's keystore entry: a name, never the secret. It refers to the
/// entry `acquirer-credential.<name>` of the data directory's keystore namespace, beside
/// posmate's own entries and never one of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialRef(String);

/// The keystore entry names a credential reference maps to.
pub const CREDENTIAL_PREFIX: &str = "acquirer-credential.";

impl CredentialRef {
    /// The keystore entry this reference names.
    pub fn entry(&self) -> String {
        format!("{CREDENTIAL_PREFIX}{}", self.0)
    }
}

impl Setting for CredentialRef {
    const KIND: Kind = Kind::Text;
    fn parse(text: &str) -> Result<Self, String> {
        let ok = (1..=64).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(CredentialRef(text.to_owned()))
        } else {
            // The text is not repeated: it may be a secret pasted by mistake.
            Err(
                "a credential reference is the name of a keystore entry (1 to 64 letters, \
                 digits, '-' or '_'), never the credential itself"
                    .into(),
            )
        }
    }
    fn text(&self) -> String {
        self.0.clone()
    }
}

/// A profile's name: 1 to 64 ASCII letters, digits, `-` or `_` (it names a folder).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ProfileName(String);

/// The profile used when none is chosen; its data directory is posmate's original one.
pub const DEFAULT_PROFILE: &str = "default";

impl ProfileName {
    pub fn default_profile() -> Self {
        ProfileName(DEFAULT_PROFILE.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_default(&self) -> bool {
        self.0 == DEFAULT_PROFILE
    }

    /// The profile's data directory unless it sets one: the default profile keeps
    /// posmate's original directory (existing users keep their data), every other profile
    /// has its own folder, hence its own keystore namespace.
    pub fn default_data_dir(&self) -> Option<PathBuf> {
        let base = dirs::data_dir()?.join("posmate");
        Some(if self.is_default() {
            base
        } else {
            base.join("profiles").join(&self.0)
        })
    }
}

impl std::fmt::Display for ProfileName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Setting for ProfileName {
    const KIND: Kind = Kind::Text;
    fn parse(text: &str) -> Result<Self, String> {
        let ok = (1..=64).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(ProfileName(text.to_owned()))
        } else {
            Err(format!(
                "'{text}' is not a profile name: 1 to 64 letters, digits, '-' or '_'"
            ))
        }
    }
    fn text(&self) -> String {
        self.0.clone()
    }
}

/// For clap's `value_parser`: the same parser as the config file's, and an error that
/// repeats the value only where the parser's own message does (clap's default error
/// quotes every refused value, which would print a credential pasted by mistake).
pub fn parser<T>() -> SettingParser<T> {
    SettingParser(std::marker::PhantomData)
}

/// See [`parser`].
pub struct SettingParser<T>(std::marker::PhantomData<fn() -> T>);

impl<T> Clone for SettingParser<T> {
    fn clone(&self) -> Self {
        SettingParser(std::marker::PhantomData)
    }
}

impl<T: Setting + Clone + Send + Sync + 'static> TypedValueParser for SettingParser<T> {
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<T, clap::Error> {
        let fail = |reason: String| {
            let arg = arg.map_or_else(|| "the value".to_owned(), |a| format!("'{a}'"));
            clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                format!(
                    "invalid value for {arg}: {reason}\n\nFor more information, try '--help'.\n"
                ),
            )
            .with_cmd(cmd)
        };
        let text = value
            .to_str()
            .ok_or_else(|| fail("it is not UTF-8".into()))?;
        T::parse(text).map_err(fail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acquirer_urls_are_https_or_local_http() {
        for good in [
            "https://acquirer.example.com",
            "https://acquirer.example.com:8443/api/v1",
            "http://localhost:8080",
            "http://127.0.0.1/api",
            "http://[::1]:9000",
        ] {
            assert_eq!(AcquirerUrl::parse(good).map(|u| u.text()), Ok(good.into()));
        }
        for bad in [
            "http://acquirer.example.com",
            "http://10.0.0.1",
            "ftp://localhost",
            "acquirer.example.com",
            "https://",
            "https://user:pw@acquirer.example.com",
            "https://acquirer.example.com/?token=abc",
            "https://acquirer.example.com:99999",
            "http://localhost.evil.com",
        ] {
            assert!(AcquirerUrl::parse(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn a_refused_credential_reference_is_not_repeated() {
        let pasted = "sk_live_51HbQ2xKj/+secretSECRETsecret==";
        let err = CredentialRef::parse(pasted).unwrap_err();
        assert!(!err.contains("sk_live"), "{err}");
        assert_eq!(
            CredentialRef::parse("prod-1").unwrap().entry(),
            "acquirer-credential.prod-1"
        );
    }

    #[test]
    fn values_keep_their_toml_type() {
        let toml = |s: &str| s.parse::<toml_edit::Value>().unwrap();
        assert_eq!(bool::from_toml(&toml("true")), Ok(true));
        assert!(bool::from_toml(&toml("\"yes\"")).is_err());
        assert_eq!(WorkFactor::from_toml(&toml("12")), Ok(WorkFactor(12)));
        assert!(WorkFactor::from_toml(&toml("9")).is_err());
        assert!(WorkFactor::from_toml(&toml("\"12\"")).is_err());
        assert!(PathBuf::from_toml(&toml("\"relative/dir\"")).is_err());
        assert_eq!(
            PathBuf::from_toml(&toml("\"/srv/posmate\"")),
            Ok(PathBuf::from("/srv/posmate"))
        );
        assert_eq!(WorkFactor(12).to_toml().as_integer(), Some(12));
        assert_eq!(true.to_json(), serde_json::Value::Bool(true));
    }

    #[test]
    fn profile_names_name_folders() {
        assert!(ProfileName::parse("bench_2").is_ok());
        for bad in ["", "../x", "a b", "é", &"x".repeat(65)] {
            assert!(ProfileName::parse(bad).is_err(), "{bad:?}");
        }
    }
}
