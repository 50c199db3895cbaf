//! Resume: sequence numbers, the retransmit log and the receive cursor.
//!
//! Each channel direction has a sequence space: a data byte takes one unit, every other
//! sequenced frame (`Eof`, `Close`, `Resize`, `Signal`) one unit. The sender keeps every
//! unacknowledged item in a [`SendLog`], bounded in data bytes and in control items. The
//! receiver's [`RecvCursor`] knows the next unit it expects; it drops duplicates and trims
//! overlaps, so a replay never delivers a byte twice. After a reconnect each side announces
//! the next unit it expects (an `Ack` with the resume flag) and the other replays exactly
//! the rest.
//!
//! Timers belong to the driver; the durations it must use are [`RESUME_WINDOW`] and those
//! in [`crate::liveness`].

use crate::frame::{ChannelId, CloseStatus, Frame, Signal, Stream};
use bytes::Bytes;
use std::collections::VecDeque;
use std::time::Duration;

/// How long a dropped connection may stay away and still be resumed.
pub const RESUME_WINDOW: Duration = Duration::from_secs(60);
/// Most unacknowledged control items (`Eof`, `Close`, `Resize`, `Signal`) per channel.
pub const MAX_UNACKED_CONTROL: usize = 1024;

/// A resume or sequencing fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ResumeError {
    /// A frame started past the next expected unit: something was lost.
    #[error("sequence gap: expected {expected}, got {got}")]
    Gap { expected: u64, got: u64 },
    /// The peer acknowledged units never sent.
    #[error("ack of {received} is beyond the {sent} units sent")]
    AckBeyondSent { received: u64, sent: u64 },
    /// The peer asked for a replay from before what it had already acknowledged.
    #[error("replay requested from {requested}, but units below {acked} were already discarded")]
    AlreadyDiscarded { requested: u64, acked: u64 },
    /// The retransmit log is full of unacknowledged items.
    #[error("retransmit log full ({what})")]
    LogFull { what: &'static str },
}

/// One sequenced item, independent of its channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    Data { stream: Stream, data: Bytes },
    Eof,
    Close(CloseStatus),
    Resize { cols: u16, rows: u16 },
    Signal(Signal),
}

impl Item {
    /// Sequence units the item occupies.
    pub fn units(&self) -> u64 {
        match self {
            Item::Data { data, .. } => data.len() as u64,
            _ => 1,
        }
    }

    /// The frame carrying this item at `seq` on `channel`.
    pub fn to_frame(&self, channel: ChannelId, seq: u64) -> Frame {
        match self {
            Item::Data { stream, data } => Frame::Data {
                channel,
                seq,
                stream: *stream,
                data: data.clone(),
            },
            Item::Eof => Frame::Eof { channel, seq },
            Item::Close(status) => Frame::Close {
                channel,
                seq,
                status: *status,
            },
            Item::Resize { cols, rows } => Frame::Resize {
                channel,
                seq,
                cols: *cols,
                rows: *rows,
            },
            Item::Signal(signal) => Frame::Signal {
                channel,
                seq,
                signal: *signal,
            },
        }
    }

    /// Splits a sequenced frame into its position and item.
    pub fn from_frame(frame: Frame) -> Option<(u64, Item)> {
        match frame {
            Frame::Data {
                seq, stream, data, ..
            } => Some((seq, Item::Data { stream, data })),
            Frame::Eof { seq, .. } => Some((seq, Item::Eof)),
            Frame::Close { seq, status, .. } => Some((seq, Item::Close(status))),
            Frame::Resize {
                seq, cols, rows, ..
            } => Some((seq, Item::Resize { cols, rows })),
            Frame::Signal { seq, signal, .. } => Some((seq, Item::Signal(signal))),
            _ => None,
        }
    }
}

/// The sender's retransmit log of unacknowledged items.
#[derive(Clone, Debug)]
pub struct SendLog {
    next: u64,
    acked: u64,
    log: VecDeque<(u64, Item)>,
    data_bytes: u64,
    control: usize,
    max_data: u64,
}

