//! podman drives cove as its OCI runtime (`podman --runtime <cove>`): run, exec, exec -t, pause/unpause, stop,
//! kill, resource limits, a terminal, logs, rm — observed from outside (podman's view, the host's cgroup files,
//! /proc) and from inside the container.
//!
//! Every test gets its own podman storage (`--root`, `--runroot`, `--tmpdir` in a temp dir, vfs driver, its own
//! containers.conf), imports the busybox test rootfs as an image (no registry) and removes all of it afterwards,
//! so the host's podman storage is never touched. The runtime is `CARGO_BIN_EXE_cove` unless
//! `COVE_TEST_PODMAN_RUNTIME` names another one (e.g. `/usr/sbin/runc`, to check the test itself).
//!
//! The file is named `privileged_host_*` because it needs the host's podman and conmon, which the busybox VM guest
//! of `cargo xtask vm-test` does not have; it runs in `cargo xtask test`'s host phase.
#![cfg(feature = "privileged")]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const IMAGE: &str = "localhost/cove-test-busybox:latest";

/// podman's default rlimits (nofile 1048576) exceed the hard limits of CI machines; a runtime then fails to apply
/// them. These fit everywhere.
const ULIMITS: [&str; 4] = [
    "--ulimit",
    "nofile=1024:1024",
    "--ulimit",
    "nproc=1024:1024",
];

/// How long one podman command may take before it is killed and the test fails.
const COMMAND_TIMEOUT: &str = "120";

