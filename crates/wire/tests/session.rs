//! A session end to end over bytes: handshake, exec with stderr, signals, exit status.

use airlock_wire::handshake::{check_hello, check_hello_ack, hello, hello_ack};
use airlock_wire::{
    ChannelEvent, ChannelKind, CloseStatus, Config, Connection, DEFAULT_MAX_PAYLOAD, Decoder,
    Encoder, Event, Frame, ResumeToken, Side, Signal, Stream,
};
use bytes::{Bytes, BytesMut};

fn pump(from: &mut Connection, to: &mut Connection) {
    let mut buf = BytesMut::new();
    from.encode_transmit(&mut buf, usize::MAX).unwrap();
    to.receive(&buf).unwrap();
}

fn events(c: &mut Connection) -> Vec<Event> {
    std::iter::from_fn(|| c.poll_event()).collect()
}

#[test]
fn handshake_over_bytes_settles_each_sides_payload_limit() {
    let enc = Encoder::new(DEFAULT_MAX_PAYLOAD);
    let token = ResumeToken::from_bytes([9; 32]);
    let bytes = enc
        .encode_to_vec(&Frame::Hello(hello(64 * 1024, None)))
        .unwrap();
    let mut dec = Decoder::new(DEFAULT_MAX_PAYLOAD);
    dec.feed(&bytes);
    let Some(Frame::Hello(h)) = dec.next_frame().unwrap() else {
        panic!("expected Hello")
    };
    let at_acceptor = check_hello(&h).unwrap();
    assert_eq!(at_acceptor.peer_max_payload, 64 * 1024);
    let ack = enc
        .encode_to_vec(&Frame::HelloAck(hello_ack(
            DEFAULT_MAX_PAYLOAD,
            false,
            token.clone(),
        )))
        .unwrap();
    dec.feed(&ack);
    let Some(Frame::HelloAck(a)) = dec.next_frame().unwrap() else {
        panic!("expected HelloAck")
    };
    assert_eq!(a.token, token);
    assert_eq!(
        check_hello_ack(&a).unwrap().peer_max_payload,
        DEFAULT_MAX_PAYLOAD
    );
}

#[test]
fn hello_after_the_handshake_ends_the_connection() {
    let mut c = Connection::new(Config::new(Side::Acceptor), DEFAULT_MAX_PAYLOAD);
    let err = c
        .handle_frame(Frame::Hello(hello(DEFAULT_MAX_PAYLOAD, None)))
        .unwrap_err();
    assert_eq!(err.code(), airlock_wire::ErrorCode::Protocol);
}

#[test]
fn exec_keeps_stdout_and_stderr_apart_and_returns_the_exit_status() {
    let mut client = Connection::new(Config::new(Side::Dialer), DEFAULT_MAX_PAYLOAD);
    let mut agent = Connection::new(Config::new(Side::Acceptor), DEFAULT_MAX_PAYLOAD);
    let ch = client
        .open(
            ChannelKind::Exec {
                command: "make".into(),
                stdin: true,
            },
            Some("alice-0123".into()),
            None,
        )
        .unwrap();
    pump(&mut client, &mut agent);
    let evs = events(&mut agent);
    let [Event::OpenRequest { channel, open }] = evs.as_slice() else {
        panic!("expected one OpenRequest, got {evs:?}")
    };
    let channel = *channel;
    assert_eq!(open.session.as_deref(), Some("alice-0123"));
    agent.accept(channel).unwrap();
    agent
        .send(channel, Stream::Main, Bytes::from_static(b"out"))
        .unwrap();
    agent
        .send(channel, Stream::Stderr, Bytes::from_static(b"err"))
        .unwrap();
    agent.send_eof(channel).unwrap();
    agent.close(channel, CloseStatus::Exited(2)).unwrap();
    pump(&mut agent, &mut client);
    let got: Vec<ChannelEvent> = events(&mut client)
        .into_iter()
        .map(|e| match e {
            Event::Channel { event, .. } => event,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ChannelEvent::Opened,
            ChannelEvent::Data {
                stream: Stream::Main,
                data: Bytes::from_static(b"out")
            },
            ChannelEvent::Data {
                stream: Stream::Stderr,
                data: Bytes::from_static(b"err")
            },
            ChannelEvent::Eof,
            ChannelEvent::Closed(CloseStatus::Exited(2)),
        ]
    );
    client.close(ch, CloseStatus::None).unwrap();
    pump(&mut client, &mut agent);
    pump(&mut agent, &mut client);
    assert_eq!(client.channel_state(ch), None);
    assert_eq!(agent.channel_state(channel), None);
}

#[test]
fn signal_and_resize_reach_the_agent_even_with_no_credit_left() {
    let mut cfg = Config::new(Side::Acceptor);
    cfg.window = 16;
    let mut client = Connection::new(Config::new(Side::Dialer), DEFAULT_MAX_PAYLOAD);
    let mut agent = Connection::new(cfg, DEFAULT_MAX_PAYLOAD);
    let kind = ChannelKind::Shell {
        term: "xterm".into(),
        cols: 80,
        rows: 24,
        env: vec![],
        command: None,
    };
    let ch = client.open(kind, None, None).unwrap();
    pump(&mut client, &mut agent);
    agent.accept(ch).unwrap();
    events(&mut agent);
    pump(&mut agent, &mut client);
    client
        .send(ch, Stream::Main, Bytes::from_static(b"0123456789abcdef"))
        .unwrap();
    assert_eq!(client.writable(ch), 0);
    client.signal(ch, Signal::Int).unwrap();
    client.resize(ch, 120, 40).unwrap();
    pump(&mut client, &mut agent);
    let evs: Vec<Event> = events(&mut agent);
    assert!(evs.contains(&Event::Channel {
        channel: ch,
        event: ChannelEvent::Signal(Signal::Int)
    }));
    assert!(evs.contains(&Event::Channel {
        channel: ch,
        event: ChannelEvent::Resize {
            cols: 120,
            rows: 40
        }
    }));
}
