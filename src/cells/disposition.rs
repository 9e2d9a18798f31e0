//! What a port does with a frame once its handler has looked at it, and what one poll moved.
//!
//! The port asks only "transmit this buffer or recycle it"; why (a forwarded packet, an ARP reply,
//! a drop) is the caller's business and its counters'.

/// The handler's answer for one received frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disposition {
    /// Send the (possibly rewritten) buffer back out of the port it came in on.
    Transmit,
    /// Give the buffer back to the receive side.
    Recycle,
}

/// What one `poll` moved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Polled {
    /// Frames received and handed to the handler.
    pub received: usize,
    /// `Transmit` frames the port accepted for sending.
    pub transmitted: usize,
    /// `Transmit` frames the port refused (TX ring or socket buffer full, or the kernel refused
    /// the send); they were recycled instead.
    pub tx_full: usize,
    /// Transmitted frames whose TCP/UDP checksum the sender left partial, sent on with that state
    /// for the kernel or the next hop to complete (a port that knows it: AF_PACKET).
    pub csum_partial: usize,
    /// Transmitted frames longer than the MTU that carried the kernel's segmentation state, sent
    /// whole for the kernel or the next hop to segment.
    pub gso: usize,
    /// Frames dropped because they were longer than the port could receive or send whole: over
    /// the MTU without segmentation state, or too long to receive at all.
    pub oversize: usize,
}
