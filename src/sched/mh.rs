//! Maglev hashing (`mh`), after Eisenbud et al., "Maglev: A Fast and Reliable Software Network
//! Load Balancer", NSDI'16, §3.4, and IPVS's `net/netfilter/ipvs/ip_vs_mh.c`.
//!
//! Like `sh`, a client is hashed into a lookup table that names a real server, so the same client
//! keeps landing on the same server with no per-client state — and, unlike `sh`, the table is built
//! so that adding or removing one of N real servers moves only about 1/N of the clients, and every
//! server owns an almost equal share of it (±1 slot for equal weights).
//!
//! **Building the table.** Each real server derives a permutation of the M slots from two hashes of
//! its identity ([`Candidate::key`], IPVS hashes address and port): `offset = h1 mod M`,
//! `skip = h2 mod (M − 1) + 1`, visiting `offset, offset + skip, offset + 2·skip, …` mod M. M is a
//! prime, so every permutation reaches every slot. The servers then take turns, in list order,
//! each claiming the next free slot of its own permutation, until the table is full. Since each
//! server's preferences depend only on itself, removing one frees its slots and leaves most other
//! claims where they were.
//!
//! **Weights**, as IPVS does them: all weights are divided by their gcd, then shifted right until
//! the largest fits in `TAB_BITS` bits; a server with weight w then claims `w / gcd >> shift`
//! slots per round (at least one), so shares follow the weights to 8 bits of precision.
//!
//! **Table size** is 65537 (a prime; IPVS's default is 4093): 1/N of it is still fine-grained with
//! hundreds of real servers, and an index of ≤ 65535 real servers fits two bytes per slot. Only
//! the first 65535 candidates are placed. `TAB_BITS` follows IPVS's rule of half the table's index
//! bits (6 for 4093, here 8).
//!
//! **Hashes** are fixed, seeded 64-bit mixes (splitmix64's finalizer), never a per-process random
//! hasher: two directors building from the same real servers agree on every slot, so a failover
//! keeps clients on their servers. The client's hash covers its address (an IPv6 one folded to 32
//! bits as IPVS folds it), plus its source port with `mh-port`.
//!
//! **Availability.** The table holds every real server with a weight, usable or not, so health
//! flapping does not reshuffle anybody else. A client whose server is unavailable gets `None` (a
//! counted drop), unless `mh-fallback` is set: then, as IPVS does, it rehashes itself with probe
//! offsets `(first + k) mod M` and takes the first available server it meets — spreading the
//! displaced clients over the others in proportion to their slots. If none is available the pick
//! says so after one scan of the candidates rather than 65537 probes, and, beyond IPVS, a last
//! sweep of the table guarantees that a pick is `None` only when no available server owns a slot.
//! Quiescing (weight 0) takes a server out of the table at the next rebuild, whereas IPVS keeps it
//! (`last_weight`); existing flows stay on it through the connection table either way.
//!
//! Cost: build O(M log M), 128 KiB per table; pick one hash and one table read. No allocation.

use super::{gcd, Candidate, Client, SchedFlags, Scheduler};
use std::num::NonZeroU16;

/// Lookup-table size M, a prime.
pub const TAB_SIZE: usize = 65537;
/// Significant bits kept of `weight / gcd` (IPVS `IP_VS_MH_TAB_BITS`).
const TAB_BITS: u32 = 8;
/// Real servers that can own slots: their index + 1 must fit a `NonZeroU16`.
const MAX_SERVERS: usize = u16::MAX as usize;

/// Seeds of the three hashes: slot offset and skip of a real server, slot of a client.
const SEED_OFFSET: u64 = 0x2545_f491_4f6c_dd1d;
const SEED_SKIP: u64 = 0x9e37_79b9_7f4a_7c15;
const SEED_CLIENT: u64 = 0xd6e8_feb8_6659_fd93;

/// splitmix64's finalizer: a fixed bijective mix of all 64 bits.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The slot of a client (`word` = address and port) at fallback probe `probe`.
fn client_slot(word: u64, probe: u32) -> usize {
    let h = mix(word ^ SEED_CLIENT ^ u64::from(probe).wrapping_mul(SEED_SKIP));
    // Lemire's multiply-shift reduction: uniform in [0, M) without a division.
    (((h >> 32) * TAB_SIZE as u64) >> 32) as usize
}

