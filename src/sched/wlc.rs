//! TODO(sched helper)
use super::{Candidate, Client, Scheduler};
pub struct WeightedLeastConnection;
impl WeightedLeastConnection { pub fn new(_c: &[Candidate]) -> Self { WeightedLeastConnection } }
impl Scheduler for WeightedLeastConnection { fn pick(&mut self, _c: &[Candidate], _cl: Client) -> Option<usize> { todo!() } }
