//! The system calls `nix` has no safe wrapper for.

use nix::errno::Errno;

/// `setdomainname(2)`.
pub(crate) fn setdomainname(name: &[u8]) -> Result<(), Errno> {
    // SAFETY: the kernel reads exactly `name.len()` bytes from `name.as_ptr()`, which the slice keeps valid and
    // initialised for the duration of the call; no NUL terminator is needed.
    let rc = unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) };
    Errno::result(rc).map(drop)
}
