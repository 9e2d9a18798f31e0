//! Input: one IPVS sync datagram. `parse` never panics; what it accepts has as many entries as the
//! header says; every accepted entry re-emits through the Builder and parses back equal; the views
//! agree with the Repr.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ulvs::wire::ipvs_sync::{parse, Builder, Datagram, Entry, Message, MAX_MAXLEN};

fuzz_target!(|input: &[u8]| {
    let Ok(datagram) = parse(input) else {
        return;
    };
    let message = Message::new_checked(input).expect("parse accepted it");
    assert_eq!(usize::from(message.size()), input.len());
    match datagram {
        Datagram::Control(control) => {
            assert_eq!(control.to_bytes(), input, "a control message has one spelling");
        }
        Datagram::Conns { syncid, entries } => {
            assert_eq!(syncid, message.syncid());
            assert_eq!(entries.len(), usize::from(message.nr_conns()));
            if let Some(Ok(first)) = entries.first() {
                let entry = Entry::new_unchecked(&message.payload()[..first.buffer_len().min(message.payload().len())]);
                assert_eq!((entry.cport(), entry.vport(), entry.dport()), (first.cport, first.vport, first.dport));
                assert_eq!((entry.caddr(), entry.vaddr(), entry.daddr()), (first.caddr, first.vaddr, first.daddr));
            }
            let good: Vec<_> = entries.into_iter().flatten().collect();
            let mut builder = Builder::new(syncid, MAX_MAXLEN);
            for conn in &good {
                assert!(builder.push(conn), "255 entries of at most 98 bytes fit");
            }
            match parse(&builder.finish()) {
                Ok(Datagram::Conns { entries, .. }) => {
                    let again: Vec<_> = entries.into_iter().map(|e| e.expect("re-emitted entries are good")).collect();
                    assert_eq!(again, good);
                }
                other => panic!("re-emitted message does not parse: {other:?}"),
            }
        }
    }
});
