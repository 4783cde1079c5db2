//! Several terminals in range at once, with distinct SNs and seeds.

use crate::terminal::{SimTerminal, TerminalConfig};

/// Builds `count` factory-fresh terminals `SN` = `{prefix}{000001..}`, seeds
/// `base_seed + i`, so a fleet is as deterministic as one terminal.
pub fn fleet(prefix: &str, count: usize, base_seed: u64) -> Vec<SimTerminal> {
    (1..=count)
        .map(|i| {
            SimTerminal::new(TerminalConfig::new(
                format!("{prefix}{i:06}"),
                base_seed.wrapping_add(i as u64),
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::gatt::Peripheral;

    #[test]
    fn fleet_members_are_distinct() {
        let f = fleet("SN2026", 3, 7);
        let sns: Vec<String> = f.iter().map(|t| t.sn()).collect();
        assert_eq!(sns, ["SN2026000001", "SN2026000002", "SN2026000003"]);
        assert_ne!(f[0].device_key(), f[1].device_key());
        assert_eq!(f[2].advertisement().local_name, "POSMATE-000003");
    }
}
