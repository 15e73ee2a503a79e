//! Closing the runtime's descriptors in the container process, before anything resolves a path of the container.
//!
//! A descriptor of the runtime that stays open in the container process until exec is a way out: a working
//! directory of `/proc/self/fd/N` on the runtime's cgroup directory put the workload on the host's file system
//! (CVE-2024-21626). Marking descriptors close-on-exec is not enough, because the process resolves paths (mounts,
//! hooks, `chdir`) before it execs. So right after release the process *closes* every descriptor but stdio, the
//! preserved ones and those its own steps still need.

use std::os::fd::RawFd;

use nix::errno::Errno;

use crate::sys;
use crate::ChildError;

/// The descriptors that stay open: stdio, `3..3+preserved`, and `keep` (in any order, duplicates allowed).
pub(crate) struct Keep {
    /// First descriptor number after stdio and the preserved ones.
    first_closable: RawFd,
    /// Descriptors at or after `first_closable` that stay open, sorted, unique.
    kept: Vec<RawFd>,
}

impl Keep {
    /// Stdio, `preserved` descriptors after it, and `keep`.
    pub(crate) fn new(preserved: u32, keep: impl IntoIterator<Item = RawFd>) -> Keep {
        let first_closable = 3 + RawFd::try_from(preserved).unwrap_or(RawFd::MAX - 3);
        let mut kept: Vec<RawFd> = keep
            .into_iter()
            .filter(|&fd| fd >= first_closable)
            .collect();
        kept.sort_unstable();
        kept.dedup();
        Keep {
            first_closable,
            kept,
        }
    }

    /// The ranges to close: the gaps between the kept descriptors, the last one open-ended.
    fn gaps(&self) -> Vec<(RawFd, RawFd)> {
        let mut gaps = Vec::with_capacity(self.kept.len() + 1);
        let mut next = self.first_closable;
        for &fd in &self.kept {
            if fd > next {
                gaps.push((next, fd - 1));
            }
            next = fd.saturating_add(1);
        }
        gaps.push((next, RawFd::MAX));
        gaps
    }

    fn keeps(&self, fd: RawFd) -> bool {
        fd < self.first_closable || self.kept.binary_search(&fd).is_ok()
    }
}

/// Closes every descriptor `keep` does not keep: one `close_range` per gap (Linux 5.9), else each descriptor
/// listed in `/proc/self/fd`.
///
/// Only call it in the container process, whose copies of the runtime's descriptors are owned by objects in
/// stack frames it never returns to, with every descriptor that an object it still uses or drops owns in `keep`.
pub(crate) fn close_all_but(keep: &Keep) -> Result<(), ChildError> {
    for (first, last) in keep.gaps() {
        match sys::close_range(first, last) {
            Ok(()) => {}
            Err(Errno::ENOSYS | Errno::EPERM) => return close_listed(keep),
            Err(e) => {
                return Err(ChildError::from_errno(
                    "close fds",
                    e,
                    format!("close_range({first}, {last})"),
                ))
            }
        }
    }
    Ok(())
}

/// The fallback before Linux 5.9 (or under a filter that refuses close_range): every descriptor in
/// `/proc/self/fd` that is not kept.
fn close_listed(keep: &Keep) -> Result<(), ChildError> {
    let entries = std::fs::read_dir("/proc/self/fd")
        .map_err(|e| ChildError::from_io("close fds", &e, "/proc/self/fd"))?;
    let open: Vec<RawFd> = entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .filter(|&fd| !keep.keeps(fd))
        .collect();
    for fd in open {
        // EBADF: the directory's own descriptor, closed since.
        match sys::close_unowned(fd) {
            Ok(()) | Err(Errno::EBADF) => {}
            Err(e) => return Err(ChildError::from_errno("close fds", e, format!("fd {fd}"))),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_skip_stdio_preserved_and_kept_descriptors() {
        let keep = Keep::new(2, [9, 5, 9, 6, 4, 12]);
        assert_eq!(keep.gaps(), [(7, 8), (10, 11), (13, RawFd::MAX)]);
        assert!(keep.keeps(0) && keep.keeps(4) && keep.keeps(6) && keep.keeps(12));
        assert!(!keep.keeps(7) && !keep.keeps(13));
        assert_eq!(Keep::new(0, []).gaps(), [(3, RawFd::MAX)]);
        assert_eq!(Keep::new(0, [3]).gaps(), [(4, RawFd::MAX)]);
    }
}
