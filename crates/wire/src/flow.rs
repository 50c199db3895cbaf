//! Per-channel flow control: credit windows, one per direction, as in SSH and HTTP/2.
//!
//! Credit is absolute: the receiver grants "you may send data bytes with offsets below
//! `limit`" (a `WindowUpdate`), so a lost or repeated update after a reconnect does no harm.
//! Each channel has its own windows, so a stream whose reader is slow stalls only itself.

/// Default window per channel and direction: 4 MiB. Through the relay the window must
/// cover every buffer between the two ends (two TCP hops, the relay, the drivers' queues)
/// for as long as a window update takes to come back; with 1 MiB the sender waited for
/// credit and loopback port forwarding left a quarter of two cores idle.
pub const DEFAULT_WINDOW: u32 = 4 * 1024 * 1024;

/// A flow-control fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FlowError {
    /// The peer sent data past the limit it was granted.
    #[error("peer sent data up to offset {end}, past its window limit {limit}")]
    Overrun { end: u64, limit: u64 },
    /// This side tried to send more than its credit.
    #[error("{requested} bytes exceed the {available} bytes of credit")]
    NoCredit { requested: u64, available: u64 },
    /// The application reported consuming bytes it never received.
    #[error("consumed {consumed} bytes but only {received} arrived")]
    ConsumedTooMuch { consumed: u64, received: u64 },
}

/// The sending side's view: how far the peer lets us send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendWindow {
    sent: u64,
    limit: u64,
}

impl SendWindow {
    /// A window with the peer's initial grant.
    pub fn new(initial: u32) -> Self {
        SendWindow {
            sent: 0,
            limit: u64::from(initial),
        }
    }

    /// Bytes that may be sent now.
    pub fn available(&self) -> u64 {
        self.limit.saturating_sub(self.sent)
    }

    /// Data bytes sent so far.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// The peer's current limit.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Records `n` bytes sent; fails without change if that exceeds the credit.
    pub fn record_sent(&mut self, n: u64) -> Result<(), FlowError> {
        let available = self.available();
        if n > available {
            return Err(FlowError::NoCredit {
                requested: n,
                available,
            });
        }
        self.sent += n;
        Ok(())
    }

    /// Applies a `WindowUpdate`. Returns true when the limit grew; stale limits are ignored.
    pub fn update(&mut self, limit: u64) -> bool {
        if limit > self.limit {
            self.limit = limit;
            true
        } else {
            false
        }
    }
}

/// The receiving side's view: what we granted and what the application has consumed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecvWindow {
    window: u32,
    received: u64,
    consumed: u64,
    limit: u64,
}

impl RecvWindow {
    /// A window that grants `window` bytes beyond what the application has consumed.
    pub fn new(window: u32) -> Self {
        RecvWindow {
            window,
            received: 0,
            consumed: 0,
            limit: u64::from(window),
        }
    }

    /// The limit granted to the peer.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Data bytes received.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Bytes received but not yet consumed by the application.
    pub fn buffered(&self) -> u64 {
        self.received - self.consumed
    }

    /// Records `n` bytes arriving; a fault if the peer overran its credit.
    pub fn on_data(&mut self, n: u64) -> Result<(), FlowError> {
        let end = self.received.saturating_add(n);
        if end > self.limit {
            return Err(FlowError::Overrun {
                end,
                limit: self.limit,
            });
        }
        self.received = end;
        Ok(())
    }

    /// Records that the application consumed `n` bytes. Returns a new limit to announce when
    /// at least a quarter of a window of credit has been freed since the last announcement
    /// (so the sender rarely runs dry while an update is on its way).
    pub fn consume(&mut self, n: u64) -> Result<Option<u64>, FlowError> {
        let consumed = self.consumed.saturating_add(n);
        if consumed > self.received {
            return Err(FlowError::ConsumedTooMuch {
                consumed,
                received: self.received,
            });
        }
        self.consumed = consumed;
        let target = consumed + u64::from(self.window);
        if target.saturating_sub(self.limit) >= u64::from(self.window / 4).max(1) {
            self.limit = target;
            Ok(Some(target))
        } else {
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sender_cannot_exceed_the_initial_grant() {
        let mut w = SendWindow::new(10);
        assert_eq!(w.record_sent(6), Ok(()));
        assert_eq!(
            w.record_sent(5),
            Err(FlowError::NoCredit {
                requested: 5,
                available: 4
            })
        );
        assert_eq!(w.available(), 4);
    }

    #[test]
    fn stale_window_updates_are_ignored() {
        let mut w = SendWindow::new(10);
        assert!(w.update(20));
        assert!(!w.update(15));
        assert_eq!(w.limit(), 20);
    }

    #[test]
    fn receiver_detects_overrun() {
        let mut r = RecvWindow::new(8);
        assert_eq!(r.on_data(8), Ok(()));
        assert_eq!(r.on_data(1), Err(FlowError::Overrun { end: 9, limit: 8 }));
    }

    #[test]
    fn credit_is_returned_after_a_quarter_of_a_window_is_consumed() {
        let mut r = RecvWindow::new(100);
        r.on_data(100).unwrap();
        assert_eq!(r.consume(24), Ok(None));
        assert_eq!(r.consume(1), Ok(Some(125)));
        assert_eq!(r.limit(), 125);
        assert_eq!(r.buffered(), 75);
    }

    #[test]
    fn consuming_more_than_received_is_an_error() {
        let mut r = RecvWindow::new(100);
        r.on_data(5).unwrap();
        assert_eq!(
            r.consume(6),
            Err(FlowError::ConsumedTooMuch {
                consumed: 6,
                received: 5
            })
        );
    }
}
