//! The SECURE plaintext decoder: an envelope that decodes must survive re-encoding, and any
//! masked PAN in it must still be masked.
#![no_main]

use libfuzzer_sys::fuzz_target;
use posmate_proto::message::{decode, encode, Envelope};

fuzz_target!(|data: &[u8]| {
    if let Ok(envelope) = decode::<Envelope>(data) {
        let again = encode(&envelope);
        assert_eq!(decode::<Envelope>(&again).ok(), Some(envelope));
    }
});
