//! Arbitrary bytes, fed in arbitrary pieces, never panic the decoder; every frame it
//! returns re-encodes to bytes that decode to the same frame.
#![no_main]

use airlock_wire::{DEFAULT_MAX_PAYLOAD as LIMIT, Decoder, Encoder};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let piece = usize::from(split).max(1);
    let mut dec = Decoder::new(LIMIT);
    let enc = Encoder::new(LIMIT);
    let mut input = rest;
    while !input.is_empty() {
        let took = dec.feed(&input[..piece.min(input.len())]);
        input = &input[took..];
        loop {
            match dec.next_frame() {
                Ok(Some(frame)) => {
                    let bytes = enc.encode_to_vec(&frame).expect("decoded frames re-encode");
                    let mut again = Decoder::new(LIMIT);
                    assert_eq!(again.feed(&bytes), bytes.len());
                    assert_eq!(again.next_frame(), Ok(Some(frame)));
                }
                Ok(None) => break,
                Err(e) if e.is_fatal() => return,
                Err(_) => {}
            }
        }
    }
    let _ = dec.finish();
});
