//! Drives a `Connection` (and so every channel state machine) with fuzzer-chosen frames
//! and API calls. Frames get a valid header so that the payload and state logic is reached.
#![no_main]

use airlock_wire::{
    ChannelId, ChannelKind, CloseStatus, Config, Connection, DEFAULT_MAX_PAYLOAD, Event,
    HEADER_LEN, Side, Signal, Stream,
};
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut conn = Connection::new(Config::new(Side::Acceptor), DEFAULT_MAX_PAYLOAD);
    let mut it = data.iter().copied();
    let mut next = || it.next();
    while let Some(op) = next() {
        let arg = next().unwrap_or(0);
        let ch = ChannelId(u32::from(arg % 8));
        let r = match op % 12 {
            0 | 1 | 2 | 3 => {
                // A frame: type, flags, channel, then `len` payload bytes.
                let ty = next().unwrap_or(0x20);
                let flags = if op % 4 == 3 { next().unwrap_or(0) } else { 0 };
                let len = usize::from(next().unwrap_or(0));
                let payload: Vec<u8> = (0..len).filter_map(|_| next()).collect();
                let mut frame = vec![1, ty, flags, 0];
                frame.extend_from_slice(&ch.0.to_be_bytes());
                frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
                frame.extend_from_slice(&payload);
                debug_assert!(frame.len() >= HEADER_LEN);
                if conn.receive(&frame).is_err() {
                    return;
                }
                Ok(())
            }
            4 => conn
                .open(
                    ChannelKind::TcpForward {
                        host: "h".into(),
                        port: 1,
                    },
                    None,
                    None,
                )
                .map(|_| ()),
            5 => conn.accept(ch),
            6 => {
                let n = conn.writable(ch).min(u64::from(arg) * 100) as usize;
                conn.send(ch, Stream::Main, Bytes::from(vec![0u8; n]))
            }
            7 => conn.send_eof(ch),
            8 => conn.close(ch, CloseStatus::Exited(i32::from(arg))),
            9 => conn.consumed(ch, u64::from(arg)),
            10 => conn.signal(ch, Signal::Int),
            _ => {
                conn.reconnected(DEFAULT_MAX_PAYLOAD);
                Ok(())
            }
        };
        let _ = r;
        while let Some(ev) = conn.poll_event() {
            if let Event::OpenRequest { channel, .. } = ev {
                let _ = conn.accept(channel);
            }
        }
        let mut buf = bytes::BytesMut::new();
        conn.encode_transmit(&mut buf, usize::MAX)
            .expect("queued frames always encode");
    }
});
