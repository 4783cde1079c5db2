//! `cargo xtask size`: how big the library the phone apps ship is, and what makes it so.
//!
//! Builds `posmate-ffi`'s cdylib for x86_64 Linux with the `mobile` profile (in
//! `target/size`), strips a copy with `strip --strip-all` and prints its size against the
//! 8 MB target. Everything the database needs is inside: SQLCipher and its crypto provider
//! (`core/src/store/cipher.rs`, Rust), so the library needs no libcrypto on any platform;
//! the command checks that it does not ask for one.
//!
//! No HTTP or TLS stack is expected inside: on the phones the acquirer is reached through the
//! app's own HTTP client (`AcquirerHttpClient`, OkHttp/HttpURLConnection or URLSession), and
//! the core's own client (reqwest, rustls) is behind its `https` feature, which the bindings
//! do not enable. The report says which stack is linked, if any, by its crates' symbols; with
//! one in, the tighter bound applies (7 MB).
//!
//! Growth per dependency: every sized symbol (`nm -S`), attributed to
//! the crate its (demangled) path names, or, for C, to the static archive that defines it
//! (SQLCipher's or libdbus's, found through the build scripts' `out_dir`). Generic code is
//! counted where it was instantiated from (`drop_in_place<tokio::…>` counts for tokio),
//! like `cargo bloat --crates`.

use crate::common::output;
use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// The target from the issue: the stripped library, SQLCipher and its crypto included.
const TARGET_BYTES: u64 = 8_000_000;
/// The bound when an HTTP/TLS stack is linked in after all (the platform-client issue: "≤ 7 MB
/// stripped with the HTTP/TLS stack in, or the platform-client route is the default").
const TARGET_WITH_HTTP_TLS_BYTES: u64 = 7_000_000;
/// Crates of an HTTP or TLS stack, as their symbols name them.
const HTTP_TLS_CRATES: &[&str] = &[
    "hyper",
    "hyper_util",
    "h2",
    "reqwest",
    "rustls",
    "tokio_rustls",
    "webpki",
    "webpki_roots",
    "ring",
    "native_tls",
    "openssl",
];
/// The C libraries build scripts compile into the library: the package whose build script
/// does it, the archive in its `out_dir`, the name shown.
const C_ARCHIVES: &[(&str, &str, &str)] = &[
    ("libsqlite3-sys", "libsqlcipher.a", "sqlcipher (C)"),
    ("libdbus-sys", "libdbus.a", "libdbus (C, Linux only)"),
];
/// Crates printed one by one; the rest are summed on one line.
const TOP: usize = 25;

/// `cargo xtask size`.
pub fn size() -> Result<(), String> {
    let start = Instant::now();
    eprintln!("\n==> size: posmate-ffi (cdylib), x86_64 Linux, profile mobile");
    let root = crate::common::workspace_root();
    let target_dir = root.join("target/size");

    let build = build(&target_dir)?;
    let bytes = stripped_size(&build.library, &target_dir)?;
    let needed = needed_libraries(&build.library)?;
    if let Some(crypto) = needed.iter().find(|l| l.starts_with("libcrypto")) {
        return Err(format!(
            "size (the library needs {crypto}: SQLCipher was built with its OpenSSL provider; \
             check that LIBSQLITE3_FLAGS from .cargo/config.toml reaches libsqlite3-sys)"
        ));
    }
    let shares = attribute(&build)?;
    let stack: Vec<&(String, u64)> = shares
        .iter()
        .filter(|(name, _)| HTTP_TLS_CRATES.contains(&name.as_str()))
        .collect();
    let target = if stack.is_empty() {
        TARGET_BYTES
    } else {
        TARGET_WITH_HTTP_TLS_BYTES
    };
    let verdict = if bytes <= target { "PASS" } else { "MISS" };
    println!("\nlibposmate_ffi.so, x86_64 Linux, profile mobile, strip --strip-all:");
    println!(
        "  {}  target <= {}: {verdict}  (SQLCipher and its crypto inside; needs {})",
        mb(bytes),
        mb(target),
        needed.join(", ")
    );
    if stack.is_empty() {
        println!(
            "  HTTP/TLS stack: none linked (no hyper, reqwest, rustls or ring): the phones reach \
             the acquirer through the app's own HTTP client (AcquirerHttpClient), the default"
        );
    } else {
        let listed: Vec<String> = stack
            .iter()
            .map(|(n, b)| format!("{n} {}", mb(*b)))
            .collect();
        println!("  HTTP/TLS stack linked: {}", listed.join(", "));
    }
    print_shares(&shares, bytes);
    eprintln!(
        "<== size: {verdict} in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    if verdict == "PASS" {
        Ok(())
    } else {
        Err(format!(
            "size ({} is over the {} target)",
            mb(bytes),
            mb(target)
        ))
    }
}

