//! The OCI lifecycle through the `cove` binary as an engine drives it (root): create → start → state → kill →
//! delete, exec, the console socket, hooks, concurrency and failure clean-up, each checked from outside (the
//! process in /proc, its namespaces, its cgroup, the state dir, the host's mounts).
#![cfg(feature = "privileged")]

mod common;

use std::fs;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::oci::Oci;
use common::{busybox_root, COVE};
use serde_json::{json, Value};

/// The program a process runs.
fn exe(pid: i32) -> PathBuf {
    fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default()
}

#[test]
fn lifecycle_create_start_kill_delete_leaves_nothing_behind() {
    let oci = Oci::new("life", "echo started > /dev/null; exec sleep 100");
    let out = oci.create();
    assert!(out.status.success(), "create: {}", common::stderr(&out));

    // Created: the process exists and is still cove, blocked before exec.
    let state = oci.state();
    assert_eq!(state["status"], "created");
    assert_eq!(state["id"], oci.id.as_str());
    assert_eq!(state["bundle"], oci.bundle().to_str().unwrap());
    let pid = state["pid"].as_i64().unwrap() as i32;
    assert!(pid > 0);
    assert_eq!(exe(pid), PathBuf::from(COVE).canonicalize().unwrap());
    let procs = oci
        .cgroup_dirs()
        .into_iter()
        .find(|d| d.join("cgroup.procs").exists())
        .map(|d| fs::read_to_string(d.join("cgroup.procs")).unwrap())
        .expect("the container's cgroup");
    assert!(
        procs.lines().any(|l| l == pid.to_string()),
        "pid {pid} not in its cgroup: {procs}"
    );

    oci.ok(&["start", &oci.id]);
    oci.wait_for_status("running");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !exe(pid).ends_with("busybox") {
        assert!(Instant::now() < deadline, "not exec'd: {:?}", exe(pid));
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(oci.pid(), pid);
    let listed: Value = serde_json::from_str(&oci.ok(&["list", "--format", "json"])).unwrap();
    assert_eq!(listed[0]["id"], oci.id.as_str());
    assert_eq!(listed[0]["status"], "running");
    // A second start is refused.
    let again = oci.cove(&["start", &oci.id]);
    assert!(!again.status.success());
    assert!(common::stderr(&again).contains("running, not created"));

    // Delete refuses a running container.
    let refused = oci.cove(&["delete", &oci.id]);
    assert!(!refused.status.success());
    assert!(common::stderr(&refused).contains("use --force"));

    oci.ok(&["kill", &oci.id, "KILL"]);
    oci.wait_for_status("stopped");
    assert_eq!(oci.pid(), 0);
    oci.ok(&["delete", &oci.id]);
    oci.assert_gone();
    let missing = oci.cove(&["state", &oci.id]);
    assert!(!missing.status.success());
    assert!(common::stderr(&missing).contains("does not exist"));
}

#[test]
fn state_json_is_pretty_printed_like_runc() {
    let oci = Oci::new("pretty", "exec sleep 100");
    oci.edit(|c| c["annotations"] = json!({"org.example/key": "value"}));
    assert!(oci.create().status.success());
    let text = oci.ok(&["state", &oci.id]);
    assert!(text.starts_with("{\n  \"ociVersion\": \""), "{text}");
    assert!(text.contains("\n  \"status\": \"created\",\n"), "{text}");
    let state: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(state["annotations"]["org.example/key"], "value");
    assert!(state["created"].as_str().unwrap().ends_with('Z'));
    assert!(state["rootfs"].as_str().unwrap().ends_with("rootfs"));
    oci.ok(&["delete", "--force", &oci.id]);
    oci.assert_gone();
}

#[test]
fn flags_may_come_before_or_after_the_id_and_signals_by_any_name() {
    let oci = Oci::new("flags", "trap 'exit 3' USR1; while :; do sleep 0.05; done");
    let out = oci.detaching(&[
        "create",
        &oci.id,
        "--bundle",
        oci.bundle().to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    oci.ok(&["start", &oci.id]);
    oci.wait_for_status("running");
    std::thread::sleep(Duration::from_millis(200));
    oci.ok(&["kill", &oci.id, "SIGUSR1"]);
    oci.wait_for_status("stopped");
    for signal in ["TERM", "15", "SIGTERM"] {
        // Stopped: kill says so and fails.
        let out = oci.cove(&["kill", &oci.id, signal]);
        assert!(!out.status.success());
        assert!(common::stderr(&out).contains("not running"));
    }
    oci.ok(&["delete", &oci.id]);
    oci.assert_gone();
}

#[test]
fn the_init_inherits_creates_stdio_and_no_cove_helper_keeps_it() {
    let oci = Oci::new("stdio", "echo out-line; echo err-line >&2; exec sleep 100");
    let out_file = oci.dir.path().join("stdout");
    let mut create = oci.command(&[
        "create",
        "--bundle",
        oci.bundle().to_str().unwrap(),
        &oci.id,
    ]);
    // Close-on-exec: a concurrent test's child must not inherit it (Command dup2s it onto stderr).
    let (reader, writer) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    create
        .stdout(fs::File::create(&out_file).unwrap())
        .stderr(Stdio::from(writer));
    let status = create.status().unwrap();
    assert!(status.success());
    // Only the container's init holds the pipe's write end now.
    let pid = oci.pid();
    // The intermediate process that forked the init into its PID namespace may still be exiting: "keeps" means
    // it is still there after a moment.
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut holders = pipe_writers(&reader);
    while holders != vec![pid] && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        holders = pipe_writers(&reader);
    }
    let described: Vec<String> = holders
        .iter()
        .map(|p| fs::read_to_string(format!("/proc/{p}/cmdline")).unwrap_or_default())
        .collect();
    assert_eq!(
        holders,
        vec![pid],
        "processes holding create's stderr: {described:?}"
    );
    drop(create);

    oci.ok(&["start", &oci.id]);
    let mut err = String::new();
    let mut reader = fs::File::from(reader);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !err.contains("err-line") {
        assert!(Instant::now() < deadline, "no output: {err:?}");
        let mut buf = [0u8; 64];
        let n = reader.read(&mut buf).unwrap();
        err.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert_eq!(fs::read_to_string(&out_file).unwrap(), "out-line\n");
    oci.ok(&["delete", "--force", &oci.id]);
    oci.assert_gone();
}

/// The pids of processes with an fd on the same pipe as `end`.
fn pipe_writers(end: &OwnedFd) -> Vec<i32> {
    use std::os::fd::AsRawFd;
    let target = fs::read_link(format!("/proc/self/fd/{}", end.as_raw_fd())).unwrap();
    let me = std::process::id() as i32;
    let mut pids = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(fds) = fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        if fds
            .flatten()
            .any(|fd| fs::read_link(fd.path()).is_ok_and(|l| l == target))
        {
            pids.push(pid);
        }
    }
    pids
}

#[test]
fn exec_joins_every_namespace_and_the_cgroup_of_the_init() {
    let oci = Oci::new("exec", "exec sleep 100");
    oci.edit(|c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        if !ns.iter().any(|n| n["type"] == "cgroup") {
            ns.push(json!({"type": "cgroup"}));
        }
    });
    assert!(oci.create().status.success());
    oci.ok(&["start", &oci.id]);
    let pid = oci.pid();
    let script = "for n in cgroup ipc mnt net pid user uts; do echo $n $(readlink /proc/self/ns/$n); done; \
                  echo cgroup-file $(cat /proc/self/cgroup | sort | tr '\\n' ' '); echo host $(hostname)";
    let inside = oci.ok(&["exec", &oci.id, "--", "sh", "-c", script]);
    for line in inside
        .lines()
        .filter(|l| !l.starts_with("cgroup-file") && !l.starts_with("host"))
    {
        let (kind, link) = line.split_once(' ').unwrap();
        let init = fs::read_link(format!("/proc/{pid}/ns/{kind}")).unwrap();
        assert_eq!(link, init.to_str().unwrap(), "{kind} namespace differs");
    }
    // The same cgroup view as the init (its cgroup namespace shows its own cgroup as /).
    let init_cgroup = oci.ok(&[
        "exec",
        &oci.id,
        "--",
        "sh",
        "-c",
        "cat /proc/1/cgroup | sort | tr '\\n' ' '",
    ]);
    assert!(
        inside.contains(&format!("cgroup-file {}", init_cgroup.trim_end())),
        "{inside} vs {init_cgroup}"
    );
    assert!(inside.contains("host cove"), "{inside}");
    // Exit status of the exec'd process is exec's.
    let out = oci.cove(&["exec", &oci.id, "sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7));
    // ps lists the init (and only processes of the container).
    let pids: Vec<i32> =
        serde_json::from_str(&oci.ok(&["ps", "--format", "json", &oci.id])).unwrap();
    assert_eq!(pids, vec![pid]);
    oci.ok(&["delete", "--force", &oci.id]);
    oci.assert_gone();
}

#[test]
fn exec_detach_writes_the_pid_file_and_returns() {
    let oci = Oci::new("execd", "exec sleep 100");
    assert!(oci.create().status.success());
    oci.ok(&["start", &oci.id]);
    let pid_file = oci.dir.path().join("exec.pid");
    let started = Instant::now();
    // The detached process keeps exec's stdio: read it from files, not pipes.
    let out = oci.detaching(&[
        "exec",
        "--detach",
        "--pid-file",
        pid_file.to_str().unwrap(),
        &oci.id,
        "sleep",
        "50",
    ]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert!(started.elapsed() < Duration::from_secs(5));
    let pid: i32 = fs::read_to_string(&pid_file).unwrap().parse().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert!(exe(pid).ends_with("busybox"), "{:?}", exe(pid));
    let pids: Vec<i32> = serde_json::from_str(&oci.ok(&["ps", "-f", "json", &oci.id])).unwrap();
    assert!(pids.contains(&pid), "{pids:?}");
    // kill --all reaches the exec'd process too.
    oci.ok(&["kill", "--all", &oci.id, "KILL"]);
    oci.wait_for_status("stopped");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if stat.is_empty() || stat.contains(") Z ") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the exec'd process survived: {stat}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    oci.ok(&["delete", &oci.id]);
    oci.assert_gone();
}

/// An exec'd process gets the same child-side security sequence as the init: its `process.oomScoreAdj` is applied
/// (raised here: lowering it needs CAP_SYS_RESOURCE, which root lacks on some hosts), and its rlimits too.
#[test]
fn exec_applies_the_process_oom_score_adj_and_rlimits() {
    let oci = Oci::new("execoom", "exec sleep 100");
    assert!(oci.create().status.success());
    oci.ok(&["start", &oci.id]);
    let init_adj = fs::read_to_string(format!("/proc/{}/oom_score_adj", oci.pid())).unwrap();
    assert_ne!(init_adj.trim(), "500");
    let config: Value =
        serde_json::from_str(&fs::read_to_string(oci.bundle().join("config.json")).unwrap())
            .unwrap();
    let mut process = config["process"].clone();
    process["args"] = json!([
        "sh",
        "-c",
        "echo adj $(cat /proc/self/oom_score_adj); echo nofile $(ulimit -n)"
    ]);
    process["oomScoreAdj"] = json!(500);
    process["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 77, "hard": 77}]);
    let file = oci.dir.path().join("process.json");
    fs::write(&file, process.to_string()).unwrap();
    let inside = oci.ok(&["exec", "--process", file.to_str().unwrap(), &oci.id]);
    assert!(inside.contains("adj 500"), "{inside}");
    assert!(inside.contains("nofile 77"), "{inside}");
    oci.ok(&["delete", "--force", &oci.id]);
    oci.assert_gone();
}

/// `linux.personality` LINUX32: the init and what it runs see the 32-bit machine, and so does a process `exec`
/// adds (as in runc); the host's `uname` is unchanged.
#[test]
fn linux_personality_linux32_shows_the_32_bit_machine_to_the_init_and_exec() {
    let want = match std::env::consts::ARCH {
        "x86_64" => "machine=i686",
        "aarch64" => "machine=armv8l",
        arch => panic!("no 32-bit personality known for {arch}"),
    };
    let oci = Oci::new("pers32", "echo machine=$(uname -m); exec sleep 100");
    oci.edit(|c| c["linux"]["personality"] = json!({"domain": "LINUX32"}));
    assert!(oci.create().status.success());
    oci.ok(&["start", &oci.id]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let out = oci.dir.path().join("out.txt");
    while !fs::read_to_string(&out).unwrap().contains('\n') {
        assert!(Instant::now() < deadline, "the init printed nothing");
        std::thread::sleep(Duration::from_millis(20));
    }
    let init = fs::read_to_string(&out).unwrap();
    assert!(init.contains(want), "{init}");
    let exec = oci.ok(&["exec", &oci.id, "sh", "-c", "echo machine=$(uname -m)"]);
    assert!(exec.contains(want), "{exec}");
    let host = Command::new("uname").arg("-m").output().unwrap();
    assert_ne!(
        common::stdout(&host).trim(),
        want.trim_start_matches("machine=")
    );
    oci.ok(&["delete", "--force", &oci.id]);
    oci.assert_gone();
}

/// `process.ioPriority`: the init's class and level as the host's `ionice` reads them, and an exec'd process's own
/// as busybox `ionice` reads them inside.
#[test]
fn process_io_priority_applies_to_the_init_and_to_exec() {
    let oci = Oci::new("ioprio", "exec sleep 100");
    oci.edit(|c| c["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_IDLE", "priority": 0}));
    assert!(oci.create().status.success());
    let host = Command::new("ionice")
        .args(["-p", &oci.pid().to_string()])
        .output()
        .unwrap();
    assert_eq!(
        common::stdout(&host).trim(),
        "idle",
        "{}",
        common::stderr(&host)
    );
    let config: Value =
        serde_json::from_str(&fs::read_to_string(oci.bundle().join("config.json")).unwrap())
            .unwrap();
    let mut process = config["process"].clone();
    process["args"] = json!(["sh", "-c", "ionice -p $$"]);
    process["ioPriority"] = json!({"class": "IOPRIO_CLASS_BE", "priority": 6});
    let file = oci.dir.path().join("process.json");
    fs::write(&file, process.to_string()).unwrap();
    let inside = oci.ok(&["exec", "--process", file.to_str().unwrap(), &oci.id]);
    assert_eq!(inside.trim(), "best-effort: prio 6");
    oci.ok(&["delete", "--force", &oci.id]);
    oci.assert_gone();
}

/// Fields 19 (nice), 40 (rt_priority) and 41 (policy) of `/proc/PID/stat`.
fn sched_fields(stat: &str) -> (String, String, String) {
    let after_comm = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after_comm.split_whitespace().collect();
    // after_comm starts at field 3.
    (f[16].into(), f[37].into(), f[38].into())
}

/// `process.scheduler`: the init's policy and nice value as the host's /proc shows them, and an exec'd
/// process's policy as its own /proc/self/stat shows it. (A real-time policy is not checked here: on a kernel with
/// real-time group scheduling the container's new cgroup has no real-time runtime, and the kernel refuses it.)
#[test]
fn process_scheduler_applies_to_the_init_and_to_exec() {
    let oci = Oci::new("sched", "exec sleep 100");
    oci.edit(|c| c["process"]["scheduler"] = json!({"policy": "SCHED_BATCH", "nice": 7}));
    let out = oci.create();
    assert!(out.status.success(), "create: {}", common::stderr(&out));
    let pid = oci.pid();
    // Read from the host's /proc (no `chrt` in the busybox cgroup-v2 guest): nice 7, policy 3 (SCHED_BATCH).
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let (nice, _, policy) = sched_fields(&stat);
    assert_eq!((nice.as_str(), policy.as_str()), ("7", "3"), "{stat}");
    let config: Value =
        serde_json::from_str(&fs::read_to_string(oci.bundle().join("config.json")).unwrap())
            .unwrap();
    let mut process = config["process"].clone();
    process["args"] = json!(["cat", "/proc/self/stat"]);
    process["scheduler"] = json!({"policy": "SCHED_IDLE"});
    let file = oci.dir.path().join("process.json");
    fs::write(&file, process.to_string()).unwrap();
    let inside = oci.ok(&["exec", "--process", file.to_str().unwrap(), &oci.id]);
    let (_, rt_priority, policy) = sched_fields(&inside);
    assert_eq!(
        (rt_priority.as_str(), policy.as_str()),
        ("0", "5"),
        "{inside}"
    );
    oci.ok(&["delete", "--force", &oci.id]);
    oci.assert_gone();
}

/// Parameters the kernel refuses (a deadline runtime beyond its deadline) fail the start with an error naming the
/// field, never a silent default policy.
#[test]
fn a_scheduler_the_kernel_refuses_fails_naming_the_field() {
    let oci = Oci::new("schedbad", "exec sleep 100");
    oci.edit(|c| {
        c["process"]["scheduler"] = json!({"policy": "SCHED_DEADLINE",
            "runtime": 20_000_000u64, "deadline": 10_000_000u64, "period": 30_000_000u64})
    });
    let out = oci.create();
    assert!(!out.status.success(), "a bad deadline was accepted");
    let err = common::stderr(&out);
    assert!(err.contains("process.scheduler"), "{err}");
    assert!(err.contains("SCHED_DEADLINE"), "{err}");
    oci.assert_gone();
}

#[test]
fn console_socket_receives_a_working_pty() {
    let oci = Oci::new(
        "tty",
        "tty; test -t 0 -a -t 1 -a -t 2 && echo all-ttys; exec sleep 100",
    );
    oci.edit(|c| c["process"]["terminal"] = json!(true));
    let socket = oci.dir.path().join("console.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    let mut create = oci.command(&[
        "create",
        "--bundle",
        oci.bundle().to_str().unwrap(),
        "--console-socket",
        socket.to_str().unwrap(),
        &oci.id,
    ]);
    let child = create
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (stream, _) = listener.accept().unwrap();
    let master = common::receive_fd(&stream).master;
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "create: {}", common::stderr(&out));
    oci.ok(&["start", &oci.id]);
    let mut master = fs::File::from(master);
    let mut text = String::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !text.contains("all-ttys") {
        assert!(Instant::now() < deadline, "pty said: {text:?}");
        let mut buf = [0u8; 256];
        let n = master.read(&mut buf).unwrap();
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(text.starts_with("/dev/pts/0"), "{text:?}");
    oci.ok(&["delete", "--force", &oci.id]);
    oci.assert_gone();
}

#[test]
fn hooks_run_in_order_with_the_state_on_stdin() {
    let oci = Oci::new("hooks", "exec sleep 100");
    let log = oci.dir.path().join("hooks.log");
    let ns_file = oci.dir.path().join("create-container-mnt-ns");
    // Host hooks append their kind and the state's status; the startContainer hook runs inside the
    // container, so it writes into a bind-mounted directory.
    let shared = oci.dir.path().join("shared");
    fs::create_dir(&shared).unwrap();
    let host_hook = |kind: &str| {
        json!({"path": "/bin/sh", "args": ["sh", "-c",
            format!("status=$(sed 's/.*\"status\":\"\\([a-z]*\\)\".*/\\1/'); echo {kind} $status >> {}", log.display())]})
    };
    oci.edit(|c| {
        c["hooks"] = json!({
            "prestart": [host_hook("prestart")],
            "createRuntime": [host_hook("createRuntime")],
            "createContainer": [host_hook("createContainer"), {"path": "/bin/sh", "args": ["sh", "-c",
                format!("readlink /proc/self/ns/mnt > {}", ns_file.display())]}],
            "startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "echo startContainer >> /shared/hooks.log"]}],
            "poststart": [host_hook("poststart")],
            "poststop": [host_hook("poststop")],
        });
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/shared", "type": "bind", "source": shared, "options": ["rbind", "rw"]
        }));
    });
    assert!(oci.create().status.success());
    assert_eq!(
        fs::read_to_string(&log).unwrap(),
        "prestart creating\ncreateRuntime creating\ncreateContainer creating\n"
    );
    // createContainer ran in the container's mount namespace (with the host's paths still visible).
    let container_ns = fs::read_link(format!("/proc/{}/ns/mnt", oci.pid())).unwrap();
    assert_eq!(
        fs::read_to_string(&ns_file).unwrap().trim(),
        container_ns.to_str().unwrap()
    );
    assert_ne!(fs::read_link("/proc/self/ns/mnt").unwrap(), container_ns);
    oci.ok(&["start", &oci.id]);
    assert!(fs::read_to_string(&log)
        .unwrap()
        .ends_with("poststart running\n"));
    let deadline = Instant::now() + Duration::from_secs(5);
    while !shared.join("hooks.log").exists() {
        assert!(Instant::now() < deadline, "startContainer hook did not run");
        std::thread::sleep(Duration::from_millis(10));
    }
    oci.ok(&["delete", "--force", &oci.id]);
    assert!(fs::read_to_string(&log)
        .unwrap()
        .ends_with("poststop stopped\n"));
    oci.assert_gone();
}

#[test]
fn a_failing_hook_aborts_create_and_cleans_up() {
    for kind in ["createRuntime", "createContainer"] {
        let oci = Oci::new("hookfail", "exec sleep 100");
        oci.edit(|c| {
            c["hooks"] =
                json!({kind: [{"path": "/bin/sh", "args": ["sh", "-c", "echo nope >&2; exit 4"]}]});
        });
        let out = oci.create();
        assert!(!out.status.success());
        let err = common::stderr(&out);
        assert!(err.contains(&format!("{kind} hook 0")), "{err}");
        assert!(err.contains("nope"), "{err}");
        oci.assert_gone();
        let listed = oci.ok(&["list", "-q"]);
        assert_eq!(listed, "");
    }
}

#[test]
fn a_bad_config_fails_create_without_leaving_state() {
    let oci = Oci::new("badcfg", "true");
    oci.edit(|c| c["linux"]["intelRdt"] = json!({"closID": "x"}));
    let out = oci.create();
    assert!(!out.status.success());
    assert!(common::stderr(&out).contains("linux.intelRdt"));
    oci.assert_gone();
}

#[test]
fn two_concurrent_starts_exactly_one_wins() {
    let oci = Oci::new("race", "exec sleep 100");
    assert!(oci.create().status.success());
    let a = oci
        .command(&["start", &oci.id])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let b = oci
        .command(&["start", &oci.id])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let results = [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()];
    let wins = results.iter().filter(|o| o.status.success()).count();
    assert_eq!(
        wins,
        1,
        "{:?}",
        results.iter().map(common::stderr).collect::<Vec<_>>()
    );
    assert_eq!(oci.status(), "running");
    oci.ok(&["delete", "--force", &oci.id]);
    oci.assert_gone();
}

#[test]
fn pause_and_resume_freeze_the_container() {
    let oci = Oci::new(
        "pause",
        "i=0; while :; do i=$((i+1)); echo $i > /dev/shm/n; sleep 0.02; done",
    );
    assert!(oci.create().status.success());
    oci.ok(&["start", &oci.id]);
    oci.wait_for_status("running");
    std::thread::sleep(Duration::from_millis(200));
    oci.ok(&["pause", &oci.id]);
    assert_eq!(oci.status(), "paused");
    // The counter, read from the host through the init's root.
    let pid = oci.pid();
    let counter = || fs::read_to_string(format!("/proc/{pid}/root/dev/shm/n")).unwrap();
    let frozen = counter();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(counter(), frozen, "the loop ran while paused");
    // exec into a paused container is refused, unless --ignore-paused (runc 1.2): the process then starts frozen
    // in the container's cgroup and runs once the container is resumed.
    let refused = oci.cove(&["exec", &oci.id, "true"]);
    assert!(!refused.status.success());
    assert!(common::stderr(&refused).contains("--ignore-paused"));
    let late = std::thread::scope(|s| {
        let exec =
            s.spawn(|| oci.cove(&["exec", "--ignore-paused", &oci.id, "echo", "after-resume"]));
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            !exec.is_finished(),
            "the exec'd process ran in a paused container"
        );
        oci.ok(&["resume", &oci.id]);
        exec.join().unwrap()
    });
    assert!(late.status.success(), "{}", common::stderr(&late));
    assert_eq!(common::stdout(&late), "after-resume\n");
    assert_eq!(oci.status(), "running");
    std::thread::sleep(Duration::from_millis(300));
    assert_ne!(counter(), frozen, "the loop does not run after resume");
    oci.ok(&["delete", "--force", &oci.id]);
    oci.assert_gone();
}