/// The OCI runtime podman is told to use.
fn runtime() -> PathBuf {
    std::env::var_os("COVE_TEST_PODMAN_RUNTIME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(common::COVE))
}

/// The state directory the runtime keeps for container `id` (runc's and cove's defaults as root).
fn runtime_state_dir(id: &str) -> PathBuf {
    let name = runtime()
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let base = match name.as_str() {
        "runc" => "/run/runc",
        "crun" => "/run/crun",
        _ => "/run/cove",
    };
    Path::new(base).join(id)
}

/// One isolated podman installation: storage, run state, tmpdir and config in a temp dir.
struct Podman {
    dir: tempfile::TempDir,
}

impl Podman {
    /// Fresh storage with the busybox test rootfs imported as `IMAGE`.
    fn new() -> Podman {
        Podman::with_conf("")
    }

    /// Like [`Podman::new`], with `engine` appended to the `[engine]` table of containers.conf.
    fn with_conf(engine: &str) -> Podman {
        let dir = tempfile::Builder::new()
            .prefix("cove-podman-")
            .tempdir()
            .unwrap();
        let conf = format!("{CONTAINERS_CONF}{engine}\n");
        std::fs::write(dir.path().join("containers.conf"), conf).unwrap();
        let podman = Podman { dir };
        podman.import_busybox();
        podman
    }

    /// `podman` with this installation's global flags, under a timeout.
    fn command(&self) -> Command {
        let d = self.dir.path();
        let mut c = Command::new("timeout");
        c.args(["--kill-after=10", COMMAND_TIMEOUT, "podman"])
            .arg("--root")
            .arg(d.join("root"))
            .arg("--runroot")
            .arg(d.join("runroot"))
            .arg("--tmpdir")
            .arg(d.join("tmp"))
            .args(["--storage-driver", "vfs"])
            .args(["--cgroup-manager", "cgroupfs"])
            .args(["--events-backend", "file"])
            .arg("--runtime")
            .arg(runtime())
            // Only this file: the host's containers.conf must not change what the test sees.
            .env("CONTAINERS_CONF", d.join("containers.conf"))
            .stdin(Stdio::null());
        c
    }

    /// Runs `podman ARGS` and returns its output, whatever the exit status.
    fn output(&self, args: &[&str]) -> Output {
        let out = self
            .command()
            .args(args)
            .output()
            .expect("podman could not be started: install podman and conmon (see .ci/run)");
        assert_ne!(
            out.status.code(),
            Some(124),
            "podman {args:?} timed out after {COMMAND_TIMEOUT}s\nstdout: {}\nstderr: {}",
            common::stdout(&out),
            common::stderr(&out)
        );
        out
    }

    /// Runs `podman ARGS`, asserts it succeeded and returns its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.output(args);
        assert!(
            out.status.success(),
            "podman {args:?} failed ({}) with runtime {}\nstdout: {}\nstderr: {}",
            out.status,
            runtime().display(),
            common::stdout(&out),
            common::stderr(&out)
        );
        common::stdout(&out)
    }

    fn import_busybox(&self) {
        let root = common::busybox_root();
        let mut tar = Command::new("tar")
            .arg("-C")
            .arg(&root)
            .args(["-c", "."])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = self
            .command()
            .args(["import", "-", IMAGE])
            .stdin(tar.stdout.take().unwrap())
            .output()
            .unwrap();
        assert!(
            tar.wait().unwrap().success(),
            "tar of {} failed",
            root.display()
        );
        assert!(
            out.status.success(),
            "podman import failed: {}",
            common::stderr(&out)
        );
    }

    /// `podman run` with the flags every test needs, then `args` (options, image and command).
    fn run(&self, args: &[&str]) -> Output {
        let mut all = vec!["run", "--pull", "never"];
        all.extend(ULIMITS);
        all.extend(args);
        self.output(&all)
    }

    /// Starts a detached container named `name`; the guard removes it.
    fn detached<'a>(&'a self, name: &str, options: &[&str], script: &str) -> Container<'a> {
        let container = Container {
            podman: self,
            name: name.to_owned(),
        };
        let mut args = vec!["-d", "--name", name];
        args.extend(options);
        args.extend([IMAGE, "sh", "-c", script]);
        let out = self.run(&args);
        assert!(
            out.status.success(),
            "podman run -d {name} failed ({})\nstderr: {}",
            out.status,
            common::stderr(&out)
        );
        container
    }

    /// `podman inspect` of one field, e.g. `{{.State.Status}}`.
    fn inspect(&self, name: &str, format: &str) -> String {
        self.ok(&["inspect", "--type", "container", name, "--format", format])
            .trim()
            .to_owned()
    }

    /// Mount points below this installation's directory, from the host's mount table.
    fn mounts_inside(&self) -> Vec<String> {
        let dir = self.dir.path().to_string_lossy().into_owned();
        common::host_mountinfo()
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|mp| mp.starts_with(&dir))
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.command().args(["rm", "-af", "-t", "0"]).output();
        let _ = self.command().args(["rmi", "-af"]).output();
        // podman mounts each container's /dev/shm under its storage; none may outlive `rm`. Unmount what is left
        // (mounts podman made in this test's own directory, never a host mount) before the directory goes.
        let left = self.mounts_inside();
        for mp in left.iter().rev() {
            let _ = Command::new("umount").arg(mp).status();
        }
        let still = self.mounts_inside();
        if !still.is_empty() {
            // Never remove a tree that still holds mounts.
            let path = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap()).keep();
            panic!("mounts left under {}: {still:?}", path.display());
        }
        if !std::thread::panicking() {
            assert!(
                left.is_empty(),
                "podman left mounts behind after rm -af: {left:?}"
            );
        }
    }
}

/// containers.conf of the test installation.
const CONTAINERS_CONF: &str = r#"[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
"#;

/// A container the test started; removed (`podman rm -f`) when the guard drops, even on failure.
struct Container<'a> {
    podman: &'a Podman,
    name: String,
}