impl SendLog {
    /// A log holding at most `max_data` unacknowledged data bytes.
    pub fn new(max_data: u64) -> Self {
        SendLog {
            next: 0,
            acked: 0,
            log: VecDeque::new(),
            data_bytes: 0,
            control: 0,
            max_data,
        }
    }

    /// The sequence number the next item gets.
    pub fn next_seq(&self) -> u64 {
        self.next
    }

    /// Everything below this was acknowledged.
    pub fn acked(&self) -> u64 {
        self.acked
    }

    /// Unacknowledged data bytes.
    pub fn unacked_data(&self) -> u64 {
        self.data_bytes
    }

    /// True when nothing awaits acknowledgement.
    pub fn is_empty(&self) -> bool {
        self.log.is_empty()
    }

    /// Data bytes the log can still take.
    pub fn data_room(&self) -> u64 {
        self.max_data.saturating_sub(self.data_bytes)
    }

    /// Appends an item and returns its sequence number.
    pub fn push(&mut self, item: Item) -> Result<u64, ResumeError> {
        let units = item.units();
        match &item {
            Item::Data { .. } if units > self.data_room() => {
                return Err(ResumeError::LogFull { what: "data bytes" });
            }
            Item::Data { .. } => self.data_bytes += units,
            _ if self.control >= MAX_UNACKED_CONTROL => {
                return Err(ResumeError::LogFull {
                    what: "control items",
                });
            }
            _ => self.control += 1,
        }
        let seq = self.next;
        self.next += units;
        if units > 0 {
            self.log.push_back((seq, item));
        }
        Ok(seq)
    }

    /// Applies a cumulative ack: drops every unit below `received`. Stale acks are ignored.
    pub fn ack(&mut self, received: u64) -> Result<(), ResumeError> {
        if received > self.next {
            return Err(ResumeError::AckBeyondSent {
                received,
                sent: self.next,
            });
        }
        if received <= self.acked {
            return Ok(());
        }
        self.acked = received;
        while let Some((seq, item)) = self.log.front_mut() {
            let end = *seq + item.units();
            if end <= received {
                match item {
                    Item::Data { .. } => self.data_bytes -= end - *seq,
                    _ => self.control -= 1,
                }
                self.log.pop_front();
            } else {
                if let Item::Data { data, .. } = item {
                    let cut = (received.saturating_sub(*seq)) as usize;
                    if cut > 0 {
                        *data = data.slice(cut.min(data.len())..);
                        self.data_bytes -= cut as u64;
                        *seq = received;
                    }
                }
                break;
            }
        }
        Ok(())
    }

    /// For a resume: acknowledges `received` and returns every item from there on, in order.
    pub fn replay_from(&mut self, received: u64) -> Result<Vec<(u64, Item)>, ResumeError> {
        if received < self.acked {
            return Err(ResumeError::AlreadyDiscarded {
                requested: received,
                acked: self.acked,
            });
        }
        self.ack(received)?;
        Ok(self.log.iter().cloned().collect())
    }
}

/// What the receiver does with an arriving sequenced item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Accept {
    /// New: deliver it. For data, skip the first `skip` bytes (already delivered).
    Deliver { skip: u64 },
    /// Already delivered: drop it.
    Duplicate,
    /// Ahead of the expected unit while resynchronising after a resume: drop it and wait for
    /// the replay.
    Dropped,
}

/// The receiver's position in the peer's sequence space.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecvCursor {
    next: u64,
    acked: u64,
    resyncing: bool,
}

impl RecvCursor {
    /// A cursor at unit 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// The next unit expected; everything below has been received.
    pub fn received(&self) -> u64 {
        self.next
    }

    /// True after [`resume_ack`](Self::resume_ack) until the replay arrives.
    pub fn is_resyncing(&self) -> bool {
        self.resyncing
    }

    /// Classifies an item of `units` units at `seq`, advancing the cursor when it is new.
    pub fn accept(&mut self, seq: u64, units: u64) -> Result<Accept, ResumeError> {
        let end = seq.saturating_add(units);
        if seq > self.next {
            if self.resyncing {
                return Ok(Accept::Dropped);
            }
            return Err(ResumeError::Gap {
                expected: self.next,
                got: seq,
            });
        }
        if end <= self.next && !(units == 0 && seq == self.next) {
            return Ok(Accept::Duplicate);
        }
        let skip = self.next - seq;
        self.next = end;
        self.resyncing = false;
        Ok(Accept::Deliver { skip })
    }

