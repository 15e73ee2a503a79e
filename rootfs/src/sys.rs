//! The mount-API system calls nix does not wrap: mount_setattr(2), open_tree(2), move_mount(2).

use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;

/// `<linux/mount.h>` values (stable kernel ABI), spelled out because libc does not export them
/// for every target.
const OPEN_TREE_CLONE: libc::c_uint = 1;
const OPEN_TREE_CLOEXEC: libc::c_uint = libc::O_CLOEXEC as libc::c_uint;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;
const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;
/// Do not follow symlinks on this mount (Linux 5.14).
pub(crate) const MOUNT_ATTR_NOSYMFOLLOW: u64 = 0x0020_0000;

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

/// Sets `MOUNT_ATTR_IDMAP` on the detached mount `fd` (and every mount below it when
/// `recursive`), mapping ids through the user namespace `userns`.
pub(crate) fn mount_setattr_idmap(
    fd: BorrowedFd<'_>,
    recursive: bool,
    userns: BorrowedFd<'_>,
) -> Result<(), Errno> {
    let attr = libc::mount_attr {
        attr_set: MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns.as_raw_fd() as u64,
    };
    let mut flags = libc::AT_EMPTY_PATH;
    if recursive {
        flags |= libc::AT_RECURSIVE;
    }
    // SAFETY: as in `mount_setattr`: the kernel reads the 'static empty C string and exactly
    // `size_of::<mount_attr>()` bytes of the live `attr`; both fds are borrowed and open for the
    // duration of the call. Nothing is written back.
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

/// `open_tree(AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC [| AT_RECURSIVE])`: a detached
/// copy of the mount at `path` (with its submounts when `recursive`).
pub(crate) fn open_tree_clone(path: &Path, recursive: bool) -> Result<OwnedFd, Errno> {
    let c_path = CString::new(path.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
    let mut flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: `c_path` is a live NUL-terminated string for the duration of the call; the kernel
    // only reads it. On success the return value is a new descriptor nobody else owns.
    let ret = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, c_path.as_ptr(), flags) };
    let fd = Errno::result(ret)?;
    // SAFETY: `fd` was just returned by open_tree and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })
}

/// `move_mount(from, "", to, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH)`: attaches the
/// (detached) mount `from` on the file `to` is open on (an `O_PATH` fd is enough).
pub(crate) fn move_mount_fds(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> Result<(), Errno> {
    let flags = MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH;
    // SAFETY: both paths are the 'static empty C string, only read; both fds are borrowed and
    // open for the duration of the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            from.as_raw_fd(),
            c"".as_ptr(),
            to.as_raw_fd(),
            c"".as_ptr(),
            flags,
        )
    };
    Errno::result(ret).map(drop)
}

/// `open_tree(fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH [| AT_RECURSIVE])`: a
/// detached copy of the mount `fd` is on, rooted at the file `fd` refers to (a bind source given
/// as an fd: no path is resolved).
pub(crate) fn open_tree_clone_fd(fd: BorrowedFd<'_>, recursive: bool) -> Result<OwnedFd, Errno> {
    let mut flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | libc::AT_EMPTY_PATH as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: the path is the 'static empty C string, only read by the kernel; `fd` is borrowed
    // and open for the duration of the call. On success the return value is a new descriptor
    // nobody else owns.
    let ret = unsafe { libc::syscall(libc::SYS_open_tree, fd.as_raw_fd(), c"".as_ptr(), flags) };
    let fd = Errno::result(ret)?;
    // SAFETY: `fd` was just returned by open_tree and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })
}

/// The id of the mount `fd` is on, and whether `fd` is that mount's root (statx(2) with
/// `STATX_MNT_ID`, Linux 5.8+).
pub(crate) fn mount_id(fd: BorrowedFd<'_>) -> Result<(u64, bool), Errno> {
    // SAFETY: an all-zero `statx` is a valid value of this plain C struct (integers only).
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: the path is the 'static empty C string (only read); the kernel writes at most
    // `size_of::<statx>()` bytes into `stx`, a live, exclusively borrowed struct on our stack;
    // `fd` is borrowed and open for the duration of the call.
    let ret = unsafe {
        libc::statx(
            fd.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW,
            libc::STATX_MNT_ID,
            &mut stx,
        )
    };
    Errno::result(ret)?;
    if stx.stx_mask & libc::STATX_MNT_ID == 0 {
        return Err(Errno::ENOSYS);
    }
    let is_root = stx.stx_attributes & libc::STATX_ATTR_MOUNT_ROOT as u64 != 0;
    Ok((stx.stx_mnt_id, is_root))
}
