//! Runs a list of test suites in turn, each reported on its own, and fails if any failed:
//! the binding tests (one per language) and the view-model tests (one per shell) alike.

use std::time::Instant;

/// One suite: runs on the step's shared input and says why it failed.
pub type Suite<T> = fn(&T) -> Result<(), String>;

/// Runs each `(name, suite)` on `input`; `what` names the step ("binding tests") and
/// `unit` what each suite is ("languages").
pub fn run_each<T>(
    what: &str,
    unit: &str,
    suites: &[(&str, Suite<T>)],
    input: &T,
) -> Result<(), String> {
    let start = Instant::now();
    let mut failed = Vec::new();
    for &(name, run) in suites {
        eprintln!("\n==> {what}: {name}");
        let t = Instant::now();
        match run(input) {
            Ok(()) => eprintln!(
                "<== {what}: {name} ok in {:.1} s",
                t.elapsed().as_secs_f64()
            ),
            Err(e) => {
                eprintln!("<== {what}: {name} FAILED: {e}");
                failed.push(name);
            }
        }
    }
    eprintln!(
        "{what}: {} of {} {unit} passed in {:.0} s",
        suites.len() - failed.len(),
        suites.len(),
        start.elapsed().as_secs_f64()
    );
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("{what} ({})", failed.join(", ")))
    }
}
