//! Locking std `Mutex`es and `RwLock`s that another task may have poisoned.
//!
//! A lock is poisoned when a thread panicked while holding it. Everything ferrolb keeps behind
//! one (status cells, the peer directory, the L2 and BFD tables) stays consistent at every
//! statement boundary, so the value is still the best there is: these helpers take the guard
//! back ([`PoisonError::into_inner`]) instead of skipping the update or panicking in turn, log
//! at error level which lock it was, and clear the poison, so a poisoning is logged once and
//! the next lock is a plain one again.

use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

fn poisoned(what: &str) {
    tracing::error!(
        lock = what,
        "a task panicked while holding this lock; carrying on with its value as it was left"
    );
}

/// Locks `m`, recovering it if it was poisoned. `what` names the lock in the log.
pub fn lock<'a, T>(m: &'a Mutex<T>, what: &str) -> MutexGuard<'a, T> {
    m.lock().unwrap_or_else(|e: PoisonError<_>| {
        poisoned(what);
        m.clear_poison();
        e.into_inner()
    })
}

/// Read-locks `l`, recovering it if it was poisoned. `what` names the lock in the log.
pub fn read<'a, T>(l: &'a RwLock<T>, what: &str) -> RwLockReadGuard<'a, T> {
    l.read().unwrap_or_else(|e| {
        poisoned(what);
        l.clear_poison();
        e.into_inner()
    })
}

/// Write-locks `l`, recovering it if it was poisoned. `what` names the lock in the log.
pub fn write<'a, T>(l: &'a RwLock<T>, what: &str) -> RwLockWriteGuard<'a, T> {
    l.write().unwrap_or_else(|e| {
        poisoned(what);
        l.clear_poison();
        e.into_inner()
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    /// Panics in another thread while holding the lock that `hold` takes.
    fn poison_with<L: Send + Sync + 'static>(l: &Arc<L>, hold: fn(&L)) {
        let l = Arc::clone(l);
        let joined = std::thread::spawn(move || hold(&l)).join();
        assert!(joined.is_err(), "the thread was meant to panic");
    }

    #[test]
    fn a_mutex_poisoned_by_a_panicking_thread_is_still_usable_with_its_value() {
        let m = Arc::new(Mutex::new(vec![1]));
        poison_with(&m, |m| {
            let mut v = m.lock().expect("not poisoned yet");
            v.push(2);
            panic!("while holding the lock");
        });
        assert!(m.is_poisoned());
        lock(&m, "test").push(3);
        assert_eq!(*lock(&m, "test"), vec![1, 2, 3]);
        assert!(!m.is_poisoned(), "logged once, then a plain lock again");
    }

    #[test]
    fn a_poisoned_rwlock_is_still_readable_and_writable_with_its_value() {
        let l = Arc::new(RwLock::new(String::from("a")));
        poison_with(&l, |l| {
            l.write().expect("not poisoned yet").push('b');
            let _held = l.write().expect("not poisoned yet");
            panic!("while holding the lock");
        });
        assert!(l.is_poisoned());
        assert_eq!(*read(&l, "test"), "ab");
        assert!(!l.is_poisoned());
        poison_with(&l, |l| {
            let _held = l.write().expect("not poisoned any more");
            panic!("poisoned again");
        });
        write(&l, "test").push('c');
        assert_eq!(*read(&l, "test"), "abc");
    }
}
