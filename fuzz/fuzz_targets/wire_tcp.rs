//! Input: 4 bytes source address, 4 bytes destination address, then one TCP segment. Every accessor,
//! checksum fill/verify, and the Repr round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::net::Ipv4Addr;
use ulvs::wire::tcp::{Packet, Repr, HEADER_LEN};
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
    let _ = (
        p.src_port(),
        p.dst_port(),
        p.seq_number(),
        p.ack_number(),
        p.window_len(),
    );
    let _ = (
        p.syn(),
        p.ack(),
        p.fin(),
        p.rst(),
        p.psh(),
        p.urg(),
        p.ece(),
        p.cwr(),
    );
    let _ = (p.checksum(), p.urgent_at(), p.flags());
    let header_len = usize::from(p.header_len());
    assert!(header_len >= HEADER_LEN);
    assert_eq!(p.options().len() + HEADER_LEN, header_len);
    assert_eq!(p.payload().len(), data.len() - header_len);

    let verified = p.verify_checksum(src, dst);
    let parsed = Repr::parse(&p, src, dst);
    assert_eq!(parsed.is_ok(), verified);
    if !verified {
        assert_eq!(parsed, Err(WireError::BadChecksum));
    }

    let mut filled = data.to_vec();
    let mut view = Packet::new_checked(&mut filled[..]).unwrap();
    view.fill_checksum(src, dst);
    let repr = Repr::parse(&view, src, dst).expect("a filled checksum verifies");
    assert_eq!(repr.payload_len, p.payload().len());
    assert_eq!(repr.flags, p.flags());

    let mut out = vec![0u8; repr.buffer_len()];
    repr.emit(
        &mut Packet::new_unchecked(&mut out[..]),
        src,
        dst,
        |payload| payload.copy_from_slice(p.payload()),
    );
    assert_eq!(
        Repr::parse(&Packet::new_checked(&out[..]).unwrap(), src, dst),
        Ok(repr)
    );
});
