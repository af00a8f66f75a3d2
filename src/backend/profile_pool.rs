//! The threads a stage is profiled on, which may still be starting when its profile begins.
//!
//! A profile times work on a pool's threads side by side to measure the speedup: a thread not
//! yet running would leave its share to the others, and the speedup would look perfect. So
//! every thread must have run before the first such timing. But new threads are slow to
//! start on this project's VM (their first task ran 218-567 us after the pool's start in
//! session 15's trace of a 3 ms job), and waiting for them before the profile began cost
//! `auto` that time on its critical path, where the `threads` backend starts working on the
//! threads up and lets the others join. [`ProfilePool::running`] waits when a profile first
//! needs every thread, after the work it can do without them (reading a table's head,
//! parsing a part on its own thread), and keeps the time it waited: that is the pool's start,
//! which every `threads` candidate pays too, not the profile's.

use std::cell::Cell;
use std::time::{Duration, Instant};

/// A pool whose threads may still be starting, lent to a profile.
pub struct ProfilePool<'a> {
    pool: &'a rayon::ThreadPool,
    /// Whether every thread has been seen running (once is enough: later work wakes them).
    up: Cell<bool>,
    /// Time [`ProfilePool::running`] waited for threads to start.
    waited: Cell<Duration>,
}

impl<'a> ProfilePool<'a> {
    /// `pool`, whose threads are all known to be running if `up`.
    pub fn new(pool: &'a rayon::ThreadPool, up: bool) -> Self {
        ProfilePool { pool, up: Cell::new(up), waited: Cell::new(Duration::ZERO) }
    }

    /// Its threads, running or not.
    pub fn threads(&self) -> usize {
        self.pool.current_num_threads()
    }

    /// The pool with every thread running, for work a profile times on it: the first call
    /// waits for the threads still starting.
    pub fn running(&self) -> &'a rayon::ThreadPool {
        if !self.up.get() {
            let at = Instant::now();
            self.pool.broadcast(|_| ());
            self.waited.set(self.waited.get() + at.elapsed());
            self.up.set(true);
        }
        self.pool
    }

    /// Whether every thread has been seen running.
    pub fn is_up(&self) -> bool {
        self.up.get()
    }

    /// How long [`ProfilePool::running`] waited for threads to start.
    pub fn waited(&self) -> Duration {
        self.waited.get()
    }
}

/// Bytes each thread of a profile's pool allocates and touches as it starts ([`warm_up`]).
const WARM_UP_BYTES: usize = 64 << 10;

/// Starts a pool of `threads` for profiles, its threads warmed up as they start ([`warm_up`]).
pub(crate) fn start(threads: usize) -> crate::error::Result<std::sync::Arc<rayon::ThreadPool>> {
    let pool = super::thread_pool(threads, false)?;
    warm_up(&pool);
    Ok(std::sync::Arc::new(pool))
}

/// Has every thread of `pool` allocate and touch a small buffer as soon as it starts, before a
/// profile times work on it; returns at once.
///
/// A thread's first work ran slower than its later work: in the sampling profile of a
/// 30-subject, 5-item export (its budget lifted in a trace build, so that all six parts ran),
/// the first piece parsed on the pool took 1.34-1.65 ns per byte (medians of 60 runs) against
/// 0.79-0.94 for the pool's later pieces, and the median speedup
/// of two threads measured 1.50 (lowest 1.02, and auto then chose to sample serially). With
/// this warm-up, run while the admissions are read: 1.18-1.25 ns per byte for that piece, a
/// median speedup of 1.77-1.88 (lowest 1.36-1.39). Among what a thread does once is setting up
/// its allocator's arena on its first allocation, which this triggers.
fn warm_up(pool: &rayon::ThreadPool) {
    pool.spawn_broadcast(|_| {
        let buffer = vec![1u8; WARM_UP_BYTES];
        std::hint::black_box(&buffer);
        #[cfg(test)]
        tests::WARMED.set(true);
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Condvar, Mutex};

    /// Holds threads back until opened, or for 10 s at most: a test that waits for them
    /// behind a gate it has not opened yet fails after those 10 s instead of hanging.
    #[derive(Default)]
    struct Gate {
        open: Mutex<bool>,
        opened: Condvar,
    }

    impl Gate {
        fn open(&self) {
            *self.open.lock().unwrap() = true;
            self.opened.notify_all();
        }

        fn pass(&self) {
            let open = self.open.lock().unwrap();
            let limit = Duration::from_secs(10);
            drop(self.opened.wait_timeout_while(open, limit, |open| !*open).unwrap());
        }
    }

    /// A pool of `threads` whose threads each start once `gate` opens, and a count of those
    /// started.
    fn gated_pool(threads: usize, gate: &Arc<Gate>) -> (rayon::ThreadPool, Arc<AtomicUsize>) {
        let started = Arc::new(AtomicUsize::new(0));
        let count = started.clone();
        let gate = gate.clone();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .start_handler(move |_| {
                gate.pass();
                count.fetch_add(1, Ordering::SeqCst);
            })
            .build()
            .unwrap();
        (pool, started)
    }

    #[test]
    fn running_waits_once_for_every_thread_and_keeps_the_wait() {
        let gate = Arc::new(Gate::default());
        let (pool, started) = gated_pool(3, &gate);
        let lent = ProfilePool::new(&pool, false);
        assert_eq!(lent.threads(), 3);
        assert!(!lent.is_up() && lent.waited() == Duration::ZERO, "nothing waited for yet");
        assert_eq!(started.load(Ordering::SeqCst), 0, "no thread past the gate");
        let opener = {
            let gate = gate.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(30));
                gate.open();
            })
        };
        let at = Instant::now();
        lent.running();
        let outside = at.elapsed();
        opener.join().unwrap();
        assert_eq!(started.load(Ordering::SeqCst), 3, "every thread ran before it returned");
        assert!(lent.is_up());
        let waited = lent.waited();
        assert!(waited > Duration::ZERO && waited <= outside, "{waited:?} of {outside:?}");
        lent.running();
        assert_eq!(lent.waited(), waited, "a pool seen running is not waited for again");
    }

    thread_local!(pub(super) static WARMED: Cell<bool> = const { Cell::new(false) });

    #[test]
    fn warming_up_runs_on_every_thread_without_waiting_for_them() {
        let gate = Arc::new(Gate::default());
        let (pool, started) = gated_pool(3, &gate);
        warm_up(&pool);
        // Had it waited for them, the threads would have passed the gate after its 10 s.
        assert_eq!(started.load(Ordering::SeqCst), 0, "returned before the threads started");
        gate.open();
        // Queued after the warm-up on each thread.
        assert_eq!(pool.broadcast(|_| WARMED.get()), vec![true; 3], "every thread warmed up");
    }

    #[test]
    fn a_pool_known_to_be_up_is_not_waited_for() {
        let gate = Arc::new(Gate::default());
        let (pool, started) = gated_pool(2, &gate);
        gate.open();
        pool.broadcast(|_| ());
        assert_eq!(started.load(Ordering::SeqCst), 2);
        let lent = ProfilePool::new(&pool, true);
        lent.running();
        assert_eq!(lent.waited(), Duration::ZERO, "no trip through the pool");
    }
}
