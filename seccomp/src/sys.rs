//! The crate's only unsafe code: the `seccomp`, `uname` and seccomp-notification `ioctl` calls.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// `seccomp(SECCOMP_SET_MODE_FILTER, flags, &prog)` for the calling thread; with
/// `SECCOMP_FILTER_FLAG_NEW_LISTENER` in `flags`, the listener fd the kernel returns.
pub(crate) fn set_mode_filter(
    program: &[libc::sock_filter],
    flags: libc::c_ulong,
) -> io::Result<Option<OwnedFd>> {
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
    // TSYNC, LOG, SPEC_ALLOW and NEW_LISTENER, none of which makes the kernel write through a
    // pointer (NEW_LISTENER makes it return a new fd).
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flags,
            &prog as *const libc::sock_fprog,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    if flags & libc::SECCOMP_FILTER_FLAG_NEW_LISTENER == 0 {
        return Ok(None);
    }
    let fd = i32::try_from(rc).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    // SAFETY: with NEW_LISTENER the kernel returned a new listener fd (close-on-exec) that
    // nothing else in this process owns.
    Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// `ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV)`: waits for the next notification.
pub(crate) fn notif_recv(listener: BorrowedFd<'_>) -> io::Result<libc::seccomp_notif> {
    // SAFETY: `seccomp_notif` is plain old data; the kernel requires it zeroed on input.
    let mut notif: libc::seccomp_notif = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `notif` is a valid, writable `seccomp_notif` the ioctl fills (its size is
        // encoded in the request number); `listener` is an open fd borrowed for the call.
        let rc = unsafe {
            libc::ioctl(
                listener.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_RECV,
                &mut notif as *mut libc::seccomp_notif,
            )
        };
        if rc == 0 {
            return Ok(notif);
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// `ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, resp)`: answers one notification.
pub(crate) fn notif_send(
    listener: BorrowedFd<'_>,
    resp: &libc::seccomp_notif_resp,
) -> io::Result<()> {
    // SAFETY: `resp` is a valid `seccomp_notif_resp` the kernel only reads; `listener` is an open
    // fd borrowed for the call.
    let rc = unsafe {
        libc::ioctl(
            listener.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_SEND,
            resp as *const libc::seccomp_notif_resp,
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
