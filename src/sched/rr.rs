//! TODO(sched helper)
use super::{Candidate, Client, Scheduler};
pub struct RoundRobin;
impl RoundRobin { pub fn new(_c: &[Candidate]) -> Self { RoundRobin } }
impl Scheduler for RoundRobin { fn pick(&mut self, _c: &[Candidate], _cl: Client) -> Option<usize> { todo!() } }
