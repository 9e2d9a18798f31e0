//! The benchmark traffic tools' pure parts: the generator's frames ([`frame`]: template and
//! patch, valid checksums, N distinct flows, a sequence number and TX timestamp in every frame),
//! its pacing and reports ([`pace`]), and the sink's loss and latency arithmetic ([`sink`]).
//! The drive loops that own sockets and the clock are `ulvs gen` and `ulvs sink` in the binary.

pub mod frame;
pub mod pace;
pub mod sink;

pub use frame::{FrameBuilder, FrameSpec, Kind, Sources, Stamp};
pub use pace::{Limit, Pacer, Throughput};
pub use sink::{SinkReport, SinkStats};
