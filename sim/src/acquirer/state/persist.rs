//! Serde adapters for the two things in the books whose types have no serde of their own
//! (the protocol's `KeyKind` and the random generator), so that saved books restore to the
//! same answers and the same random draws.

/// Key check values with the protocol's `KeyKind` (no serde there) as its wire number.
pub(super) mod kcvs {
    use posmate_acquirer_api::KeyCheck;
    use proto::keybundle::KeyKind;
    use serde::{de::Error, Deserialize, Deserializer, Serialize, Serializer};

    const KINDS: [KeyKind; 4] = [
        KeyKind::Tmk,
        KeyKind::PinKey,
        KeyKind::MacKey,
        KeyKind::DataKey,
    ];

    pub fn serialize<S: Serializer>(v: &[KeyCheck], s: S) -> Result<S::Ok, S::Error> {
        v.iter()
            .map(|(slot, kind, kcv)| {
                let n = KINDS.iter().position(|k| k == kind).unwrap_or(0) as u8;
                (*slot, n, *kcv)
            })
            .collect::<Vec<_>>()
            .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<KeyCheck>, D::Error> {
        Vec::<(u8, u8, [u8; 3])>::deserialize(d)?
            .into_iter()
            .map(|(slot, n, kcv)| {
                let kind = KINDS
                    .get(usize::from(n))
                    .ok_or_else(|| D::Error::custom(format!("unknown key kind {n}")))?;
                Ok((slot, *kind, kcv))
            })
            .collect()
    }
}

/// The random generator as its seed, stream and position, so the books resume their draws.
pub(super) mod rng_state {
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(rng: &ChaCha20Rng, s: S) -> Result<S::Ok, S::Error> {
        (rng.get_seed(), rng.get_stream(), rng.get_word_pos()).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<ChaCha20Rng, D::Error> {
        let (seed, stream, pos) = <([u8; 32], u64, u128)>::deserialize(d)?;
        let mut rng = ChaCha20Rng::from_seed(seed);
        rng.set_stream(stream);
        rng.set_word_pos(pos);
        Ok(rng)
    }
}
