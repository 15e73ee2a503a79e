//! End-to-end tests of `cove run` as root: real namespaces, mounts and pivot_root, checked from inside the
//! container. After every run the host's mount table must be unchanged and the state dir gone.
#![cfg(feature = "privileged")]

mod common;

use common::*;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

#[test]
fn the_program_is_pid_1_and_sees_only_its_own_processes() {
    let case = Case::new("pid1", &busybox_manifest("echo $$; echo /proc/[0-9]*", ""));
    let out = case.run();
    assert_eq!(stdout(&out), "1\n/proc/1\n", "{}", stderr(&out));
    assert!(out.status.success());
}

#[test]
fn ps_inside_lists_only_the_container() {
    let case = Case::new("ps", &busybox_manifest("ps -o pid,comm", ""));
    let out = case.run();
    let lines: Vec<String> = stdout(&out)
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(lines, ["PID COMMAND", "1 ps"], "{}", stderr(&out));
}

#[test]
fn hostname_is_private() {
    let host_before = nix::unistd::gethostname().unwrap();
    let case = Case::new("uts", &busybox_manifest("hostname", ""));
    let out = case.run();
    assert_eq!(stdout(&out), "box\n", "{}", stderr(&out));
    assert_eq!(nix::unistd::gethostname().unwrap(), host_before);
}

#[test]
fn network_has_only_loopback() {
    let case = Case::new(
        "net",
        &busybox_manifest(
            "ls /sys/class/net; tail -n +3 /proc/net/dev | cut -d: -f1",
            "",
        ),
    );
    let out = case.run();
    assert_eq!(
        stdout(&out).split_whitespace().collect::<Vec<_>>(),
        ["lo", "lo"],
        "{}",
        stderr(&out)
    );
}

#[test]
fn every_namespace_differs_from_the_host() {
    let kinds = ["ipc", "mnt", "net", "pid", "uts", "cgroup"];
    let script: String = kinds
        .iter()
        .map(|k| format!("readlink /proc/self/ns/{k}; "))
        .collect();
    let case = Case::new("ns", &busybox_manifest(&script, ""));
    let out = case.run();
    let inside: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
    assert_eq!(inside.len(), kinds.len(), "{}", stderr(&out));
    for (kind, link) in kinds.iter().zip(&inside) {
        let host = std::fs::read_link(format!("/proc/self/ns/{kind}")).unwrap();
        assert!(link.starts_with(&format!("{kind}:[")), "{link}");
        assert_ne!(Path::new(link), host, "{kind} namespace is the host's");
    }
}

#[test]
fn the_host_and_the_old_root_are_gone() {
    let repo = env!("CARGO_MANIFEST_DIR");
    let script = format!(
        "test -e {repo} && echo visible || echo hidden; cut -d' ' -f5 /proc/self/mountinfo"
    );
    let case = Case::new("mnt", &busybox_manifest(&script, ""));
    let out = case.run();
    let text = stdout(&out);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("hidden"), "{}", stderr(&out));
    let mount_points: Vec<&str> = lines.collect();
    assert_eq!(
        mount_points.first(),
        Some(&"/"),
        "the new root is the first mount: {mount_points:?}"
    );
    for mp in &mount_points {
        let allowed = ["/", "/proc", "/sys", "/dev"];
        assert!(
            allowed
                .iter()
                .any(|a| mp == a || mp.starts_with(&format!("{a}/"))),
            "unexpected mount {mp}"
        );
    }
    assert!(
        mount_points.contains(&"/dev/pts") && mount_points.contains(&"/dev/shm"),
        "{mount_points:?}"
    );
}

#[test]
fn read_only_root_refuses_writes() {
    let case = Case::new("ro", &busybox_manifest("touch /x; echo rc=$?", ""));
    let out = case.run();
    assert_eq!(stdout(&out), "rc=1\n");
    assert!(
        stderr(&out).contains("Read-only file system"),
        "{}",
        stderr(&out)
    );
    assert!(!busybox_root().join("x").exists());
}

