//! The plaintext messages exchanged before the secure session: HELLO, HELLO_ACK, CLOSE,
//! PAIR1 and PAIR2. Whatever decodes must survive re-encoding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use posmate_proto::message::{decode, encode, Close, Hello, HelloAck, Pair1, Pair2};

macro_rules! round_trips {
    ($data:expr, $($t:ty),+) => {
        $(
            if let Ok(m) = decode::<$t>($data) {
                assert_eq!(decode::<$t>(&encode(&m)).ok(), Some(m));
            }
        )+
    };
}

fuzz_target!(|data: &[u8]| {
    round_trips!(data, Hello, HelloAck, Close, Pair1, Pair2);
});
