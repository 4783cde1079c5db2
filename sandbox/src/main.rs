//! `posmate-sandbox`: the sandbox acquirer as a process of its own, for deployments and
//! tests that want it without the phone's CLI (`posmate acquirer serve` is the same server
//! with the CLI's conventions). It prints one JSON line saying where it listens and which
//! files a client needs, then serves until SIGINT or SIGTERM.
//!
//! `posmate-sandbox --data-dir DIR [--listen ADDR] [--host NAME]... [--demo]`

use std::path::PathBuf;
use std::process::ExitCode;

use posmate_sandbox::{start, Config, Identity};

fn usage(problem: &str) -> ExitCode {
    eprintln!(
        "posmate-sandbox: {problem}\nusage: posmate-sandbox --data-dir DIR [--listen ADDR] \
         [--host NAME]... [--demo]"
    );
    ExitCode::from(2)
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut listen = "127.0.0.1:0".to_owned();
    let mut data_dir = None;
    let mut hosts = Vec::new();
    let mut demo = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--demo" => demo = true,
            "--listen" | "--data-dir" | "--host" => {
                let Some(value) = args.next() else {
                    return usage(&format!("{arg} needs a value"));
                };
                match arg.as_str() {
                    "--listen" => listen = value,
                    "--data-dir" => data_dir = Some(PathBuf::from(value)),
                    _ => hosts.push(value),
                }
            }
            other => return usage(&format!("unknown argument '{other}'")),
        }
    }
    let Some(data_dir) = data_dir else {
        return usage("--data-dir is required");
    };
    let running = match start(Config {
        listen,
        data_dir,
        identity: Identity::Generated { hosts },
        demo,
    })
    .await
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("posmate-sandbox: {e} [{}]", e.code());
            return ExitCode::from(1);
        }
    };
    println!(
        "{}",
        serde_json::to_string(&running.started).unwrap_or_default()
    );
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("posmate-sandbox: cannot watch SIGTERM: {e}");
            return ExitCode::from(1);
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    running.shutdown().await;
    ExitCode::SUCCESS
}