/// IPVS `mh`: a Maglev lookup table of real servers indexed by a hash of the client.
#[derive(Clone, Debug)]
pub struct Maglev {
    flags: SchedFlags,
    /// Index + 1 of the real server owning each slot; empty when no real server has a weight.
    table: Box<[Option<NonZeroU16>]>,
    /// Whether each of the first candidates owns slots (had a weight when the table was built).
    owns: Box<[bool]>,
}

impl Maglev {
    pub fn new(flags: SchedFlags, candidates: &[Candidate]) -> Self {
        let candidates = &candidates[..candidates.len().min(MAX_SERVERS)];
        let owns: Box<[bool]> = candidates.iter().map(|c| c.weight > 0).collect();
        Maglev { flags, table: populate(candidates), owns }
    }

    /// The lookup table: for each slot the index of the real server owning it.
    #[cfg(test)]
    fn slots(&self) -> impl Iterator<Item = usize> + '_ {
        self.table.iter().flatten().map(|i| usize::from(i.get() - 1))
    }

    fn server(&self, candidates: &[Candidate], slot: usize) -> Option<usize> {
        let i = usize::from(self.table[slot]?.get() - 1);
        candidates.get(i).filter(|c| c.available()).map(|_| i)
    }
}

/// One real server's walk through the slots.
struct Permutation {
    next: u32,
    skip: u32,
    turns: u32,
}

/// Fills the table as `ip_vs_mh_populate` does: rounds in list order, each server claiming `turns`
/// free slots of its own permutation per round.
fn populate(candidates: &[Candidate]) -> Box<[Option<NonZeroU16>]> {
    let weights = || candidates.iter().map(|c| c.weight).filter(|&w| w > 0);
    let gcd = weights().fold(0, gcd);
    let Some(max) = weights().max() else {
        return Box::default();
    };
    let fls = |x: u32| u32::BITS - x.leading_zeros();
    let shift = fls(max / gcd).saturating_sub(TAB_BITS);
    let m = TAB_SIZE as u64;
    let mut servers: Vec<(usize, Permutation)> = candidates
        .iter()
        .enumerate()
        .filter(|(_, c)| c.weight > 0)
        .map(|(i, c)| {
            let perm = Permutation {
                next: (mix(c.key ^ SEED_OFFSET) % m) as u32,
                skip: (mix(c.key ^ SEED_SKIP) % (m - 1) + 1) as u32,
                turns: ((c.weight / gcd) >> shift).max(1),
            };
            (i, perm)
        })
        .collect();

    let mut table = vec![None; TAB_SIZE].into_boxed_slice();
    let mut filled = 0;
    'rounds: loop {
        for (i, perm) in servers.iter_mut() {
            let owner = NonZeroU16::new(*i as u16 + 1);
            for _ in 0..perm.turns {
                // M is prime and 0 < skip < M, so the walk meets every slot: it finds a free one.
                while table[perm.next as usize].is_some() {
                    perm.next += perm.skip;
                    if perm.next >= TAB_SIZE as u32 {
                        perm.next -= TAB_SIZE as u32;
                    }
                }
                table[perm.next as usize] = owner;
                filled += 1;
                if filled == TAB_SIZE {
                    break 'rounds;
                }
            }
        }
    }
    table
}