#[test]
fn writable_tmpfs_root_when_not_readonly() {
    let body = "[process]\nargs = [\"/bin/sh\", \"-c\", \"mkdir /new && echo made\"]\n[rootfs]\nhost = true\nreadonly = false\n";
    let case = Case::new("rw", body);
    let out = case.run();
    assert_eq!(stdout(&out), "made\n", "{}", stderr(&out));
}

#[test]
fn devices_and_proc_work_inside() {
    let script = "echo x > /dev/null && head -c 4 /dev/zero | wc -c; ls /dev | tr '\\n' ' '; test -c /dev/pts/ptmx && echo pts";
    let case = Case::new("dev", &busybox_manifest(script, ""));
    let out = case.run();
    let text = stdout(&out);
    assert!(text.starts_with("4\n"), "{text}{}", stderr(&out));
    for dev in [
        "full", "null", "random", "tty", "urandom", "zero", "pts", "shm", "mqueue", "ptmx", "fd",
        "stdin",
    ] {
        assert!(
            text.split_whitespace().any(|w| w == dev),
            "/dev/{dev} missing: {text}"
        );
    }
    assert!(text.ends_with("pts\n"), "{text}");
}

#[test]
fn read_only_bind_mount_is_read_only() {
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("f"), "from host\n").unwrap();
    let extra = format!(
        "[[mounts]]\ntype = \"bind\"\nsource = {:?}\ntarget = \"/data\"\noptions = [\"ro\"]\n",
        data.path().display().to_string()
    );
    let case = Case::new(
        "robind",
        &busybox_manifest("cat /data/f; touch /data/g; echo rc=$?", &extra),
    );
    let out = case.run();
    assert_eq!(stdout(&out), "from host\nrc=1\n", "{}", stderr(&out));
    assert!(stderr(&out).contains("Read-only file system"));
    assert!(!data.path().join("g").exists());
}

/// A private copy of the busybox root (hard links into the shared one), which a test may change.
fn private_root(parent: &Path) -> PathBuf {
    let root = parent.join("root");
    for dir in ["bin", "proc", "sys", "dev", "tmp"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    std::fs::copy(busybox_root().join("bin/busybox"), root.join("bin/busybox")).unwrap();
    for applet in ["sh", "ls", "test", "echo", "cat", "touch"] {
        symlink("busybox", root.join("bin").join(applet)).unwrap();
    }
    root
}

#[test]
fn a_symlinked_mount_target_stays_inside_the_root() {
    let work = tempfile::tempdir().unwrap();
    let root = private_root(work.path());
    let host_dir = tempfile::tempdir().unwrap();
    // /evil inside the root points at the host directory's absolute path: resolved on the host, the mount
    // would land in the host's directory; resolved inside the root, it lands in <root>/<host_dir>/x.
    symlink(host_dir.path(), root.join("evil")).unwrap();
    let script = format!("test -d {}/x && echo inside", host_dir.path().display());
    let body = format!(
        "[process]\nargs = [\"/bin/sh\", \"-c\", {script:?}]\n[rootfs]\npath = {:?}\n[[mounts]]\ntype = \"tmpfs\"\ntarget = \"/evil/x\"\n",
        root.display().to_string()
    );
    let case = Case::new("symlink", &body);
    let out = case.run();
    assert_eq!(stdout(&out), "inside\n", "{}", stderr(&out));
    assert_eq!(
        std::fs::read_dir(host_dir.path()).unwrap().count(),
        0,
        "the host directory was touched"
    );
}

#[test]
fn exit_code_is_propagated() {
    let case = Case::new("exit", &busybox_manifest("exit 7", ""));
    assert_eq!(case.run().status.code(), Some(7));
}

#[test]
fn death_by_signal_is_128_plus_n() {
    let case = Case::new(
        "sig",
        &busybox_manifest("kill -KILL $$", "[namespaces]\npid = false\n"),
    );
    assert_eq!(case.run().status.code(), Some(137));
}

#[test]
fn sigterm_to_cove_reaches_the_container() {
    let script = "trap 'echo got TERM; exit 42' TERM; echo ready; while :; do sleep 0.05; done";
    let case = Case::new("fwd", &busybox_manifest(script, ""));
    let mut child = case
        .command()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "ready");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(lines.next().unwrap().unwrap(), "got TERM");
    assert_eq!(status.code(), Some(42));
    case.assert_host_clean();
}

