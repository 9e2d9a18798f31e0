//! Source hashing (`sh`), after IPVS's `net/netfilter/ipvs/ip_vs_sh.c`.
//!
//! A client always lands on the same real server, without any per-client state: its source address
//! is hashed into a table of 256 buckets, each bucket naming a real server. The table is filled
//! in list order, each real server taking as many consecutive buckets as its weight (a weight-0
//! server still takes one, as in IPVS), wrapping round the list until all 256 are named. So weights
//! 2:1 give `A A B A A B …`; weights summing past 256 leave the servers listed last without a bucket
//! — IPVS's behaviour, and a reason to keep `sh` weights small.
//!
//! The hash is IPVS's current `ip_vs_sh_hashkey`: `hash_32(port + addr, 8)` (an IPv6 address folded
//! to 32 bits first, the XOR of its four words, as the kernel does), the top 8 bits of the
//! product with the 32-bit golden ratio `0x61C88647`, plus a probe offset, modulo 256. (Older kernels
//! multiplied by 2654435761 and kept the *low* 8 bits, which depend only on the last octet
//! of the address; the top bits mix all 32.) With the same real servers in the same order, ulvs and a
//! kernel director put every client on the same server. `port` is the client's source port with the
//! `sh-port` flag, else 0.
//!
//! The table holds every listed real server whatever its state, so a server going down or quiescent
//! does not reshuffle the other clients. When a client's server is unavailable the pick is `None`
//! (a counted drop), unless `sh-fallback` is set: then IPVS probes the buckets at offsets 0, 1, 2 …
//! from the client's hash — `(2 × hash + offset) mod 256`, which visits every bucket once — and
//! takes the first available server.
//!
//! Cost: one multiply and a table read per pick; at most 256 probes with fallback. No allocation.

use super::{Candidate, Client, SchedFlags, Scheduler};
use std::num::NonZeroU16;

/// Buckets in the table: IPVS's `IP_VS_SH_TAB_BITS` = 8.
const TAB_BITS: u32 = 8;
const TAB_SIZE: usize = 1 << TAB_BITS;
const TAB_MASK: u32 = (1 << TAB_BITS) - 1;

/// Linux's `GOLDEN_RATIO_32` (include/linux/hash.h).
const GOLDEN_RATIO_32: u32 = 0x61C8_8647;

/// IPVS `ip_vs_sh_hashkey`: bucket of (`addr`, `port`) at probe `offset`.
fn bucket_of(addr: u32, port: u16, offset: u32) -> usize {
    let hash_32 = addr.wrapping_add(u32::from(port)).wrapping_mul(GOLDEN_RATIO_32) >> (32 - TAB_BITS);
    (offset.wrapping_add(hash_32) & TAB_MASK) as usize
}

/// IPVS `sh`: a 256-bucket table of real servers indexed by a hash of the client's address.
#[derive(Clone, Debug)]
pub struct SourceHash {
    flags: SchedFlags,
    /// Index + 1 of the real server owning each bucket; `None` when there are no real servers.
    buckets: [Option<NonZeroU16>; TAB_SIZE],
}

impl SourceHash {
    pub fn new(flags: SchedFlags, candidates: &[Candidate]) -> Self {
        let mut buckets = [None; TAB_SIZE];
        // At most 256 servers can own a bucket, so the index always fits.
        let mut server = 0;
        let mut taken = 0;
        for bucket in buckets.iter_mut() {
            let Some(c) = candidates.get(server) else {
                break;
            };
            *bucket = NonZeroU16::new(server as u16 + 1);
            taken += 1;
            if taken >= c.weight {
                taken = 0;
                server = (server + 1) % candidates.len();
            }
        }
        SourceHash { flags, buckets }
    }

    /// The real server named by bucket `b`, if it exists in `candidates` and is available.
    fn server(&self, candidates: &[Candidate], b: usize) -> Result<usize, Unavailable> {
        let i = usize::from(self.buckets[b].ok_or(Unavailable::Empty)?.get() - 1);
        match candidates.get(i) {
            Some(c) if c.available() => Ok(i),
            _ => Err(Unavailable::Down),
        }
    }
}