#[test]
fn update_and_events_see_the_containers_cgroup() {
    let oci = Oci::new("update", "exec sleep 100");
    assert!(oci.create().status.success());
    oci.ok(&["start", &oci.id]);
    oci.ok(&["update", "--pids-limit", "42", &oci.id]);
    let pids_max = oci
        .cgroup_dirs()
        .into_iter()
        .map(|d| d.join("pids.max"))
        .find(|p| p.exists())
        .expect("a pids.max file");
    assert_eq!(fs::read_to_string(pids_max).unwrap().trim(), "42");
    let event: Value = serde_json::from_str(&oci.ok(&["events", "--stats", &oci.id])).unwrap();
    assert_eq!(event["type"], "stats");
    assert_eq!(event["id"], oci.id.as_str());
    assert_eq!(event["data"]["pids"]["limit"], 42);
    assert!(event["data"]["pids"]["current"].as_u64().unwrap() >= 1);
    oci.ok(&["delete", "--force", &oci.id]);
    oci.assert_gone();
}

#[test]
fn run_in_the_foreground_returns_the_exit_code_and_deletes() {
    let oci = Oci::new("run", "exit 5");
    let out = oci.cove(&["run", "--bundle", oci.bundle().to_str().unwrap(), &oci.id]);
    assert_eq!(out.status.code(), Some(5), "{}", common::stderr(&out));
    oci.assert_gone();
}

