//! Input: an IPv4 packet (the Ethernet payload, padding allowed). The strict and the lenient view with
//! every accessor, checksum fill/verify, and the Repr round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ulvs::wire::ipv4::{Packet, Repr, HEADER_LEN};
use ulvs::wire::WireError;

fuzz_target!(|data: &[u8]| {
    // The lenient view (an ICMP error's quote): never panics, never claims more than there is.
    if let Ok(p) = Packet::new_checked_header(data) {
        let header_len = usize::from(p.header_len());
        assert!(header_len >= HEADER_LEN && header_len <= data.len());
        let available = p.payload_available();
        assert!(available.len() <= data.len() - header_len);
        assert!(available.len() <= usize::from(p.total_len()).saturating_sub(header_len));
        let _ = (
            p.verify_checksum(),
            p.options().len(),
            p.is_first_fragment(),
        );
    }

    let p = match Packet::new_checked(data) {
        Ok(p) => p,
        Err(e) => {
            assert_eq!(Repr::parse(&Packet::new_unchecked(data)), Err(e));
            return;
        }
    };
    let _ = (
        p.version(),
        p.dscp(),
        p.ecn(),
        p.ident(),
        p.dont_frag(),
        p.more_frags(),
    );
    let _ = (
        p.ttl(),
        p.next_header(),
        p.checksum(),
        p.src_addr(),
        p.dst_addr(),
    );
    assert_eq!(p.frag_offset() % 8, 0);
    assert_eq!(p.is_fragment(), p.more_frags() || !p.is_first_fragment());
    let header_len = usize::from(p.header_len());
    assert_eq!(p.payload().len(), usize::from(p.total_len()) - header_len);
    assert_eq!(p.options().len(), header_len - HEADER_LEN);
    assert_eq!(p.payload(), p.payload_available());

    let mut filled = data.to_vec();
    let mut view = Packet::new_checked(&mut filled[..]).unwrap();
    view.fill_checksum();
    assert!(view.verify_checksum());
    // Ones complement has two zeros: a computed 0x0000 may stand on the wire as 0xffff.
    let (stored, computed) = (p.checksum(), view.checksum());
    assert_eq!(
        p.verify_checksum(),
        stored == computed || (computed == 0 && stored == 0xffff)
    );

    match Repr::parse(&p) {
        Ok(repr) => {
            assert_eq!(repr.payload_len, p.payload().len());
            let mut out = vec![0u8; repr.buffer_len()];
            let mut view = Packet::new_unchecked(&mut out[..]);
            repr.emit(&mut view);
            view.payload_mut().copy_from_slice(p.payload());
            assert_eq!(
                Repr::parse(&Packet::new_checked(&out[..]).unwrap()),
                Ok(repr)
            );
        }
        Err(WireError::BadChecksum) => assert!(!p.verify_checksum()),
        Err(e) => {
            assert_eq!(e, WireError::Unsupported);
            assert!(p.is_fragment());
        }
    }
});
