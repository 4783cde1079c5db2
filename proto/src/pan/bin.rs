//! Issuer lookup from a card's BIN (its first digits), from a small built-in table: the
//! schemes by their ISO/IEC 7812 ranges and the large Chinese issuers' common BINs, so a
//! merchant sees "ICBC debit" rather than a bare number when binding a settlement card. An
//! unknown BIN is not an error: the acquirer has the authoritative table.

/// The card scheme a number belongs to, by its ISO/IEC 7812 range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardScheme {
    UnionPay,
    Visa,
    Mastercard,
    Amex,
    Jcb,
    Discover,
}

impl CardScheme {
    pub fn name(self) -> &'static str {
        match self {
            CardScheme::UnionPay => "UnionPay",
            CardScheme::Visa => "Visa",
            CardScheme::Mastercard => "Mastercard",
            CardScheme::Amex => "American Express",
            CardScheme::Jcb => "JCB",
            CardScheme::Discover => "Discover",
        }
    }
}

/// What the BIN says about a card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issuer {
    pub scheme: CardScheme,
    /// The issuing bank when the table knows the BIN, e.g. "ICBC".
    pub bank: Option<String>,
}

impl Issuer {
    /// "ICBC (UnionPay)" or just "Visa".
    pub fn display(&self) -> String {
        match &self.bank {
            Some(bank) => format!("{bank} ({})", self.scheme.name()),
            None => self.scheme.name().to_owned(),
        }
    }
}

/// Six-digit BINs of large issuers (public, printed on every card of the range).
const BANKS: &[(&str, &str)] = &[
    ("622202", "ICBC"),
    ("621226", "ICBC"),
    ("621700", "China Construction Bank"),
    ("622700", "China Construction Bank"),
    ("436742", "China Construction Bank"),
    ("622848", "Agricultural Bank of China"),
    ("621661", "Bank of China"),
    ("621785", "Bank of China"),
    ("622588", "China Merchants Bank"),
    ("621483", "China Merchants Bank"),
    ("622260", "Bank of Communications"),
    ("622150", "Postal Savings Bank of China"),
];

/// Looks up the issuer of a card from its leading digits (at least 6 needed for a bank).
pub fn issuer_for(pan_digits: &str) -> Option<Issuer> {
    let scheme = scheme_for(pan_digits)?;
    let bank = pan_digits
        .get(..6)
        .and_then(|bin| BANKS.iter().find(|(b, _)| *b == bin))
        .map(|(_, name)| (*name).to_owned());
    Some(Issuer { scheme, bank })
}

fn prefix(digits: &str, n: usize) -> Option<u32> {
    digits.get(..n)?.parse().ok()
}

fn scheme_for(d: &str) -> Option<CardScheme> {
    let p2 = prefix(d, 2)?;
    let p4 = prefix(d, 4).unwrap_or(0);
    // The 436742 CCB range is a Visa range; check the scheme ranges in order of specificity.
    Some(match p2 {
        34 | 37 => CardScheme::Amex,
        62 | 81 => CardScheme::UnionPay,
        51..=55 => CardScheme::Mastercard,
        22..=27 if (2221..=2720).contains(&p4) => CardScheme::Mastercard,
        35 if (3528..=3589).contains(&p4) => CardScheme::Jcb,
        60 if p4 == 6011 => CardScheme::Discover,
        64 | 65 => CardScheme::Discover,
        40..=49 => CardScheme::Visa,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_and_banks() {
        let icbc = issuer_for("6222021234567890128").unwrap();
        assert_eq!(icbc.scheme, CardScheme::UnionPay);
        assert_eq!(icbc.display(), "ICBC (UnionPay)");
        assert_eq!(
            issuer_for("4111111111111111").unwrap(),
            Issuer {
                scheme: CardScheme::Visa,
                bank: None
            }
        );
        assert_eq!(
            issuer_for("2221000000000009").unwrap().scheme,
            CardScheme::Mastercard
        );
        assert_eq!(
            issuer_for("378282246310005").unwrap().scheme,
            CardScheme::Amex
        );
        assert_eq!(
            issuer_for("3530111333300000").unwrap().scheme,
            CardScheme::Jcb
        );
        assert_eq!(
            issuer_for("6011111111111117").unwrap().scheme,
            CardScheme::Discover
        );
        assert_eq!(issuer_for("9999999999999995"), None);
        assert_eq!(issuer_for("4"), None);
    }
}
