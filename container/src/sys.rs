//! The system calls of the child's process attributes that nix has no wrapper for: `personality(2)`,
//! `ioprio_set(2)` and `sched_setattr(2)` (libc has no `struct sched_attr`).

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

/// `struct sched_attr` of `sched_setattr(2)` (`SCHED_ATTR_SIZE_VER1`, with the utilization clamps).
#[repr(C)]
#[derive(Debug, Default)]
pub(crate) struct SchedAttr {
    pub size: u32,
    pub sched_policy: u32,
    pub sched_flags: u64,
    pub sched_nice: i32,
    pub sched_priority: u32,
    pub sched_runtime: u64,
    pub sched_deadline: u64,
    pub sched_period: u64,
    pub sched_util_min: u32,
    pub sched_util_max: u32,
}

/// `sched_setattr(2)` for the calling thread (`pid` = 0): its policy and parameters become `attr`'s (`size` is
/// filled in here), kept by a new program and inherited by children.
pub(crate) fn sched_setattr(mut attr: SchedAttr) -> Result<(), Errno> {
    attr.size = std::mem::size_of::<SchedAttr>() as u32;
    // SAFETY: `attr` is a live, properly aligned `struct sched_attr` whose `size` is its true size, so the kernel
    // reads only memory we own, for the duration of the call; it keeps no pointer to it.
    let rc = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) };
    if rc == -1 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}
