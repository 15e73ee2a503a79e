//! Timing a step inside a forked child: for steps that change the process they run in (unshare, mounts,
//! pivot_root), so that the benchmark process itself stays as it was.
//!
//! [`time_in_child`] reports the time the child measured around the step alone (fork, exit and wait excluded);
//! [`wall_of_child`] the parent's time for the whole fork + step + exit + reap.
//!
//! ```no_run
//! use std::time::Instant;
//! use cove_benches::child::time_in_child;
//!
//! let took = time_in_child(|| {
//!     let t = Instant::now();
//!     nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUTS).map_err(|e| e.to_string())?;
//!     Ok(t.elapsed())
//! })?;
//! println!("unshare(CLONE_NEWUTS): {took:?}");
//! # Ok::<(), cove_benches::BenchError>(())
//! ```

use std::fs::File;
use std::io::Read;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use nix::fcntl::OFlag;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{pipe2, Pid};

use crate::sys::fork_child;
use crate::BenchError;

/// Report tags the child writes first.
const OK: u8 = 0;
const FAILED: u8 = 1;

/// Runs `step` in a forked child; `step` measures itself and returns how long the part that matters took.
pub fn time_in_child(
    step: impl FnOnce() -> Result<Duration, String>,
) -> Result<Duration, BenchError> {
    let (read_end, write_end) = pipe2(OFlag::O_CLOEXEC).map_err(BenchError::Pipe)?;
    let to_parent = &write_end;
    let pid = fork_child(move || {
        // The child's copy of the read end is left open: it goes away with the child at `_exit`.
        let report = match catch_unwind(AssertUnwindSafe(step)) {
            Ok(Ok(took)) => encode_ok(took),
            Ok(Err(message)) => encode_failed(&message),
            Err(_) => encode_failed("the step panicked"),
        };
        match nix::unistd::write(to_parent, &report) {
            Ok(n) if n == report.len() => 0,
            _ => 1,
        }
    })?;
    drop(write_end);
    let mut report = Vec::new();
    let read = File::from(read_end).read_to_end(&mut report);
    let status = reap(pid)?;
    match (read, decode(&report)) {
        (Ok(_), Some(result)) => result,
        _ => Err(BenchError::NoReport {
            status: format!("{status:?}"),
        }),
    }
}

/// The parent's wall time for forking a child that runs `step`, exits, and is reaped.
pub fn wall_of_child(step: impl FnOnce() -> Result<(), String>) -> Result<Duration, BenchError> {
    let started = Instant::now();
    let pid = fork_child(move || match catch_unwind(AssertUnwindSafe(step)) {
        Ok(Ok(())) => 0,
        _ => 1,
    })?;
    let status = reap(pid)?;
    let took = started.elapsed();
    match status {
        WaitStatus::Exited(_, 0) => Ok(took),
        other => Err(BenchError::Step {
            message: format!("the child ended with {other:?}"),
        }),
    }
}

/// Waits for the child, retrying on EINTR.
fn reap(pid: Pid) -> Result<WaitStatus, BenchError> {
    loop {
        match waitpid(pid, None) {
            Err(nix::errno::Errno::EINTR) => continue,
            other => return other.map_err(BenchError::Wait),
        }
    }
}

fn encode_ok(took: Duration) -> Vec<u8> {
    let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
    let mut report = vec![OK];
    report.extend_from_slice(&nanos.to_le_bytes());
    report
}

fn encode_failed(message: &str) -> Vec<u8> {
    let mut report = vec![FAILED];
    report.extend_from_slice(message.as_bytes());
    report
}

/// The child's report, or `None` when it is malformed (e.g. empty: the child died first).
fn decode(report: &[u8]) -> Option<Result<Duration, BenchError>> {
    match report.split_first()? {
        (&OK, nanos) => {
            let nanos = u64::from_le_bytes(nanos.try_into().ok()?);
            Some(Ok(Duration::from_nanos(nanos)))
        }
        (&FAILED, message) => Some(Err(BenchError::Step {
            message: String::from_utf8_lossy(message).into_owned(),
        })),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_round_trip() {
        let took = Duration::from_nanos(123_456_789);
        assert_eq!(decode(&encode_ok(took)).unwrap().unwrap(), took);
        let err = decode(&encode_failed("EPERM")).unwrap().unwrap_err();
        assert_eq!(err.to_string(), "the step failed in the child: EPERM");
        assert!(decode(&[]).is_none());
        assert!(decode(&[OK, 1, 2]).is_none());
    }

    #[test]
    fn the_child_reports_its_own_measurement_and_its_changes_stay_there() {
        let before = std::env::current_dir().unwrap();
        let took = time_in_child(|| {
            std::env::set_current_dir("/").map_err(|e| e.to_string())?;
            Ok(Duration::from_micros(42))
        })
        .unwrap();
        assert_eq!(took, Duration::from_micros(42));
        assert_eq!(std::env::current_dir().unwrap(), before);
    }

    #[test]
    fn failures_and_panics_in_the_child_are_errors_in_the_parent() {
        let err = time_in_child(|| Err("no such thing".into())).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the step failed in the child: no such thing"
        );
        let err = time_in_child(|| panic!("boom")).unwrap_err();
        assert!(
            matches!(err, BenchError::Step { .. } | BenchError::NoReport { .. }),
            "{err}"
        );
        assert!(wall_of_child(|| Err("x".into())).is_err());
        assert!(wall_of_child(|| Ok(())).unwrap() > Duration::ZERO);
    }
}
