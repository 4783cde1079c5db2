//! Frame decoding: a frame that decodes must re-encode to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use posmate_proto::frame::{decode_frame, encode_frame};

fuzz_target!(|data: &[u8]| {
    if let Ok((kind, body)) = decode_frame(data) {
        assert_eq!(encode_frame(kind, body), data);
    }
});
