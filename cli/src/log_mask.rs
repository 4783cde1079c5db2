//! Every log line, on stderr and in the log file, has full card numbers masked before it is
//! written: the core logs none, but a log line can quote what an acquirer or a terminal
//! said, and that text is not the phone's to trust (PCI DSS 3.4 covers logs too).

use std::io::{self, Write};

use posmate_proto::pan::mask_full_pans;
use tracing_subscriber::fmt::writer::MakeWriter;

/// Wraps the writers `M` makes so that what they write has full card numbers masked.
pub struct Masked<M>(pub M);

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for Masked<M> {
    type Writer = MaskedWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        MaskedWriter(self.0.make_writer())
    }
}

/// A writer that masks full card numbers in each write. tracing's formatter writes an event
/// as one buffer, so a number is never split across two writes.
pub struct MaskedWriter<W>(W);

impl<W: Write> Write for MaskedWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match std::str::from_utf8(buf) {
            Ok(text) => self.0.write_all(mask_full_pans(text).as_bytes())?,
            Err(_) => self.0.write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_card_numbers_in_what_it_writes() {
        let mut out = MaskedWriter(Vec::new());
        writeln!(out, "WARN acquirer said: card 6222021234567890128 declined").unwrap();
        out.write_all(b"at 1733580000000 ms\n").unwrap();
        assert_eq!(
            String::from_utf8(out.0).unwrap(),
            "WARN acquirer said: card 622202*********0128 declined\nat 1733580000000 ms\n"
        );
    }
}
