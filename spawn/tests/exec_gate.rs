//! The exec gate (OCI `create` then `start`) and `outlive_parent`, with plain processes: no root needed.

use std::fs;
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::time::{Duration, Instant};

use cove_spawn::{ChildError, Command, SpawnError};
use nix::unistd::{pipe, write};

const PATH: &str = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";

fn sh(script: &str) -> Command {
    Command::new(vec!["/bin/sh".into(), "-c".into(), script.into()])
        .env(vec![("PATH".into(), PATH.into())])
        .forward_signals(false)
}

/// The program a process currently runs, from its `/proc/<pid>/exe` link.
fn exe(pid: i32) -> String {
    fs::read_link(format!("/proc/{pid}/exe"))
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

#[test]
fn spawn_returns_at_the_gate_and_a_byte_lets_the_program_run() {
    let (gate, opener) = pipe().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let script = format!("echo started > {}", out.display());
    let started = Instant::now();
    let child = sh(&script).exec_gate(gate).spawn().unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    let pid = child.pid().as_raw();
    // Held before exec: still the test binary, nothing written.
    std::thread::sleep(Duration::from_millis(100));
    let own_exe = fs::read_link("/proc/self/exe")
        .unwrap()
        .display()
        .to_string();
    assert_eq!(exe(pid), own_exe);
    assert!(!out.exists());

    write(&opener, b"0").unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), 0);
    assert_eq!(fs::read_to_string(&out).unwrap(), "started\n");
}

#[test]
fn end_of_file_at_the_gate_ends_the_process_without_running_the_program() {
    // A FIFO nobody writes to: its reader sees end of file (a pipe would not do, the process inherits its
    // write end).
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("gate");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let gate: OwnedFd = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .unwrap()
        .into();
    let out = dir.path().join("out");
    let child = sh(&format!("echo ran > {}", out.display()))
        .exec_gate(gate)
        .spawn()
        .unwrap();
    assert_eq!(child.wait().unwrap().code(), 1);
    assert!(!out.exists());
}

#[test]
fn a_missing_program_fails_spawn_before_the_gate() {
    let (gate, _opener) = pipe().unwrap();
    let err = Command::new(vec!["/nonexistent/program".into()])
        .forward_signals(false)
        .exec_gate(gate)
        .spawn()
        .unwrap_err();
    match err {
        SpawnError::Child(ChildError { stage, errno, .. }) => {
            assert_eq!(stage, "exec");
            assert_eq!(errno, Some(libc::ENOENT));
        }
        other => panic!("unexpected error: {other}"),
    }
}

#[test]
fn a_directory_is_not_a_program() {
    let (gate, _opener) = pipe().unwrap();
    let err = Command::new(vec!["/tmp".into()])
        .forward_signals(false)
        .exec_gate(gate)
        .spawn()
        .unwrap_err();
    assert!(
        matches!(&err, SpawnError::Child(c) if c.errno == Some(libc::EACCES)),
        "{err}"
    );
}

#[test]
fn outlive_parent_clears_the_parent_death_signal_before_exec() {
    // The parent-death signal fires when the spawning *thread* ends: spawn from a short-lived thread and see
    // whether the program survives it.
    let dir = tempfile::tempdir().unwrap();
    for (outlive, survives) in [(true, true), (false, false)] {
        let out = dir.path().join(format!("out-{outlive}"));
        let script = format!("sleep 0.5; echo survived > {}", out.display());
        let pid = std::thread::spawn(move || {
            let child = sh(&script).outlive_parent(outlive).spawn().unwrap();
            child.pid()
        })
        .join()
        .unwrap();
        let status = nix::sys::wait::waitpid(pid, None).unwrap();
        assert_eq!(
            out.exists(),
            survives,
            "outlive_parent({outlive}): {status:?}"
        );
    }
}
