//! `posmate-ble-tests`: the core's btleplug transport (the central, on `hci0`) against the
//! simulated terminal served by `posmate sim --ble hci1` (the peripheral), both through
//! BlueZ. It runs inside the User-Mode Linux guest that `cargo xtask ble-test` boots, where
//! `btvirt` provides the two controllers (`docs/ble-testing.md`); on a machine with two
//! real adapters named so it runs as it is.
//!
//! Each case prints one `PASS`/`FAIL` line; then the measurements; the last line is
//! `N passed, M failed`. The exit status is 1 if any case failed.

#[cfg(target_os = "linux")]
mod cases;
#[cfg(target_os = "linux")]
mod harness;
#[cfg(target_os = "linux")]
mod sandbox_life;

use std::process::ExitCode;

#[cfg(not(target_os = "linux"))]
fn main() -> ExitCode {
    eprintln!("posmate-ble-tests needs Linux with BlueZ; run `cargo xtask ble-test` there");
    ExitCode::from(2)
}

#[cfg(target_os = "linux")]
fn main() -> ExitCode {
    use std::time::{Duration, Instant};

    let args = match harness::Args::parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    // The phone's keystore is the kernel keyring: join a session keyring before the
    // runtime's threads start (they inherit it).
    if let Err(e) = posmate_core::keystore::linux::join_session_keyring() {
        println!("FAIL setup: the kernel keyring is unusable: {e}");
        println!("0 passed, 1 failed");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            println!("FAIL setup: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        if let Err(e) = std::fs::create_dir_all(&args.work) {
            println!("FAIL setup: {}: {e}", args.work.display());
            println!("0 passed, 1 failed");
            return ExitCode::FAILURE;
        }
        match harness::adapters_ready(Duration::from_secs(60)).await {
            Ok(took) => println!(
                "setup: {} and {} powered on BlueZ after {:.1} s",
                harness::CENTRAL,
                harness::PERIPHERAL,
                took.as_secs_f64()
            ),
            Err(e) => {
                println!("FAIL setup: {e}");
                println!("0 passed, 1 failed");
                return ExitCode::FAILURE;
            }
        }
        let only = args.only.clone();
        let mut env = cases::Env::new(args);
        let (mut passed, mut failed) = (0, 0);
        for name in cases::CASES {
            if only.as_deref().is_some_and(|o| !name.contains(o)) {
                continue;
            }
            let start = Instant::now();
            let result =
                match tokio::time::timeout(Duration::from_secs(180), cases::run(&mut env, name))
                    .await
                {
                    Ok(r) => r,
                    Err(_) => Err("timed out after 180 s".into()),
                };
            let took = start.elapsed().as_secs_f64();
            match result {
                Ok(detail) => {
                    passed += 1;
                    println!("PASS {name} ({took:.1} s): {detail}");
                }
                Err(why) => {
                    failed += 1;
                    println!("FAIL {name} ({took:.1} s): {why}");
                }
            }
        }
        println!("measurements (virtual radio: btvirt in User-Mode Linux, debug build):");
        for m in env.measures() {
            println!("  {m}");
        }
        println!("{passed} passed, {failed} failed");
        if failed == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    })
}
