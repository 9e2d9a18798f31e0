//! TODO(sched helper)
use super::{Candidate, Client, SchedFlags, Scheduler};
pub struct Maglev;
impl Maglev { pub fn new(_f: SchedFlags, _c: &[Candidate]) -> Self { Maglev } }
impl Scheduler for Maglev { fn pick(&mut self, _c: &[Candidate], _cl: Client) -> Option<usize> { todo!() } }
