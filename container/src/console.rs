//! The OCI console: a pseudo-terminal for a container whose `process.terminal` is true, handed to the caller
//! over `--console-socket`.
//!
//! The protocol is runc's (what conmon, containerd's shim and podman expect): the runtime allocates a pty, makes
//! its slave the container process's controlling terminal and stdin/stdout/stderr, connects to the AF_UNIX
//! `SOCK_STREAM` socket named by `--console-socket` and sends the **master** fd with `SCM_RIGHTS`. As in runc's
//! `utils.SendRawFd(socket, pty.Name(), pty.Fd())`, the message's payload is the master's file name,
//! [`MASTER_NAME`] (`/dev/ptmx`); receivers use it only as a label.
//!
//! The three steps, in order:
//!
//! 1. [`open_pty`]: allocate the pty (both ends close-on-exec), with the initial window size if given.
//! 2. [`send_master`]: hand the master to the console socket. To do this from the container process after
//!    pivot_root, as runc does, connect first with [`ConsoleSocket::connect`] in the runtime and call
//!    [`ConsoleSocket::send_master`] in the container process.
//! 3. [`attach_terminal`], in the container process between clone and exec: new session, controlling
//!    terminal, stdio.
//!
//! ```no_run
//! use cove_container::console;
//! let pty = console::open_pty(Some((24, 80)))?;
//! console::send_master(std::path::Path::new("/run/conmon/console.sock"), &pty)?;
//! // hand `pty.slave` to the container process, which calls `console::attach_terminal(slave)` before exec.
//! # Ok::<(), console::ConsoleError>(())
//! ```

use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, IntoRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use cove_spawn::ChildError;
use nix::errno::Errno;
use nix::fcntl::{self, FcntlArg, FdFlag, OFlag};
use nix::pty::{self, PtyMaster};
use nix::sys::socket::{self, ControlMessage, MsgFlags};
use nix::sys::stat::Mode;
use nix::unistd;

/// The payload sent with the master fd: the name runc sends (the master's file name).
pub const MASTER_NAME: &str = "/dev/ptmx";

/// A freshly allocated pseudo-terminal.
#[derive(Debug)]
pub struct Pty {
    /// The master end: sent to the console socket; reading it yields what the container writes.
    pub master: OwnedFd,
    /// The slave end: becomes the container process's controlling terminal and stdio.
    pub slave: OwnedFd,
    /// The slave's path, e.g. `/dev/pts/3`: its name in the devpts instance `/dev/ptmx` belongs to, valid where
    /// that instance is mounted on `/dev/pts` (inside the container when allocated there, after pivot_root).
    pub slave_path: PathBuf,
}

/// Allocating the pty or handing it to the console socket failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsoleError {
    /// Opening the pty multiplexer failed.
    #[error("open the pty master {MASTER_NAME}")]
    OpenMaster {
        /// The error of `open(2)`.
        #[source]
        source: Errno,
    },
    /// A step on the fresh master (`grantpt`, `unlockpt`, `ptsname`) failed.
    #[error("{op} on the pty master")]
    Master {
        /// The step.
        op: &'static str,
        /// The kernel's error.
        #[source]
        source: Errno,
    },
    /// Opening the slave end failed.
    #[error("open the pty slave {}", path.display())]
    OpenSlave {
        /// The slave's path.
        path: PathBuf,
        /// The error of `open(2)`.
        #[source]
        source: Errno,
    },
    /// Setting the initial window size failed.
    #[error("set the window size of {} to {rows} rows × {cols} columns", path.display())]
    WindowSize {
        /// The slave's path.
        path: PathBuf,
        /// Rows asked for.
        rows: u16,
        /// Columns asked for.
        cols: u16,
        /// The error of `ioctl(TIOCSWINSZ)`.
        #[source]
        source: Errno,
    },
    /// Connecting to the console socket failed.
    #[error("connect to the console socket {}", path.display())]
    Connect {
        /// The `--console-socket` path.
        path: PathBuf,
        /// The error of `connect(2)`.
        #[source]
        source: std::io::Error,
    },
    /// Creating the runtime's own console socket pair failed.
    #[error("create a console socket pair")]
    Pair {
        /// The error of `socketpair(2)`.
        #[source]
        source: std::io::Error,
    },
    /// Receiving the master fd from the container process failed (or it sent none).
    #[error("receive the pty master from the container process")]
    Receive {
        /// The error of `recvmsg(2)` (`EBADMSG`: a message without exactly one fd).
        #[source]
        source: Errno,
    },
    /// Sending the master fd over the console socket failed.
    #[error("send the pty master over the console socket {}", path.display())]
    Send {
        /// The `--console-socket` path.
        path: PathBuf,
        /// The error of `sendmsg(2)`.
        #[source]
        source: Errno,
    },
}

