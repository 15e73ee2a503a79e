//! The OCI console socket protocol (`cove_container::console`), end to end without root: a listener plays conmon's
//! part, a forked child plays the container process.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::time::{Duration, Instant};

mod common;

use common::{wait_exit, Received};
use cove_container::console::{self, ConsoleError, ConsoleSocket, Pty, MASTER_NAME};
use nix::fcntl::{fcntl, FcntlArg, FdFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::stat::{fstat, major, minor};
use nix::unistd::{fork, ForkResult, Pid};

/// Accepts one connection on `listener` and receives one fd with its payload, as conmon does.
fn receive(listener: &UnixListener) -> Received {
    let (conn, _) = listener.accept().expect("accept");
    common::receive_fd(&conn)
}

fn listen(dir: &Path) -> (UnixListener, std::path::PathBuf) {
    let path = dir.join("console.sock");
    (UnixListener::bind(&path).expect("bind"), path)
}

fn window_size(fd: BorrowedFd<'_>) -> libc::winsize {
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `winsize` into the pointed-to struct, which lives on our stack for the call;
    // `fd` is borrowed, hence open.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut size) };
    assert_eq!(rc, 0, "TIOCGWINSZ: {}", std::io::Error::last_os_error());
    size
}

fn is_cloexec(fd: BorrowedFd<'_>) -> bool {
    let flags = fcntl(fd, FcntlArg::F_GETFD).expect("F_GETFD");
    FdFlag::from_bits_truncate(flags).contains(FdFlag::FD_CLOEXEC)
}

/// Reads `master` until `needle` shows up or 10 s pass; returns everything read.
fn read_until(master: &OwnedFd, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).contains(needle) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "timed out; read so far: {:?}",
            String::from_utf8_lossy(&seen)
        );
        let mut fds = [PollFd::new(master.as_fd(), PollFlags::POLLIN)];
        let timeout = PollTimeout::try_from(left.as_millis().min(10_000) as i32).unwrap();
        if poll(&mut fds, timeout).expect("poll") == 0 {
            continue;
        }
        let mut buf = [0u8; 1024];
        let n = nix::unistd::read(master, &mut buf).expect("read the master");
        assert!(
            n > 0,
            "EOF on the master; read so far: {:?}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&seen).into_owned()
}

/// Fields of `/proc/<pid>/stat` after the command name: index 0 is the state.
fn proc_stat(pid: Pid) -> Vec<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read stat");
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    rest.split(' ').map(str::to_owned).collect()
}

/// The kernel's encoding of a device number in `/proc/<pid>/stat`'s tty_nr.
fn tty_nr(rdev: libc::dev_t) -> u64 {
    let (maj, min) = (major(rdev), minor(rdev));
    (min & 0xff) | (maj << 8) | ((min & !0xff) << 12)
}

/// The container process's side: only system calls, then `_exit`.
fn child_attach_and_echo(slave: OwnedFd) -> i32 {
    if console::attach_terminal(slave).is_err() {
        return 10;
    }
    // SAFETY: fd 0 was just made a copy of the pty slave and stays open until _exit.
    let stdin = unsafe { BorrowedFd::borrow_raw(0) };
    // SAFETY: as for fd 0.
    let stdout = unsafe { BorrowedFd::borrow_raw(1) };
    if nix::unistd::isatty(stdin) != Ok(true) || nix::unistd::isatty(stdout) != Ok(true) {
        return 11;
    }
    if is_cloexec_raw(0) || is_cloexec_raw(1) || is_cloexec_raw(2) {
        return 12;
    }
    if nix::unistd::write(stdout, b"hello from the container\n").is_err() {
        return 13;
    }
    let mut buf = [0u8; 16];
    match nix::unistd::read(stdin, &mut buf) {
        Ok(n) if buf[..n].starts_with(b"go") => 0,
        _ => 14,
    }
}

fn is_cloexec_raw(fd: RawFd) -> bool {
    // SAFETY: F_GETFD takes no argument and only reads the descriptor table.
    unsafe { libc::fcntl(fd, libc::F_GETFD) & libc::FD_CLOEXEC != 0 }
}

#[test]
fn open_pty_gives_close_on_exec_ends_and_the_slave_path() {
    let pty = console::open_pty(None).expect("open_pty");
    assert!(is_cloexec(pty.master.as_fd()), "master is O_CLOEXEC");
    assert!(is_cloexec(pty.slave.as_fd()), "slave is O_CLOEXEC");
    assert!(
        pty.slave_path.starts_with("/dev/pts/"),
        "{}",
        pty.slave_path.display()
    );
    let name = nix::unistd::ttyname(pty.slave.as_fd()).expect("ttyname");
    assert_eq!(name, pty.slave_path);
    // The slave is the master's peer: what is written to one end is read from the other.
    nix::unistd::write(&pty.master, b"ping\n").expect("write master");
    let mut buf = [0u8; 16];
    let n = nix::unistd::read(&pty.slave, &mut buf).expect("read slave");
    assert_eq!(&buf[..n], b"ping\n");
}

