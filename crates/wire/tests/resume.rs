//! Resume: whatever the disconnect points, both streams arrive exactly once and in order.

mod common;

use common::{deliver, disconnect, open_tcp, pair, settle};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    /// Client and agent write up to this many bytes.
    Write(usize),
    /// Flush queued frames to the wire.
    Flush,
    /// Deliver this many bytes client → agent.
    ToAgent(usize),
    /// Deliver this many bytes agent → client.
    ToClient(usize),
    /// Applications consume what they received (returns credit).
    Consume,
    /// Drop both wires and reconnect.
    Disconnect,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (1usize..5000).prop_map(Op::Write),
        3 => Just(Op::Flush),
        3 => (0usize..20000).prop_map(Op::ToAgent),
        3 => (0usize..20000).prop_map(Op::ToClient),
        2 => Just(Op::Consume),
        1 => Just(Op::Disconnect),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn random_disconnects_lose_and_duplicate_nothing(
        up in proptest::collection::vec(any::<u8>(), 0..30_000),
        down in proptest::collection::vec(any::<u8>(), 0..30_000),
        ops in proptest::collection::vec(op(), 0..120),
        window in 1024u32..16_384,
    ) {
        let (mut client, mut agent) = pair(window);
        let ch = open_tcp(&mut client, &mut agent);
        let (mut up_sent, mut down_sent) = (0, 0);
        for op in ops {
            match op {
                Op::Write(n) => {
                    client.write_some(ch, &up, &mut up_sent, n);
                    agent.write_some(ch, &down, &mut down_sent, n);
                }
                Op::Flush => {
                    client.flush();
                    agent.flush();
                }
                Op::ToAgent(n) => deliver(&mut client, &mut agent, n),
                Op::ToClient(n) => deliver(&mut agent, &mut client, n),
                Op::Consume => {
                    client.consume_all(ch);
                    agent.consume_all(ch);
                }
                Op::Disconnect => disconnect(&mut client, &mut agent),
            }
        }
        // Finish without faults: write the rest, half-close, settle.
        let mut eof_sent = (false, false);
        for _ in 0..10_000 {
            client.write_some(ch, &up, &mut up_sent, usize::MAX);
            agent.write_some(ch, &down, &mut down_sent, usize::MAX);
            if up_sent == up.len() && !eof_sent.0 {
                client.conn.send_eof(ch).unwrap();
                eof_sent.0 = true;
            }
            if down_sent == down.len() && !eof_sent.1 {
                agent.conn.send_eof(ch).unwrap();
                eof_sent.1 = true;
            }
            settle(&mut client, &mut agent);
            client.consume_all(ch);
            agent.consume_all(ch);
            if client.eof.contains_key(&ch) && agent.eof.contains_key(&ch) {
                break;
            }
        }
        prop_assert!(client.failures.is_empty(), "{:?}", client.failures);
        prop_assert!(agent.failures.is_empty(), "{:?}", agent.failures);
        prop_assert_eq!(agent.received.get(&ch).map_or(&[][..], |v| &v[..]), &up[..]);
        prop_assert_eq!(client.received.get(&ch).map_or(&[][..], |v| &v[..]), &down[..]);
        prop_assert!(client.eof.contains_key(&ch) && agent.eof.contains_key(&ch));
    }
}

#[test]
fn disconnect_mid_frame_replays_from_the_last_byte_received() {
    let (mut client, mut agent) = pair(64 * 1024);
    let ch = open_tcp(&mut client, &mut agent);
    let data: Vec<u8> = (0..50_000u32).map(|i| i as u8).collect();
    let mut sent = 0;
    while sent < data.len() {
        client.write_some(ch, &data, &mut sent, 10_000);
    }
    client.flush();
    // Deliver part of the stream, cutting a frame in half, then lose the rest.
    deliver(&mut client, &mut agent, 30_000);
    let before = agent.received[&ch].len();
    assert!(before > 0 && before < data.len());
    disconnect(&mut client, &mut agent);
    settle(&mut client, &mut agent);
    assert_eq!(agent.received[&ch], data);
}

#[test]
fn close_survives_a_disconnect_and_is_delivered_once() {
    let (mut client, mut agent) = pair(64 * 1024);
    let ch = open_tcp(&mut client, &mut agent);
    agent
        .conn
        .close(ch, airlock_wire::CloseStatus::Exited(3))
        .unwrap();
    agent.flush();
    disconnect(&mut client, &mut agent);
    settle(&mut client, &mut agent);
    assert_eq!(
        client.closed.get(&ch),
        Some(&airlock_wire::CloseStatus::Exited(3))
    );
    client
        .conn
        .close(ch, airlock_wire::CloseStatus::None)
        .unwrap();
    settle(&mut client, &mut agent);
    assert_eq!(
        agent.closed.get(&ch),
        Some(&airlock_wire::CloseStatus::None)
    );
    assert_eq!(
        client.conn.channel_state(ch),
        None,
        "closed channel is forgotten once acked"
    );
    assert_eq!(agent.conn.channel_state(ch), None);
}

#[test]
fn channel_still_opening_at_disconnect_fails_cleanly_on_both_ends() {
    let (mut client, mut agent) = pair(64 * 1024);
    let id = client
        .conn
        .open(
            airlock_wire::ChannelKind::Exec {
                command: "id".into(),
                stdin: false,
            },
            None,
            None,
        )
        .unwrap();
    client.flush();
    deliver(&mut client, &mut agent, usize::MAX); // agent accepts; OpenOk is lost
    agent.flush();
    disconnect(&mut client, &mut agent);
    settle(&mut client, &mut agent);
    assert!(client.failures.iter().any(|e| matches!(
        e,
        airlock_wire::Event::Channel { channel, event: airlock_wire::ChannelEvent::OpenFailed { .. } } if *channel == id
    )));
    assert_eq!(client.conn.channel_state(id), None);
    assert_eq!(
        agent.conn.channel_state(id),
        None,
        "agent's orphan is closed by the peer's UnknownChannel error"
    );
}