#[test]
fn exec_failure_is_reported_with_its_stage() {
    let work = tempfile::tempdir().unwrap();
    let root = private_root(work.path());
    let broken = root.join("bin/broken");
    std::fs::write(&broken, "#!/no/such/interpreter\n").unwrap();
    std::fs::set_permissions(&broken, std::fs::Permissions::from_mode(0o755)).unwrap();
    let body = format!(
        "[process]\nargs = [\"/bin/broken\"]\n[rootfs]\npath = {:?}\n[resources]\npids = 8\n",
        root.display().to_string()
    );
    let case = Case::new("execfail", &body);
    let out = case.run();
    assert_eq!(out.status.code(), Some(127), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.starts_with("cove: error: starting the container: "),
        "{err}"
    );
    assert!(
        err.contains("exec") && err.contains("/bin/broken") && err.contains("ENOENT"),
        "{err}"
    );
    assert!(
        cgroup_dirs(&case.name).is_empty(),
        "a failed start must remove the cgroup"
    );
}

#[test]
fn a_second_container_with_the_same_name_is_refused() {
    let case = Case::new("dup", &busybox_manifest("echo ready; sleep 2", ""));
    let mut first = case.command().stdout(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(first.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "ready");
    let second = case.command().output().unwrap();
    assert_eq!(second.status.code(), Some(125));
    assert_eq!(
        stderr(&second),
        format!(
            "cove: error: a container named `{}` already exists\n",
            case.name
        )
    );
    assert!(first.wait().unwrap().success());
    case.assert_host_clean();
}

#[test]
fn rootless_maps_the_caller_to_root() {
    let runtime_dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::chown(runtime_dir.path(), Some(65534), Some(65534)).unwrap();
    let body = "[process]\nargs = [\"/bin/sh\", \"-c\", \"id -u; cat /proc/self/uid_map; hostname\"]\n[rootfs]\nhost = true\n";
    let case = Case::new("rootless", body);
    let out = case
        .command()
        .uid(65534)
        .gid(65534)
        .env("XDG_RUNTIME_DIR", runtime_dir.path())
        .output()
        .unwrap();
    case.assert_host_clean();
    let text = stdout(&out);
    let fields: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        fields,
        [vec!["0"], vec!["0", "65534", "1"], vec![case.name.as_str()]],
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_dir(runtime_dir.path().join("cove"))
            .unwrap()
            .count(),
        0,
        "rootless state dir left"
    );
}

/// The cgroup directories a container named `name` would have, in every hierarchy of the host.
fn cgroup_dirs(name: &str) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for entry in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        let nested = entry.path().join("cove").join(name);
        if nested.exists() {
            dirs.push(nested);
        }
    }
    let unified = Path::new("/sys/fs/cgroup/cove").join(name);
    if unified.exists() {
        dirs.push(unified);
    }
    dirs
}

fn json_report(out: &Output) -> serde_json::Value {
    let err = stderr(out);
    let line = err
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON report: {err}"));
    serde_json::from_str(line).unwrap()
}

#[test]
fn a_memory_hog_is_oom_killed_and_the_report_counts_it() {
    let resources = "[resources]\nmemory = \"16M\"\nmemory_swap = \"0\"\n";
    let case = Case::new(
        "oom",
        &busybox_manifest("dd if=/dev/zero of=/dev/null bs=64M count=1", resources),
    );
    let out = case.command().arg("--stats=json").output().unwrap();
    case.assert_host_clean();
    let report = json_report(&out);
    assert_eq!(out.status.code(), Some(137), "{}", stderr(&out));
    assert_eq!(report["exit_code"], 137);
    assert!(report["oom_kills"].as_u64().unwrap() >= 1, "{report}");
    assert!(
        report["memory_peak_bytes"].as_u64().unwrap() <= 16 << 20,
        "{report}"
    );
    assert!(cgroup_dirs(&case.name).is_empty());
}