/// What one build produced: the unstripped library and the C archives linked into it.
struct Build {
    library: PathBuf,
    /// `(name shown, archive)` for the C libraries the build scripts compiled.
    archives: Vec<(&'static str, PathBuf)>,
}

fn build(target_dir: &Path) -> Result<Build, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let args = [
        "build",
        "--lib",
        "-p",
        "posmate-ffi",
        "--profile",
        "mobile",
        "--message-format",
        "json-render-diagnostics",
    ];
    eprintln!("size: {cargo} {}", args.join(" "));
    let began = Instant::now();
    let out = Command::new(&cargo)
        .args(args)
        .arg("--target-dir")
        .arg(target_dir)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("size (could not start {cargo}: {e})"))?;
    if !out.status.success() {
        return Err("size (the mobile build failed, see above)".into());
    }
    eprintln!("size: built in {:.1} s", began.elapsed().as_secs_f64());
    let messages = String::from_utf8_lossy(&out.stdout);

    let library = messages
        .lines()
        .filter(|m| m.contains("\"reason\":\"compiler-artifact\""))
        .flat_map(|m| json_strings(m, "filenames"))
        .find(|f| f.ends_with("/libposmate_ffi.so"))
        .map(PathBuf::from)
        .ok_or("size (cargo reported no libposmate_ffi.so)")?;
    let out_dir = |package: &str| {
        messages
            .lines()
            .filter(|m| m.contains("\"reason\":\"build-script-executed\""))
            .filter(|m| m.contains(&format!("#{package}@")) || m.contains(&format!("/{package}#")))
            .find_map(|m| json_strings(m, "out_dir").into_iter().next())
            .map(PathBuf::from)
    };
    let archives: Vec<_> = C_ARCHIVES
        .iter()
        .filter_map(|&(package, archive, name)| Some((name, out_dir(package)?.join(archive))))
        .collect();
    for (_, archive) in &archives {
        if !archive.exists() {
            return Err(format!(
                "size (expected the C archive {} from the build)",
                archive.display()
            ));
        }
    }
    Ok(Build { library, archives })
}

/// Strips a copy of the library and returns its size.
fn stripped_size(library: &Path, target_dir: &Path) -> Result<u64, String> {
    let stripped = target_dir.join("libposmate_ffi.stripped.so");
    let status = Command::new("strip")
        .arg("--strip-all")
        .arg("-o")
        .arg(&stripped)
        .arg(library)
        .status()
        .map_err(|e| format!("size (cannot run strip: {e}. Fix: apt-get install binutils)"))?;
    if !status.success() {
        return Err(format!("size (strip {} failed)", library.display()));
    }
    fs::metadata(&stripped)
        .map(|m| m.len())
        .map_err(|e| format!("size (cannot read {}: {e})", stripped.display()))
}

/// The shared libraries the library asks the loader for (`DT_NEEDED`).
fn needed_libraries(library: &Path) -> Result<Vec<String>, String> {
    let dynamic = output("readelf", &["--dynamic", &library.to_string_lossy()])?;
    Ok(dynamic
        .lines()
        .filter(|l| l.contains("(NEEDED)"))
        .filter_map(|l| Some(l.split_once('[')?.1.split_once(']')?.0.to_owned()))
        .collect())
}

