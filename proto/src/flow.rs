//! Credit-based flow control (`docs/protocol.md` §4): the sender spends one credit per
//! session frame (HELLO, HELLO_ACK and CLOSE exempt) and the receiver hands credits back as it frees
//! buffer slots, so a correct sender can never overrun a receive buffer of
//! `rx_window × max_frame` bytes.

/// Flow-control violations by the peer, or misuse by the local caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlowError {
    /// The peer sent a flow-controlled frame while holding no credit (CLOSE `overrun`).
    #[error("frame arrived with no credit outstanding")]
    Overrun,
    /// The peer granted more credits than it advertised slots (CLOSE `protocol-violation`).
    #[error("peer granted {granted} credits, holding {held} of a window of {window}")]
    ExcessGrant {
        granted: u16,
        held: u32,
        window: u16,
    },
    /// The caller reported a frame processed that was never received.
    #[error("no received frame is waiting to be processed")]
    NothingToProcess,
}

/// Sender side: how many session frames the peer can still take.
#[derive(Debug, Clone, Default)]
pub struct SendCredits {
    credits: u32,
    window: u16,
}

impl SendCredits {
    /// No credits until the peer's window is known.
    pub fn new() -> Self {
        Self::default()
    }

    /// The peer advertised `rx_window` in HELLO / HELLO_ACK: start with that many credits.
    pub fn start(&mut self, rx_window: u16) {
        self.window = rx_window;
        self.credits = u32::from(rx_window);
    }

    /// Credits available now.
    pub fn available(&self) -> u32 {
        self.credits
    }

    /// Spends one credit, or returns `false` if there is none (the sender must wait).
    pub fn try_spend(&mut self) -> bool {
        if self.credits == 0 {
            return false;
        }
        self.credits -= 1;
        true
    }

    /// Adds credits returned by a CREDIT frame. The peer can only return slots we have
    /// filled, so holding more than its window is a violation.
    pub fn grant(&mut self, granted: u16) -> Result<(), FlowError> {
        let total = self.credits + u32::from(granted);
        if total > u32::from(self.window) {
            return Err(FlowError::ExcessGrant {
                granted,
                held: self.credits,
                window: self.window,
            });
        }
        self.credits = total;
        Ok(())
    }
}

/// Receiver side: slots of the local receive buffer, and when to return them.
#[derive(Debug, Clone)]
pub struct ReceiveWindow {
    window: u16,
    /// Credits the peer still holds (slots it may fill without waiting).
    peer_credits: u32,
    /// Frames received and not yet processed.
    buffered: u32,
    /// Slots freed by processing and not yet granted back.
    freed: u32,
    received: u64,
    processed: u64,
}

impl ReceiveWindow {
    /// A receive buffer of `window` frames (at least 1), all of them the peer's from the
    /// start: the window was advertised in HELLO / HELLO_ACK.
    pub fn new(window: u16) -> Self {
        let window = window.max(1);
        ReceiveWindow {
            window,
            peer_credits: u32::from(window),
            buffered: 0,
            freed: 0,
            received: 0,
            processed: 0,
        }
    }

    /// The advertised window.
    pub fn window(&self) -> u16 {
        self.window
    }

    /// A flow-controlled frame arrived; it takes a slot, or is an overrun.
    pub fn on_frame_received(&mut self) -> Result<(), FlowError> {
        if self.peer_credits == 0 {
            return Err(FlowError::Overrun);
        }
        self.peer_credits -= 1;
        self.buffered += 1;
        self.received += 1;
        Ok(())
    }

    /// The application finished with one received frame; its slot is free.
    pub fn on_frame_processed(&mut self) -> Result<(), FlowError> {
        if self.buffered == 0 {
            return Err(FlowError::NothingToProcess);
        }
        self.buffered -= 1;
        self.freed += 1;
        self.processed += 1;
        Ok(())
    }

