//! Lock poisoning, handled one way: a mutex whose holder panicked is used as it is.
//!
//! Every value behind our mutexes (a layout writer's staged list, counters, the first
//! error of a pool) stays consistent between statements, and a panic on a worker
//! thread is re-raised by rayon or the thread scope anyway; refusing the lock would only
//! turn one panic into two.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `m`, whether or not a previous holder panicked.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Takes the value out of `m`, whether or not a previous holder panicked.
pub(crate) fn into_inner<T>(m: Mutex<T>) -> T {
    m.into_inner().unwrap_or_else(PoisonError::into_inner)
}