impl Container<'_> {
    fn id(&self) -> String {
        self.podman.inspect(&self.name, "{{.Id}}")
    }

    fn status(&self) -> String {
        self.podman.inspect(&self.name, "{{.State.Status}}")
    }

    /// The host pid of the container's init.
    fn pid(&self) -> u32 {
        let pid = self.podman.inspect(&self.name, "{{.State.Pid}}");
        pid.parse()
            .unwrap_or_else(|_| panic!("no pid for {}: {pid:?}", self.name))
    }

    fn exec(&self, options: &[&str], args: &[&str]) -> Output {
        let mut all = vec!["exec"];
        all.extend(options);
        all.push(&self.name);
        all.extend(args);
        self.podman.output(&all)
    }

    fn logs(&self) -> String {
        self.podman.ok(&["logs", &self.name])
    }

    /// Waits until `podman logs` contains `text`.
    fn wait_for_log(&self, text: &str) {
        wait_until(&format!("{text:?} in the logs of {}", self.name), || {
            self.logs().contains(text)
        });
    }

    /// Waits until the container has exited and returns its exit code.
    fn wait_exited(&self) -> i32 {
        wait_until(&format!("{} to exit", self.name), || {
            self.status() == "exited"
        });
        self.podman
            .inspect(&self.name, "{{.State.ExitCode}}")
            .parse()
            .unwrap()
    }
}

impl Drop for Container<'_> {
    fn drop(&mut self) {
        let _ = self
            .podman
            .command()
            .args(["rm", "-f", "-t", "0", &self.name])
            .output();
    }
}

/// Polls `cond` for up to 20 s.
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A unique container name for this test run.
fn name(test: &str) -> String {
    format!("cove-{test}-{}", std::process::id())
}

/// The container's cgroup directory on the host for `controller` (v1) or the unified one (`None`), from
/// `/proc/PID/cgroup`.
fn host_cgroup_dir(pid: u32, controller: Option<&str>) -> Option<PathBuf> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    text.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
        let path = path.trim_start_matches('/');
        match controller {
            Some(c) if ctrls.split(',').any(|x| x == c) => {
                Some(Path::new("/sys/fs/cgroup").join(c).join(path))
            }
            None if ctrls.is_empty() && is_cgroup2_only() => {
                Some(Path::new("/sys/fs/cgroup").join(path))
            }
            _ => None,
        }
    })
}

/// True when /sys/fs/cgroup itself is the cgroup2 hierarchy (no v1 controllers).
fn is_cgroup2_only() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

fn read_trimmed(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
        .trim()
        .to_owned()
}

/// The counter a looping container writes to /tmp/count, read from the host through /proc/PID/root.
fn counter(pid: u32) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/root/tmp/count")).unwrap_or_default();
    text.trim().parse().unwrap_or(0)
}

const COUNTER_SCRIPT: &str =
    "i=0; while true; do i=$((i+1)); echo $i > /tmp/count.new; mv /tmp/count.new /tmp/count; sleep 0.05; done";

#[test]
fn podman_run_rm_prints_hello() {
    let p = Podman::new();
    let out = p.run(&["--rm", "--network", "none", IMAGE, "echo", "hello"]);
    assert!(
        out.status.success(),
        "podman run failed ({}): {}",
        out.status,
        common::stderr(&out)
    );
    assert_eq!(common::stdout(&out), "hello\n");
    assert_eq!(
        p.ok(&["ps", "-a", "--format", "{{.Names}}"]).trim(),
        "",
        "--rm left a container"
    );
}

