#![cfg(feature = "privileged")]
//! `security.seccomp_listener` end to end, without `cove run`: the parent connects to an agent's
//! unix socket, a forked child runs the security steps before exec (capabilities,
//! no_new_privileges, the filter), and the agent (this test) receives the OCI container process
//! state with the listener fd and answers the child's notified `getppid`.

use std::io::IoSliceMut;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;

use cove_container::security::{Seccomp, SecurityPlan};
use cove_seccomp::notify::{receive, respond, Response};
use nix::cmsg_space;
use nix::sys::signal::{kill, Signal};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};

const PROFILE: &str = r#"{"defaultAction":"SCMP_ACT_ALLOW",
    "syscalls":[{"names":["getppid"],"action":"SCMP_ACT_NOTIFY"}]}"#;

/// A forked child, killed and reaped if the test fails before it is waited for.
struct Child {
    pid: Pid,
    reaped: bool,
}

impl Child {
    /// Forks; the child runs `body` and exits with its return value (101 if it panics).
    fn fork(body: impl FnOnce() -> i32) -> Child {
        // SAFETY: the child runs `body` (plain syscalls, small allocations: glibc's fork leaves
        // malloc usable), then leaves with `_exit`, never returning into the test harness.
        match unsafe { fork() }.expect("fork") {
            ForkResult::Child => {
                let code =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)).unwrap_or(101);
                // SAFETY: `_exit` ends the child without running the parent's destructors.
                unsafe { libc::_exit(code) }
            }
            ForkResult::Parent { child } => Child {
                pid: child,
                reaped: false,
            },
        }
    }

    fn wait(mut self) -> WaitStatus {
        let status = waitpid(self.pid, None).expect("waitpid");
        self.reaped = true;
        status
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if !self.reaped {
            let _ = kill(self.pid, Signal::SIGKILL);
            let _ = waitpid(self.pid, None);
        }
    }
}

/// Receives the state JSON and the fd sent with it.
fn receive_state(sock: &OwnedFd) -> (serde_json::Value, OwnedFd) {
    let mut buf = vec![0u8; 4096];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut space = cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::empty(),
    )
    .expect("recvmsg");
    let len = msg.bytes;
    let fd = msg
        .cmsgs()
        .expect("cmsgs")
        .find_map(|c| match c {
            ControlMessageOwned::ScmRights(fds) => fds.first().copied(),
            _ => None,
        })
        .expect("the container sent an fd");
    // SAFETY: SCM_RIGHTS installed this fd in our table for us alone.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let state = serde_json::from_slice(&buf[..len]).expect("the state is JSON");
    (state, fd)
}

#[test]
fn the_agent_gets_the_state_and_the_listener_and_answers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = dir.path().join("notify.json");
    std::fs::write(&profile, PROFILE).expect("write profile");
    let socket = dir.path().join("agent.sock");
    let agent = UnixListener::bind(&socket).expect("bind");

    let mut plan = SecurityPlan::default();
    let mut seccomp =
        Seccomp::compile(profile.to_str().expect("utf-8"), &plan.capabilities).expect("compile");
    assert!(seccomp.notifies());
    seccomp.listener_path = Some(socket.clone());
    seccomp.connect_listener("notify-test").expect("connect");
    plan.seccomp = seccomp;

    let kid = Child::fork(|| {
        if plan.apply_before_exec(0).is_err() {
            return 2;
        }
        // SAFETY: getppid takes no arguments; the agent answers it.
        let ppid = unsafe { libc::syscall(libc::SYS_getppid) };
        if ppid == 4242 {
            0
        } else {
            3
        }
    });
    drop(plan); // the parent's end of the connection; the child holds its own

    let (conn, _) = agent.accept().expect("accept");
    let conn = OwnedFd::from(conn);
    let (state, listener) = receive_state(&conn);
    assert_eq!(state["ociVersion"], "1.0.2");
    assert_eq!(state["fds"], serde_json::json!(["seccompFd"]));
    assert_eq!(state["state"]["id"], "notify-test");
    assert_eq!(state["state"]["status"], "creating");
    // No pid namespace here: the child's own view of its pid is the host's.
    assert_eq!(state["pid"], kid.pid.as_raw());
    assert_eq!(state["state"]["pid"], kid.pid.as_raw());

    let note = receive(listener.as_fd()).expect("receive");
    assert_eq!(i64::from(note.nr), libc::SYS_getppid);
    assert_eq!(note.pid, kid.pid.as_raw() as u32);
    respond(listener.as_fd(), &Response::value(note.id, 4242)).expect("respond");
    let pid = kid.pid;
    assert_eq!(kid.wait(), WaitStatus::Exited(pid, 0));
}

#[test]
fn cove_run_hands_the_listener_to_the_agent() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("notify.json"), PROFILE).expect("write profile");
    let socket = dir.path().join("agent.sock");
    let agent = UnixListener::bind(&socket).expect("bind");
    let rootfs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/rootfs");
    let name = format!("t-notify-{}", std::process::id());
    // busybox's shell sets $PPID from the raw getppid result: whatever the agent answers.
    let manifest = format!(
        "name = \"{name}\"\n[process]\nargs = [\"/bin/sh\", \"-c\", \"echo ppid=$PPID\"]\n\
         [rootfs]\npath = {:?}\n[security]\nseccomp = \"notify.json\"\nseccomp_listener = {:?}\n",
        rootfs
            .canonicalize()
            .expect("cargo xtask rootfs")
            .display()
            .to_string(),
        socket.display().to_string()
    );
    std::fs::write(dir.path().join("c.toml"), manifest).expect("write manifest");
    let cove = std::process::Command::new(env!("CARGO_BIN_EXE_cove"))
        .arg("run")
        .arg(dir.path().join("c.toml"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("cove run");

    let (conn, _) = agent.accept().expect("accept");
    let (state, listener) = receive_state(&OwnedFd::from(conn));
    assert_eq!(state["state"]["id"], name.as_str());
    // The host's view, as `cove state` shows it and runc sends it: a child of the cove process.
    let pid = state["pid"].as_i64().expect("pid");
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the container process");
    let ppid = status
        .lines()
        .find_map(|l| l.strip_prefix("PPid:"))
        .map(str::trim);
    assert_eq!(ppid, Some(cove.id().to_string().as_str()), "pid {pid}");
    let note = receive(listener.as_fd()).expect("receive");
    assert_eq!(i64::from(note.nr), libc::SYS_getppid);
    respond(listener.as_fd(), &Response::value(note.id, 4242)).expect("respond");
    let out = cove.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ppid=4242\n");
}
