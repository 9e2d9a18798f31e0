//! Input: an IPv6 packet (the Ethernet payload, padding allowed). The strict and the lenient view
//! with every accessor, the extension-header walk (it stays inside what is there and agrees between
//! the views), and the Repr round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ulvs::wire::ipv6::{transport, Packet, Repr, HEADER_LEN, MAX_EXTENSION_HEADERS};

fuzz_target!(|data: &[u8]| {
    // The lenient view (an ICMPv6 error's quote): never panics, never claims more than there is.
    let lenient = Packet::new_checked_header(data).ok().map(|p| {
        let available = p.payload_available();
        assert!(available.len() <= data.len() - HEADER_LEN);
        assert!(available.len() <= usize::from(p.payload_len()));
        let walked = transport(&p);
        if let Ok(found) = walked {
            assert!(found.offset >= HEADER_LEN && found.offset <= HEADER_LEN + available.len());
            assert!(found.offset - HEADER_LEN <= MAX_EXTENSION_HEADERS * 2048);
            if let Some(fragment) = found.fragment {
                assert_eq!(fragment.offset % 8, 0);
                assert_eq!(found.is_first_fragment(), fragment.offset == 0);
            }
        }
        walked
    });

    let p = match Packet::new_checked(data) {
        Ok(p) => p,
        Err(e) => {
            assert_eq!(Repr::parse(&Packet::new_unchecked(data)), Err(e));
            return;
        }
    };
    let _ = (p.version(), p.dscp(), p.ecn(), p.flow_label(), p.hop_limit(), p.src_addr(), p.dst_addr());
    assert!(p.flow_label() < 1 << 20);
    assert_eq!(p.payload().len(), usize::from(p.payload_len()));
    assert_eq!(p.payload(), p.payload_available());
    // Over the whole payload the walk sees what the lenient view saw.
    assert_eq!(lenient, Some(transport(&p)));

    let repr = Repr::parse(&p).expect("a checked packet parses");
    assert_eq!(repr.payload_len, p.payload().len());
    let mut out = vec![0xa5u8; repr.buffer_len()];
    let mut view = Packet::new_unchecked(&mut out[..]);
    repr.emit(&mut view);
    view.payload_mut().copy_from_slice(p.payload());
    assert_eq!(&out[..], &data[..repr.buffer_len()], "the header re-emits byte for byte");
    assert_eq!(Repr::parse(&Packet::new_checked(&out[..]).unwrap()), Ok(repr));
});
