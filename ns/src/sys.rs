//! The system calls `nix` has no safe wrapper for.

use nix::errno::Errno;

/// Sets `IFF_UP` on the interface `name` (e.g. `lo`) through `sock`, an `AF_INET` datagram socket:
/// `SIOCGIFFLAGS` then `SIOCSIFFLAGS`.
pub(crate) fn set_interface_up(sock: std::os::fd::BorrowedFd<'_>, name: &str) -> Result<(), Errno> {
    use std::os::fd::AsRawFd;
    let bytes = name.as_bytes();
    if bytes.len() >= libc::IFNAMSIZ || bytes.contains(&0) {
        return Err(Errno::EINVAL);
    }
    // SAFETY: `ifreq` is plain old data (integers and a union of them): all zero bytes is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(bytes) {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads the NUL-terminated name (zeroed tail above) and writes `ifru_flags` inside the
    // `ifreq` we own and pass by valid pointer; the fd is borrowed, so it stays open during the call.
    Errno::result(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) })?;
    // SAFETY: the kernel just filled `ifru_flags`, the union member SIOCGIFFLAGS defines.
    let flags = unsafe { req.ifr_ifru.ifru_flags };
    req.ifr_ifru.ifru_flags = flags | libc::IFF_UP as libc::c_short;
    // SAFETY: as above; SIOCSIFFLAGS only reads the `ifreq`.
    Errno::result(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) }).map(drop)
}

/// `setdomainname(2)`.
pub(crate) fn setdomainname(name: &[u8]) -> Result<(), Errno> {
    // SAFETY: the kernel reads exactly `name.len()` bytes from `name.as_ptr()`, which the slice keeps valid and
    // initialised for the duration of the call; no NUL terminator is needed.
    let rc = unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) };
    Errno::result(rc).map(drop)
}
