//! Counts as people read them: "1 record", "2 records" — never "record(s)". One helper for
//! every message the core, the simulated world and the CLI write for people.

/// `n` and the word for that many: `one` for exactly one, `many` otherwise (zero included:
/// "0 records").
pub fn count<N>(n: N, one: &str, many: &str) -> String
where
    N: std::fmt::Display + PartialEq + From<u8>,
{
    let word = if n == N::from(1) { one } else { many };
    format!("{n} {word}")
}

#[cfg(test)]
mod tests {
    use super::count;

    #[test]
    fn one_is_singular_everything_else_plural() {
        assert_eq!(
            count(1u64, "keystore entry", "keystore entries"),
            "1 keystore entry"
        );
        assert_eq!(
            count(2usize, "keystore entry", "keystore entries"),
            "2 keystore entries"
        );
        assert_eq!(count(0u32, "record", "records"), "0 records");
        assert_eq!(count(1u8, "day", "days"), "1 day");
    }
}
