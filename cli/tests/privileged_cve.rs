//! Known container-runtime CVE classes, tried as an attacker would against the real `cove` binary (as root):
//! a working directory on a descriptor the runtime leaked (CVE-2024-21626, through a manifest, a bundle and
//! `exec`), runtime descriptors left in a created container's init, and a workload sharing its caller's terminal
//! session (TIOCSTI keystroke injection). Each test asserts the specific denial and that the host is unchanged.
#![cfg(feature = "privileged")]

mod common;

use std::fs;
use std::os::fd::OwnedFd;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::oci::Oci;
use common::{
    host_mountinfo, host_probe_manifest, stderr, stdout, take_as_controlling_terminal, Case, COVE,
};
use serde_json::json;

const PROBE: &str = env!("CARGO_BIN_EXE_cove-escape-probe");

/// The working directories an attacker tries: the runtime's descriptors by number, and other magic links.
fn hostile_cwds() -> Vec<String> {
    let mut cwds: Vec<String> = (3..=20).map(|fd| format!("/proc/self/fd/{fd}")).collect();
    cwds.extend(
        ["/proc/thread-self/fd/4", "/proc/self/cwd", "/proc/1/root"]
            .iter()
            .map(|s| s.to_string()),
    );
    cwds
}

/// A host directory a container that escaped through its cwd would write its marker into.
struct Target {
    dir: tempfile::TempDir,
}

impl Target {
    fn new() -> Target {
        Target {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// A script that climbs from its cwd to the top and creates `name` in this directory there.
    fn climb_and_write(&self, name: &str) -> String {
        let rel = self.dir.path().strip_prefix("/").unwrap().display();
        format!("cd ../../../../../../../../..; touch ./{rel}/{name}; echo wrote")
    }

    fn assert_untouched(&self) {
        let left: Vec<_> = fs::read_dir(self.dir.path()).unwrap().flatten().collect();
        assert!(left.is_empty(), "a container wrote to the host: {left:?}");
    }
}

/// A manifest on a host-backed root with the probe at /probe; [`Case::run`] checks the host is unchanged.
fn probe_case(test: &str, script: &str, process_extra: &str) -> Case {
    Case::new(test, &host_probe_manifest(PROBE, script, process_extra))
}

/// The refusal of a hostile working directory, as cove reports it.
fn assert_cwd_refused(out: &Output, cwd: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(125), "{cwd}: {err}");
    assert!(
        err.contains(&format!("chdir: {cwd}")),
        "{cwd}: not refused at chdir: {err}"
    );
    assert!(!stdout(out).contains("wrote"), "{cwd}: the workload ran");
}

#[test]
fn a_manifest_cwd_through_a_runtime_fd_is_refused_and_reaches_nothing() {
    let target = Target::new();
    let mountinfo = host_mountinfo();
    for cwd in hostile_cwds() {
        let script = target.climb_and_write("manifest-hit");
        let m = probe_case("cwd", &script, &format!("cwd = {cwd:?}"));
        let out = m.run();
        assert_cwd_refused(&out, &cwd);
    }
    target.assert_untouched();
    assert_eq!(host_mountinfo(), mountinfo);
}

#[test]
fn a_bundle_cwd_through_a_runtime_fd_is_refused_and_reaches_nothing() {
    let target = Target::new();
    for cwd in hostile_cwds() {
        let bundle = Oci::new("bundle-cwd", &target.climb_and_write("bundle-hit"));
        bundle.edit(|c| c["process"]["cwd"] = json!(cwd));
        let out = bundle.create();
        assert!(!out.status.success(), "{cwd}: create succeeded");
        let err = stderr(&out);
        assert!(err.contains(&format!("chdir: {cwd}")), "{cwd}: {err}");
        assert!(!bundle.state_dir().exists(), "{cwd}: state left behind");
    }
    target.assert_untouched();
}

#[test]
fn exec_with_a_cwd_through_a_runtime_fd_is_refused_and_reaches_nothing() {
    let target = Target::new();
    let bundle = Oci::new("exec-cwd", "exec sleep 100");
    assert!(bundle.create().status.success());
    let started = bundle.cove(&["start", &bundle.id]);
    assert!(started.status.success(), "{}", stderr(&started));
    let script = target.climb_and_write("exec-hit");
    for cwd in hostile_cwds() {
        let out = bundle.cove(&["exec", "--cwd", &cwd, &bundle.id, "sh", "-c", &script]);
        assert!(!out.status.success(), "{cwd}: exec succeeded");
        let err = stderr(&out);
        assert!(err.contains(&format!("chdir: {cwd}")), "{cwd}: {err}");
    }
    // The same through --process.
    let process = bundle.bundle().join("process.json");
    let cwd = "/proc/self/fd/5";
    fs::write(
        &process,
        json!({"cwd": cwd, "args": ["sh", "-c", script], "user": {"uid": 0, "gid": 0},
               "env": ["PATH=/bin:/usr/bin"]})
        .to_string(),
    )
    .unwrap();
    let out = bundle.cove(&["exec", "--process", process.to_str().unwrap(), &bundle.id]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!("chdir: {cwd}")),
        "{}",
        stderr(&out)
    );
    target.assert_untouched();
}