enum Unavailable {
    /// No real server at all: IPVS stops looking.
    Empty,
    /// The bucket's real server cannot take the connection.
    Down,
}

impl Scheduler for SourceHash {
    fn pick(&mut self, candidates: &[Candidate], client: Client) -> Option<usize> {
        let addr = client.folded();
        let port = if self.flags.port { client.port } else { 0 };
        let first = bucket_of(addr, port, 0);
        match self.server(candidates, first) {
            Ok(i) => return Some(i),
            Err(Unavailable::Empty) => return None,
            Err(Unavailable::Down) if !self.flags.fallback => return None,
            Err(Unavailable::Down) => {}
        }
        (0..TAB_SIZE as u32).find_map(|offset| {
            let roffset = (offset + first as u32) & TAB_MASK;
            self.server(candidates, bucket_of(addr, port, roffset)).ok()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::test_candidates;
    use std::net::Ipv4Addr;

    fn client(i: u32) -> Client {
        Client { ip: Ipv4Addr::from_bits(0xc000_0200 + i * 7919).into(), port: 1024 + (i % 50_000) as u16 }
    }

    fn owners(sh: &SourceHash) -> Vec<usize> {
        sh.buckets.iter().map(|b| usize::from(b.unwrap().get() - 1)).collect()
    }

    #[test]
    fn weights_repeat_buckets_in_list_order() {
        let c = test_candidates(&[2, 1, 0]);
        let sh = SourceHash::new(SchedFlags::default(), &c);
        let owners = owners(&sh);
        // Weight 0 still takes one bucket (IPVS's `++d_count >= weight`).
        assert_eq!(owners[..8], [0, 0, 1, 2, 0, 0, 1, 2]);
        let count = |s| owners.iter().filter(|&&o| o == s).count();
        assert_eq!((count(0), count(1), count(2)), (128, 64, 64));
        // Weights summing past 256 starve the servers listed last, as in IPVS.
        let sh = SourceHash::new(SchedFlags::default(), &test_candidates(&[200, 100, 5]));
        let owners: Vec<usize> = super::tests::owners(&sh);
        assert_eq!(owners.iter().filter(|&&o| o == 1).count(), 56);
        assert!(!owners.contains(&2));
    }

    #[test]
    fn hash_is_the_kernels() {
        // hash_32(0xc0000201, 8) = (0xc0000201 × 0x61c88647 mod 2³²) >> 24 = 0x32.
        assert_eq!(bucket_of(0xc000_0201, 0, 0), 0x32);
        assert_eq!(bucket_of(0xc000_0201, 0, 250), (0x32 + 250) & 0xff);
        assert_eq!(bucket_of(0xc000_0200, 1, 0), bucket_of(0xc000_0201, 0, 0));
    }

    #[test]
    fn same_client_same_server_and_clients_spread() {
        let c = test_candidates(&[1, 1, 1, 1]);
        let mut sh = SourceHash::new(SchedFlags::default(), &c);
        let mut seen = [0usize; 4];
        for i in 0..4000 {
            let first = sh.pick(&c, client(i)).unwrap();
            let again = Client { port: client(i).port.wrapping_add(1), ..client(i) };
            // Without sh-port the source port does not matter.
            assert_eq!(sh.pick(&c, again), Some(first));
            seen[first] += 1;
        }
        assert!(seen.iter().all(|&n| (800..1200).contains(&n)), "{seen:?}");
    }

    #[test]
    fn sh_port_hashes_the_port_too() {
        let c = test_candidates(&[1, 1, 1, 1]);
        let flags = SchedFlags { port: true, ..SchedFlags::default() };
        let mut sh = SourceHash::new(flags, &c);
        let ip = Ipv4Addr::new(198, 51, 100, 7).into();
        let servers: std::collections::HashSet<_> =
            (0..64).map(|p| sh.pick(&c, Client { ip, port: 30000 + p }).unwrap()).collect();
        assert_eq!(servers.len(), 4);
    }

    #[test]
    fn unavailable_server_is_none_without_fallback() {
        let mut c = test_candidates(&[1, 1]);
        let mut sh = SourceHash::new(SchedFlags::default(), &c);
        let cl = client(3);
        let home = sh.pick(&c, cl).unwrap();
        c[home].usable = false;
        assert_eq!(sh.pick(&c, cl), None);
        c[home].usable = true;
        c[home].weight = 0;
        assert_eq!(sh.pick(&c, cl), None);
    }

    #[test]
    fn fallback_moves_only_the_clients_of_the_unavailable_server() {
        let c = test_candidates(&[1, 1, 1]);
        let flags = SchedFlags { fallback: true, ..SchedFlags::default() };
        let mut sh = SourceHash::new(flags, &c);
        let mut down = c.clone();
        down[1].usable = false;
        for i in 0..1000 {
            let before = sh.pick(&c, client(i)).unwrap();
            let after = sh.pick(&down, client(i)).unwrap();
            assert_ne!(after, 1);
            if before != 1 {
                assert_eq!(after, before);
            }
        }
        let none: Vec<_> = c.iter().map(|&d| Candidate { weight: 0, ..d }).collect();
        assert_eq!(sh.pick(&none, client(0)), None);
    }

    #[test]
    fn an_ipv6_client_hashes_its_address_folded_as_ipvs_does() {
        // ip_vs_sh_hashkey folds an IPv6 address to ip6[0] ^ ip6[1] ^ ip6[2] ^ ip6[3] first.
        let c = test_candidates(&[1; 7]);
        let mut sh = SourceHash::new(SchedFlags::default(), &c);
        let ip: std::net::Ipv6Addr = "2001:db8::c000:201".parse().unwrap();
        let fold = 0x2001_0db8 ^ 0xc000_0201;
        assert_eq!(sh.pick(&c, Client { ip: ip.into(), port: 9 }), Some(owners(&sh)[bucket_of(fold, 0, 0)]));
    }

    #[test]
    fn no_servers_is_none() {
        let flags = SchedFlags { fallback: true, port: true };
        let mut sh = SourceHash::new(flags, &[]);
        assert_eq!(sh.pick(&[], client(1)), None);
    }

    proptest::proptest! {
        /// With weights summing to at most 256 every server owns buckets, so with sh-fallback a
        /// pick fails only when nothing is available; without it, only when the client's is not.
        #[test]
        fn fallback_finds_any_available_server(
            weights in proptest::collection::vec(0u32..=20, 1..12),
            down in proptest::collection::vec(proptest::prelude::any::<bool>(), 12),
            clients in proptest::collection::vec(proptest::prelude::any::<(u32, u16)>(), 40),
        ) {
            let mut c = test_candidates(&weights);
            for (d, &down) in c.iter_mut().zip(&down) {
                d.usable = !down;
            }
            let flags = SchedFlags { fallback: true, port: true };
            let mut with = SourceHash::new(flags, &c);
            let mut without = SourceHash::new(SchedFlags { fallback: false, port: true }, &c);
            let any_up = c.iter().any(Candidate::available);
            for (ip, port) in clients {
                let cl = Client { ip: Ipv4Addr::from_bits(ip).into(), port };
                let got = with.pick(&c, cl);
                proptest::prop_assert_eq!(got.is_some(), any_up);
                proptest::prop_assert!(got.is_none_or(|i| c[i].available()));
                let home = owners(&with)[bucket_of(ip, port, 0)];
                let plain = without.pick(&c, cl);
                proptest::prop_assert_eq!(plain, Some(home).filter(|&h| c[h].available()));
                if plain.is_some() {
                    proptest::prop_assert_eq!(got, plain);
                }
            }
        }
    }
}
