//! The system calls of the child's process attributes that nix has no wrapper for: `personality(2)`,
//! `ioprio_set(2)` and `sched_setattr(2)`.

use nix::errno::Errno;

/// `personality(2)`: sets the calling process's execution domain to `persona`.
pub(crate) fn set_personality(persona: libc::c_ulong) -> Result<(), Errno> {
    // SAFETY: personality(2) only changes a flag word of the calling process; it reads and writes no memory of
    // ours, so any value is sound (the kernel refuses an unknown domain with EINVAL).
    let previous = unsafe { libc::personality(persona) };
    if previous == -1 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}
