//! A whole link endpoint fed a hostile byte stream: every error must carry a CLOSE reason,
//! and the endpoint must stay consistent (processing what it delivered never fails).
#![no_main]

use libfuzzer_sys::fuzz_target;
use posmate_proto::frame::Role;
use posmate_proto::wire::Wire;

fuzz_target!(|data: &[u8]| {
    let Some((&control, stream)) = data.split_first() else {
        return;
    };
    let role = if control & 1 == 0 {
        Role::Phone
    } else {
        Role::Terminal
    };
    let window = u16::from(control >> 5) + 1;
    let chunk = usize::from((control >> 1) & 0x0F) + 1;
    let mut w = Wire::new(role, window, 256);
    w.set_peer_limits(window, 256);
    for c in stream.chunks(chunk) {
        match w.receive(c) {
            Ok(frames) => {
                let held = frames.iter().filter(|f| f.kind.is_flow_controlled());
                for _ in held {
                    w.frame_processed()
                        .expect("a delivered frame can be processed");
                }
                while w.poll_packet(20).is_some() {}
            }
            Err(e) => {
                assert!(e.close_reason().is_some());
                return;
            }
        }
    }
});
