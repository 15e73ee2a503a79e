//! Time namespace clock offsets (`/proc/<pid>/timens_offsets`).

use std::time::Duration;

use nix::unistd::Pid;

use crate::ops::write_proc_file;
use crate::NsError;

/// A signed clock offset: `secs` seconds plus `nanos` nanoseconds (`0 <= nanos < 1_000_000_000`).
///
/// -1.5 s is `TimeOffset { secs: -2, nanos: 500_000_000 }`, as in the kernel's `timens_offsets` format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct TimeOffset {
    /// Whole seconds (may be negative).
    pub secs: i64,
    /// Nanoseconds added to `secs`, below one second.
    pub nanos: u32,
}

impl TimeOffset {
    /// No offset.
    pub const ZERO: TimeOffset = TimeOffset { secs: 0, nanos: 0 };

    /// An offset of `secs` seconds and `nanos` nanoseconds.
    pub const fn new(secs: i64, nanos: u32) -> Self {
        TimeOffset { secs, nanos }
    }
}

impl From<Duration> for TimeOffset {
    /// A positive offset (saturating at `i64::MAX` seconds).
    fn from(d: Duration) -> Self {
        TimeOffset {
            secs: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            nanos: d.subsec_nanos(),
        }
    }
}

/// The text written to `timens_offsets`: a `monotonic` and a `boottime` line.
///
/// ```
/// use cove_ns::{format_time_offsets, TimeOffset};
/// let text = format_time_offsets(TimeOffset::new(-2, 500_000_000), TimeOffset::new(86400, 0)).unwrap();
/// assert_eq!(text, "monotonic -2 500000000\nboottime 86400 0\n");
/// ```
pub fn format_time_offsets(monotonic: TimeOffset, boottime: TimeOffset) -> Result<String, NsError> {
    check_nanos("monotonic", monotonic)?;
    check_nanos("boottime", boottime)?;
    Ok(format!(
        "monotonic {} {}\nboottime {} {}\n",
        monotonic.secs, monotonic.nanos, boottime.secs, boottime.nanos
    ))
}

fn check_nanos(clock: &'static str, offset: TimeOffset) -> Result<(), NsError> {
    if offset.nanos >= 1_000_000_000 {
        return Err(NsError::InvalidTimeOffset {
            clock,
            nanos: offset.nanos,
        });
    }
    Ok(())
}

/// Sets the clock offsets of the time namespace that `pid` created with `unshare(CLONE_NEWTIME)` and that no
/// process has entered yet (its children, or `pid` itself after its next `execve`, enter it).
///
/// Both clocks are written in one `write`, as the kernel requires.
pub fn write_time_offsets(
    pid: Pid,
    monotonic: TimeOffset,
    boottime: TimeOffset,
) -> Result<(), NsError> {
    let text = format_time_offsets(monotonic, boottime)?;
    write_proc_file(pid, "timens_offsets", &text)
        .map_err(|source| NsError::WriteTimeOffsets { pid, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_negative_offsets() {
        let text = format_time_offsets(TimeOffset::new(-10, 0), TimeOffset::ZERO).unwrap();
        assert_eq!(text, "monotonic -10 0\nboottime 0 0\n");
    }

    #[test]
    fn refuses_a_second_of_nanos() {
        let err =
            format_time_offsets(TimeOffset::ZERO, TimeOffset::new(1, 1_000_000_000)).unwrap_err();
        assert!(matches!(
            err,
            NsError::InvalidTimeOffset {
                clock: "boottime",
                nanos: 1_000_000_000
            }
        ));
        assert_eq!(err.kind(), Some(crate::Namespace::Time));
    }

    #[test]
    fn from_duration() {
        let offset = TimeOffset::from(Duration::new(3, 7));
        assert_eq!(offset, TimeOffset::new(3, 7));
    }
}
