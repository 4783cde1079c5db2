//! The activation codes of a fleet run: one `SN,CODE` or `SN CODE` per line, from stdin or
//! from a file only its owner can read — never from the command line, where `ps` and the
//! shell's history would keep them. Blank lines and `#` comments are skipped, and so is a
//! first line `sn,code`. Errors name the line, never its content.

use std::io::{IsTerminal, Read};
use std::path::Path;

use posmate_core::fleet::FleetCodes;
use zeroize::Zeroizing;

use crate::error::{CliError, Exit};
use crate::output::Output;

/// Reads the codes from `file`, or from stdin until its end.
pub fn read(file: Option<&Path>, out: &Output) -> Result<FleetCodes, CliError> {
    let mut text = Zeroizing::new(String::new());
    match file {
        Some(path) => {
            refuse_shared(path)?;
            let mut f = std::fs::File::open(path).map_err(|e| unreadable(path, e))?;
            f.read_to_string(&mut text)
                .map_err(|e| unreadable(path, e))?;
        }
        None => {
            if std::io::stdin().is_terminal() {
                out.note("type one 'SN CODE' per line (not echoed by posmate; your terminal may show it), then Ctrl-D");
            }
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| CliError::storage("cannot read the activation codes on stdin", e))?;
        }
    }
    let codes = parse(&text)?;
    if codes.is_empty() {
        return Err(
            CliError::new(Exit::Usage, "needs-input", "no activation codes were given")
                .hint("pipe one 'SN CODE' per line on stdin, or pass --codes-file FILE (mode 600)"),
        );
    }
    Ok(codes)
}

/// Parses the lines of `text`.
pub fn parse(text: &str) -> Result<FleetCodes, CliError> {
    let mut codes = FleetCodes::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || (n == 0 && is_header(line)) {
            continue;
        }
        let mut parts = line
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|p| !p.is_empty());
        let (Some(sn), Some(code), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(CliError::new(
                Exit::Usage,
                "codes-malformed",
                format!(
                    "line {} of the activation codes is not 'SN,CODE' or 'SN CODE'",
                    n + 1
                ),
            )
            .hint("one terminal per line: its SN, a comma or spaces, its activation code"));
        };
        if codes.insert(sn.to_owned(), Zeroizing::new(code.to_owned())) {
            return Err(CliError::new(
                Exit::Usage,
                "codes-duplicate",
                format!("the activation codes give {sn} twice (line {})", n + 1),
            )
            .hint("keep one code per terminal"));
        }
    }
    Ok(codes)
}

fn is_header(line: &str) -> bool {
    let words: Vec<String> = line
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|p| !p.is_empty())
        .map(str::to_lowercase)
        .collect();
    words == ["sn", "code"] || words == ["sn", "activation_code"]
}

fn unreadable(path: &Path, e: std::io::Error) -> CliError {
    CliError::new(
        Exit::Usage,
        "codes-file",
        format!(
            "cannot read the activation codes file {}: {e}",
            path.display()
        ),
    )
}

/// A file of secrets must not be readable by anyone but its owner.
#[cfg(unix)]
fn refuse_shared(path: &Path) -> Result<(), CliError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| unreadable(path, e))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(CliError::new(
            Exit::Usage,
            "codes-file-permissions",
            format!(
                "the activation codes file {} can be read by others (mode {mode:03o}); nothing was sent",
                path.display()
            ),
        )
        .hint(format!("make it private first: chmod 600 {}", path.display())));
    }
    Ok(())
}

#[cfg(not(unix))]
fn refuse_shared(_: &Path) -> Result<(), CliError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_separators_comments_and_a_header_are_read() {
        let codes =
            parse("sn,code\nSN2026000001,ACT07001\n\n# shop 2\n  SN2026000002   ACT07002 \n")
                .unwrap();
        assert_eq!(codes.len(), 2);
        assert_eq!(
            codes.get("SN2026000002").map(|c| c.as_str()),
            Some("ACT07002")
        );
    }

    #[test]
    fn a_bad_line_is_named_by_number_never_by_content() {
        let err = parse("SN1 ACT1\nSN2 SECRET99 extra\n").unwrap_err();
        assert_eq!(err.code, "codes-malformed");
        assert!(err.message.contains("line 2"), "{}", err.message);
        assert!(!err.message.contains("SECRET99"));
        assert_eq!(
            parse("SN1 A1\nSN1 A2\n").unwrap_err().code,
            "codes-duplicate"
        );
    }

    #[test]
    #[cfg(unix)]
    fn a_codes_file_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("codes.txt");
        std::fs::write(&path, "SN2026000001 ACT07001\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let out = Output {
            json: true,
            quiet: true,
        };
        let err = read(Some(&path), &out).unwrap_err();
        assert_eq!(err.code, "codes-file-permissions");
        assert!(!err.message.contains("ACT07001"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read(Some(&path), &out).unwrap().len(), 1);
    }
}