impl Scheduler for Maglev {
    fn pick(&mut self, candidates: &[Candidate], client: Client) -> Option<usize> {
        if self.table.is_empty() {
            return None;
        }
        let port = if self.flags.port { client.port } else { 0 };
        let word = (u64::from(client.folded()) << 16) | u64::from(port);
        let first = client_slot(word, 0);
        if let Some(i) = self.server(candidates, first) {
            return Some(i);
        }
        if !self.flags.fallback {
            return None;
        }
        let any_up = candidates.iter().zip(self.owns.iter()).any(|(c, &owns)| owns && c.available());
        if !any_up {
            return None;
        }
        (0..TAB_SIZE as u32)
            .map(|k| client_slot(word, (first as u32 + k) % TAB_SIZE as u32))
            .chain((0..TAB_SIZE).map(|k| (first + k) % TAB_SIZE))
            .find_map(|slot| self.server(candidates, slot))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::test_candidates;
    use proptest::prelude::*;
    use std::net::Ipv4Addr;

    const FALLBACK: SchedFlags = SchedFlags { fallback: true, port: false };

    fn client(i: u32) -> Client {
        Client {
            ip: Ipv4Addr::from_bits(0x6440_0000u32.wrapping_add(i.wrapping_mul(2_654_435_761))).into(),
            port: 1024 + (i % 60_000) as u16,
        }
    }

    fn shares(mh: &Maglev, n: usize) -> Vec<usize> {
        let mut shares = vec![0; n];
        mh.slots().for_each(|i| shares[i] += 1);
        shares
    }

    #[test]
    fn equal_weights_give_a_balanced_table() {
        for n in [1, 2, 3, 7, 16, 100, 256] {
            let mh = Maglev::new(SchedFlags::default(), &test_candidates(&vec![5; n]));
            let shares = shares(&mh, n);
            assert_eq!(shares.iter().sum::<usize>(), TAB_SIZE);
            let (lo, hi) = (TAB_SIZE / n, TAB_SIZE.div_ceil(n));
            assert!(shares.iter().all(|s| (lo..=hi).contains(s)), "{n}: {shares:?}");
        }
    }

    #[test]
    fn weights_are_proportional() {
        let mh = Maglev::new(SchedFlags::default(), &test_candidates(&[2, 4, 6, 0]));
        let shares = shares(&mh, 4);
        assert_eq!(shares[3], 0);
        let sixth = TAB_SIZE as f64 / 6.0;
        for (share, want) in shares.iter().zip([1.0, 2.0, 3.0]) {
            assert!((*share as f64 - want * sixth).abs() <= 3.0, "{shares:?}");
        }
        // Past 8 bits, weights are shifted: 65535 : 1 becomes 255 : 1.
        let mh = Maglev::new(SchedFlags::default(), &test_candidates(&[65535, 1]));
        let shares = super::tests::shares(&mh, 2);
        assert!((250..=262).contains(&shares[1]), "{shares:?}");
    }

    /// Fraction of `clients` whose real server (by key) differs between two server lists.
    fn moved(before: &[Candidate], after: &[Candidate], clients: u32) -> f64 {
        let (mut a, mut b) = (Maglev::new(SchedFlags::default(), before), Maglev::new(SchedFlags::default(), after));
        let moved = (0..clients)
            .filter(|&i| {
                let x = a.pick(before, client(i)).map(|s| before[s].key);
                let y = b.pick(after, client(i)).map(|s| after[s].key);
                x != y
            })
            .count();
        moved as f64 / f64::from(clients)
    }

    #[test]
    fn removing_one_of_n_moves_about_one_nth() {
        for n in [4, 10, 32] {
            let all = test_candidates(&vec![1; n]);
            let mut fewer = all.clone();
            fewer.remove(n / 2);
            let moved = moved(&all, &fewer, 20_000);
            let ideal = 1.0 / n as f64;
            assert!(moved >= ideal * 0.8 && moved <= ideal + 0.02, "{n}: {moved} vs {ideal}");
        }
    }

    #[test]
    fn same_table_in_every_process() {
        // Pinned slots: a change of hash or population order shows here (and would split two
        // directors running different builds).
        let mh = Maglev::new(SchedFlags::default(), &test_candidates(&[1, 2, 3]));
        let first: Vec<usize> = mh.slots().take(12).collect();
        assert_eq!(first, [2, 0, 2, 2, 2, 2, 1, 2, 2, 0, 2, 1]);
        let word = u64::from(Ipv4Addr::new(198, 51, 100, 9).to_bits()) << 16;
        assert_eq!([client_slot(word, 0), client_slot(word, 1)], [21160, 39947]);
    }

    #[test]
    fn same_client_same_server_and_mh_port() {
        let c = test_candidates(&[1; 8]);
        let mut mh = Maglev::new(SchedFlags::default(), &c);
        let mut with_port = Maglev::new(SchedFlags { port: true, ..SchedFlags::default() }, &c);
        let ip = Ipv4Addr::new(198, 51, 100, 9).into();
        let by_port: std::collections::HashSet<_> = (0..64)
            .map(|p| {
                let cl = Client { ip, port: 20000 + p };
                assert_eq!(mh.pick(&c, cl), mh.pick(&c, Client { port: 1, ..cl }));
                with_port.pick(&c, cl).unwrap()
            })
            .collect();
        assert!(by_port.len() >= 6, "{by_port:?}");
    }

    #[test]
    fn unavailable_server_without_and_with_fallback() {
        let mut c = test_candidates(&[1, 1, 1, 1]);
        let mut plain = Maglev::new(SchedFlags::default(), &c);
        let mut fallback = Maglev::new(FALLBACK, &c);
        let home: Vec<usize> = (0..2000).map(|i| plain.pick(&c, client(i)).unwrap()).collect();
        c[2].usable = false;
        let mut spread = [0; 4];
        for (i, &home) in (0..2000).zip(&home) {
            let got = fallback.pick(&c, client(i));
            if home == 2 {
                assert_eq!(plain.pick(&c, client(i)), None);
                spread[got.unwrap()] += 1;
            } else {
                assert_eq!(got, Some(home));
            }
        }
        assert_eq!(spread[2], 0);
        assert!(spread.iter().filter(|&&n| n > 60).count() == 3, "{spread:?}");
        c.iter_mut().for_each(|d| d.weight = 0);
        assert_eq!(fallback.pick(&c, client(1)), None);
    }

    #[test]
    fn degenerate_inputs() {
        let mut mh = Maglev::new(FALLBACK, &[]);
        assert_eq!(mh.pick(&[], client(0)), None);
        let zero = test_candidates(&[0, 0, 0]);
        assert_eq!(Maglev::new(FALLBACK, &zero).pick(&zero, client(0)), None);
        // Same key twice: both still own slots.
        let mut twins = test_candidates(&[1, 1]);
        twins[1].key = twins[0].key;
        let mh = Maglev::new(SchedFlags::default(), &twins);
        assert!(shares(&mh, 2).iter().all(|&s| s > 30_000));
        // Built with servers, picked with a shorter list: no panic.
        let c = test_candidates(&[1, 1, 1]);
        let mut mh = Maglev::new(FALLBACK, &c);
        for i in 0..100 {
            assert!(mh.pick(&c[..1], client(i)).is_none_or(|s| s == 0));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        #[test]
        fn picks_are_available_and_shares_follow_weights(
            weights in prop::collection::vec(0u32..=20, 1..12),
            down in prop::collection::vec(any::<bool>(), 12),
            fallback in any::<bool>(),
            clients in prop::collection::vec(any::<(u32, u16)>(), 50),
        ) {
            let mut c = test_candidates(&weights);
            let flags = SchedFlags { fallback, port: true };
            let mut mh = Maglev::new(flags, &c);
            let total: u32 = weights.iter().sum();
            let shares = shares(&mh, c.len());
            for (share, &w) in shares.iter().zip(&weights) {
                // Each round hands out sum(w/gcd) slots; the table ends mid-round.
                let want = TAB_SIZE as f64 * f64::from(w) / f64::from(total.max(1));
                prop_assert!((*share as f64 - want).abs() <= 20.0 + want * 0.001, "{:?}", shares);
            }
            for (d, &down) in c.iter_mut().zip(&down) {
                d.usable = !down;
            }
            let any_up = c.iter().any(|d| d.available());
            for &(ip, port) in &clients {
                let got = mh.pick(&c, Client { ip: Ipv4Addr::from_bits(ip).into(), port });
                if let Some(i) = got {
                    prop_assert!(c[i].available());
                }
                if fallback {
                    prop_assert_eq!(got.is_some(), any_up);
                }
            }
        }
    }
}
