//! fork and `_exit`: the two calls nix leaves unsafe (or does not wrap) that the timing child needs.

use nix::unistd::{ForkResult, Pid};

use crate::BenchError;

/// Forks; the child runs `child` and leaves with `_exit` and the code it returned (never returning here).
///
/// The benches call it while the process has a single thread: criterion is built without rayon (see
/// Cargo.toml), so the benchmark process has no other thread while it measures.
pub(crate) fn fork_child(child: impl FnOnce() -> i32) -> Result<Pid, BenchError> {
    // SAFETY: the child runs only `child` and then `_exit`s, never returning into the caller's frames. A lock
    // held by another thread at fork time would stay locked in the child: the benches have no other thread while
    // they measure (criterion without rayon), glibc's fork keeps malloc usable in the child, and the steps take
    // no other process-wide lock (no stdio).
    match unsafe { nix::unistd::fork() }.map_err(BenchError::Fork)? {
        ForkResult::Parent { child } => Ok(child),
        ForkResult::Child => {
            let code = child();
            exit_now(code)
        }
    }
}

/// Ends the forked child without running exit handlers or flushing stdio buffers copied from the parent (which
/// would print the parent's pending output twice).
fn exit_now(code: i32) -> ! {
    // SAFETY: `_exit` only ends the calling process; it touches no memory of ours.
    unsafe { libc::_exit(code) }
}
