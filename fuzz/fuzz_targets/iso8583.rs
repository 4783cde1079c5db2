//! CUP ISO 8583 messages: any bytes are an error or a message; a message that decodes
//! encodes to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use posmate_proto::iso8583::Message;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = Message::decode(data) {
        assert_eq!(message.encode().as_deref(), Ok(data));
    }
});
