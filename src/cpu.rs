//! The CPU's features, asked once when the process starts.
//!
//! The SIMD scans (`bytecount`, `memchr`, the CSV classifier) ask the CPU which instructions it
//! has the first time they run, and `std` keeps the answer for the process. On a virtual
//! machine each CPUID instruction exits to the hypervisor: the first question took 41-47 us on
//! this VM (a ten-line program, four runs), and 20-30 ns once answered. Asked at start-up,
//! before any clock runs, it is not charged to whichever stage happens to scan first: under
//! `--backend auto` that was the sampling profile, a fifth of its time on a 6 MB export.

/// Asks the CPU for its features now, so that no later measurement pays for it.
pub fn detect() {
    #[cfg(target_arch = "x86_64")]
    {
        let _ = std::is_x86_feature_detected!("avx2");
    }
}
