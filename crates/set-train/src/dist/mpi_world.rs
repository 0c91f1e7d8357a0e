//! [`Collective`] on MPI (the `mpi` cargo feature, rsmpi on the system's MPI library).

use super::Collective;
use crate::error::TrainError;
use mpi::Threading;
use mpi::collective::SystemOperation;
use mpi::environment::Universe;
use mpi::topology::SimpleCommunicator;
use mpi::traits::{Communicator, CommunicatorCollectives, Root};
use std::sync::{Arc, Mutex};

/// The world communicator. MPI is initialised with `MPI_THREAD_SERIALIZED`: the training loop
/// runs on a rayon worker, not the thread that initialised MPI, and the mutex makes every call
/// one at a time.
struct MpiWorld {
    comm: Mutex<SendComm>,
    rank: usize,
    size: usize,
}

/// A communicator handle that may move between threads (allowed by `MPI_THREAD_SERIALIZED`,
/// which [`init`] requires; all calls go through `MpiWorld`'s mutex).
struct SendComm(SimpleCommunicator);

// SAFETY: MPI was initialised with at least MPI_THREAD_SERIALIZED (checked in `init`), so any
// thread may make MPI calls as long as no two do so at once; the only access is through the
// `Mutex` in `MpiWorld`.
unsafe impl Send for SendComm {}

impl MpiWorld {
    fn with<T>(&self, f: impl FnOnce(&SimpleCommunicator) -> T) -> T {
        let guard = self
            .comm
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&guard.0)
    }
}

impl Collective for MpiWorld {
    fn rank(&self) -> usize {
        self.rank
    }
    fn size(&self) -> usize {
        self.size
    }
    fn broadcast_bytes(&self, bytes: &mut Vec<u8>) {
        self.with(|c| {
            let root = c.process_at_rank(0);
            let mut len = bytes.len() as u64;
            root.broadcast_into(&mut len);
            bytes.resize(len as usize, 0);
            // OpenMPI rejects the dangling pointer of an empty buffer; every rank knows the
            // length by now, so all skip the second call together.
            if len > 0 {
                root.broadcast_into(&mut bytes[..]);
            }
        });
    }
    fn sum_f32(&self, send: &[f32], recv: &mut [f32]) {
        self.with(|c| c.all_reduce_into(send, recv, SystemOperation::sum()));
    }
    fn sum_f64(&self, values: &mut [f64]) {
        let send = values.to_vec();
        self.with(|c| c.all_reduce_into(&send[..], values, SystemOperation::sum()));
    }
    fn all_gather_u64(&self, value: u64) -> Vec<u64> {
        let mut all = vec![0u64; self.size];
        self.with(|c| c.all_gather_into(&value, &mut all[..]));
        all
    }
    fn abort(&self, code: i32) -> ! {
        abort_world(code)
    }
}

/// `MPI_Abort` on the world communicator: ends every rank of the job.
fn abort_world(code: i32) -> ! {
    SimpleCommunicator::world().abort(code)
}

/// Initialises MPI; with more than one rank, a panic anywhere (any thread, any rank) prints
/// its message and aborts the whole job with exit code 101 instead of leaving the other ranks
/// waiting in a collective.
pub(super) fn init() -> Result<(Universe, Arc<dyn Collective>), TrainError> {
    let Some((universe, provided)) = mpi::initialize_with_threading(Threading::Serialized) else {
        return Err(TrainError::Distributed(
            "MPI was already initialised".into(),
        ));
    };
    if provided < Threading::Serialized {
        return Err(TrainError::Distributed(format!(
            "the MPI library offers thread level {provided:?}; set-lstm needs Serialized"
        )));
    }
    let world = universe.world();
    let (rank, size) = (world.rank() as usize, world.size() as usize);
    if size > 1 {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            eprintln!("rank {rank} panicked; aborting the MPI job");
            previous(info);
            abort_world(101);
        }));
    }
    let comm = MpiWorld {
        comm: Mutex::new(SendComm(world)),
        rank,
        size,
    };
    Ok((universe, Arc::new(comm)))
}