#[test]
fn a_fork_bomb_stops_at_the_pids_limit() {
    // The subshell forks until the kernel refuses (ash then exits); the sleeps it started stay, and the
    // outer shell counts them without forking.
    let script = "(i=0; while [ $i -lt 40 ]; do sleep 3 & i=$((i+1)); done) 2>/dev/null; set -- /proc/[0-9]*; echo $#";
    let case = Case::new(
        "pids",
        &busybox_manifest(script, "[resources]\npids = 10\n"),
    );
    let out = case.command().arg("--stats=json").output().unwrap();
    case.assert_host_clean();
    let running: u32 = stdout(&out)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{}", stderr(&out)));
    assert!(
        (5..=10).contains(&running),
        "{running} processes ran under pids = 10"
    );
    if let Some(peak) = json_report(&out)["pids_peak"].as_u64() {
        assert_eq!(peak, 10, "pids.peak reaches the limit");
    }
    assert!(cgroup_dirs(&case.name).is_empty());
}

#[test]
fn the_cgroup_namespace_shows_the_container_cgroup_as_root() {
    let script = "cat /proc/self/cgroup";
    let case = Case::new(
        "cgns",
        &busybox_manifest(script, "[resources]\nmemory = \"32M\"\npids = 20\n"),
    );
    let out = case.run();
    let text = stdout(&out);
    for line in text.lines().filter(|l| !l.contains("name=systemd")) {
        assert!(
            line.ends_with(":/"),
            "the container sees its cgroup as `/`: {line}\n{text}"
        );
    }
    // Every layout has the cgroup2 line (hybrid hosts for tracking, pure v2 hosts only that one).
    assert!(text.lines().any(|l| l == "0::/"), "{text}{}", stderr(&out));
}

#[test]
fn two_hundred_runs_leave_no_cgroup_behind() {
    let case = Case::new(
        "loop",
        &busybox_manifest("true", "[resources]\npids = 16\n"),
    );
    for i in 0..200 {
        let out = case.command().output().unwrap();
        assert!(out.status.success(), "run {i}: {}", stderr(&out));
    }
    case.assert_host_clean();
    assert!(
        cgroup_dirs(&case.name).is_empty(),
        "{:?}",
        cgroup_dirs(&case.name)
    );
}

#[test]
fn limits_apply_in_a_user_namespace_too() {
    // With a user namespace the child may not write the host's cgroup files itself: the runtime attaches it.
    let script = "cat /proc/self/cgroup; cat /proc/self/uid_map";
    let extra = "[namespaces]\nuser = true\n[resources]\npids = 16\n";
    let case = Case::new("userns-cg", &busybox_manifest(script, extra));
    let out = case.run();
    let text = stdout(&out);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(text.lines().any(|l| l == "0::/"), "{text}");
    for line in text
        .lines()
        .filter(|l| l.contains(":/") && !l.contains("name=systemd"))
    {
        assert!(line.ends_with(":/"), "{line}\n{text}");
    }
    assert!(cgroup_dirs(&case.name).is_empty());
}

/// The `Cap*` and `NoNewPrivs` lines of the container's /proc/self/status, as `(name, value)`.
fn privileges(extra: &str, test: &str) -> Vec<(String, String)> {
    let script = "grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp):' /proc/self/status";
    let case = Case::new(test, &busybox_manifest(script, extra));
    let out = case.run();
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

fn value<'a>(fields: &'a [(String, String)], key: &str) -> &'a str {
    fields
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {key}"))
}