/// Allocates a pseudo-terminal, both ends close-on-exec, with the window size `(rows, cols)` when given.
///
/// The slave is opened with `O_NOCTTY`: it becomes a controlling terminal only in [`attach_terminal`].
/// The pty belongs to the devpts instance that `/dev/ptmx` resolves to in the caller's mount namespace: call
/// this in the container process after pivot_root (as runc does) for a pty of the container's `/dev/pts`.
/// When `/dev/pts` is not that instance the kernel refuses to open the slave
/// ([`ConsoleError::OpenSlave`], `ENODEV`) rather than hand out another pty of the same number.
/// `size` is `process.consoleSize` (`height`, `width`); `None` keeps the kernel's 0×0.
pub fn open_pty(size: Option<(u16, u16)>) -> Result<Pty, ConsoleError> {
    let master = open_master()?;
    let slave_path = slave_name(&master)?;
    let slave = open_slave(&master, &slave_path)?;
    if let Some((rows, cols)) = size {
        sys::set_window_size(slave.as_fd(), rows, cols).map_err(|source| {
            ConsoleError::WindowSize {
                path: slave_path.clone(),
                rows,
                cols,
                source,
            }
        })?;
    }
    Ok(Pty {
        master: master.into(),
        slave,
        slave_path,
    })
}

/// `posix_openpt` + `grantpt` + `unlockpt`, close-on-exec and without becoming our controlling terminal.
fn open_master() -> Result<PtyMaster, ConsoleError> {
    let flags = OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC;
    let master = pty::posix_openpt(flags).map_err(|source| ConsoleError::OpenMaster { source })?;
    pty::grantpt(&master).map_err(|source| ConsoleError::Master {
        op: "grantpt",
        source,
    })?;
    pty::unlockpt(&master).map_err(|source| ConsoleError::Master {
        op: "unlockpt",
        source,
    })?;
    Ok(master)
}

fn slave_name(master: &PtyMaster) -> Result<PathBuf, ConsoleError> {
    pty::ptsname_r(master)
        .map(PathBuf::from)
        .map_err(|source| ConsoleError::Master {
            op: "ptsname",
            source,
        })
}

/// The master's peer, by `ioctl(TIOCGPTPEER)`: no path lookup, so it is the right slave whatever `/dev/pts` is
/// mounted in this mount namespace (runc checks this too); by `path` on kernels older than 4.13.
fn open_slave(master: &PtyMaster, path: &Path) -> Result<OwnedFd, ConsoleError> {
    let flags = OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC;
    let slave = match sys::open_peer(master.as_fd(), flags) {
        Err(Errno::EINVAL | Errno::ENOTTY) => fcntl::open(path, flags, Mode::empty()),
        other => other,
    };
    slave.map_err(|source| ConsoleError::OpenSlave {
        path: path.to_path_buf(),
        source,
    })
}

/// Connects to the console socket at `socket` and sends the pty's master fd with `SCM_RIGHTS`, the payload
/// being [`MASTER_NAME`] as runc sends it: [`ConsoleSocket::connect`] then [`ConsoleSocket::send_master`].
/// The connection is closed on return. The caller still holds its own copy of the master: drop it once sent
/// (runc does), so that the receiver is its only holder.
pub fn send_master(socket: &Path, pty: &Pty) -> Result<(), ConsoleError> {
    ConsoleSocket::connect(socket)?.send_master(pty)
}

/// A connection to the `--console-socket`, made before the pty exists.
///
/// runc connects in the runtime, before clone, and the container process allocates the pty after
/// pivot_root (so that it belongs to the container's devpts and `slave_path` is valid inside the container),
/// then sends the master over the inherited connection: the socket's path need not be reachable from the
/// container. The connection is close-on-exec.
#[derive(Debug)]
pub struct ConsoleSocket {
    stream: UnixStream,
    path: PathBuf,
}

