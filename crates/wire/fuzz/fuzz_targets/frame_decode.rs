//! Arbitrary bytes, fed in arbitrary pieces, never panic the decoder; every frame it
//! returns re-encodes to bytes that decode to the same frame; feeding owned pieces
//! (`feed_buf`) yields the same frames and errors as feeding borrowed ones.
#![no_main]

use airlock_wire::{DEFAULT_MAX_PAYLOAD as LIMIT, DecodeError, Decoder, Encoder, Frame};
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let piece = usize::from(split).max(1);
    let mut dec = Decoder::new(LIMIT);
    let enc = Encoder::new(LIMIT);
    let mut seen: Vec<Result<Frame, DecodeError>> = Vec::new();
    let mut input = rest;
    'outer: while !input.is_empty() {
        let took = dec.feed(&input[..piece.min(input.len())]);
        input = &input[took..];
        loop {
            match dec.next_frame() {
                Ok(Some(frame)) => {
                    let bytes = enc.encode_to_vec(&frame).expect("decoded frames re-encode");
                    let mut again = Decoder::new(LIMIT);
                    assert_eq!(again.feed(&bytes), bytes.len());
                    assert_eq!(again.next_frame(), Ok(Some(frame.clone())));
                    seen.push(Ok(frame));
                }
                Ok(None) => break,
                Err(e) if e.is_fatal() => {
                    seen.push(Err(e));
                    break 'outer;
                }
                Err(e) => seen.push(Err(e)),
            }
        }
    }
    let _ = dec.finish();

    let mut owned = Decoder::new(LIMIT);
    let mut again = Vec::new();
    'owned: for chunk in rest.chunks(piece) {
        let mut chunk = BytesMut::from(chunk);
        while !chunk.is_empty() {
            owned.feed_buf(&mut chunk);
            loop {
                match owned.next_frame() {
                    Ok(Some(frame)) => again.push(Ok(frame)),
                    Ok(None) => break,
                    Err(e) if e.is_fatal() => {
                        again.push(Err(e));
                        break 'owned;
                    }
                    Err(e) => again.push(Err(e)),
                }
            }
        }
    }
    assert_eq!(seen, again);
});
