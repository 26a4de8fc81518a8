//! The one policy for poisoned mutexes: recover the data and go on. What the product guards
//! with a mutex (request counters, rate-limit estimates, caches) stays consistent after a
//! panic in another task, and one panicking task must not take every other one down.

use std::sync::{Mutex, MutexGuard};

/// `lock()` that recovers a poisoned mutex instead of panicking.
pub trait LockExt<T> {
    /// The guard, also when another thread panicked while holding it.
    fn lock_or_recover(&self) -> MutexGuard<'_, T>;
}

impl<T> LockExt<T> for Mutex<T> {
    fn lock_or_recover(&self) -> MutexGuard<'_, T> {
        self.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poisoned_mutex_still_hands_out_its_data() {
        let m = std::sync::Arc::new(Mutex::new(1));
        let m2 = m.clone();
        let _ = std::thread::spawn(move || {
            let _g = m2.lock_or_recover();
            panic!("poison it");
        })
        .join();
        assert!(m.is_poisoned());
        *m.lock_or_recover() += 1;
        assert_eq!(*m.lock_or_recover(), 2);
    }
}
