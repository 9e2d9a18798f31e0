//! TODO(sched helper)
use super::{Candidate, Client, SchedFlags, Scheduler};
pub struct SourceHash;
impl SourceHash { pub fn new(_f: SchedFlags, _c: &[Candidate]) -> Self { SourceHash } }
impl Scheduler for SourceHash { fn pick(&mut self, _c: &[Candidate], _cl: Client) -> Option<usize> { todo!() } }
