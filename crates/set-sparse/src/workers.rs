//! How many workers a kernel may split one call across.
//!
//! Every parallel kernel asks [`workers`] rather than rayon directly. Inside [`serial`] the
//! answer is one, so a caller that already runs independent pieces of work on separate rayon
//! workers (for example inference, one shard of the batch per worker) keeps each piece on its
//! own thread, with no fork-join inside it. The results do not depend on the answer: every
//! kernel gives the same bits for any number of workers.

use std::cell::Cell;

thread_local! {
    static SERIAL: Cell<bool> = const { Cell::new(false) };
}

/// The number of workers a kernel called on this thread may use: the current rayon pool's
/// threads, or 1 inside [`serial`].
///
/// ```
/// let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
/// pool.install(|| {
///     assert_eq!(set_sparse::workers::workers(), 2);
///     assert_eq!(set_sparse::workers::serial(set_sparse::workers::workers), 1);
///     assert_eq!(set_sparse::workers::workers(), 2);
/// });
/// ```
pub fn workers() -> usize {
    if SERIAL.get() {
        1
    } else {
        rayon::current_num_threads()
    }
}

/// Runs `f` with every kernel it calls on this thread single-threaded ([`workers`] is 1),
/// restoring the previous setting afterwards (also if `f` panics).
pub fn serial<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            SERIAL.set(self.0);
        }
    }
    let _restore = Restore(SERIAL.replace(true));
    f()
}