#[test]
fn default_privileges_are_dockers_capabilities_and_no_new_privs() {
    let f = privileges("", "caps");
    for set in ["CapInh", "CapPrm", "CapEff", "CapBnd"] {
        assert_eq!(value(&f, set), "00000000a80425fb", "{set}");
    }
    assert_eq!(value(&f, "CapAmb"), "0000000000000000");
    assert_eq!(value(&f, "NoNewPrivs"), "1");
    assert_eq!(
        value(&f, "Seccomp"),
        "2",
        "the default seccomp filter is loaded"
    );
}

#[test]
fn seccomp_unconfined_and_custom_profiles() {
    let f = privileges("[security]\nseccomp = \"unconfined\"\n", "seccomp-off");
    assert_eq!(value(&f, "Seccomp"), "0");
    // A Docker-format profile next to the manifest: everything allowed but getppid.
    let profile = r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 42}]}"#;
    let extra = "[security]\nseccomp = \"profile.json\"\n";
    // busybox's shell sets $PPID from the raw getppid result: -42 (as unsigned) under the profile, 0 (the
    // parent is outside the PID namespace) without.
    let script = "grep Seccomp: /proc/self/status; echo ppid=$PPID";
    let case = Case::new("seccomp-custom", &busybox_manifest(script, extra));
    std::fs::write(case.dir.path().join("profile.json"), profile).unwrap();
    let out = case.run();
    assert_eq!(
        stdout(&out).split_whitespace().collect::<Vec<_>>(),
        ["Seccomp:", "2", "ppid=4294967254"],
        "{}",
        stderr(&out)
    );
}

#[test]
fn capabilities_can_be_added_and_dropped() {
    let extra = "[security]\nno_new_privileges = false\ncapabilities = { add = [\"SYS_ADMIN\"], drop = [\"CAP_CHOWN\", \"net_raw\"] }\n";
    let f = privileges(extra, "capsmod");
    // + CAP_SYS_ADMIN (bit 21), - CAP_CHOWN (bit 0), - CAP_NET_RAW (bit 13)
    let expected = format!("{:016x}", (0xa80425fbu64 | 1 << 21) & !(1 | 1 << 13));
    assert_eq!(value(&f, "CapEff"), expected);
    assert_eq!(value(&f, "CapBnd"), expected);
    assert_eq!(value(&f, "NoNewPrivs"), "0");
}

#[test]
fn a_non_root_user_has_no_effective_capabilities() {
    let script = "grep -E '^Cap(Eff|Bnd):' /proc/self/status; id -u";
    let body = format!(
        "[process]\nargs = [\"/bin/sh\", \"-c\", {script:?}]\nuid = 65534\ngid = 65534\n[rootfs]\npath = {:?}\n",
        busybox_root().display().to_string()
    );
    let case = Case::new("capsuser", &body);
    let out = case.run();
    let text = stdout(&out);
    assert_eq!(
        text.split_whitespace().collect::<Vec<_>>(),
        [
            "CapEff:",
            "0000000000000000",
            "CapBnd:",
            "00000000a80425fb",
            "65534"
        ],
        "{}",
        stderr(&out)
    );
}

