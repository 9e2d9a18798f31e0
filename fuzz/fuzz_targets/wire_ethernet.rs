//! Input: a whole Ethernet frame. Every accessor, then the Repr round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ulvs::wire::ethernet::{Frame, Repr, HEADER_LEN};

fuzz_target!(|data: &[u8]| {
    let Ok(frame) = Frame::new_checked(data) else {
        assert!(data.len() < HEADER_LEN);
        return;
    };
    let _ = (
        frame.dst_addr(),
        frame.src_addr(),
        frame.ethertype().to_string(),
    );
    assert_eq!(frame.payload().len(), data.len() - HEADER_LEN);

    let repr = Repr::parse(&frame).expect("a checked frame parses");
    let mut out = data.to_vec();
    let mut view = Frame::new_unchecked(&mut out[..]);
    repr.emit(&mut view);
    assert_eq!(Repr::parse(&view), Ok(repr));
    assert_eq!(out, data, "re-emitting a parsed header changes nothing");
});
