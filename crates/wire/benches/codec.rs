//! Encode+decode throughput of 64 KiB `Data` frames.

use airlock_wire::{ChannelId, DEFAULT_MAX_PAYLOAD, Decoder, Encoder, Frame, Stream};
use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

const FRAME_DATA: usize = 64 * 1024;
const FRAMES: usize = 64;

fn codec(c: &mut Criterion) {
    let data = Bytes::from(vec![0xa5u8; FRAME_DATA]);
    let frames: Vec<Frame> = (0..FRAMES)
        .map(|i| Frame::Data {
            channel: ChannelId(1 + 2 * (i as u32 % 8)),
            seq: (i * FRAME_DATA) as u64,
            stream: Stream::Main,
            data: data.clone(),
        })
        .collect();
    let enc = Encoder::new(DEFAULT_MAX_PAYLOAD);
    let mut group = c.benchmark_group("codec");
    group.throughput(Throughput::Bytes((FRAME_DATA * FRAMES) as u64));
    group.bench_function("encode_decode_64k_data", |b| {
        let mut buf = BytesMut::with_capacity(FRAMES * (FRAME_DATA + 64));
        let mut dec = Decoder::new(DEFAULT_MAX_PAYLOAD);
        b.iter(|| {
            buf.clear();
            for f in &frames {
                enc.encode(f, &mut buf).unwrap();
            }
            let mut input = &buf[..];
            let mut n = 0;
            // Feed in 16 KiB reads, as a TLS stream would deliver them.
            while !input.is_empty() {
                let took = dec.feed(&input[..input.len().min(16 * 1024)]);
                input = &input[took..];
                while let Some(f) = dec.next_frame().unwrap() {
                    n += black_box(&f).channel().0 as usize;
                }
            }
            black_box(n)
        });
    });
    group.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
