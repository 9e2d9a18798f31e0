//! A value one thread publishes and others load: control's snapshot for the workers (RCU style).
//!
//! A reader checks [`Published::generation`] once per batch (one atomic load) and takes the lock
//! only when it changed; the publisher swaps in a new `Arc` whole, so a reader holds the old value
//! for as long as it likes and never sees half of a new one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// What a published value says about its own age: greater means newer.
pub trait Versioned {
    fn generation(&self) -> u64;
}

/// The cell. See the module docs.
#[derive(Debug)]
pub struct Published<T> {
    generation: AtomicU64,
    current: Mutex<Arc<T>>,
}

impl<T: Versioned> Published<T> {
    pub fn new(value: T) -> Published<T> {
        Published { generation: AtomicU64::new(value.generation()), current: Mutex::new(Arc::new(value)) }
    }

    /// The generation of the value a `load` now returns.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn load(&self) -> Arc<T> {
        Arc::clone(&self.current.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }

    pub fn publish(&self, value: T) {
        let generation = value.generation();
        *self.current.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(value);
        self.generation.store(generation, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Value(u64);

    impl Versioned for Value {
        fn generation(&self) -> u64 {
            self.0
        }
    }

    #[test]
    fn a_reader_keeps_its_value_while_a_new_one_is_published() {
        let cell = Published::new(Value(1));
        let held = cell.load();
        cell.publish(Value(2));
        assert_eq!((held.0, cell.generation(), cell.load().0), (1, 2, 2));
    }
}