/// What a descriptor of the waiting init refers to, as `/proc/<pid>/fd/N` shows it.
fn describe_fds(pid: i32) -> Vec<(i32, String)> {
    let mut fds: Vec<(i32, String)> = fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let n: i32 = e.file_name().to_str()?.parse().ok()?;
            Some((n, fs::read_link(e.path()).ok()?.display().to_string()))
        })
        .collect();
    fds.sort();
    fds
}

#[test]
fn a_created_init_holds_no_descriptor_of_the_runtime_but_its_fifo_and_sync_socket() {
    let bundle = Oci::new("fds", "exec sleep 100");
    let out = bundle.create();
    assert!(out.status.success(), "{}", stderr(&out));
    let pid = bundle.pid();
    let fifo = bundle.state_dir().join("exec.fifo");
    assert!(fs::metadata(&fifo).unwrap().file_type().is_fifo());
    // The init waits at the gate, before exec, after every set-up step: what it holds now, it held when its
    // working directory was entered.
    let fds = describe_fds(pid);
    for (n, target) in &fds {
        if *n <= 2 {
            continue;
        }
        let allowed = Path::new(target) == fifo || target.starts_with("socket:[");
        assert!(allowed, "the init holds fd {n} -> {target}: {fds:?}");
    }
    let fifos = fds.iter().filter(|(_, t)| Path::new(t) == fifo).count();
    assert_eq!(fifos, 2, "both ends of the exec FIFO: {fds:?}");
}

#[test]
fn every_container_process_leads_its_own_session() {
    let m = probe_case("session", "exec /probe session", "");
    let out = m.run();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "leader\n");

    let bundle = Oci::new("session", "exec sleep 100");
    assert!(bundle.create().status.success());
    assert!(bundle.cove(&["start", &bundle.id]).status.success());
    // Fields 1 and 6 of stat: the pid and the session id of the exec'd process itself.
    let out = bundle.cove(&["exec", &bundle.id, "cut", "-d ", "-f1,6", "/proc/self/stat"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let ids: Vec<String> = stdout(&out).trim().split(' ').map(str::to_owned).collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert_eq!(ids[0], ids[1], "the exec'd process leads its session");
    // The init too, seen from the host: its session id is its own pid.
    let pid = bundle.pid();
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_comm = stat.rsplit_once(')').unwrap().1;
    let sid: i32 = after_comm
        .split_whitespace()
        .nth(3)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(sid, pid, "the init's session");
}

#[test]
fn a_container_cannot_push_keystrokes_into_the_callers_terminal() {
    // The caller is an interactive shell: cove runs in a session whose controlling terminal is a pty, with the
    // pty as stdin. The workload tries TIOCSTI on that terminal (enabled here: dev.tty.legacy_tiocsti = 1).
    let pty = nix::pty::openpty(None, None).unwrap();
    let slave: OwnedFd = pty.slave;
    let m = probe_case("tiocsti", "exec /probe tiocsti", "");
    let mut command = m.command();
    command.stdin(Stdio::from(slave.try_clone().unwrap()));
    let tty = slave.try_clone().unwrap();
    // SAFETY: between fork and exec the closure only calls setsid and ioctl, both async-signal-safe.
    unsafe {
        command.pre_exec(move || take_as_controlling_terminal(&tty));
    }
    let out = command.output().unwrap();
    drop(slave);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "EPERM\n",
        "TIOCSTI from the container into the caller's terminal"
    );
}

#[test]
fn exec_passes_only_the_asked_descriptors() {
    let target = Target::new();
    let bundle = Oci::new("exec-fds", "exec sleep 100");
    assert!(bundle.create().status.success());
    assert!(bundle.cove(&["start", &bundle.id]).status.success());
    let file = bundle.bundle().join("fd3.txt");
    // The caller holds fd 3 (asked for) and fd 4, a directory of the host (not asked for).
    let script = format!(
        "exec 3>{file} 4<{host_dir}; exec {COVE} --root {root} exec --preserve-fds 1 {id} \
         sh -c 'echo via-fd3 >&3; if [ -e /proc/$$/fd/4 ]; then echo fd4-open; else echo fd4-closed; fi'",
        file = file.display(),
        host_dir = target.dir.path().display(),
        root = bundle.root().display(),
        id = bundle.id,
    );
    let out = Command::new("/bin/sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "fd4-closed\n");
    assert_eq!(fs::read_to_string(&file).unwrap(), "via-fd3\n");
    target.assert_untouched();
}