    /// Credits to grant now, if any, under the batching rule: grant once at least half the
    /// window is free again, or as soon as nothing received is still waiting (so a peer is
    /// never left stalled, and a window of 1 is granted at once). Counts them as granted.
    pub fn take_grant(&mut self) -> Option<u16> {
        if self.freed == 0 {
            return None;
        }
        if self.freed * 2 >= u32::from(self.window) || self.buffered == 0 {
            // freed + buffered + peer_credits == window, so freed fits in u16.
            let n = u16::try_from(self.freed).unwrap_or(u16::MAX);
            self.freed -= u32::from(n);
            self.peer_credits += u32::from(n);
            return Some(n);
        }
        None
    }

    /// Frames received and not yet processed.
    pub fn buffered(&self) -> u32 {
        self.buffered
    }

    /// Total flow-controlled frames received.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Total frames processed.
    pub fn processed(&self) -> u64 {
        self.processed
    }

    /// Credits the peer holds right now (as far as this side has granted).
    pub fn peer_credits(&self) -> u32 {
        self.peer_credits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sender_spends_and_waits() {
        let mut c = SendCredits::new();
        assert!(!c.try_spend());
        c.start(2);
        assert!(c.try_spend() && c.try_spend());
        assert!(!c.try_spend());
        assert_eq!(c.available(), 0);
        c.grant(2).unwrap();
        assert_eq!(c.available(), 2);
    }

    #[test]
    fn excess_grant_is_rejected() {
        let mut c = SendCredits::new();
        c.start(2);
        assert!(c.try_spend());
        assert_eq!(
            c.grant(2),
            Err(FlowError::ExcessGrant {
                granted: 2,
                held: 1,
                window: 2
            })
        );
        // A grant before the window is known is excess too.
        assert!(SendCredits::new().grant(1).is_err());
    }

    #[test]
    fn overrun_after_window_is_full() {
        let mut w = ReceiveWindow::new(2);
        w.on_frame_received().unwrap();
        w.on_frame_received().unwrap();
        assert_eq!(w.on_frame_received(), Err(FlowError::Overrun));
        assert_eq!(w.received(), 2);
    }

    #[test]
    fn processing_without_a_frame_is_misuse() {
        let mut w = ReceiveWindow::new(4);
        assert_eq!(w.on_frame_processed(), Err(FlowError::NothingToProcess));
    }

    #[test]
    fn window_of_one_is_granted_at_once() {
        let mut w = ReceiveWindow::new(1);
        w.on_frame_received().unwrap();
        assert_eq!(w.take_grant(), None);
        w.on_frame_processed().unwrap();
        assert_eq!(w.take_grant(), Some(1));
        assert_eq!(w.take_grant(), None);
        w.on_frame_received().unwrap();
        assert_eq!(w.peer_credits(), 0);
    }

    #[test]
    fn grants_are_batched_to_half_the_window() {
        let mut w = ReceiveWindow::new(8);
        for _ in 0..8 {
            w.on_frame_received().unwrap();
        }
        for _ in 0..3 {
            w.on_frame_processed().unwrap();
            assert_eq!(w.take_grant(), None);
        }
        w.on_frame_processed().unwrap();
        assert_eq!(w.take_grant(), Some(4));
        assert_eq!(w.buffered(), 4);
        // Draining the buffer grants the rest even below half.
        for _ in 0..4 {
            w.on_frame_processed().unwrap();
        }
        assert_eq!(w.take_grant(), Some(4));
        assert_eq!(w.peer_credits(), 8);
        assert_eq!(w.processed(), 8);
    }

    #[test]
    fn idle_receiver_grants_a_single_free_slot() {
        let mut w = ReceiveWindow::new(8);
        w.on_frame_received().unwrap();
        w.on_frame_processed().unwrap();
        assert_eq!(w.take_grant(), Some(1));
        assert_eq!(ReceiveWindow::new(0).window(), 1);
    }
}