#[test]
fn open_pty_sets_the_window_size() {
    let pty = console::open_pty(Some((40, 100))).expect("open_pty");
    let size = window_size(pty.slave.as_fd());
    assert_eq!((size.ws_row, size.ws_col), (40, 100));
    let size = window_size(pty.master.as_fd());
    assert_eq!((size.ws_row, size.ws_col), (40, 100));
}

#[test]
fn send_master_hands_the_master_over_with_runcs_payload() {
    let dir = tempfile::tempdir().unwrap();
    let (listener, path) = listen(dir.path());
    let pty = console::open_pty(None).expect("open_pty");
    console::send_master(&path, &pty).expect("send_master");
    let got = receive(&listener);
    assert_eq!(got.payload, MASTER_NAME.as_bytes());
    assert_eq!(MASTER_NAME, "/dev/ptmx");
    // The received fd is the same open file as our master: same pty number (same device, same inode).
    let ours = fstat(pty.master.as_fd()).unwrap();
    let theirs = fstat(got.master.as_fd()).unwrap();
    assert_eq!((ours.st_dev, ours.st_ino), (theirs.st_dev, theirs.st_ino));
    // Data flows from the received master to our slave.
    nix::unistd::write(&got.master, b"through the socket\n").unwrap();
    let mut buf = [0u8; 64];
    let n = nix::unistd::read(&pty.slave, &mut buf).unwrap();
    assert_eq!(&buf[..n], b"through the socket\n");
}

/// The whole protocol: open, send, the child attaches the slave as its controlling terminal and stdio, the
/// receiver talks to it through the master it received.
#[test]
fn the_container_process_talks_through_the_received_master() {
    let dir = tempfile::tempdir().unwrap();
    let (listener, path) = listen(dir.path());
    let pty = console::open_pty(Some((24, 80))).expect("open_pty");
    console::send_master(&path, &pty).expect("send_master");
    let got = receive(&listener);
    let Pty {
        master: our_master,
        slave,
        slave_path,
    } = pty;
    drop(our_master); // as runc does: the receiver holds the only master.
    let slave_rdev = fstat(slave.as_fd()).unwrap().st_rdev;

    // SAFETY: the child runs only system calls (attach_terminal, isatty, write, read) and `_exit`.
    let child = match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            let code = child_attach_and_echo(slave);
            // SAFETY: `_exit` ends the forked child without running the parent's atexit handlers or destructors.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => child,
    };
    drop(slave);

    let out = read_until(&got.master, "hello from the container");
    assert!(out.contains("hello from the container\r\n"), "{out:?}");

    // Observed from outside: the child leads its own session and the pty is its controlling terminal.
    let stat = proc_stat(child);
    let (session, tty) = (&stat[3], &stat[4]);
    assert_eq!(
        session,
        &child.to_string(),
        "setsid: the child leads a new session"
    );
    assert_eq!(
        tty,
        &tty_nr(slave_rdev).to_string(),
        "tty_nr is the pty slave"
    );
    for fd in 0..3 {
        let link = std::fs::read_link(format!("/proc/{child}/fd/{fd}")).unwrap();
        assert_eq!(link, slave_path, "fd {fd}");
    }

    nix::unistd::write(&got.master, b"go\n").unwrap();
    assert_eq!(
        wait_exit(child),
        0,
        "child exit code (10 attach, 11 isatty, 12 cloexec, 13 write, 14 read)"
    );
}

/// A slave that already sits on fd 0 stays open there, its close-on-exec flag cleared.
#[test]
fn attach_terminal_keeps_a_slave_already_on_stdin() {
    let pty = console::open_pty(None).expect("open_pty");
    let Pty { master, slave, .. } = pty;
    // SAFETY: the child runs only system calls and `_exit`.
    let child = match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            let code = child_with_slave_on_fd0(slave);
            // SAFETY: ends the forked child without running destructors.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => child,
    };
    drop(slave);
    let out = read_until(&master, "fd0 ok");
    assert!(out.contains("fd0 ok"), "{out:?}");
    assert_eq!(wait_exit(child), 0, "child exit code");
}

