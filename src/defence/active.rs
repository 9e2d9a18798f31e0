//! A filter in force: its rules, their matcher and the pipeline's hit counters, shared by the
//! workers through the snapshot (used on io = "packet"; the XDP filter keeps its own counters).

use std::net::IpAddr;

use super::{FilterRules, Matcher};
use crate::cells::{Counter, PerWorker};

#[derive(Debug)]
pub struct Filter {
    rules: FilterRules,
    matcher: Matcher,
    /// Per rule (at its index), per worker: how often it decided, since this filter came in force.
    hits: Vec<PerWorker<Counter>>,
}

/// What the filter says about a packet to a VIP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Pass,
    /// A deny rule names its source.
    Denied,
    /// No rule names its source, and there is an allow list.
    NotAllowed,
}

impl Filter {
    pub fn new(rules: FilterRules, workers: usize) -> Filter {
        let matcher = Matcher::new(&rules);
        let hits = rules.rules().iter().map(|_| PerWorker::new(workers)).collect();
        Filter { rules, matcher, hits }
    }

    pub fn rules(&self) -> &FilterRules {
        &self.rules
    }

    /// Decides for `source`, counting the deciding rule's hit on `worker`'s counter.
    #[inline]
    pub fn decide(&self, worker: usize, source: IpAddr) -> Decision {
        if self.rules.rules().is_empty() {
            return Decision::Pass;
        }
        match self.matcher.allows(&self.rules, source) {
            (allowed, Some(index)) => {
                self.hits[index].get(worker).add(1);
                if allowed {
                    Decision::Pass
                } else {
                    Decision::Denied
                }
            }
            (true, None) => Decision::Pass,
            (false, None) => Decision::NotAllowed,
        }
    }

    /// The pipeline's hits per rule, summed over the workers.
    pub fn hits(&self) -> Vec<u64> {
        self.hits.iter().map(|per| per.sum(|c| c)).collect()
    }
}