#[test]
fn rlimits_and_oom_score_adj_apply_inside() {
    let script = "ulimit -Sn; ulimit -Hn; ulimit -c; cat /proc/self/oom_score_adj";
    let extra = "[security]\nrlimits = { nofile = [256, 512], core = \"unlimited\" }\noom_score_adj = 300\n";
    let case = Case::new("rlimits", &busybox_manifest(script, extra));
    let out = case.run();
    assert_eq!(
        stdout(&out),
        "256\n512\nunlimited\n300\n",
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_rlimit_that_cannot_be_applied_is_a_clear_error() {
    // Above fs.nr_open: the kernel refuses it even for root.
    let extra = "[security]\nrlimits = { nofile = [1024, 4294967295] }\n";
    let case = Case::new("rlimitfail", &busybox_manifest("true", extra));
    let out = case.run();
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out)
            .contains("rlimit: set nofile to 1024/4294967295: Operation not permitted (EPERM)"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_multi_range_user_namespace_as_root() {
    let script =
        "cat /proc/self/uid_map /proc/self/gid_map; id -u; mkdir /tmp/d && stat -c '%u %g' /tmp/d";
    let extra = "[[mounts]]\ntype = \"tmpfs\"\ntarget = \"/tmp\"\n\
                 [namespaces.user]\nuid_map = [{ inside = 0, outside = 100000, count = 65536 }]\n";
    let case = Case::new("userns-maps", &busybox_manifest(script, extra));
    let out = case.run();
    let words: Vec<String> = stdout(&out)
        .split_whitespace()
        .map(str::to_string)
        .collect();
    assert_eq!(
        words,
        ["0", "100000", "65536", "0", "100000", "65536", "0", "0", "0"],
        "{}",
        stderr(&out)
    );
}

#[test]
fn landlock_confines_the_workload_to_its_paths() {
    let script =
        "echo hi > /scratch/ok && cat /scratch/ok; echo x > /other/no || echo denied-write; \
                  ls /other >/dev/null 2>&1 || echo denied-list";
    let extra = "[[mounts]]\ntype = \"tmpfs\"\ntarget = \"/scratch\"\n[[mounts]]\ntype = \"tmpfs\"\ntarget = \"/other\"\n\
                 [security.landlock]\nread = [\"/bin\", \"/dev\"]\nwrite = [\"/scratch\"]\n";
    let case = Case::new("landlock", &busybox_manifest(script, extra));
    let out = case.run();
    assert_eq!(
        stdout(&out),
        "hi\ndenied-write\ndenied-list\n",
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("Permission denied"),
        "{}",
        stderr(&out)
    );
}

/// Reads the pty master until `want` shows up (or 10 s pass); returns everything read.
fn read_until(master: &std::os::fd::OwnedFd, want: &str) -> String {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut seen = String::new();
    while !seen.contains(want) && std::time::Instant::now() < deadline {
        let mut fds = [PollFd::new(master.as_fd(), PollFlags::POLLIN)];
        if poll(&mut fds, PollTimeout::from(100u16)).unwrap_or(0) == 0 {
            continue;
        }
        let mut buf = [0u8; 1024];
        match nix::unistd::read(master.as_fd(), &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    seen
}

#[test]
fn tty_gives_the_container_a_terminal_of_its_own_relayed_to_the_callers() {
    use nix::sys::termios::tcgetattr;
    // The caller: an interactive shell on a terminal (a pty whose master this test holds).
    let pty = nix::pty::openpty(None, None).unwrap();
    let (master, slave) = (pty.master, pty.slave);
    let before = tcgetattr(&slave).unwrap();
    let script = "tty; stty size; read line; echo got:$line; exit 3";
    let case = Case::new(
        "tty",
        &busybox_manifest(script, "").replace("[process]\n", "[process]\nterminal = true\n"),
    );
    let mut command = case.command();
    command
        .stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave.try_clone().unwrap()));
    let tty = slave.try_clone().unwrap();
    // SAFETY: between fork and exec the closure only calls setsid and ioctl, both async-signal-safe.
    unsafe {
        command.pre_exec(move || take_as_controlling_terminal(&tty));
    }
    let mut cove = command.spawn().unwrap();
    // The container's own devpts: its first pty, whatever the host has.
    let seen = read_until(&master, "/dev/pts/0");
    assert!(seen.contains("/dev/pts/0"), "{seen:?}");
    nix::unistd::write(&master, b"hello\r").unwrap();
    let seen = read_until(&master, "got:hello");
    assert!(seen.contains("got:hello"), "{seen:?}");
    assert_eq!(cove.wait().unwrap().code(), Some(3));
    // The caller's terminal is as it was (cove put it in raw mode while relaying).
    let after = tcgetattr(&slave).unwrap();
    assert_eq!(after.local_flags, before.local_flags);
    assert_eq!(after.input_flags, before.input_flags);
    assert_eq!(after.output_flags, before.output_flags);
    case.assert_host_clean();
}
