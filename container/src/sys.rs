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

/// `ioprio_set(2)` with `IOPRIO_WHO_PROCESS` for the calling thread (`who` = 0): sets its I/O priority to `ioprio`
/// (`class << 13 | level`), which a new program keeps and children inherit.
pub(crate) fn set_io_priority(ioprio: libc::c_int) -> Result<(), Errno> {
    const IOPRIO_WHO_PROCESS: libc::c_int = 1;
    // SAFETY: ioprio_set(2) takes three integers and touches no memory of ours; the kernel validates them.
    let rc = unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, ioprio) };
    if rc == -1 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}
