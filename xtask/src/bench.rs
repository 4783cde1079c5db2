//! `cargo xtask bench`: every benchmark with a target, in one go, and one verdict.
//!
//! The benchmarks run one after the other, so that they do not disturb each other's
//! timings, each through its own `cargo bench -p <package> --bench <name>` (a combined
//! build would unify features across the packages and be rebuilt for the single-package
//! runs anyway). Each prints its own lines; a line that ends in a verdict — `: PASS` /
//! `: MISS` (store, sync) or `: met` / `: NOT MET` (wire) — is a target, and the summary
//! at the end lists every target as PASS or MISS. The task fails if a target is missed, a
//! benchmark fails, or a benchmark prints no target at all (a verdict that silently
//! disappeared is not a pass).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Instant;

/// A benchmark: (label, package, bench target). `gateway` is the HTTPS gateway's overhead
/// against a bare request, `sandbox` the sandbox's sustained durable requests/s (issue 13).
const BENCHES: [(&str, &str, &str); 5] = [
    ("wire", "posmate-proto", "wire"),
    ("store", "posmate-core", "store"),
    ("sync", "posmate-tests", "sync"),
    ("gateway", "posmate-core", "gateway"),
    ("sandbox", "posmate-sandbox", "throughput"),
];

/// Whether a printed line is a target's verdict, and which.
fn verdict(line: &str) -> Option<bool> {
    match line.rsplit_once(": ")?.1.trim() {
        "PASS" | "met" => Some(true),
        "MISS" | "NOT MET" => Some(false),
        _ => None,
    }
}

/// Runs every benchmark, or only those whose labels `only` names.
pub(crate) fn bench(only: &[String]) -> Result<(), String> {
    if let Some(unknown) = only.iter().find(|n| !BENCHES.iter().any(|b| b.0 == *n)) {
        let labels: Vec<&str> = BENCHES.iter().map(|b| b.0).collect();
        return Err(format!(
            "bench (no benchmark '{unknown}'; there are {})",
            labels.join(", ")
        ));
    }
    let selected: Vec<_> = BENCHES
        .into_iter()
        .filter(|b| only.is_empty() || only.iter().any(|n| n == b.0))
        .collect();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let started = Instant::now();

    // (benchmark, line, passed)
    let mut targets: Vec<(&str, String, bool)> = Vec::new();
    let mut failed = Vec::new();
    for &(label, package, target) in &selected {
        let args = ["bench", "-p", package, "--bench", target];
        eprintln!("\n==> {label} benchmark: {cargo} {}", args.join(" "));
        let t = Instant::now();
        let mut child = Command::new(&cargo)
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("{label} benchmark (could not start {cargo}: {e})"))?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let before = targets.len();
        for line in BufReader::new(stdout).lines() {
            let line = line.map_err(|e| format!("{label} benchmark (reading its output: {e})"))?;
            println!("{line}");
            if let Some(passed) = verdict(&line) {
                targets.push((label, line, passed));
            }
        }
        let status = child
            .wait()
            .map_err(|e| format!("{label} benchmark (waiting for it: {e})"))?;
        eprintln!(
            "<== {label} benchmark: {} in {:.1} s",
            if status.success() { "ok" } else { "FAILED" },
            t.elapsed().as_secs_f64()
        );
        if !status.success() {
            failed.push(format!("{label} benchmark failed ({status})"));
        } else if targets.len() == before {
            failed.push(format!("{label} benchmark printed no target"));
        }
    }

    println!(
        "\n== targets ({} benchmarks, {:.0} s)",
        selected.len(),
        started.elapsed().as_secs_f64()
    );
    for (label, line, passed) in &targets {
        println!("{} {label}: {line}", if *passed { "PASS" } else { "MISS" });
    }
    for f in &failed {
        println!("FAILED {f}");
    }
    let missed = targets.iter().filter(|t| !t.2).count();
    if missed > 0 || !failed.is_empty() {
        return Err(format!(
            "bench (targets missed: {missed}; benchmarks failed: {})",
            failed.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::verdict;

    #[test]
    fn verdicts_are_read_from_the_line_end() {
        assert_eq!(
            verdict("(c) open: 0.23 ms (target < 50 ms): PASS"),
            Some(true)
        );
        assert_eq!(verdict("ratio 2.3 (target <= 2.0): MISS"), Some(false));
        assert_eq!(verdict("MTU 247: 0.9710  target ≥ 0.95: met"), Some(true));
        assert_eq!(
            verdict("slowest endpoint: target ≥ 200 MB/s: NOT MET"),
            Some(false)
        );
        assert_eq!(verdict("MTU  23: 0.7760  (171 packets)"), None);
        assert_eq!(verdict("(b) history page: median 0.069 ms"), None);
    }
}
