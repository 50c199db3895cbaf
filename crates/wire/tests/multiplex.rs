//! Multiplexing: independent flow per channel, and faults confined to their channel.

mod common;

use airlock_wire::{ChannelId, ErrorCode, Event, Frame, Stream};
use bytes::Bytes;
use common::{open_tcp, pair, settle};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(50))]

    #[test]
    fn a_stalled_channel_never_blocks_the_others(
        window in 1024u32..8192,
        others in 1usize..5,
        size in 10_000usize..60_000,
        stalled_first in any::<bool>(),
    ) {
        let (mut client, mut agent) = pair(window);
        let stalled = open_tcp(&mut client, &mut agent);
        let ids: Vec<ChannelId> = (0..others).map(|_| open_tcp(&mut client, &mut agent)).collect();
        let data: Vec<u8> = (0..size).map(|i| (i * 7) as u8).collect();
        let mut stalled_sent = 0;
        let mut sent = vec![0usize; ids.len()];
        for _ in 0..10_000 {
            // The stalled channel's reader never consumes: it writes whatever credit allows.
            if stalled_first {
                client.write_some(stalled, &data, &mut stalled_sent, usize::MAX);
            }
            for (id, s) in ids.iter().zip(sent.iter_mut()) {
                client.write_some(*id, &data, s, 4096);
            }
            if !stalled_first {
                client.write_some(stalled, &data, &mut stalled_sent, usize::MAX);
            }
            settle(&mut client, &mut agent);
            for id in &ids {
                agent.consume_all(*id);
            }
            if sent.iter().all(|s| *s == size) {
                break;
            }
        }
        settle(&mut client, &mut agent);
        for id in &ids {
            prop_assert_eq!(&agent.received[id][..], &data[..]);
        }
        // The stalled channel got exactly its window and no more.
        prop_assert_eq!(stalled_sent, window as usize);
        prop_assert_eq!(agent.received[&stalled].len(), window as usize);
        prop_assert_eq!(client.conn.writable(stalled), 0);
    }
}

#[test]
fn malformed_frame_ends_only_its_channel() {
    let (mut client, mut agent) = pair(64 * 1024);
    let bad = open_tcp(&mut client, &mut agent);
    let good = open_tcp(&mut client, &mut agent);
    // A Signal frame with an unknown signal code on `bad`, then data on `good`.
    let mut bytes = airlock_wire::Encoder::new(airlock_wire::DEFAULT_MAX_PAYLOAD)
        .encode_to_vec(&Frame::Signal {
            channel: bad,
            seq: 0,
            signal: airlock_wire::Signal::Int,
        })
        .unwrap();
    let last = bytes.len() - 1;
    bytes[last] = 0xee;
    agent.conn.receive(&bytes).unwrap();
    agent.drain_events();
    assert!(matches!(
        agent.failures.as_slice(),
        [Event::ChannelFailed { channel, code: ErrorCode::MalformedFrame, .. }] if *channel == bad
    ));
    assert_eq!(agent.conn.channel_state(bad), None);
    client
        .conn
        .send(good, Stream::Main, Bytes::from_static(b"still here"))
        .unwrap();
    settle(&mut client, &mut agent);
    assert_eq!(agent.received[&good], b"still here");
    // The client learns its channel failed, through the agent's Error frame.
    assert!(client.failures.iter().any(|e| matches!(
        e,
        Event::Channel { channel, event: airlock_wire::ChannelEvent::Error { code: ErrorCode::MalformedFrame, .. } } if *channel == bad
    )));
    assert_eq!(client.conn.channel_state(bad), None);
}

#[test]
fn window_violation_ends_only_its_channel() {
    let (mut client, mut agent) = pair(1024);
    let bad = open_tcp(&mut client, &mut agent);
    let good = open_tcp(&mut client, &mut agent);
    let frame = Frame::Data {
        channel: bad,
        seq: 0,
        stream: Stream::Main,
        data: Bytes::from(vec![0u8; 2048]),
    };
    agent.conn.handle_frame(frame).unwrap();
    agent.drain_events();
    assert!(matches!(
        agent.failures.as_slice(),
        [Event::ChannelFailed {
            code: ErrorCode::FlowControl,
            ..
        }]
    ));
    client
        .conn
        .send(good, Stream::Main, Bytes::from_static(b"ok"))
        .unwrap();
    settle(&mut client, &mut agent);
    assert_eq!(agent.received[&good], b"ok");
}

#[test]
fn framing_loss_ends_the_connection_with_an_error_frame() {
    let (_, mut agent) = pair(1024);
    let err = agent.conn.receive(b"GET / HTTP/1.1\r\n\r\n").unwrap_err();
    assert_eq!(err.code(), ErrorCode::UnsupportedVersion);
    assert!(matches!(
        agent.conn.poll_transmit(),
        Some(Frame::Error {
            channel: ChannelId(0),
            ..
        })
    ));
    assert!(
        agent.conn.receive(b"x").is_err(),
        "a failed connection stays failed"
    );
}

#[test]
fn reusing_a_channel_id_is_refused() {
    let (mut client, mut agent) = pair(1024);
    let id = open_tcp(&mut client, &mut agent);
    let open = airlock_wire::Open {
        window: 10,
        session: None,
        run_as: None,
        kind: airlock_wire::ChannelKind::TcpForward {
            host: "x".into(),
            port: 1,
        },
    };
    agent
        .conn
        .handle_frame(Frame::Open { channel: id, open })
        .unwrap();
    agent.drain_events();
    assert!(matches!(
        agent.failures.as_slice(),
        [Event::ChannelFailed {
            code: ErrorCode::ChannelInUse,
            ..
        }]
    ));
}

#[test]
fn frames_for_unknown_channels_get_an_unknown_channel_error() {
    let (_, mut agent) = pair(1024);
    agent
        .conn
        .handle_frame(Frame::WindowUpdate {
            channel: ChannelId(99),
            limit: 5,
        })
        .unwrap();
    assert_eq!(
        agent.conn.poll_transmit(),
        Some(Frame::Error {
            channel: ChannelId(99),
            code: ErrorCode::UnknownChannel,
            reason: "no such channel".into()
        })
    );
}

#[test]
fn ping_is_answered_with_pong_and_the_pong_reported() {
    let (mut client, mut agent) = pair(1024);
    client.conn.ping(42);
    let ping = client.conn.poll_transmit().unwrap();
    agent.conn.handle_frame(ping).unwrap();
    let pong = agent.conn.poll_transmit().unwrap();
    assert_eq!(pong, Frame::Pong { nonce: 42 });
    client.conn.handle_frame(pong).unwrap();
    assert_eq!(client.conn.poll_event(), Some(Event::Pong { nonce: 42 }));
}

#[test]
fn large_writes_are_split_to_the_peers_payload_limit() {
    let (mut client, mut agent) = pair(4 * 1024 * 1024);
    let id = open_tcp(&mut client, &mut agent);
    client
        .conn
        .send(id, Stream::Main, Bytes::from(vec![1u8; 1_000_000]))
        .unwrap();
    let mut sizes = Vec::new();
    while let Some(f) = client.conn.poll_transmit() {
        if let Frame::Data { data, .. } = f {
            sizes.push(data.len());
        }
    }
    let max = airlock_wire::DEFAULT_MAX_PAYLOAD as usize - airlock_wire::frame::DATA_OVERHEAD;
    assert!(sizes.iter().all(|s| *s <= max));
    assert_eq!(sizes.iter().sum::<usize>(), 1_000_000);
    assert_eq!(sizes[0], max, "frames are as large as the peer allows");
}
