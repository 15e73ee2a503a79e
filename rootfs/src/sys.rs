//! The one system call nix does not wrap: mount_setattr(2).

use std::os::fd::{AsRawFd, BorrowedFd};

use nix::errno::Errno;

/// Changes the per-mount attributes of the mount `fd` is the root of (and of every mount below it
/// when `recursive`): `set` and `clear` are `MOUNT_ATTR_*` bits.
pub(crate) fn mount_setattr(
    fd: BorrowedFd<'_>,
    recursive: bool,
    set: u64,
    clear: u64,
) -> Result<(), Errno> {
    let attr = libc::mount_attr {
        attr_set: set,
        attr_clr: clear,
        propagation: 0,
        userns_fd: 0,
    };
    let mut flags = libc::AT_EMPTY_PATH;
    if recursive {
        flags |= libc::AT_RECURSIVE;
    }
    // SAFETY: the kernel reads a NUL-terminated path (the empty C string literal, 'static) and
    // exactly `size_of::<mount_attr>()` bytes from `&attr`, a live, initialised `mount_attr` on our
    // stack; `fd` is a borrowed, open descriptor for the duration of the call. Nothing is written
    // back to our memory.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags as libc::c_uint,
            &attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    Errno::result(ret).map(drop)
}
