//! Process groups for data-parallel training (`nn_comm`, nn.h group "comm").
//!
//! ```no_run
//! use nn::{Comm, FitOptions, Loss};
//! let comm = Comm::world()?;                    // MPI_COMM_WORLD; libnn initialises MPI if needed
//! println!("rank {} of {}", comm.rank(), comm.size());
//! // model.fit(&mut opt, &x_shard, &y_shard,
//! //           &FitOptions { comm: Some(&comm), batch_size: 32, ..Default::default() })?;
//! # Ok::<(), nn::Error>(())
//! ```
//! Run the program with `mpirun -np 2 ./program`. Every method but `rank` and
//! `size` is collective: all ranks call it in the same order. Without
//! libnn_mpi.so or an MPI runtime, [`Comm::world`] fails with
//! [`Status::Unsupported`](crate::Status::Unsupported) saying which is missing.

use std::fmt;
use std::os::raw::c_void;
use std::ptr::NonNull;

use crate::{check, new_handle, sys, Model, ReduceOp, Result, Tensor};

/// A group of processes over an MPI communicator (`nn_comm`); freed on drop
/// (collectively, like `MPI_Comm_free`).
pub struct Comm {
    ptr: NonNull<sys::nn_comm>,
}

// SAFETY: the handle is immutable after creation; MPI serialises the
// collectives (a Comm is used by one thread at a time: &self methods that
// communicate are documented as collective, and libnn asks MPI for
// MPI_THREAD_SERIALIZED, so callers must not overlap them).
unsafe impl Send for Comm {}

impl Comm {
    /// A group over MPI_COMM_WORLD (`nn_comm_mpi(NULL, ..)`).
    pub fn world() -> Result<Comm> {
        // SAFETY: NULL selects MPI_COMM_WORLD; valid out pointer.
        let ptr = new_handle(|out| unsafe { sys::nn_comm_mpi(std::ptr::null(), out) })?;
        Ok(Comm { ptr })
    }

    /// A group over the `MPI_Comm` at `mpi_comm` (duplicated by libnn).
    ///
    /// # Safety
    /// `mpi_comm` points at a valid `MPI_Comm` handle of the MPI library
    /// libnn_mpi.so uses, alive for the call.
    pub unsafe fn from_mpi_comm(mpi_comm: *const c_void) -> Result<Comm> {
        // SAFETY: the caller's promise.
        let ptr = new_handle(|out| unsafe { sys::nn_comm_mpi(mpi_comm, out) })?;
        Ok(Comm { ptr })
    }

    /// The raw handle (still owned by `self`).
    pub fn as_ptr(&self) -> *const sys::nn_comm {
        self.ptr.as_ptr()
    }

    /// This process's rank, `0..size()`.
    pub fn rank(&self) -> i32 {
        // SAFETY: valid handle.
        unsafe { sys::nn_comm_rank(self.as_ptr()) }
    }

    /// Number of processes in the group.
    pub fn size(&self) -> i32 {
        // SAFETY: valid handle.
        unsafe { sys::nn_comm_size(self.as_ptr()) }
    }

    /// Reduces `t` over the group in place (Sum, Mean, Max, Min).
    pub fn allreduce(&self, t: &mut Tensor, op: ReduceOp) -> Result<()> {
        t.check_unshared("allreduce")?;
        // SAFETY: valid handles; t is written only through this unshared handle.
        check(unsafe { sys::nn_comm_allreduce(self.as_ptr(), t.ptr.as_ptr(), op.to_raw()) })
    }

    /// Copies root's `t` into every rank's `t`, in place.
    pub fn broadcast(&self, t: &mut Tensor, root: i32) -> Result<()> {
        t.check_unshared("broadcast")?;
        // SAFETY: as above.
        check(unsafe { sys::nn_comm_broadcast(self.as_ptr(), t.ptr.as_ptr(), root) })
    }

    /// Copies root's parameters into every rank's model (same architecture).
    pub fn broadcast_model(&self, m: &mut Model, root: i32) -> Result<()> {
        // SAFETY: valid handles, exclusive access to the model.
        check(unsafe { sys::nn_model_broadcast(self.as_ptr(), m.ptr(), root) })
    }
}

impl Drop for Comm {
    fn drop(&mut self) {
        // SAFETY: owned handle, freed once.
        unsafe { sys::nn_comm_free(self.ptr.as_ptr()) }
    }
}

impl fmt::Debug for Comm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Comm(rank={}, size={})", self.rank(), self.size())
    }
}
