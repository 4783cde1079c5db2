//! Cards bound at the acquirer. The column holds a [`MaskedPan`]'s text and is parsed back
//! through `MaskedPan`, so neither direction can carry a full card number.

use posmate_proto::pan::MaskedPan;
use rusqlite::{params, Row};

use super::error::StoreError;
use super::model::{CardPurposeKind, CardRow};
use super::Tx;

impl Tx<'_> {
    /// Inserts `card`, or replaces the row with the same binding id.
    pub fn upsert_card(&self, card: &CardRow) -> Result<(), StoreError> {
        self.tx
            .prepare_cached(
                "INSERT OR REPLACE INTO cards (binding_id, merchant_no, purpose, masked_pan, \
                 issuer, holder_name, source, bound_at_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                card.binding_id,
                card.merchant_no,
                card.purpose.as_str(),
                card.masked_pan.as_str(),
                super::redact::text(&card.issuer),
                super::redact::text(&card.holder_name),
                card.source,
                card.bound_at_ms,
            ])?;
        Ok(())
    }

    /// Removes a card; returns whether it was there.
    pub fn delete_card(&self, binding_id: &str) -> Result<bool, StoreError> {
        let n = self
            .tx
            .prepare_cached("DELETE FROM cards WHERE binding_id = ?1")?
            .execute([binding_id])?;
        Ok(n > 0)
    }

    /// The merchant's cards, oldest binding first.
    pub fn cards(&self, merchant_no: &str) -> Result<Vec<CardRow>, StoreError> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT binding_id, merchant_no, purpose, masked_pan, issuer, holder_name, source, \
             bound_at_ms FROM cards WHERE merchant_no = ?1 ORDER BY bound_at_ms, binding_id",
        )?;
        let mut rows = stmt.query([merchant_no])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(card_row(row)?);
        }
        Ok(out)
    }
}

fn card_row(r: &Row<'_>) -> Result<CardRow, StoreError> {
    let purpose: String = r.get(2)?;
    let pan: String = r.get(3)?;
    Ok(CardRow {
        binding_id: r.get(0)?,
        merchant_no: r.get(1)?,
        purpose: purpose
            .parse::<CardPurposeKind>()
            .map_err(|e| StoreError::bad_value("card purpose", e))?,
        masked_pan: MaskedPan::parse(&pan).map_err(|e| StoreError::bad_value("masked PAN", e))?,
        issuer: r.get(4)?,
        holder_name: r.get(5)?,
        source: r.get(6)?,
        bound_at_ms: r.get(7)?,
    })
}
