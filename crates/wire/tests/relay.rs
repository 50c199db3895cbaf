//! Resume through a relay: client ⇄ server ⇄ agent, where either hop (or the server
//! itself) drops. The relay keeps no retransmit log; the endpoints replay end to end.

mod common;

use airlock_wire::{DEFAULT_MAX_PAYLOAD, Decoder, Encoder};
use common::{End, open_tcp, pair};
use proptest::prelude::*;
use std::collections::VecDeque;

/// One hop between an endpoint and the relay.
struct Hop {
    up: bool,
    /// Relay's decoder for bytes from the endpoint.
    dec: Decoder,
    /// Bytes from the relay to the endpoint.
    down: VecDeque<u8>,
}

impl Hop {
    fn new() -> Self {
        Hop {
            up: true,
            dec: Decoder::new(DEFAULT_MAX_PAYLOAD),
            down: VecDeque::new(),
        }
    }

    fn drop_transport(&mut self, end: &mut End) {
        self.up = false;
        self.down.clear();
        end.wire.clear();
        self.dec = Decoder::new(DEFAULT_MAX_PAYLOAD);
    }
}

/// The relay forwards `n` bytes from `end` over `from` to the other hop `to`, re-encoding
/// each frame; frames for a hop that is down are lost.
fn relay(end: &mut End, from: &mut Hop, to: &mut Hop, n: usize) {
    if !from.up {
        return;
    }
    let n = n.min(end.wire.len());
    let bytes: Vec<u8> = end.wire.drain(..n).collect();
    let mut rest = &bytes[..];
    let enc = Encoder::new(DEFAULT_MAX_PAYLOAD);
    while !rest.is_empty() {
        let took = from.dec.feed(rest);
        rest = &rest[took..];
        while let Some(frame) = from.dec.next_frame().unwrap() {
            if to.up {
                to.down.extend(enc.encode_to_vec(&frame).unwrap());
            }
        }
    }
}

fn deliver(hop: &mut Hop, end: &mut End, n: usize) {
    let n = n.min(hop.down.len());
    let bytes: Vec<u8> = hop.down.drain(..n).collect();
    end.conn.receive(&bytes).unwrap();
    end.drain_events();
}

fn flush(hop: &Hop, end: &mut End) {
    if hop.up {
        end.flush();
    }
}

fn reconnect(hop: &mut Hop, end: &mut End) {
    if !hop.up {
        hop.up = true;
        end.conn.reconnected(DEFAULT_MAX_PAYLOAD);
        end.drain_events();
    }
}

#[derive(Clone, Debug)]
enum Op {
    Write(usize),
    Flush,
    ClientToRelay(usize),
    AgentToRelay(usize),
    RelayToClient(usize),
    RelayToAgent(usize),
    Consume,
    DropClientHop,
    DropAgentHop,
    RestartServer,
    ReconnectClient,
    ReconnectAgent,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (1usize..5000).prop_map(Op::Write),
        3 => Just(Op::Flush),
        2 => (0usize..20000).prop_map(Op::ClientToRelay),
        2 => (0usize..20000).prop_map(Op::AgentToRelay),
        2 => (0usize..20000).prop_map(Op::RelayToClient),
        2 => (0usize..20000).prop_map(Op::RelayToAgent),
        2 => Just(Op::Consume),
        1 => Just(Op::DropClientHop),
        1 => Just(Op::DropAgentHop),
        1 => Just(Op::RestartServer),
        2 => Just(Op::ReconnectClient),
        2 => Just(Op::ReconnectAgent),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn hop_drops_and_server_restarts_lose_and_duplicate_nothing(
        up in proptest::collection::vec(any::<u8>(), 0..30_000),
        down in proptest::collection::vec(any::<u8>(), 0..30_000),
        ops in proptest::collection::vec(op(), 0..150),
        window in 1024u32..16_384,
    ) {
        let (mut client, mut agent) = pair(window);
        // Open directly, then put the relay in between (channel ids are the same on both hops).
        let ch = open_tcp(&mut client, &mut agent);
        let (mut ch_hop, mut ag_hop) = (Hop::new(), Hop::new());
        let (mut up_sent, mut down_sent) = (0, 0);
        for op in ops {
            match op {
                Op::Write(n) => {
                    client.write_some(ch, &up, &mut up_sent, n);
                    agent.write_some(ch, &down, &mut down_sent, n);
                }
                Op::Flush => {
                    flush(&ch_hop, &mut client);
                    flush(&ag_hop, &mut agent);
                }
                Op::ClientToRelay(n) => relay(&mut client, &mut ch_hop, &mut ag_hop, n),
                Op::AgentToRelay(n) => relay(&mut agent, &mut ag_hop, &mut ch_hop, n),
                Op::RelayToClient(n) => deliver(&mut ch_hop, &mut client, n),
                Op::RelayToAgent(n) => deliver(&mut ag_hop, &mut agent, n),
                Op::Consume => {
                    client.consume_all(ch);
                    agent.consume_all(ch);
                }
                Op::DropClientHop => ch_hop.drop_transport(&mut client),
                Op::DropAgentHop => ag_hop.drop_transport(&mut agent),
                Op::RestartServer => {
                    ch_hop.drop_transport(&mut client);
                    ag_hop.drop_transport(&mut agent);
                }
                Op::ReconnectClient => reconnect(&mut ch_hop, &mut client),
                Op::ReconnectAgent => reconnect(&mut ag_hop, &mut agent),
            }
        }
        reconnect(&mut ch_hop, &mut client);
        reconnect(&mut ag_hop, &mut agent);
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
            for _ in 0..20 {
                flush(&ch_hop, &mut client);
                flush(&ag_hop, &mut agent);
                relay(&mut client, &mut ch_hop, &mut ag_hop, usize::MAX);
                relay(&mut agent, &mut ag_hop, &mut ch_hop, usize::MAX);
                deliver(&mut ch_hop, &mut client, usize::MAX);
                deliver(&mut ag_hop, &mut agent, usize::MAX);
            }
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
