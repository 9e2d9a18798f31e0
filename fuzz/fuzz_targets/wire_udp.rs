//! Input: 4 bytes source address, 4 bytes destination address, then one UDP datagram. Every accessor,
//! checksum fill/verify, and the Repr round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::net::Ipv4Addr;
use ulvs::wire::udp::{Packet, Repr, HEADER_LEN};
use ulvs::wire::WireError;

fuzz_target!(|input: &[u8]| {
    let [s0, s1, s2, s3, d0, d1, d2, d3, ref data @ ..] = *input else {
        return;
    };
    let (src, dst) = (Ipv4Addr::new(s0, s1, s2, s3), Ipv4Addr::new(d0, d1, d2, d3));

    let p = match Packet::new_checked(data) {
        Ok(p) => p,
        Err(e) => {
            assert_eq!(Repr::parse(&Packet::new_unchecked(data), src, dst), Err(e));
            return;
        }
    };
    let _ = (p.src_port(), p.dst_port(), p.checksum(), p.is_empty());
    assert_eq!(p.payload().len(), usize::from(p.len()) - HEADER_LEN);
    assert!(usize::from(p.len()) <= data.len());

    let verified = p.verify_checksum(src, dst);
    let parsed = Repr::parse(&p, src, dst);
    assert_eq!(parsed.is_ok(), verified);
    if !verified {
        assert_eq!(parsed, Err(WireError::BadChecksum));
        assert_ne!(p.checksum(), 0, "a zero checksum always verifies");
    }

    let mut filled = data.to_vec();
    let mut view = Packet::new_checked(&mut filled[..]).unwrap();
    view.fill_checksum(src, dst);
    assert_ne!(view.checksum(), 0);
    let repr = Repr::parse(&view, src, dst).expect("a filled checksum verifies");
    assert_eq!(repr.payload_len, p.payload().len());

    let mut out = vec![0u8; repr.buffer_len()];
    repr.emit(
        &mut Packet::new_unchecked(&mut out[..]),
        src,
        dst,
        |payload| payload.copy_from_slice(p.payload()),
    );
    assert_eq!(
        out[..],
        filled[..out.len()],
        "the filled datagram re-emits byte for byte"
    );
    assert_eq!(
        Repr::parse(&Packet::new_checked(&out[..]).unwrap(), src, dst),
        Ok(repr)
    );
});