/// Bytes of the library's symbols per crate (or C archive), largest first.
fn attribute(build: &Build) -> Result<Vec<(String, u64)>, String> {
    let mut c_symbols: HashMap<String, &'static str> = HashMap::new();
    for (name, archive) in &build.archives {
        let listing = output("nm", &["--defined-only", &archive.to_string_lossy()])?;
        for symbol in listing.lines().filter_map(|l| l.split_whitespace().nth(2)) {
            c_symbols.entry(symbol.to_owned()).or_insert(name);
        }
    }
    let library = build.library.to_string_lossy();
    // The same listing twice, raw (to match C archives) and demangled (to name crates).
    let raw = output("nm", &["-S", "--defined-only", &library])?;
    let demangled = output("nm", &["-S", "--defined-only", "--demangle", &library])?;
    let mut bytes: HashMap<String, u64> = HashMap::new();
    for (raw, demangled) in raw.lines().zip(demangled.lines()) {
        // "address size type name", the name possibly with spaces once demangled.
        let mut fields = raw.splitn(4, ' ');
        let (Some(address), Some(size), Some(_), Some(name)) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            continue; // no size: a label, not code or data
        };
        if !demangled.starts_with(address) {
            return Err(format!("size (nm listed {library} differently twice)"));
        }
        let Ok(size) = u64::from_str_radix(size, 16) else {
            continue;
        };
        let owner = match c_symbols.get(name) {
            Some(archive) => (*archive).to_owned(),
            None => crate_of(demangled.splitn(4, ' ').nth(3).unwrap_or(name)),
        };
        *bytes.entry(owner).or_default() += size;
    }
    let mut shares: Vec<(String, u64)> = bytes.into_iter().collect();
    shares.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(shares)
}

/// The crate a demangled Rust symbol belongs to; `[C or other]` for the rest.
fn crate_of(symbol: &str) -> String {
    let path = symbol.trim_start_matches(['<', '&', '*', '(', '[']);
    let path = path
        .trim_start_matches("mut ")
        .trim_start_matches("const ")
        .trim_start_matches("dyn ");
    let first = path.split("::").next().unwrap_or(path);
    let is_path = path.len() > first.len() && !first.contains([' ', '<', '>', ',']);
    if !is_path {
        // `<u8 as core::fmt::Debug>::fmt`: a primitive's impl counts for the trait's crate.
        return match symbol.split_once(" as ") {
            Some((_, tr)) => crate_of(tr),
            None if symbol.starts_with("uniffi_") || symbol.starts_with("ffi_posmate") => {
                "posmate_ffi".into()
            }
            None => "[C or other]".into(),
        };
    }
    // Instantiated generics count for the code they were instantiated for.
    for generic in ["core::ptr::drop_in_place<", "alloc::sync::Arc<"] {
        if let Some(inner) = path.strip_prefix(generic) {
            return crate_of(inner);
        }
    }
    match first {
        "core" | "alloc" | "std" | "std_detect" | "panic_unwind" | "compiler_builtins"
        | "rustc_demangle" | "addr2line" | "gimli" | "miniz_oxide" | "object" | "adler2" => {
            "std".into()
        }
        krate => krate.into(),
    }
}

fn print_shares(shares: &[(String, u64)], file_bytes: u64) {
    let total: u64 = shares.iter().map(|s| s.1).sum();
    println!("\ngrowth per dependency (bytes of code and data):");
    for (name, bytes) in shares.iter().take(TOP) {
        println!(
            "  {name:<28} {:>10}  {:>5.1}%",
            mb(*bytes),
            percent(*bytes, file_bytes)
        );
    }
    if shares.len() > TOP {
        let rest: u64 = shares[TOP..].iter().map(|s| s.1).sum();
        let label = format!("{} more crates", shares.len() - TOP);
        println!(
            "  {label:<28} {:>10}  {:>5.1}%",
            mb(rest),
            percent(rest, file_bytes)
        );
    }
    let other = file_bytes.saturating_sub(total);
    println!(
        "  {:<28} {:>10}  {:>5.1}%  (unwind tables, relocations, exported names, headers)",
        "no symbol",
        mb(other),
        percent(other, file_bytes)
    );
}

fn percent(part: u64, whole: u64) -> f64 {
    100.0 * part as f64 / whole.max(1) as f64
}

fn mb(bytes: u64) -> String {
    format!("{:.2} MB", bytes as f64 / 1e6)
}

/// The string values of `"key":"…"` or `"key":["…",…]` in one line of cargo's JSON
/// messages (paths: no escapes on this machine's file names).
fn json_strings(message: &str, key: &str) -> Vec<String> {
    let Some(start) = message.find(&format!("\"{key}\":")) else {
        return Vec::new();
    };
    let value = &message[start + key.len() + 3..];
    let value = match value.strip_prefix('[') {
        Some(list) => &list[..list.find(']').unwrap_or(list.len())],
        None => &value[..value.find([',', '}']).unwrap_or(value.len())],
    };
    value
        .split(',')
        .filter_map(|s| s.trim().strip_prefix('"')?.strip_suffix('"'))
        .map(str::to_owned)
        .collect()
}
