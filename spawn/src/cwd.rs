//! Entering the working directory, proven to lie inside the process's root.
//!
//! The directory is resolved with `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)` from `/` (after pivot_root,
//! the container's root): `..` and absolute symlinks stay inside, and a magic link (`/proc/self/fd/N`,
//! `/proc/<pid>/cwd`, …) is refused, so no descriptor or process of the host can become the working directory
//! (CVE-2024-21626). Then `getcwd` must name a path under the root: the kernel answers `(unreachable)/…` for a
//! directory outside it. Before Linux 5.6 (no openat2) a plain `chdir` is checked the same way afterwards.

use std::ffi::CStr;
use std::os::unix::ffi::OsStrExt;

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::Mode;

use crate::ChildError;

/// Makes `dir` the working directory, resolved inside `/`, and checks where it landed.
pub(crate) fn enter(dir: &CStr) -> Result<(), ChildError> {
    let fail = |errno| ChildError::from_errno("chdir", errno, dir.to_string_lossy());
    if dir.to_bytes() == b"/" {
        // The process's root itself (the container's, after pivot_root): nothing to resolve or verify.
        return nix::unistd::chdir(dir).map_err(fail);
    }
    match open_in_root(dir) {
        Ok(fd) => nix::unistd::fchdir(&fd).map_err(fail)?,
        Err(Errno::ENOSYS) => nix::unistd::chdir(dir).map_err(fail)?,
        Err(Errno::ELOOP) if dir.to_bytes().starts_with(b"/proc/") => {
            return Err(ChildError::from_errno(
                "chdir",
                Errno::ELOOP,
                format!(
                    "{}: a working directory through /proc's magic links is refused",
                    dir.to_string_lossy()
                ),
            ))
        }
        Err(e) => return Err(fail(e)),
    }
    verify_inside(dir)
}

/// `openat2(open("/"), dir, O_PATH | O_DIRECTORY, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`.
fn open_in_root(dir: &CStr) -> Result<std::os::fd::OwnedFd, Errno> {
    let root = nix::fcntl::open(
        "/",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    nix::fcntl::openat2(&root, dir, how)
}

/// Fails unless the working directory is reachable from the root (`getcwd` gives an absolute path).
fn verify_inside(dir: &CStr) -> Result<(), ChildError> {
    let outside = |detail: String| {
        ChildError::new(
            "chdir",
            None,
            format!(
                "{}: the working directory is outside the container's root ({detail}): refused, a possible \
                 container breakout",
                dir.to_string_lossy()
            ),
        )
    };
    match nix::unistd::getcwd() {
        Ok(cwd) if cwd.as_os_str().as_bytes().starts_with(b"/") => Ok(()),
        Ok(cwd) => Err(outside(format!("getcwd: {}", cwd.display()))),
        Err(Errno::ENOENT) => Err(outside("getcwd: ENOENT".to_owned())),
        Err(e) => Err(ChildError::from_errno("chdir", e, "getcwd")),
    }
}
