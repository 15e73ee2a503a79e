//! A manifest run (`cove run FILE.toml`) in the state store every container shares: while it runs, `cove list`,
//! `state`, `exec` and `kill` reach it as they reach an OCI container; `--root` says where its state lives;
//! its state is gone when the run ends.
#![cfg(feature = "privileged")]

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// `cove [--root R] ARGS…`.
fn cove(root: Option<&Path>, args: &[&str]) -> Output {
    let mut c = Command::new(COVE);
    if let Some(root) = root {
        c.arg("--root").arg(root);
    }
    c.args(args).stdin(Stdio::null()).output().unwrap()
}

/// Starts `cove [--root R] run c.toml` and waits for the container's first line, `up`.
fn start(case: &Case, root: Option<&Path>) -> Child {
    let mut c = Command::new(COVE);
    if let Some(root) = root {
        c.arg("--root").arg(root);
    }
    let mut run = c
        .arg("run")
        .arg(case.manifest())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .env("COVE_TEST_CASE", &case.name)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(run.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "up");
    run
}

/// `cove state ID` once the run has recorded it.
fn state(root: Option<&Path>, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let out = cove(root, &["state", id]);
        if out.status.success() {
            return serde_json::from_str(&stdout(&out)).unwrap();
        }
        assert!(Instant::now() < deadline, "no state: {}", stderr(&out));
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Kills the container with `cove kill ID KILL` and returns the run's exit code.
fn kill(root: Option<&Path>, id: &str, mut run: Child) -> Option<i32> {
    let out = cove(root, &["kill", id, "KILL"]);
    assert!(out.status.success(), "kill: {}", stderr(&out));
    run.wait().unwrap().code()
}

#[test]
fn a_running_manifest_container_is_listed_stated_execd_and_killed() {
    let case = Case::new("mstate", &busybox_manifest("echo up; exec sleep 100", ""));
    let run = start(&case, None);
    let id = case.name.as_str();

    let state = state(None, id);
    assert_eq!(state["status"], "running", "{state}");
    assert_eq!(state["id"], id);
    let pid = state["pid"].as_i64().unwrap();
    assert!(pid > 0, "{state}");
    assert!(
        std::fs::read_link(format!("/proc/{pid}/exe"))
            .unwrap()
            .ends_with("busybox"),
        "the state's pid is not the container's program"
    );
    assert_eq!(
        state["bundle"],
        case.dir.path().canonicalize().unwrap().to_str().unwrap()
    );

    let listed: Value =
        serde_json::from_str(&stdout(&cove(None, &["list", "-f", "json"]))).unwrap();
    let mine: Vec<&Value> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["id"] == id)
        .collect();
    assert_eq!(mine.len(), 1, "{listed}");
    assert_eq!(mine[0]["status"], "running");
    assert_eq!(mine[0]["pid"], pid);

    // exec joins the container: its hostname, its pid namespace, its environment.
    let out = cove(
        None,
        &[
            "exec",
            id,
            "--",
            "sh",
            "-c",
            "hostname; echo $$; cat /proc/1/comm",
        ],
    );
    assert!(out.status.success(), "exec: {}", stderr(&out));
    let lines: Vec<String> = stdout(&out).lines().map(str::to_owned).collect();
    assert_eq!(lines[0], "box", "{lines:?}");
    assert_ne!(
        lines[1],
        pid.to_string(),
        "exec ran outside the pid namespace"
    );
    assert_eq!(lines[2], "sleep", "{lines:?}");
    // An OCI-only flag is refused with a reason.
    let out = cove(None, &["exec", "--cap", "CAP_SYS_ADMIN", id, "true"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("--cap is for containers of an OCI bundle"),
        "{}",
        stderr(&out)
    );

    assert_eq!(kill(None, id, run), Some(137));
    case.assert_host_clean();
    let out = cove(None, &["state", id]);
    assert!(
        stderr(&out).contains(&format!("container `{id}` does not exist")),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_manifest_run_keeps_its_state_under_root() {
    let case = Case::new("mroot", &busybox_manifest("echo up; exec sleep 100", ""));
    let root: PathBuf = case.dir.path().join("state");
    let run = start(&case, Some(&root));
    let id = case.name.as_str();

    assert_eq!(state(Some(&root), id)["status"], "running");
    assert!(root.join(id).join("state.json").is_file());
    assert!(
        !Path::new(DEFAULT_ROOT).join(id).exists(),
        "the run used the default root despite --root"
    );
    let out = cove(None, &["state", id]);
    assert!(!out.status.success(), "found under the default root");
    let out = cove(Some(&root), &["exec", id, "--", "hostname"]);
    assert_eq!(stdout(&out), "box\n", "{}", stderr(&out));

    assert_eq!(kill(Some(&root), id, run), Some(137));
    case.assert_host_clean();
    assert!(
        !root.join(id).exists(),
        "the run left its state dir under --root"
    );
}

const DEFAULT_ROOT: &str = "/run/cove";
