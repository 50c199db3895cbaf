//! Codec properties: round trips, arbitrary splits, arbitrary bytes.

use airlock_wire::frame::{MAX_ENV, MAX_SHORT_STR, RESUME_TOKEN_LEN};
use airlock_wire::{
    AckKind, ChannelId, ChannelKind, CloseStatus, DEFAULT_MAX_PAYLOAD, Decoder, Encoder, ErrorCode,
    Frame, FrameType, Hello, HelloAck, Open, OpenFailCode, ResumeToken, Signal, Stream,
};
use bytes::Bytes;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use std::collections::HashSet;

fn chan() -> impl Strategy<Value = ChannelId> {
    (1u32..).prop_map(ChannelId)
}

fn short() -> impl Strategy<Value = String> {
    ".{0,40}".prop_filter("fits", |s| s.len() <= MAX_SHORT_STR)
}

fn token() -> impl Strategy<Value = ResumeToken> {
    any::<[u8; RESUME_TOKEN_LEN]>().prop_map(ResumeToken::from_bytes)
}

fn error_code() -> impl Strategy<Value = ErrorCode> {
    any::<u16>().prop_map(ErrorCode::from_u16)
}

fn kind() -> impl Strategy<Value = ChannelKind> {
    prop_oneof![
        (
            short(),
            any::<u16>(),
            any::<u16>(),
            proptest::collection::vec((short(), ".{0,100}"), 0..5),
            proptest::option::of(".{0,100}")
        )
            .prop_map(|(term, cols, rows, env, command)| ChannelKind::Shell {
                term,
                cols,
                rows,
                env,
                command
            }),
        (".{0,200}", any::<bool>())
            .prop_map(|(command, stdin)| ChannelKind::Exec { command, stdin }),
        (short(), any::<u16>()).prop_map(|(host, port)| ChannelKind::TcpForward { host, port }),
    ]
}

fn close_status() -> impl Strategy<Value = CloseStatus> {
    prop_oneof![
        Just(CloseStatus::None),
        any::<i32>().prop_map(CloseStatus::Exited),
        (any::<u8>(), any::<bool>()).prop_map(|(signal, core_dumped)| CloseStatus::Killed {
            signal,
            core_dumped
        }),
    ]
}

fn frame() -> impl Strategy<Value = Frame> {
    prop_oneof![
        (
            any::<u8>(),
            any::<u8>(),
            any::<u32>(),
            proptest::option::of(token())
        )
            .prop_map(
                |(min_revision, max_revision, max_payload, resume)| Frame::Hello(Hello {
                    min_revision,
                    max_revision,
                    max_payload,
                    resume
                })
            ),
        (any::<u8>(), any::<u32>(), any::<bool>(), token()).prop_map(
            |(revision, max_payload, resumed, token)| {
                Frame::HelloAck(HelloAck {
                    revision,
                    max_payload,
                    resumed,
                    token,
                })
            }
        ),
        any::<u64>().prop_map(|nonce| Frame::Ping { nonce }),
        any::<u64>().prop_map(|nonce| Frame::Pong { nonce }),
        (any::<u32>(), error_code(), ".{0,100}").prop_map(|(c, code, reason)| Frame::Error {
            channel: ChannelId(c),
            code,
            reason
        }),
        (
            chan(),
            any::<u32>(),
            proptest::option::of(short()),
            proptest::option::of(short()),
            kind()
        )
            .prop_map(|(channel, window, session, run_as, kind)| Frame::Open {
                channel,
                open: Open {
                    window,
                    session,
                    run_as,
                    kind
                }
            }),
        (chan(), any::<u32>()).prop_map(|(channel, window)| Frame::OpenOk { channel, window }),
        (chan(), any::<u16>(), ".{0,100}").prop_map(|(channel, c, reason)| Frame::OpenFail {
            channel,
            code: OpenFailCode::from_u16(c),
            reason
        }),
        (
            chan(),
            any::<u64>(),
            any::<bool>(),
            proptest::collection::vec(any::<u8>(), 0..2000)
        )
            .prop_map(|(channel, seq, err, data)| Frame::Data {
                channel,
                seq,
                stream: if err { Stream::Stderr } else { Stream::Main },
                data: Bytes::from(data)
            }),
        (chan(), any::<u64>()).prop_map(|(channel, limit)| Frame::WindowUpdate { channel, limit }),
        (
            chan(),
            any::<u64>(),
            proptest::sample::select(vec![
                AckKind::Plain,
                AckKind::Resume,
                AckKind::ResumeRequest
            ])
        )
            .prop_map(|(channel, received, kind)| Frame::Ack {
                channel,
                received,
                kind
            }),
        (chan(), any::<u64>()).prop_map(|(channel, seq)| Frame::Eof { channel, seq }),
        (chan(), any::<u64>(), close_status()).prop_map(|(channel, seq, status)| Frame::Close {
            channel,
            seq,
            status
        }),
        (chan(), any::<u64>(), any::<u16>(), any::<u16>()).prop_map(
            |(channel, seq, cols, rows)| Frame::Resize {
                channel,
                seq,
                cols,
                rows
            }
        ),
        (
            chan(),
            any::<u64>(),
            proptest::sample::select(Signal::ALL.to_vec())
        )
            .prop_map(|(channel, seq, signal)| Frame::Signal {
                channel,
                seq,
                signal
            }),
    ]
}

