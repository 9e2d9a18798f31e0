//! Real-server schedulers, with the semantics IPVS documents (ipvsadm(8), net/netfilter/ipvs/ip_vs_*.c).
//!
//! A scheduler is built from the real servers of one service as they stand in a snapshot (weights,
//! usability) and then asked to `pick` one for each new connection. The dynamic load (active and
//! inactive connections) is passed in at pick time, so `lc`/`wlc` see live counts. Each worker owns its
//! own scheduler instances (no sharing, no locks); they are rebuilt whenever a new snapshot arrives.
//!
//! Shared semantics: weight 0 means quiescent (existing connections keep their real server, no new
//! ones); a real server that is not `usable` (MAC unknown, later: health check down) is never picked;
//! `None` means no usable real server, which the caller counts as a drop.

pub mod cycle;
mod lc;
mod mh;
mod rr;
mod sh;
mod wlc;
mod wrr;

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

/// Greatest common divisor, with gcd(0, x) = x: folding it over weights gives IPVS's step (wrr) and
/// the divisor that scales weights into turns (mh).
fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// What a scheduler sees of one real server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// 0 = quiescent.
    pub weight: u32,
    /// False while the real server cannot receive (MAC unresolved, health down).
    pub usable: bool,
    /// ESTABLISHED connections (IPVS activeconns).
    pub active: u32,
    /// Every other tracked connection (IPVS inactconns).
    pub inactive: u32,
    /// A stable identity of the real server, the same in every snapshot and on every director
    /// (use [`Candidate::key_of`]). Consistent hashing (`mh`) places real servers by it, so a real
    /// server keeps its slots when others come and go.
    pub key: u64,
}

impl Candidate {
    /// Whether the real server may take new connections at all.
    pub fn available(&self) -> bool {
        self.usable && self.weight > 0
    }

    /// The `key` of the real server at `addr`: what IPVS's mh hashes (address and port). IPv4:
    /// address and port side by side. IPv6: a fixed mix of the address's halves with the port
    /// (never a per-process random hash: every director must place a real server alike).
    pub const fn key_of(addr: SocketAddr) -> u64 {
        match addr {
            SocketAddr::V4(addr) => ((addr.ip().to_bits() as u64) << 16) | addr.port() as u64,
            SocketAddr::V6(addr) => {
                let bits = addr.ip().to_bits();
                mix64(mix64((bits >> 64) as u64) ^ bits as u64) ^ addr.port() as u64
            }
        }
    }
}

/// splitmix64's finalizer: a fixed bijective mix of all 64 bits.
const fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The client side of the new connection: what hashing schedulers hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Client {
    pub ip: IpAddr,
    pub port: u16,
}

impl Client {
    /// The address folded to 32 bits as IPVS's sh and mh fold it (`ip_vs_sh_hashkey`,
    /// `ip_vs_mh_hashkey`): an IPv4 address as it is, an IPv6 one as the XOR of its four 32-bit
    /// words.
    #[inline]
    pub fn folded(&self) -> u32 {
        match self.ip {
            IpAddr::V4(ip) => ip.to_bits(),
            IpAddr::V6(ip) => {
                let bits = ip.to_bits();
                (bits >> 96) as u32 ^ (bits >> 64) as u32 ^ (bits >> 32) as u32 ^ bits as u32
            }
        }
    }
}

/// Picks a real server for each new connection.
pub trait Scheduler: Send {
    /// The index into `candidates` of the real server for a new connection from `client`, or `None`
    /// when no real server is available. `candidates` has the same length and order as the slice the
    /// scheduler was built from; only `active`/`inactive` may differ between calls.
    fn pick(&mut self, candidates: &[Candidate], client: Client) -> Option<usize>;
}

/// Options some schedulers take (ipvsadm `-b`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SchedFlags {
    /// sh-fallback / mh-fallback: when the hashed real server is unavailable, try the next one.
    pub fallback: bool,
    /// sh-port / mh-port: hash the client's source port too.
    pub port: bool,
}

/// The closed set of scheduling algorithms, spelled as ipvsadm spells them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SchedulerKind {
    Rr,
    Wrr,
    Lc,
    Wlc,
    Sh,
    Mh,
}