fn child_with_slave_on_fd0(slave: OwnedFd) -> i32 {
    // Put the slave on fd 0, close-on-exec, and drop the original.
    // SAFETY: dup3 only manipulates the descriptor table; fd 0 is replaced atomically.
    if unsafe { libc::dup3(slave.as_raw_fd(), 0, libc::O_CLOEXEC) } != 0 {
        return 20;
    }
    drop(slave);
    // SAFETY: fd 0 now holds our copy of the slave and nothing else in this process owns it.
    let on_stdin = unsafe { OwnedFd::from_raw_fd(0) };
    if console::attach_terminal(on_stdin).is_err() {
        return 21;
    }
    if is_cloexec_raw(0) {
        return 22;
    }
    // SAFETY: fds 0 and 1 are copies of the slave and stay open until _exit.
    let (stdin, stdout) = unsafe { (BorrowedFd::borrow_raw(0), BorrowedFd::borrow_raw(1)) };
    if nix::unistd::isatty(stdin) != Ok(true) {
        return 23;
    }
    match nix::unistd::write(stdout, b"fd0 ok\n") {
        Ok(_) => 0,
        Err(_) => 24,
    }
}

/// runc's order: the runtime connects, the container process allocates the pty (after pivot_root, where the
/// socket's path is out of reach: here it is unlinked), sends the master over the inherited connection and
/// attaches the slave.
#[test]
fn the_container_process_allocates_and_sends_over_an_inherited_connection() {
    let dir = tempfile::tempdir().unwrap();
    let (listener, path) = listen(dir.path());
    let conn = ConsoleSocket::connect(&path).expect("connect");
    assert_eq!(conn.path(), path);
    std::fs::remove_file(&path).unwrap();

    // SAFETY: the child makes system calls and the few allocations of open_pty (glibc's fork handlers keep
    // malloc usable in a forked child), then `_exit`s.
    let child = match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            let code = child_allocate_send_attach(&conn);
            // SAFETY: ends the forked child without running destructors.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => child,
    };
    drop(conn); // if the child fails before sending, the receiver sees the connection close.

    let got = receive(&listener);
    assert_eq!(got.payload, MASTER_NAME.as_bytes());
    let out = read_until(&got.master, "ready");
    assert!(out.contains("ready"), "{out:?}");
    let size = window_size(got.master.as_fd());
    assert_eq!((size.ws_row, size.ws_col), (30, 90));
    let stat = proc_stat(child);
    assert_eq!(stat[3], child.to_string(), "the child leads its session");
    assert_ne!(stat[4], "0", "the child has a controlling terminal");
    nix::unistd::write(&got.master, b"go\n").unwrap();
    assert_eq!(
        wait_exit(child),
        0,
        "child exit code (30 open, 31 send, 32 attach, 33 write, 34 read)"
    );
}

fn child_allocate_send_attach(conn: &ConsoleSocket) -> i32 {
    let Ok(pty) = console::open_pty(Some((30, 90))) else {
        return 30;
    };
    if conn.send_master(&pty).is_err() {
        return 31;
    }
    let Pty { master, slave, .. } = pty;
    drop(master);
    if console::attach_terminal(slave).is_err() {
        return 32;
    }
    // SAFETY: fds 0 and 1 are copies of the slave and stay open until _exit.
    let (stdin, stdout) = unsafe { (BorrowedFd::borrow_raw(0), BorrowedFd::borrow_raw(1)) };
    if nix::unistd::write(stdout, b"ready\n").is_err() {
        return 33;
    }
    let mut buf = [0u8; 16];
    match nix::unistd::read(stdin, &mut buf) {
        Ok(n) if buf[..n].starts_with(b"go") => 0,
        _ => 34,
    }
}

#[test]
fn a_missing_console_socket_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-such.sock");
    let pty = console::open_pty(None).expect("open_pty");
    let err = console::send_master(&path, &pty).unwrap_err();
    match &err {
        ConsoleError::Connect { path: p, source } => {
            assert_eq!(p, &path);
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("unexpected error {other:?}"),
    }
    let text = err.to_string();
    assert!(text.contains(&path.display().to_string()), "{text}");
    assert!(text.contains("console socket"), "{text}");
}

#[test]
fn a_console_socket_nobody_listens_on_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let (listener, path) = listen(dir.path());
    drop(listener); // the socket file stays, nobody listens: ECONNREFUSED
    let pty = console::open_pty(None).expect("open_pty");
    let err = console::send_master(&path, &pty).unwrap_err();
    assert!(matches!(err, ConsoleError::Connect { .. }), "{err:?}");
    assert!(err.to_string().contains(&path.display().to_string()));
}
