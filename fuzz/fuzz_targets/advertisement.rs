//! Manufacturer data from any nearby device: the first byte splits the input into a local
//! name and the data.
#![no_main]

use libfuzzer_sys::fuzz_target;
use posmate_proto::gatt::Advertisement;

fuzz_target!(|data: &[u8]| {
    let Some((&name_len, rest)) = data.split_first() else {
        return;
    };
    let (name, mfr) = rest.split_at(usize::from(name_len).min(rest.len()));
    let name = std::str::from_utf8(name).ok();
    if let Ok(adv) = Advertisement::parse(name, mfr) {
        assert!(adv.sn_suffix.len() <= 8);
    }
});
