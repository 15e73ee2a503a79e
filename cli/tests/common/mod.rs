//! Shared harness of the `cove` binary tests: a manifest in its own temp dir, run through the real
//! binary, with checks that the host is left as it was; and helpers for forked children and the console socket.
#![allow(dead_code)] // each test binary uses a different part

pub mod oci;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const COVE: &str = env!("CARGO_BIN_EXE_cove");

/// The busybox root built by `cargo xtask rootfs`.
pub fn busybox_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/rootfs")
        .canonicalize()
        .unwrap_or_default();
    assert!(
        root.join("bin/busybox").exists(),
        "the test rootfs is missing: run `cargo xtask rootfs` first"
    );
    root
}

/// A manifest in its own temp dir, and what the host looked like before the container ran.
pub struct Case {
    pub dir: tempfile::TempDir,
    pub name: String,
    pub mountinfo_before: String,
}

impl Case {
    pub fn new(test: &str, body: &str) -> Case {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let name = format!("t-{test}-{}", std::process::id());
        let text = format!("name = \"{name}\"\n{body}");
        std::fs::write(dir.path().join("c.toml"), text).unwrap();
        Case {
            dir,
            name,
            mountinfo_before: host_mountinfo(),
        }
    }

    pub fn manifest(&self) -> PathBuf {
        self.dir.path().join("c.toml")
    }

    pub fn command(&self) -> Command {
        let mut c = Command::new(COVE);
        c.arg("run")
            .arg(self.manifest())
            .stdin(Stdio::null())
            .env("COVE_TEST_CASE", &self.name);
        c
    }

    /// Runs the container to completion and checks the host is as before.
    pub fn run(&self) -> Output {
        let out = self.command().output().unwrap();
        self.assert_host_clean();
        out
    }

    pub fn assert_host_clean(&self) {
        assert_eq!(
            host_mountinfo(),
            self.mountinfo_before,
            "the host's mount table changed"
        );
        assert!(
            !Path::new("/run/cove").join(&self.name).exists(),
            "the state dir was left behind"
        );
        let marker = format!("COVE_TEST_CASE={}", self.name);
        let left: Vec<String> = std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
            .filter(|e| {
                std::fs::read(e.path().join("environ"))
                    .is_ok_and(|env| env.split(|b| *b == 0).any(|v| v == marker.as_bytes()))
            })
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            left.is_empty(),
            "processes of this test are still running: {left:?}"
        );
    }
}

pub fn host_mountinfo() -> String {
    std::fs::read_to_string("/proc/self/mountinfo").unwrap()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A manifest body on a host-backed root (the host's /usr, /bin, /lib) running `script`, with `probe` (a test
/// binary) bound read-only at `/probe`; `process_extra` goes into `[process]`.
pub fn host_probe_manifest(probe: &str, script: &str, process_extra: &str) -> String {
    format!(
        "[process]\nargs = [\"/bin/sh\", \"-c\", {script:?}]\n{process_extra}\n[rootfs]\nhost = true\n\
         [[mounts]]\ntype = \"bind\"\nsource = {probe:?}\ntarget = \"/probe\"\noptions = [\"ro\"]\n"
    )
}

pub fn busybox_manifest(script: &str, extra: &str) -> String {
    format!(
        "hostname = \"box\"\n[process]\nargs = [\"/bin/sh\", \"-c\", {script:?}]\n[rootfs]\npath = {:?}\n{extra}",
        busybox_root().display().to_string()
    )
}

/// What a console socket's receiver got: the fd and the message it came with.
pub struct Received {
    pub master: std::os::fd::OwnedFd,
    pub payload: Vec<u8>,
}

/// Receives exactly one fd sent with SCM_RIGHTS on `conn`, with its payload, as conmon does.
pub fn receive_fd(conn: &std::os::unix::net::UnixStream) -> Received {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
    let mut buf = [0u8; 4096];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!(RawFd);
    let msg = recvmsg::<()>(
        conn.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .expect("recvmsg");
    let bytes = msg.bytes;
    let mut fds: Vec<RawFd> = Vec::new();
    for cmsg in msg.cmsgs().expect("cmsgs") {
        if let ControlMessageOwned::ScmRights(got) = cmsg {
            fds.extend(got);
        }
    }
    assert_eq!(fds.len(), 1, "exactly one fd is sent");
    // SAFETY: the fd was just installed in our table by recvmsg(SCM_RIGHTS); nothing else owns it.
    let master = unsafe { OwnedFd::from_raw_fd(fds[0]) };
    Received {
        master,
        payload: buf[..bytes].to_vec(),
    }
}

/// Waits (up to 10 s, then kills it) for a forked test child and returns its exit code.
pub fn wait_exit(pid: nix::unistd::Pid) -> i32 {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)).expect("waitpid") {
            WaitStatus::Exited(_, code) => return code,
            WaitStatus::StillAlive if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(10))
            }
            WaitStatus::StillAlive => {
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
                let _ = waitpid(pid, None);
                panic!("child {pid} did not exit within 10 s");
            }
            other => panic!("child {pid}: {other:?}"),
        }
    }
}

/// Makes `tty` the controlling terminal of a new session of the calling (forked) process, as a login shell has.
pub fn take_as_controlling_terminal(tty: &impl std::os::fd::AsFd) -> std::io::Result<()> {
    nix::unistd::setsid()?;
    // SAFETY: TIOCSCTTY takes an integer argument; `tty` is an open descriptor of the forked child.
    let rc = unsafe {
        libc::ioctl(
            std::os::fd::AsRawFd::as_raw_fd(&std::os::fd::AsFd::as_fd(tty)),
            libc::TIOCSCTTY,
            0,
        )
    };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
