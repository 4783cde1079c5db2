//! `cargo xtask <task>`: the project's own automation, in Rust so it runs wherever cargo does.
//!
//! * `test` — everything CI runs: formatting, clippy with warnings denied, the workspace's
//!   tests (property tests and fuzz-style decoders included), a type-check of the
//!   `cargo fuzz` targets, and the tasks below marked "`test` runs it". This is the README's test command and `.ci/run`.
//! * `cross-check` — `cargo clippy` (check plus lints) of the core and the UniFFI layer for
//!   Android, iOS and macOS, with a cached C-compiler stand-in (`test` runs it too).
//! * `size` — the stripped mobile-profile library against its 8 MB target, and its growth per
//!   dependency (`bench` runs it too).
//! * `bench [NAME]...` — the benchmarks (wire, store, sync, gateway, sandbox; or only those
//!   named); each prints ratios against a reference measured in the same run, and the task
//!   fails if a target is missed (`bench.rs`).
//! * `bindings` — Kotlin, Swift and Python generated from the `posmate-ffi` library into
//!   `target/bindings/`; `bindings-test` runs the binding tests in those runtimes, which
//!   `provision` installs and caches (`test` runs them too).
//! * `shells-test` — the Android and iOS shells' view-model suites: Kotlin on the JVM, Swift
//!   with XCTest in the provisioned Swift root (`test` runs them too).
//! * `standards-test` — posmate's TR-31 key blocks opened by Python's `psec` from PyPI, an
//!   independent implementation, in a cached venv (`test` runs it too).
//! * `api-fuzz` — `acquirer-api/openapi.yaml` against the `posmate-sandbox` binary over TLS
//!   by schemathesis 4.32.5 from PyPI (cached venv), every check it has: no server error,
//!   every answer as the spec says, invalid calls refused, valid ones taken (`test` runs it
//!   after the cargo tests).
//! * `keystore-test` — the durable Linux keystore for real: posmate's keys in a Secret
//!   Service (its own `dbus-daemon` and `gnome-keyring-daemon`, installed from Debian if
//!   missing) survive a restart of the daemon, and without one every command says what is
//!   missing, with nothing falling back to keyutils (`test` runs it too).
//! * `ble-test` — the tests on a real Bluetooth stack (BlueZ in User-Mode Linux), with the
//!   kernel and Debian root it needs built and cached on first use (`docs/ble-testing.md`;
//!   `test` runs it last); `--provision-only` builds the cache and stops, `--only NAME` runs
//!   the matching cases.

mod api_fuzz;
mod bench;
mod bindings;
mod ble;
mod common;
mod cross;
mod keystore_test;
mod provision;
mod shells;
mod size;
mod standards;
mod suites;

use std::process::{Command, ExitCode};
use std::time::Instant;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(),
        // Named benchmarks only (`cargo xtask bench gateway sandbox`) skip the size check.
        Some("bench") if args.len() > 1 => bench::bench(&args[1..]),
        Some("bench") => bench::bench(&[]).and_then(|()| size::size()),
        Some("cross-check") => cross::cross_check(),
        Some("size") => size::size(),
        Some("bindings") => bindings::bindings(),
        Some("bindings-test") => bindings::test(),
        Some("shells-test") => shells::test(),
        Some("standards-test") => standards::test(),
        Some("keystore-test") => keystore_test::test(),
        Some("api-fuzz") => api_fuzz::test(),
        Some("provision") => provision::provision_all(),
        Some("ble-test") => ble::ble_test(&args[1..]),
        _ => {
            eprintln!("usage: cargo xtask <test|bench|cross-check|size|ble-test|bindings|bindings-test|shells-test|standards-test|keystore-test|api-fuzz|provision>\n  bindings       generate Kotlin, Swift and Python into target/bindings\n  bindings-test  the binding tests in the real runtimes\n  shells-test    the Android and iOS view-model tests (Kotlin on the JVM, Swift with XCTest)\n  standards-test posmate's TR-31 key blocks opened by Python's psec (cached venv)\n  keystore-test  the keys in a real Secret Service (dbus-daemon + gnome-keyring), across a daemon restart\n  api-fuzz       acquirer-api/openapi.yaml against the sandbox over TLS by schemathesis 4.32.5 (cached venv), all its checks\n  provision      install the binding tests' runtimes (cached)\n  cross-check  cargo clippy (check plus lints) for the Android, iOS and macOS targets\n  size  the mobile library's stripped size and growth per dependency (bench runs it too)\n  test   run everything CI runs\n  bench [NAME]...  run the benchmarks (ratios against in-run references): wire, store, sync, gateway, sandbox\n  ble-test  the tests on a real Bluetooth stack (User-Mode Linux; --provision-only, --only NAME)");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(step) => {
            eprintln!("xtask: FAILED at step: {step}");
            ExitCode::FAILURE
        }
    }
}

/// Runs one step, echoing it; `Err(name)` if it fails.
fn step(name: &str, program: &str, args: &[&str]) -> Result<(), String> {
    eprintln!("\n==> {name}: {program} {}", args.join(" "));
    let start = Instant::now();
    let status = Command::new(program)
        .args(args)
        .status()
        .map_err(|e| format!("{name} (could not start {program}: {e})"))?;
    eprintln!(
        "<== {name}: {} in {:.1} s",
        if status.success() { "ok" } else { "FAILED" },
        start.elapsed().as_secs_f64()
    );
    if status.success() {
        Ok(())
    } else {
        Err(name.to_owned())
    }
}

fn test() -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    step("format", &cargo, &["fmt", "--all", "--", "--check"])?;
    step(
        "clippy",
        &cargo,
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    step(
        "fuzz targets type-check",
        &cargo,
        &["check", "--manifest-path", "fuzz/Cargo.toml", "--bins"],
    )?;
    cross::cross_check()?;
    bindings::test()?;
    shells::test()?;
    standards::test()?;
    keystore_test::test()?;
    // --show-output keeps the case counts that fault tests print (disconnect at every packet).
    step(
        "tests",
        &cargo,
        &[
            "test",
            "--workspace",
            "--no-fail-fast",
            "--",
            "--show-output",
        ],
    )?;
    // The spec against the sandbox binary the tests just built.
    api_fuzz::test()?;
    // The real Bluetooth stack, after the cargo tests (it reuses their build); it closes
    // with its own "N passed, M failed" line.
    ble::ble_test(&[])
}
