//! TR-31 key blocks: any text is an error or a block; a block that opens has the header
//! that reads without the key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use posmate_proto::tr31;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let header = tr31::header(text);
    if let Ok((opened, _key)) = tr31::unwrap(&[0x5A; 16], text) {
        assert_eq!(header, Ok(opened));
    }
});