impl SchedulerKind {
    pub const ALL: [SchedulerKind; 6] = [
        SchedulerKind::Rr,
        SchedulerKind::Wrr,
        SchedulerKind::Lc,
        SchedulerKind::Wlc,
        SchedulerKind::Sh,
        SchedulerKind::Mh,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            SchedulerKind::Rr => "rr",
            SchedulerKind::Wrr => "wrr",
            SchedulerKind::Lc => "lc",
            SchedulerKind::Wlc => "wlc",
            SchedulerKind::Sh => "sh",
            SchedulerKind::Mh => "mh",
        }
    }

    /// Whether `pick` reads `active`/`inactive` (callers may skip gathering them otherwise).
    pub const fn uses_load(self) -> bool {
        matches!(self, SchedulerKind::Lc | SchedulerKind::Wlc)
    }

    /// Builds a scheduler for the real servers as they are in `candidates`.
    pub fn build(self, flags: SchedFlags, candidates: &[Candidate]) -> Box<dyn Scheduler> {
        match self {
            SchedulerKind::Rr => Box::new(rr::RoundRobin::new(candidates)),
            SchedulerKind::Wrr => Box::new(wrr::WeightedRoundRobin::new(candidates)),
            SchedulerKind::Lc => Box::new(lc::LeastConnection::new(candidates)),
            SchedulerKind::Wlc => Box::new(wlc::WeightedLeastConnection::new(candidates)),
            SchedulerKind::Sh => Box::new(sh::SourceHash::new(flags, candidates)),
            SchedulerKind::Mh => Box::new(mh::Maglev::new(flags, candidates)),
        }
    }
}

impl fmt::Display for SchedulerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SchedulerKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SchedulerKind::ALL
            .into_iter()
            .find(|kind| kind.name() == s)
            .ok_or_else(|| format!("unknown scheduler {s:?} (expected one of rr, wrr, lc, wlc, sh, mh)"))
    }
}

/// Candidates with the given weights, usable and idle, keyed 10.0.0.(i+1):80, for tests.
#[cfg(test)]
pub(crate) fn test_candidates(weights: &[u32]) -> Vec<Candidate> {
    weights
        .iter()
        .enumerate()
        .map(|(i, &weight)| Candidate {
            weight,
            usable: true,
            active: 0,
            inactive: 0,
            key: Candidate::key_of(SocketAddr::new(std::net::Ipv4Addr::from_bits(0x0a00_0001 + i as u32).into(), 80)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn addresses_fold_as_ipvs_folds_them() {
        let v4 = Client { ip: Ipv4Addr::new(192, 0, 2, 1).into(), port: 1 };
        assert_eq!(v4.folded(), 0xc000_0201);
        // 2001:0db8:0000:0000:0000:0000:0000:0001 → 0x20010db8 ^ 0 ^ 0 ^ 1.
        let v6 = Client { ip: "2001:db8::1".parse::<Ipv6Addr>().unwrap().into(), port: 1 };
        assert_eq!(v6.folded(), 0x2001_0db9);
    }

    #[test]
    fn real_server_keys_are_stable_and_distinct() {
        let v4 = SocketAddr::new(Ipv4Addr::new(10, 0, 0, 11).into(), 80);
        assert_eq!(Candidate::key_of(v4), 0x0a00_000b_0050, "IPv4: address and port, as before");
        let v6 = |last: u16, port| SocketAddr::new(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, last).into(), port);
        assert_eq!(Candidate::key_of(v6(0x11, 80)), Candidate::key_of(v6(0x11, 80)));
        let keys: std::collections::HashSet<u64> =
            (0..1000).flat_map(|i| [Candidate::key_of(v6(i, 80)), Candidate::key_of(v6(i, 81))]).collect();
        assert_eq!(keys.len(), 2000);
    }

    fn candidates() -> impl Strategy<Value = Vec<Candidate>> {
        // Up to 300 real servers, weights up to 65535, random load and health.
        let one = (0u32..=65535, any::<bool>(), any::<u32>(), any::<u32>(), any::<u64>());
        prop::collection::vec(one, 0..300).prop_map(|v| {
            v.into_iter()
                .map(|(weight, usable, active, inactive, key)| Candidate {
                    weight: if weight % 4 == 0 { 0 } else { weight },
                    usable,
                    active,
                    inactive,
                    key,
                })
                .collect()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Every scheduler, on any input: picks only available servers and never panics. The
        /// non-hashing ones (and mh with fallback) find a server whenever one is available.
        #[test]
        fn picks_are_available(
            c in candidates(),
            kind in prop::sample::select(SchedulerKind::ALL.to_vec()),
            fallback in any::<bool>(),
            port in any::<bool>(),
            clients in prop::collection::vec(any::<(u32, u16)>(), 20),
        ) {
            let mut s = kind.build(SchedFlags { fallback, port }, &c);
            let any_up = c.iter().any(Candidate::available);
            for (ip, port) in clients {
                let got = s.pick(&c, Client { ip: std::net::Ipv4Addr::from_bits(ip).into(), port });
                if let Some(i) = got {
                    prop_assert!(c[i].available());
                }
                let complete = match kind {
                    SchedulerKind::Sh => false,
                    SchedulerKind::Mh => fallback,
                    _ => true,
                };
                if complete {
                    prop_assert_eq!(got.is_some(), any_up);
                }
            }
        }
    }
}
