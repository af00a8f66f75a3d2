//! What the machine's CPUs are, asked once when the process starts: their features and the
//! cores this process may use.
//!
//! The SIMD scans (`bytecount`, `memchr`, the CSV classifier) ask the CPU which instructions it
//! has the first time they run, and `std` keeps the answer for the process. On a virtual
//! machine each CPUID instruction exits to the hypervisor: the first question took 41-47 us on
//! this VM (a ten-line program, four runs), and 20-30 ns once answered. Asked at start-up,
//! before any clock runs, it is not charged to whichever stage happens to scan first: under
//! `--backend auto` that was the sampling profile, a fifth of its time on a 6 MB export.
//!
//! The cores available (`std::thread::available_parallelism`) are read from the affinity mask
//! and the cgroup's CPU quota: three files opened and read, 72-117 us on this VM (timed in a
//! `bench-job` process, five runs). Every job of the default command line needs them (the
//! backend `auto` and `--workers 0` size their pools by them); read at start-up, they are not
//! charged to `auto`'s selector, which asked first.

/// Asks the CPU for its features now, so that no later measurement pays for it.
pub fn detect() {
    #[cfg(target_arch = "x86_64")]
    {
        let _ = std::is_x86_feature_detected!("avx2");
    }
}

/// Reads the cores this process may use now ([`crate::backend::available_cores`] keeps them).
pub fn count_cores() {
    let _ = crate::backend::available_cores();
}
