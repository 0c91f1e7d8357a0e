//! Flush-to-zero / denormals-are-zero for the threads that do the math.
//!
//! Back-propagation through hundreds of steps drives gradients into the subnormal range, where
//! every x86 float operation is many times slower. Setting MXCSR's FTZ and DAZ bits makes such
//! values zero. [`build_thread_pool`] sets them on the calling thread and in every rayon worker.

/// MXCSR bits: flush-to-zero (bit 15) and denormals-are-zero (bit 6).
pub const FTZ_DAZ: u32 = 0x8040;

/// Sets (or clears) FTZ and DAZ on the calling thread; returns whether they were set before.
/// A no-op returning `false` on non-x86-64 targets.
pub fn set_flush_denormals(on: bool) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        let mut csr: u32 = 0;
        // SAFETY: stmxcsr stores the 32-bit MXCSR register into the pointed-to u32.
        unsafe { std::arch::asm!("stmxcsr [{}]", in(reg) &mut csr, options(nostack)) };
        let before = csr & FTZ_DAZ == FTZ_DAZ;
        let new = if on { csr | FTZ_DAZ } else { csr & !FTZ_DAZ };
        // SAFETY: ldmxcsr loads a valid MXCSR value (we only changed the FTZ and DAZ bits).
        unsafe { std::arch::asm!("ldmxcsr [{}]", in(reg) &new, options(nostack)) };
        before
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = on;
        false
    }
}

/// Whether FTZ and DAZ are set on the calling thread.
pub fn flush_denormals_enabled() -> bool {
    let before = set_flush_denormals(true);
    set_flush_denormals(before);
    before
}

/// Builds a rayon pool of `threads` workers (0 = one per core) with FTZ/DAZ set in every worker
/// (when `flush` is true), and sets it on the calling thread too.
///
/// ```
/// let pool = set_sparse::denormal::build_thread_pool(2, true).unwrap();
/// assert!(pool.install(set_sparse::denormal::flush_denormals_enabled));
/// ```
///
/// # Errors
/// If rayon cannot create the threads.
pub fn build_thread_pool(
    threads: usize,
    flush: bool,
) -> Result<rayon::ThreadPool, rayon::ThreadPoolBuildError> {
    set_flush_denormals(flush);
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .start_handler(move |_| {
            set_flush_denormals(flush);
        })
        .build()
}