#[test]
fn podman_run_sets_hostname_and_podman_files() {
    let p = Podman::new();
    let out = p.run(&[
        "--rm",
        "--network",
        "none",
        "--hostname",
        "covebox",
        IMAGE,
        "sh",
        "-c",
        "hostname; echo $(cat /etc/hostname); test -f /run/.containerenv && echo containerenv; \
         grep -c covebox /etc/hosts >/dev/null && echo hosts; readlink /proc/1/exe",
    ]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert_eq!(
        common::stdout(&out),
        "covebox\ncovebox\ncontainerenv\nhosts\n/bin/busybox\n"
    );
}

#[test]
fn podman_run_as_another_user() {
    let p = Podman::new();
    let out = p.run(&[
        "--rm",
        "--network",
        "none",
        "-u",
        "1000:1000",
        IMAGE,
        "sh",
        "-c",
        "id -u; id -g; grep -E '^(CapEff|Seccomp):' /proc/self/status",
    ]);
    assert!(out.status.success(), "run -u: {}", common::stderr(&out));
    assert_eq!(
        common::stdout(&out),
        "1000\n1000\nCapEff:\t0000000000000000\nSeccomp:\t2\n",
        "uid/gid 1000, no effective capabilities, podman's seccomp filter loaded"
    );
}

/// `--network none` is a new network namespace with only the loopback device, which is up (runc and crun bring it
/// up when the namespace has no path).
#[test]
fn podman_network_none_has_loopback_up() {
    let p = Podman::new();
    let out = p.run(&[
        "--rm",
        "--network",
        "none",
        IMAGE,
        "sh",
        "-c",
        "ip -o link show | wc -l; ip -o link show lo; ip -o -4 addr show lo",
    ]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let text = common::stdout(&out);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("1"), "only lo: {text}");
    let link = lines.next().unwrap_or_default();
    assert!(link.contains("<LOOPBACK,UP,LOWER_UP>"), "lo is up: {text}");
    assert!(
        lines
            .next()
            .unwrap_or_default()
            .contains("inet 127.0.0.1/8"),
        "lo has 127.0.0.1: {text}"
    );
}

#[test]
fn podman_run_passes_exit_status_and_stdin() {
    let p = Podman::new();
    let out = p.run(&["--rm", "--network", "none", IMAGE, "sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7), "{}", common::stderr(&out));

    let mut cmd = p.command();
    cmd.args(["run", "--pull", "never", "-i", "--rm", "--network", "none"])
        .args(ULIMITS)
        .args([IMAGE, "cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"through stdin\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert_eq!(common::stdout(&out), "through stdin\n");
}

#[test]
fn podman_run_missing_command_exits_127() {
    let p = Podman::new();
    let out = p.run(&["--rm", "--network", "none", IMAGE, "/no/such/command"]);
    assert_eq!(
        out.status.code(),
        Some(127),
        "podman maps the runtime's 'no such file or directory' to 127\nstderr: {}",
        common::stderr(&out)
    );
    assert!(
        common::stderr(&out).contains("/no/such/command"),
        "the runtime's error names the command: {}",
        common::stderr(&out)
    );
}

/// With the runtime's name in `runtime_supports_json`, podman passes `--log-format=json --log FILE` before the
/// subcommand and shows the `msg` of the JSON error the runtime wrote there.
#[test]
fn podman_json_log_flags_are_accepted_and_errors_shown() {
    let p = Podman::with_conf(r#"runtime_supports_json = ["cove", "runc", "crun"]"#);
    let out = p.run(&["--rm", "--network", "none", IMAGE, "echo", "hello"]);
    assert!(
        out.status.success(),
        "run with --log-format=json --log: {}",
        common::stderr(&out)
    );
    assert_eq!(common::stdout(&out), "hello\n");

    let c = p.detached(&name("jsonexec"), &["--network", "none"], "sleep 1000");
    let out = c.exec(&[], &["echo", "from-exec"]);
    assert!(out.status.success(), "exec: {}", common::stderr(&out));
    assert_eq!(common::stdout(&out), "from-exec\n");

    let out = p.run(&["--rm", "--network", "none", IMAGE, "/no/such/command"]);
    assert_eq!(out.status.code(), Some(127), "{}", common::stderr(&out));
    let err = common::stderr(&out);
    assert!(
        err.contains("/no/such/command") && !err.contains("\"level\""),
        "podman shows the msg of the runtime's JSON error: {err}"
    );
}

#[test]
fn podman_default_network_joins_podmans_netns() {
    let p = Podman::new();
    let c = p.detached(
        &name("net"),
        &[],
        "ip -4 addr show eth0; echo net-done; sleep 1000",
    );
    c.wait_for_log("net-done");
    let logs = c.logs();
    assert!(
        logs.contains("inet "),
        "eth0 of podman's network has an address: {logs}"
    );
    let pid = c.pid();
    let inside = std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap();
    let host = std::fs::read_link("/proc/self/ns/net").unwrap();
    assert_ne!(inside, host, "the container has its own network namespace");
}

#[test]
fn podman_exec_runs_in_the_container() {
    let p = Podman::new();
    let c = p.detached(&name("exec"), &["--network", "none"], "sleep 1000");
    let out = c.exec(&[], &["sh", "-c", "echo from-exec; cat /proc/1/cmdline"]);
    assert!(out.status.success(), "exec: {}", common::stderr(&out));
    let text = common::stdout(&out);
    assert!(
        text.starts_with("from-exec\n") && text.contains("sleep\x001000"),
        "exec sees the container's init: {text:?}"
    );

    let out = c.exec(
        &["-e", "FOO=bar", "-w", "/tmp", "-u", "1000:1000"],
        &["sh", "-c", "echo $FOO; pwd; id -u; id -g"],
    );
    assert!(out.status.success(), "exec -u: {}", common::stderr(&out));
    assert_eq!(common::stdout(&out), "bar\n/tmp\n1000\n1000\n");

    let out = c.exec(&[], &["sh", "-c", "exit 3"]);
    assert_eq!(out.status.code(), Some(3), "exec's exit status");

    // The exec'd process is in the container's namespaces: same pid namespace as the init.
    let pid = c.pid();
    let out = c.exec(
        &[],
        &[
            "sh",
            "-c",
            "readlink /proc/self/ns/pid; readlink /proc/self/ns/mnt",
        ],
    );
    let init_ns = format!(
        "{}\n{}\n",
        std::fs::read_link(format!("/proc/{pid}/ns/pid"))
            .unwrap()
            .display(),
        std::fs::read_link(format!("/proc/{pid}/ns/mnt"))
            .unwrap()
            .display()
    );
    assert_eq!(common::stdout(&out), init_ns);
}

#[test]
fn podman_exec_tty_gets_a_terminal() {
    let p = Podman::new();
    let c = p.detached(&name("exectty"), &["--network", "none"], "sleep 1000");
    let out = c.exec(
        &["-t"],
        &["sh", "-c", "tty; test -t 0 && test -t 1 && echo both"],
    );
    assert!(out.status.success(), "exec -t: {}", common::stderr(&out));
    let text = common::stdout(&out).replace('\r', "");
    assert!(
        text.starts_with("/dev/pts/") && text.ends_with("both\n"),
        "exec -t output: {text:?}"
    );
}

#[test]
fn podman_run_tty_gets_a_terminal() {
    let p = Podman::new();
    let out = p.run(&[
        "--rm",
        "-t",
        "--network",
        "none",
        IMAGE,
        "sh",
        "-c",
        "tty; test -t 0 && test -t 1 && test -t 2 && echo all-tty",
    ]);
    assert!(out.status.success(), "run -t: {}", common::stderr(&out));
    let text = common::stdout(&out).replace('\r', "");
    assert!(
        text.starts_with("/dev/pts/") && text.ends_with("all-tty\n"),
        "run -t output: {text:?}"
    );
}

#[test]
fn podman_pause_freezes_and_unpause_thaws() {
    let p = Podman::new();
    let c = p.detached(&name("pause"), &["--network", "none"], COUNTER_SCRIPT);
    let pid = c.pid();
    wait_until("the counter to start", || counter(pid) > 0);

    p.ok(&["pause", &c.name]);
    assert_eq!(c.status(), "paused");
    match host_cgroup_dir(pid, Some("freezer")) {
        Some(dir) => assert_eq!(read_trimmed(&dir.join("freezer.state")), "FROZEN"),
        None => {
            let dir = host_cgroup_dir(pid, None).expect("the container's cgroup");
            assert_eq!(read_trimmed(&dir.join("cgroup.freeze")), "1");
        }
    }
    let frozen_at = counter(pid);
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(counter(pid), frozen_at, "the counter advanced while paused");

    p.ok(&["unpause", &c.name]);
    assert_eq!(c.status(), "running");
    wait_until("the counter to advance after unpause", || {
        counter(pid) > frozen_at
    });
}

#[test]
fn podman_stop_sends_sigterm_then_sigkill() {
    let p = Podman::new();
    let c = p.detached(
        &name("stop"),
        &["--network", "none"],
        "trap 'echo got-term; exit 3' TERM; echo started; while true; do sleep 0.1; done",
    );
    c.wait_for_log("started");
    p.ok(&["stop", "-t", "10", &c.name]);
    assert_eq!(c.status(), "exited");
    assert_eq!(c.wait_exited(), 3, "exit status of the TERM trap");
    let logs = c.logs();
    assert_eq!(logs, "started\ngot-term\n", "podman logs");

    let c = p.detached(
        &name("stopkill"),
        &["--network", "none"],
        "trap '' TERM; echo started; while true; do sleep 0.1; done",
    );
    c.wait_for_log("started");
    let out = p.output(&["stop", "-t", "1", &c.name]);
    assert!(out.status.success(), "stop: {}", common::stderr(&out));
    assert_eq!(c.wait_exited(), 137, "SIGKILL after the stop timeout");
}

#[test]
fn podman_kill_delivers_the_signal() {
    let p = Podman::new();
    let c = p.detached(
        &name("kill"),
        &["--network", "none"],
        "trap 'echo got-usr1; exit 5' USR1; echo ready; while true; do sleep 0.1; done",
    );
    c.wait_for_log("ready");
    p.ok(&["kill", "--signal", "USR1", &c.name]);
    assert_eq!(c.wait_exited(), 5, "exit status of the USR1 trap");
    assert!(c.logs().contains("got-usr1"));

    let c = p.detached(&name("kill9"), &["--network", "none"], "sleep 1000");
    p.ok(&["kill", &c.name]);
    assert_eq!(c.wait_exited(), 137, "podman kill defaults to SIGKILL");
}

#[test]
fn podman_memory_and_pids_limits_apply() {
    let p = Podman::new();
    let c = p.detached(
        &name("limits"),
        &["--network", "none", "--memory", "64m", "--pids-limit", "50"],
        "sleep 1000",
    );
    let pid = c.pid();
    // From the host, at the container's cgroup.
    let (memory, pids) = match (
        host_cgroup_dir(pid, Some("memory")),
        host_cgroup_dir(pid, Some("pids")),
    ) {
        (Some(m), Some(p)) => (
            read_trimmed(&m.join("memory.limit_in_bytes")),
            read_trimmed(&p.join("pids.max")),
        ),
        _ => {
            let dir = host_cgroup_dir(pid, None).expect("the container's cgroup");
            (
                read_trimmed(&dir.join("memory.max")),
                read_trimmed(&dir.join("pids.max")),
            )
        }
    };
    assert_eq!(memory, "67108864");
    assert_eq!(pids, "50");

    // From inside: podman mounts the container's cgroup at /sys/fs/cgroup.
    let out = c.exec(&[], &[
        "sh",
        "-c",
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max; \
         cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max",
    ]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert_eq!(common::stdout(&out), "67108864\n50\n");
}

#[test]
fn podman_rm_removes_container_state_and_cgroup() {
    let p = Podman::new();
    let c = p.detached(&name("rm"), &["--network", "none"], "sleep 1000");
    let id = c.id();
    let pid = c.pid();
    let cgroups: Vec<PathBuf> = ["memory", "pids", "freezer"]
        .iter()
        .filter_map(|ctrl| host_cgroup_dir(pid, Some(ctrl)))
        .chain(host_cgroup_dir(pid, None))
        .collect();
    assert!(!cgroups.is_empty(), "the container has a cgroup");
    assert!(
        runtime_state_dir(&id).exists(),
        "the runtime keeps state at {}",
        runtime_state_dir(&id).display()
    );

    p.ok(&["rm", "-f", "-t", "0", &c.name]);
    assert_eq!(p.ok(&["ps", "-a", "-q", "--no-trunc"]).trim(), "");
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| !c.contains("sleep")),
        "the container's init is gone"
    );
    assert!(
        !runtime_state_dir(&id).exists(),
        "state left at {}",
        runtime_state_dir(&id).display()
    );
    for dir in cgroups {
        assert!(!dir.exists(), "cgroup left at {}", dir.display());
    }
}