/// `linux.rootfsPropagation` `shared` and `unbindable`, as runtimetest checks them, with a mount
/// made inside the shared root that must not appear on the host.
#[test]
fn shared_and_unbindable_rootfs_propagation() {
    let root_tags = "awk '$5 == \"/\"' /proc/self/mountinfo";
    let leak = format!("cove-prop-leak-{}", std::process::id());
    for (propagation, script) in [
        (
            "shared",
            format!(
                "{root_tags} | grep -q shared: || exit 3; \
                 mount -t tmpfs {leak} /tmp || exit 4; \
                 grep -q {leak} /proc/self/mountinfo || exit 5"
            ),
        ),
        (
            "runbindable",
            format!(
                "{root_tags} | grep -q unbindable || exit 3; \
                 mount --rbind / /tmp 2>/dev/null && exit 4; exit 0"
            ),
        ),
    ] {
        let oci = Oci::new(&format!("prop-{propagation}"), &script);
        oci.edit(|c| {
            c["linux"]["rootfsPropagation"] = json!(propagation);
            for set in ["bounding", "effective", "permitted"] {
                c["process"]["capabilities"][set]
                    .as_array_mut()
                    .unwrap()
                    .push(json!("CAP_SYS_ADMIN"));
            }
        });
        let out = oci.cove(&["run", "--bundle", oci.bundle().to_str().unwrap(), &oci.id]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{propagation}: {}",
            common::stderr(&out)
        );
        assert!(
            !common::host_mountinfo().contains(&leak),
            "the mount leaked"
        );
        oci.assert_gone();
    }
}

