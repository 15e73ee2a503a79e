//! The crate's only unsafe code: the `seccomp` and `uname` system calls.

use std::ffi::CStr;
use std::io;

/// `seccomp(SECCOMP_SET_MODE_FILTER, flags, &prog)` for the calling thread.
pub(crate) fn set_mode_filter(
    program: &[libc::sock_filter],
    flags: libc::c_ulong,
) -> io::Result<()> {
    let len =
        u16::try_from(program.len()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let prog = libc::sock_fprog {
        len,
        // The kernel only reads through this pointer.
        filter: program.as_ptr().cast_mut(),
    };
    // SAFETY: `prog` points to `len` initialised `sock_filter`s borrowed from `program`, which
    // outlives this call; the kernel copies the program (copy_from_user) before returning and keeps
    // no reference to our memory. The call changes no memory of this process. `flags` holds only
    // TSYNC, LOG and SPEC_ALLOW, none of which makes the kernel write through a pointer.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flags,
            &prog as *const libc::sock_fprog,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The running kernel's release string (`uname -r`).
pub(crate) fn kernel_release() -> io::Result<String> {
    // SAFETY: `utsname` is plain old data (arrays of c_char) for which all-zero bytes are valid.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `uts` is a valid, writable `utsname`; uname fills it and NUL-terminates each field.
    if unsafe { libc::uname(&mut uts) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel NUL-terminates `release` within the array, and `uts` lives until the
    // string is copied out below.
    let release = unsafe { CStr::from_ptr(uts.release.as_ptr()) };
    Ok(release.to_string_lossy().into_owned())
}