fn encode_all(frames: &[Frame]) -> Vec<u8> {
    let enc = Encoder::new(DEFAULT_MAX_PAYLOAD);
    frames
        .iter()
        .flat_map(|f| enc.encode_to_vec(f).unwrap())
        .collect()
}

/// Feeds `bytes` in pieces of the given sizes, returning every frame or error.
fn decode_in_pieces(
    bytes: &[u8],
    sizes: &[usize],
) -> Vec<Result<Frame, airlock_wire::DecodeError>> {
    let mut d = Decoder::new(DEFAULT_MAX_PAYLOAD);
    let mut out = Vec::new();
    let mut rest = bytes;
    let mut i = 0;
    while !rest.is_empty() {
        let want = sizes
            .get(i % sizes.len().max(1))
            .copied()
            .unwrap_or(rest.len())
            .max(1);
        i += 1;
        let piece = &rest[..want.min(rest.len())];
        let took = d.feed(piece);
        rest = &rest[took..];
        if drain(&mut d, &mut out) {
            return out;
        }
    }
    out
}

/// Moves every decodable frame (or error) into `out`; true after a fatal error.
fn drain(d: &mut Decoder, out: &mut Vec<Result<Frame, airlock_wire::DecodeError>>) -> bool {
    loop {
        match d.next_frame() {
            Ok(Some(f)) => out.push(Ok(f)),
            Ok(None) => return false,
            Err(e) => {
                let fatal = e.is_fatal();
                out.push(Err(e));
                if fatal {
                    return true;
                }
            }
        }
    }
}