impl ConsoleSocket {
    /// Connects to the AF_UNIX stream socket at `path`.
    pub fn connect(path: &Path) -> Result<Self, ConsoleError> {
        let stream = UnixStream::connect(path).map_err(|source| ConsoleError::Connect {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(ConsoleSocket {
            stream,
            path: path.to_path_buf(),
        })
    }

    /// A connected pair for the runtime itself (`cove run --tty`): the container process sends the master over
    /// the returned socket, the runtime receives it on the stream with [`receive_master`].
    pub fn pair() -> Result<(Self, UnixStream), ConsoleError> {
        let (ours, theirs) = UnixStream::pair().map_err(|source| ConsoleError::Pair { source })?;
        let socket = ConsoleSocket {
            stream: theirs,
            path: PathBuf::from("(cove's own console socket)"),
        };
        Ok((socket, ours))
    }

    /// The path it was connected to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sends the pty's master fd with `SCM_RIGHTS` and the payload [`MASTER_NAME`]. Only system calls (no
    /// path lookup), so it also works in the container process after pivot_root.
    pub fn send_master(&self, pty: &Pty) -> Result<(), ConsoleError> {
        let fds = [pty.master.as_raw_fd()];
        let payload = [IoSlice::new(MASTER_NAME.as_bytes())];
        let rights = [ControlMessage::ScmRights(&fds)];
        socket::sendmsg::<()>(
            self.stream.as_raw_fd(),
            &payload,
            &rights,
            MsgFlags::MSG_NOSIGNAL,
            None,
        )
        .map_err(|source| ConsoleError::Send {
            path: self.path.clone(),
            source,
        })?;
        Ok(())
    }
}

impl AsFd for ConsoleSocket {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.stream.as_fd()
    }
}

/// Receives the master fd a container process sent with [`ConsoleSocket::send_master`] (close-on-exec).
pub fn receive_master(stream: &UnixStream) -> Result<OwnedFd, ConsoleError> {
    let mut buf = [0u8; 64];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!(std::os::fd::RawFd);
    let msg = socket::recvmsg::<()>(
        stream.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(|source| ConsoleError::Receive { source })?;
    let mut fds = Vec::new();
    for cmsg in msg
        .cmsgs()
        .map_err(|source| ConsoleError::Receive { source })?
    {
        if let socket::ControlMessageOwned::ScmRights(received) = cmsg {
            fds.extend(received);
        }
    }
    // SAFETY: recvmsg(SCM_RIGHTS) just installed these descriptors in this process; nothing else owns them.
    let mut owned: Vec<OwnedFd> = fds.into_iter().map(|fd| unsafe { sys::own(fd) }).collect();
    match (owned.pop(), owned.is_empty()) {
        (Some(master), true) => Ok(master),
        _ => Err(ConsoleError::Receive {
            source: Errno::EBADMSG,
        }),
    }
}

/// The window size `(rows, cols)` of the terminal `fd`, or `None` when it is not a terminal.
pub fn window_size(fd: impl AsFd) -> Option<(u16, u16)> {
    sys::window_size(fd.as_fd()).ok()
}

/// Sets the window size `(rows, cols)` of the terminal `fd` (e.g. a pty master).
pub fn set_window_size(fd: impl AsFd, (rows, cols): (u16, u16)) -> Result<(), Errno> {
    sys::set_window_size(fd.as_fd(), rows, cols)
}

/// Child side, between clone and exec: makes `slave` the calling process's controlling terminal and its
/// stdin, stdout and stderr.
///
/// Steps: `setsid()` unless the process already leads its session (a cove container process does: cove-spawn
/// starts a new session for it), `ioctl(TIOCSCTTY)` on the slave, `dup2` onto 0, 1 and 2 (the copies are not
/// close-on-exec), then closes `slave` unless it already was one of 0, 1, 2 (in which case it stays open, its
/// close-on-exec flag cleared). Only system calls, no allocation except to build an error.
pub fn attach_terminal(slave: OwnedFd) -> Result<(), ChildError> {
    let leader = unistd::getsid(None).is_ok_and(|sid| sid == unistd::getpid());
    if !leader {
        unistd::setsid().map_err(|e| ChildError::from_errno("console", e, "setsid"))?;
    }
    sys::set_controlling_terminal(slave.as_fd()).map_err(|e| {
        ChildError::from_errno("console", e, "make the pty the controlling terminal")
    })?;
    dup_onto_stdio(&slave)?;
    let fd = slave.as_raw_fd();
    if fd <= 2 {
        clear_cloexec(&slave)?;
        // fd is now one of the process's stdio descriptors: it must stay open.
        let _ = slave.into_raw_fd();
    }
    Ok(())
}

fn dup_onto_stdio(slave: &OwnedFd) -> Result<(), ChildError> {
    let fd = slave.as_raw_fd();
    // dup2(fd, fd) is a no-op that would leave close-on-exec set: attach_terminal clears it instead.
    if fd != 0 {
        unistd::dup2_stdin(slave).map_err(|e| dup_error(e, "stdin"))?;
    }
    if fd != 1 {
        unistd::dup2_stdout(slave).map_err(|e| dup_error(e, "stdout"))?;
    }
    if fd != 2 {
        unistd::dup2_stderr(slave).map_err(|e| dup_error(e, "stderr"))?;
    }
    Ok(())
}

fn dup_error(errno: Errno, target: &str) -> ChildError {
    ChildError::from_errno("console", errno, format!("dup the pty onto {target}"))
}

fn clear_cloexec(slave: &OwnedFd) -> Result<(), ChildError> {
    fcntl::fcntl(slave, FcntlArg::F_SETFD(FdFlag::empty()))
        .map(drop)
        .map_err(|e| ChildError::from_errno("console", e, "clear close-on-exec on the pty"))
}

/// The terminal ioctls nix has no safe wrapper for.
mod sys {
    use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

    use nix::errno::Errno;
    use nix::fcntl::OFlag;

    nix::ioctl_write_ptr_bad!(tiocswinsz, libc::TIOCSWINSZ, libc::winsize);
    nix::ioctl_read_bad!(tiocgwinsz, libc::TIOCGWINSZ, libc::winsize);
    nix::ioctl_write_int_bad!(tiocsctty, libc::TIOCSCTTY);
    nix::ioctl_write_int_bad!(tiocgptpeer, libc::TIOCGPTPEER);

    /// `ioctl(master, TIOCGPTPEER, flags)`: opens the pty's slave.
    pub(super) fn open_peer(master: BorrowedFd<'_>, flags: OFlag) -> Result<OwnedFd, Errno> {
        // SAFETY: TIOCGPTPEER takes the open flags as an integer, no pointer; `master` is a live descriptor.
        let fd = unsafe { tiocgptpeer(master.as_raw_fd(), flags.bits()) }?;
        // SAFETY: on success the kernel returns a new descriptor that nothing else in the process owns.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    /// Takes ownership of a descriptor number.
    ///
    /// # Safety
    ///
    /// `fd` is open and owned by nothing else (e.g. just received with `SCM_RIGHTS`).
    pub(super) unsafe fn own(fd: std::os::fd::RawFd) -> OwnedFd {
        // SAFETY: guaranteed by the caller.
        unsafe { OwnedFd::from_raw_fd(fd) }
    }

    /// `ioctl(fd, TIOCGWINSZ)`: `(rows, cols)`.
    pub(super) fn window_size(fd: BorrowedFd<'_>) -> Result<(u16, u16), Errno> {
        let mut size = libc::winsize {
            ws_row: 0,
            ws_col: 0,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: `fd` is a live descriptor for the call's duration (borrowed) and `size` is a `winsize` on our
        // stack that the kernel writes.
        unsafe { tiocgwinsz(fd.as_raw_fd(), &mut size) }?;
        Ok((size.ws_row, size.ws_col))
    }

    /// `ioctl(fd, TIOCSWINSZ)`.
    pub(super) fn set_window_size(fd: BorrowedFd<'_>, rows: u16, cols: u16) -> Result<(), Errno> {
        let size = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: `fd` is a live descriptor for the call's duration (borrowed) and `size` is a fully initialised
        // `winsize` on our stack that the kernel only reads.
        unsafe { tiocswinsz(fd.as_raw_fd(), &size) }.map(drop)
    }

    /// `ioctl(fd, TIOCSCTTY, 0)`: make the terminal the session's controlling terminal, without stealing it
    /// from another session.
    pub(super) fn set_controlling_terminal(fd: BorrowedFd<'_>) -> Result<(), Errno> {
        // SAFETY: TIOCSCTTY takes an integer argument, no pointer; `fd` is a live descriptor (borrowed).
        unsafe { tiocsctty(fd.as_raw_fd(), 0) }.map(drop)
    }
}