    /// The cumulative ack to send when at least `threshold` units arrived since the last one.
    pub fn ack_due(&mut self, threshold: u64) -> Option<u64> {
        if self.next > self.acked && self.next - self.acked >= threshold {
            self.acked = self.next;
            Some(self.next)
        } else {
            None
        }
    }

    /// The position to announce in a resume `Ack`; enters resynchronisation.
    pub fn resume_ack(&mut self) -> u64 {
        self.resyncing = true;
        self.acked = self.next;
        self.next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(s: &'static [u8]) -> Item {
        Item::Data {
            stream: Stream::Main,
            data: Bytes::from_static(s),
        }
    }

    #[test]
    fn ack_inside_a_data_item_trims_it() {
        let mut log = SendLog::new(100);
        log.push(data(b"hello")).unwrap();
        log.ack(2).unwrap();
        assert_eq!(log.unacked_data(), 3);
        assert_eq!(log.replay_from(2).unwrap(), vec![(2, data(b"llo"))]);
    }

    #[test]
    fn ack_beyond_what_was_sent_is_a_fault() {
        let mut log = SendLog::new(100);
        log.push(data(b"abc")).unwrap();
        assert_eq!(
            log.ack(4),
            Err(ResumeError::AckBeyondSent {
                received: 4,
                sent: 3
            })
        );
    }

    #[test]
    fn replay_from_before_the_ack_point_is_refused() {
        let mut log = SendLog::new(100);
        log.push(data(b"abc")).unwrap();
        log.ack(3).unwrap();
        assert_eq!(
            log.replay_from(1),
            Err(ResumeError::AlreadyDiscarded {
                requested: 1,
                acked: 3
            })
        );
    }

    #[test]
    fn log_refuses_data_beyond_its_bound() {
        let mut log = SendLog::new(4);
        log.push(data(b"abc")).unwrap();
        assert_eq!(
            log.push(data(b"de")),
            Err(ResumeError::LogFull { what: "data bytes" })
        );
        log.ack(3).unwrap();
        assert_eq!(log.push(data(b"de")), Ok(3));
    }

    #[test]
    fn control_items_take_one_unit_each() {
        let mut log = SendLog::new(4);
        assert_eq!(log.push(data(b"ab")).unwrap(), 0);
        assert_eq!(log.push(Item::Signal(Signal::Int)).unwrap(), 2);
        assert_eq!(log.push(Item::Eof).unwrap(), 3);
        assert_eq!(log.next_seq(), 4);
        log.ack(3).unwrap();
        assert_eq!(log.replay_from(3).unwrap(), vec![(3, Item::Eof)]);
    }

    #[test]
    fn cursor_trims_overlap_and_drops_duplicates() {
        let mut c = RecvCursor::new();
        assert_eq!(c.accept(0, 5), Ok(Accept::Deliver { skip: 0 }));
        assert_eq!(c.accept(0, 5), Ok(Accept::Duplicate));
        assert_eq!(c.accept(3, 5), Ok(Accept::Deliver { skip: 2 }));
        assert_eq!(c.received(), 8);
    }

    #[test]
    fn cursor_reports_a_gap_unless_resyncing() {
        let mut c = RecvCursor::new();
        assert_eq!(
            c.accept(2, 1),
            Err(ResumeError::Gap {
                expected: 0,
                got: 2
            })
        );
        assert_eq!(c.resume_ack(), 0);
        assert_eq!(c.accept(2, 1), Ok(Accept::Dropped));
        assert_eq!(c.accept(0, 3), Ok(Accept::Deliver { skip: 0 }));
        assert!(!c.is_resyncing());
    }

    #[test]
    fn acks_are_sent_once_the_threshold_is_reached() {
        let mut c = RecvCursor::new();
        c.accept(0, 3).unwrap();
        assert_eq!(c.ack_due(4), None);
        c.accept(3, 1).unwrap();
        assert_eq!(c.ack_due(4), Some(4));
        assert_eq!(c.ack_due(1), None);
    }
}
