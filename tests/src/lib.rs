//! Shared harness for the scenario tests: a simulated radio with simulated terminals in
//! range, and a phone identity. The core reaches the terminals only through protocol bytes
//! over the simulated link; the harness reads the terminal's screen as a merchant would.
