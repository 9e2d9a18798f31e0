//! TODO(sched helper)
use super::{Candidate, Client, Scheduler};
pub struct LeastConnection;
impl LeastConnection { pub fn new(_c: &[Candidate]) -> Self { LeastConnection } }
impl Scheduler for LeastConnection { fn pick(&mut self, _c: &[Candidate], _cl: Client) -> Option<usize> { todo!() } }