#[test]
fn run_detached_keeps_running_until_deleted() {
    let oci = Oci::new("rund", "exec sleep 100");
    let out = oci.detaching(&[
        "run",
        "--detach",
        "--bundle",
        oci.bundle().to_str().unwrap(),
        &oci.id,
    ]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert_eq!(oci.status(), "running");
    let pid = oci.pid();
    assert!(exe(pid).ends_with("busybox"));
    oci.ok(&["delete", "--force", &oci.id]);
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    assert!(
        stat.is_empty() || stat.contains(") Z "),
        "still running: {stat}"
    );
    oci.assert_gone();
}

#[test]
fn unknown_ids_fail_clearly_and_delete_force_is_quiet() {
    let oci = Oci::new("unknown", "true");
    for args in [
        ["state", "nope"],
        ["start", "nope"],
        ["kill", "nope"],
        ["delete", "nope"],
    ] {
        let out = oci.cove(&args);
        assert!(!out.status.success(), "{args:?}");
        assert!(
            common::stderr(&out).contains("container `nope` does not exist"),
            "{args:?}: {}",
            common::stderr(&out)
        );
    }
    oci.ok(&["delete", "--force", "nope"]);
}

#[test]
fn rootless_create_start_exec_delete_in_a_user_namespace() {
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::chown(dir.path(), Some(65534), Some(65534)).unwrap();
    let bundle = dir.path().join("bundle");
    let runtime_dir = dir.path().join("xdg");
    for d in [&bundle, &runtime_dir] {
        fs::create_dir(d).unwrap();
        std::os::unix::fs::chown(d, Some(65534), Some(65534)).unwrap();
    }
    let id = format!("oci-rootless-{}", std::process::id());
    let nobody = |args: &[&str]| {
        let out = Command::new(COVE)
            .args(args)
            .uid(65534)
            .gid(65534)
            .env("XDG_RUNTIME_DIR", &runtime_dir)
            .stdin(Stdio::null())
            .stdout(fs::File::create(dir.path().join("out")).unwrap())
            .stderr(fs::File::create(dir.path().join("err")).unwrap())
            .status()
            .unwrap();
        let stdout = fs::read_to_string(dir.path().join("out")).unwrap();
        let stderr = fs::read_to_string(dir.path().join("err")).unwrap();
        assert!(out.success(), "cove {args:?} as nobody: {stderr}");
        stdout
    };
    // Deletes the container (as its owner) even when an assertion fails.
    struct Cleanup<'a>(&'a Path, &'a str);
    impl Drop for Cleanup<'_> {
        fn drop(&mut self) {
            let _ = Command::new(COVE)
                .args(["delete", "--force", self.1])
                .uid(65534)
                .gid(65534)
                .env("XDG_RUNTIME_DIR", self.0)
                .output();
        }
    }
    let _cleanup = Cleanup(&runtime_dir, &id);
    nobody(&["spec", "--rootless", "--bundle", bundle.to_str().unwrap()]);
    let config = bundle.join("config.json");
    let mut c: Value = serde_json::from_str(&fs::read_to_string(&config).unwrap()).unwrap();
    c["root"] = json!({"path": busybox_root(), "readonly": true});
    c["process"]["terminal"] = json!(false);
    c["process"]["args"] = json!(["sleep", "100"]);
    fs::write(&config, serde_json::to_string(&c).unwrap()).unwrap();

    nobody(&["create", "--bundle", bundle.to_str().unwrap(), &id]);
    assert!(runtime_dir
        .join("cove")
        .join(&id)
        .join("state.json")
        .exists());
    let state: Value = serde_json::from_str(&nobody(&["state", &id])).unwrap();
    assert_eq!(state["status"], "created");
    let pid = state["pid"].as_i64().unwrap();
    // The caller is root of the container's user namespace, nothing more.
    let uid_map = fs::read_to_string(format!("/proc/{pid}/uid_map")).unwrap();
    assert_eq!(
        uid_map.split_whitespace().collect::<Vec<_>>(),
        ["0", "65534", "1"]
    );
    nobody(&["start", &id]);
    let inside = nobody(&[
        "exec",
        &id,
        "--",
        "sh",
        "-c",
        "id -u; cat /proc/self/uid_map",
    ]);
    let fields: Vec<&str> = inside.split_whitespace().collect();
    assert_eq!(fields, ["0", "0", "65534", "1"], "{inside}");
    nobody(&["delete", "--force", &id]);
    assert!(!runtime_dir.join("cove").join(&id).exists());
}

