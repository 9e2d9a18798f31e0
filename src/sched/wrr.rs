//! TODO(sched helper)
use super::{Candidate, Client, Scheduler};
pub struct WeightedRoundRobin;
impl WeightedRoundRobin { pub fn new(_c: &[Candidate]) -> Self { WeightedRoundRobin } }
impl Scheduler for WeightedRoundRobin { fn pick(&mut self, _c: &[Candidate], _cl: Client) -> Option<usize> { todo!() } }