/// As [`decode_in_pieces`], through `feed_buf` (bytes moved, not copied).
fn decode_in_owned_pieces(
    bytes: &[u8],
    sizes: &[usize],
) -> Vec<Result<Frame, airlock_wire::DecodeError>> {
    let mut d = Decoder::new(DEFAULT_MAX_PAYLOAD);
    let mut out = Vec::new();
    let mut rest = bytes;
    let mut i = 0;
    while !rest.is_empty() {
        let want = sizes
            .get(i % sizes.len().max(1))
            .copied()
            .unwrap_or(rest.len())
            .max(1);
        i += 1;
        let mut piece = bytes::BytesMut::from(&rest[..want.min(rest.len())]);
        rest = &rest[piece.len()..];
        while !piece.is_empty() {
            d.feed_buf(&mut piece);
            if drain(&mut d, &mut out) {
                return out;
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn owned_pieces_decode_as_borrowed_ones(
        frames in proptest::collection::vec(frame(), 1..20),
        sizes in proptest::collection::vec(1usize..3000, 1..20),
        noise in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut bytes = encode_all(&frames);
        let whole = decode_in_owned_pieces(&bytes, &sizes);
        prop_assert_eq!(&whole, &frames.into_iter().map(Ok).collect::<Vec<_>>());
        bytes.extend_from_slice(&noise);
        prop_assert_eq!(decode_in_owned_pieces(&bytes, &sizes), decode_in_pieces(&bytes, &sizes));
    }

    #[test]
    fn every_frame_round_trips(f in frame()) {
        let bytes = encode_all(std::slice::from_ref(&f));
        let out = decode_in_pieces(&bytes, &[bytes.len()]);
        prop_assert_eq!(out, vec![Ok(f)]);
    }

    #[test]
    fn arbitrary_splits_yield_the_same_frames(
        frames in proptest::collection::vec(frame(), 1..20),
        sizes in proptest::collection::vec(1usize..300, 1..20),
    ) {
        let bytes = encode_all(&frames);
        let out = decode_in_pieces(&bytes, &sizes);
        prop_assert_eq!(out, frames.into_iter().map(Ok).collect::<Vec<_>>());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4000), sizes in proptest::collection::vec(1usize..500, 1..5)) {
        let _ = decode_in_pieces(&bytes, &sizes);
    }

    #[test]
    fn corrupting_one_payload_byte_never_panics_and_keeps_framing(
        frames in proptest::collection::vec(frame(), 2..10),
        which in any::<proptest::sample::Index>(),
        value in any::<u8>(),
    ) {
        let bytes = encode_all(&frames);
        // Corrupt a payload byte (never a header's length or version): framing stays intact,
        // so exactly one frame may be lost to an error and every other frame decodes.
        let mut header_bytes = HashSet::new();
        let mut at = 0;
        let enc = Encoder::new(DEFAULT_MAX_PAYLOAD);
        for f in &frames {
            let len = enc.encode_to_vec(f).unwrap().len();
            header_bytes.extend(at..at + airlock_wire::HEADER_LEN);
            at += len;
        }
        let payload_positions: Vec<usize> = (0..bytes.len()).filter(|i| !header_bytes.contains(i)).collect();
        prop_assume!(!payload_positions.is_empty());
        let pos = payload_positions[which.index(payload_positions.len())];
        let mut bad = bytes.clone();
        bad[pos] = value;
        let out = decode_in_pieces(&bad, &[bad.len()]);
        prop_assert_eq!(out.len(), frames.len());
        let differing = out.iter().zip(&frames).filter(|(o, f)| o.as_ref().ok() != Some(*f)).count();
        prop_assert!(differing <= 1);
        for e in out.iter().filter_map(|o| o.as_ref().err()) {
            prop_assert!(!e.is_fatal());
        }
    }
}

#[test]
fn every_frame_type_is_covered_by_the_generator() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut seen = HashSet::new();
    for _ in 0..2000 {
        let f = frame().new_tree(&mut runner).unwrap().current();
        seen.insert(f.frame_type() as u8);
    }
    for t in FrameType::ALL {
        assert!(seen.contains(&(t as u8)), "{t} never generated");
    }
}

#[test]
fn too_many_env_vars_are_refused_by_the_encoder() {
    let env = vec![("K".to_string(), "V".to_string()); MAX_ENV + 1];
    let f = Frame::Open {
        channel: ChannelId(1),
        open: Open {
            window: 1,
            session: None,
            run_as: None,
            kind: ChannelKind::Shell {
                term: "xterm".into(),
                cols: 80,
                rows: 24,
                env,
                command: None,
            },
        },
    };
    assert!(Encoder::new(DEFAULT_MAX_PAYLOAD).encode_to_vec(&f).is_err());
}