#[test]
fn run_in_the_foreground_forwards_sigterm_to_the_container() {
    use std::io::{BufRead, BufReader};
    let oci = Oci::new(
        "runsig",
        "trap 'exit 9' TERM; echo ready; while :; do sleep 0.05; done",
    );
    let mut run = oci
        .command(&["run", "--bundle", oci.bundle().to_str().unwrap(), &oci.id])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(run.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "ready");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(run.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = run.wait().unwrap();
    assert_eq!(status.code(), Some(9));
    oci.assert_gone();
}

#[test]
fn preserve_fds_passes_the_callers_extra_descriptors() {
    let oci = Oci::new(
        "fds",
        "echo through-fd3 >&3; if [ -e /proc/$$/fd/4 ]; then echo open; else echo closed; fi > /dev/shm/fd4; exec sleep 100",
    );
    let file = oci.dir.path().join("fd3.txt");
    // The caller opens fd 3 itself (as conmon and containerd do) and asks for it to be kept.
    let script = format!(
        "exec 3>{file} 4>/dev/null; exec {cove} --root {root} create --preserve-fds 1 --bundle {bundle} {id}",
        file = file.display(),
        cove = COVE,
        root = oci.root().display(),
        bundle = oci.bundle().display(),
        id = oci.id
    );
    let status = Command::new("/bin/sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    oci.ok(&["start", &oci.id]);
    let pid = oci.pid();
    let deadline = Instant::now() + Duration::from_secs(5);
    while fs::read_to_string(&file).unwrap_or_default() != "through-fd3\n" {
        assert!(Instant::now() < deadline, "nothing came through fd 3");
        std::thread::sleep(Duration::from_millis(10));
    }
    // fd 4 was open in the caller too, but not asked for.
    let fd4 = fs::read_to_string(format!("/proc/{pid}/root/dev/shm/fd4")).unwrap();
    assert_eq!(fd4, "closed\n");
    oci.ok(&["delete", "--force", &oci.id]);
    oci.assert_gone();
}

#[test]
fn without_a_capabilities_section_the_container_keeps_what_cove_holds() {
    let oci = Oci::new("caps", "grep -E '^Cap(Eff|Bnd)' /proc/self/status");
    oci.edit(|c| {
        c["process"].as_object_mut().unwrap().remove("capabilities");
    });
    let out = oci.cove(&["run", "--bundle", oci.bundle().to_str().unwrap(), &oci.id]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let ours = fs::read_to_string("/proc/self/status").unwrap();
    for field in ["CapEff:", "CapBnd:"] {
        let line = |text: &str| {
            text.lines()
                .find(|l| l.starts_with(field))
                .map(|l| l.split_whitespace().nth(1).unwrap().to_owned())
                .unwrap()
        };
        assert_eq!(line(&common::stdout(&out)), line(&ours), "{field}");
    }
    oci.assert_gone();
}

#[test]
fn a_seccomp_profile_without_close_range_still_starts() {
    // Docker profiles before 2021 and many hand-written ones do not list close_range: it answers EPERM once the
    // filter is loaded, where cove marks the last descriptors close-on-exec. runc and crun start such bundles.
    let oci = Oci::new("noclose", "echo started");
    oci.edit(|c| {
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["close_range"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
        });
    });
    let out = oci.cove(&["run", "--bundle", oci.bundle().to_str().unwrap(), &oci.id]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert_eq!(common::stdout(&out), "started\n");
    oci.assert_gone();
}

#[test]
fn the_seccomp_agent_gets_the_host_pid_and_the_listener_metadata() {
    // As runc sends it and youki's contest checks: the container process state carries the pid `cove state`
    // shows (the host's) and `linux.seccomp.listenerMetadata` as `metadata`.
    let oci = Oci::new("notify", "exec sleep 100");
    let socket = oci.dir.path().join("agent.sock");
    let agent = UnixListener::bind(&socket).unwrap();
    oci.edit(|c| {
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": socket,
            "listenerMetadata": "opaque agent data",
            "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}]
        });
    });
    let created = std::thread::scope(|s| {
        let create = s.spawn(|| oci.create());
        let (conn, _) = agent.accept().unwrap();
        let received = common::receive_fd(&conn);
        (create.join().unwrap(), received)
    });
    let (out, received) = created;
    assert!(out.status.success(), "{}", common::stderr(&out));
    let state: Value = serde_json::from_slice(&received.payload).unwrap();
    assert_eq!(state["metadata"], "opaque agent data");
    assert_eq!(state["pid"], oci.pid());
    assert_eq!(state["state"]["id"], oci.id.as_str());
    oci.ok(&["delete", "--force", &oci.id]);
    oci.assert_gone();
}

#[test]
fn memory_swappiness_is_set_on_cgroup_v1_and_refused_by_name_on_v2() {
    let oci = Oci::new("swappiness", "exec sleep 100");
    oci.edit(|c| c["linux"]["resources"]["memory"] = json!({"swappiness": 17}));
    let out = oci.create();
    let v1_memory = oci.cgroup_dirs().into_iter().find(|d| {
        d.parent()
            .and_then(Path::parent)
            .is_some_and(|h| h.ends_with("memory"))
    });
    let on_v1 = Path::new("/sys/fs/cgroup/memory/memory.swappiness").exists();
    if on_v1 {
        assert!(out.status.success(), "{}", common::stderr(&out));
        let dir = v1_memory.expect("the container's v1 memory cgroup");
        assert_eq!(
            fs::read_to_string(dir.join("memory.swappiness"))
                .unwrap()
                .trim(),
            "17"
        );
        oci.ok(&["delete", "--force", &oci.id]);
    } else {
        // cgroup v2 has no swappiness: a clear error naming the field, never a silent no-op.
        assert!(!out.status.success());
        assert!(
            common::stderr(&out).contains("memory.swappiness"),
            "{}",
            common::stderr(&out)
        );
    }
    oci.assert_gone();
}

#[test]
fn time_offsets_reach_the_container_and_its_exec_processes() {
    let oci = Oci::new(
        "timens",
        "cat /proc/self/timens_offsets > /dev/shm/offsets; exec sleep 100",
    );
    oci.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "time"}));
        c["linux"]["timeOffsets"] = json!({
            "monotonic": {"secs": 1000, "nanosecs": 7},
            "boottime": {"secs": 2000}
        });
    });
    assert!(oci.create().status.success());
    oci.ok(&["start", &oci.id]);
    oci.wait_for_status("running");
    let words =
        |text: &str| -> Vec<String> { text.split_whitespace().map(str::to_owned).collect() };
    let want = words("monotonic 1000 7 boottime 2000 0");
    let exec = oci.ok(&["exec", &oci.id, "cat", "/proc/self/timens_offsets"]);
    assert_eq!(
        words(&exec),
        want,
        "an exec'd process joins the time namespace"
    );
    let pid = oci.pid();
    let file = format!("/proc/{pid}/root/dev/shm/offsets");
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut init = String::new();
    while words(&init) != want && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        init = fs::read_to_string(&file).unwrap_or_default();
    }
    assert_eq!(words(&init), want, "the init");
    oci.ok(&["delete", "--force", &oci.id]);
    oci.assert_gone();
}
