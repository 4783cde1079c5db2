//! Segment reassembly over arbitrary byte streams, cut into arbitrary chunks: errors are
//! fine, panics and frames over the limit are not.
#![no_main]

use libfuzzer_sys::fuzz_target;
use posmate_proto::segment::Reassembler;

fuzz_target!(|data: &[u8]| {
    let Some((&chunk_seed, stream)) = data.split_first() else {
        return;
    };
    let max_frame = 64 + usize::from(chunk_seed) * 16;
    let chunk = usize::from(chunk_seed % 32) + 1;
    let mut r = Reassembler::new(max_frame);
    for c in stream.chunks(chunk) {
        match r.push(c) {
            Ok(frames) => {
                for (_, f) in frames {
                    assert!(f.len() <= max_frame);
                }
            }
            Err(_) => return,
        }
    }
});
