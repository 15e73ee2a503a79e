#![cfg(feature = "privileged")]
//! Starting real processes (needs root): exit statuses, namespaces, errors from the child, the parent hook,
//! signal forwarding, the rootless path and CLONE_INTO_CGROUP. Uses the host's /bin/sh; no mount namespace.

use std::cell::Cell;
use std::fs;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use cove_spawn::{
    ChildError, Command, ExitStatus, IdMap, Namespace, NamespaceSet, Pid, SpawnError, TimeOffset,
};
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, pipe, read, write, ForkResult, Gid, Uid};

const PATH: &str = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";

fn sh(script: &str) -> Command {
    Command::new(vec!["/bin/sh".into(), "-c".into(), script.into()])
}

/// A temporary directory anyone can write to (the rootless tests write as nobody).
fn tempdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
    dir
}

/// Runs `script` (with `$OUT` set to a file in a fresh directory) through `configure`, and returns its status
/// and what it wrote to `$OUT`.
fn run_capture(script: &str, configure: impl FnOnce(Command) -> Command) -> (ExitStatus, String) {
    let dir = tempdir();
    let out = dir.path().join("out");
    let env = vec![
        ("PATH".into(), PATH.into()),
        ("OUT".into(), out.display().to_string()),
    ];
    let status = configure(sh(script).env(env))
        .spawn()
        .unwrap()
        .wait()
        .unwrap();
    (status, fs::read_to_string(&out).unwrap_or_default())
}

fn hostname() -> String {
    nix::unistd::gethostname().unwrap().into_string().unwrap()
}

fn exists(pid: Pid) -> bool {
    kill(pid, None) != Err(Errno::ESRCH)
}

/// A forked test process (single-threaded, so it may change its credentials or receive signals), killed and
/// reaped if the test ends first.
struct Forked {
    pid: Pid,
    reaped: bool,
}

impl Forked {
    fn run(body: impl FnOnce() -> i32) -> Forked {
        // SAFETY: the child runs `body` and leaves with `_exit`, never returning into the test harness; glibc's fork
        // leaves malloc usable in the child.
        match unsafe { fork() }.unwrap() {
            ForkResult::Child => {
                let code =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)).unwrap_or(101);
                // SAFETY: `_exit` ends the child without running the harness's destructors or atexit handlers.
                unsafe { libc::_exit(code) }
            }
            ForkResult::Parent { child } => Forked {
                pid: child,
                reaped: false,
            },
        }
    }

    fn wait(mut self) -> WaitStatus {
        self.reaped = true;
        waitpid(self.pid, None).unwrap()
    }
}

impl Drop for Forked {
    fn drop(&mut self) {
        if !self.reaped {
            let _ = kill(self.pid, Signal::SIGKILL);
            let _ = waitpid(self.pid, None);
        }
    }
}

/// Removes a cgroup directory on drop (after its processes are gone).
struct CgroupDir(PathBuf);

impl Drop for CgroupDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir(&self.0);
    }
}

#[test]
fn exit_code_propagates() {
    let status = sh("exit 7").spawn().unwrap().wait().unwrap();
    assert_eq!(status, ExitStatus::Exited(7));
    assert_eq!(status.code(), 7);
}

#[test]
fn death_by_signal_is_128_plus_n() {
    let status = sh("kill -9 $$").spawn().unwrap().wait().unwrap();
    assert_eq!(status, ExitStatus::Signaled(9));
    assert_eq!(status.code(), 137);
}

#[test]
fn the_command_is_pid_1_in_a_new_pid_namespace() {
    let (status, out) = run_capture("echo $$ > $OUT", |c| {
        c.new_namespaces(NamespaceSet::new().with(Namespace::Pid))
    });
    assert!(status.success());
    assert_eq!(out.trim(), "1");
}

#[test]
fn setup_sets_the_hostname_of_a_new_uts_namespace() {
    let host = hostname();
    let (status, out) = run_capture("cat /proc/sys/kernel/hostname > $OUT", |c| {
        c.new_namespaces(NamespaceSet::new().with(Namespace::Uts))
            .setup(|| {
                cove_ns::set_hostname("cove-spawn-test")
                    .map_err(|e| ChildError::from_error("hostname", &e))
            })
    });
    assert!(status.success());
    assert_eq!(out.trim(), "cove-spawn-test");
    assert_eq!(hostname(), host, "the host's hostname changed");
}

#[test]
fn a_missing_binary_is_an_exec_error() {
    let err = Command::new(vec!["/nope".into()]).spawn().unwrap_err();
    let SpawnError::Child(child) = err else {
        panic!("expected a child error, got {err:?}")
    };
    assert_eq!(child.stage, "exec");
    assert_eq!(child.errno, Some(libc::ENOENT));
    assert_eq!(
        child.to_string(),
        "exec: /nope: No such file or directory (ENOENT)"
    );

    let err = Command::new(vec!["cove-no-such-program".into()])
        .env(vec![("PATH".into(), "/usr/bin:/bin".into())])
        .spawn()
        .unwrap_err();
    let SpawnError::Child(child) = err else {
        panic!("expected a child error, got {err:?}")
    };
    assert_eq!(
        (child.stage.as_str(), child.errno),
        ("exec", Some(libc::ENOENT))
    );
}

#[test]
fn path_search_uses_the_childs_environment() {
    // No PATH given: the default PATH finds sh; FOO is the only other variable.
    let dir = tempdir();
    let out = dir.path().join("out");
    let script = format!("echo \"$FOO $(env | grep -c =)\" > {}", out.display());
    let status = Command::new(vec!["sh".into(), "-c".into(), script])
        .env(vec![("FOO".into(), "bar".into())])
        .spawn()
        .unwrap()
        .wait()
        .unwrap();
    assert!(status.success());
    // sh adds PWD (and maybe SHLVL, _), so at least FOO is there and nothing of the runtime's environment.
    let text = fs::read_to_string(out).unwrap();
    let (foo, count) = text.trim().split_once(' ').unwrap();
    assert_eq!(foo, "bar");
    assert!(
        count.parse::<u32>().unwrap() <= 4,
        "environment not replaced: {text}"
    );
}

#[test]
fn a_setup_error_is_reported_with_its_stage_and_the_child_is_reaped() {
    let pid = Rc::new(Cell::new(None));
    let seen = pid.clone();
    let err = sh("exit 0")
        .setup(|| {
            Err(ChildError::new(
                "rootfs",
                Some(libc::ENOENT),
                "/missing/rootfs",
            ))
        })
        .spawn_with(move |p| {
            seen.set(Some(p));
            Ok(())
        })
        .unwrap_err();
    let SpawnError::Child(child) = err else {
        panic!("expected a child error, got {err:?}")
    };
    assert_eq!(
        child,
        ChildError::new("rootfs", Some(libc::ENOENT), "/missing/rootfs")
    );
    assert!(
        !exists(pid.get().unwrap()),
        "the failed child was not reaped"
    );
}

#[test]
fn a_panic_in_setup_is_reported() {
    let err = sh("exit 0")
        .setup(|| panic!("setup exploded"))
        .spawn()
        .unwrap_err();
    let SpawnError::Child(child) = err else {
        panic!("expected a child error, got {err:?}")
    };
    assert_eq!(child.stage, "panic");
    assert!(child.message.contains("setup exploded"), "{child}");
}

#[test]
fn a_failing_parent_hook_kills_the_child() {
    let dir = tempdir();
    let marker = dir.path().join("ran");
    let pid = Rc::new(Cell::new(None));
    let seen = pid.clone();
    let err = sh(&format!("touch {}", marker.display()))
        .spawn_with(move |p| {
            seen.set(Some(p));
            assert!(exists(p), "the child is not alive during the hook");
            Err("no cgroup for you".into())
        })
        .unwrap_err();
    let SpawnError::ParentHook {
        pid: hook_pid,
        source,
    } = err
    else {
        panic!("expected a hook error, got {err:?}")
    };
    assert_eq!(Some(hook_pid), pid.get());
    assert_eq!(source.to_string(), "no cgroup for you");
    assert!(!exists(hook_pid), "the child is still there");
    assert!(!marker.exists(), "the command ran although the hook failed");
}

#[test]
fn sigterm_to_the_waiting_parent_reaches_the_child() {
    let (ready_rx, ready_tx) = pipe().unwrap();
    let runtime = Forked::run(move || {
        let child = Command::new(vec!["/bin/sleep".into(), "30".into()])
            .spawn()
            .unwrap();
        write(&ready_tx, b"x").unwrap();
        child.wait().unwrap().code()
    });
    let mut fds = [PollFd::new(
        std::os::fd::AsFd::as_fd(&ready_rx),
        PollFlags::POLLIN,
    )];
    assert_eq!(
        poll(&mut fds, PollTimeout::from(10_000u16)).unwrap(),
        1,
        "the runtime did not start sleep"
    );
    assert_eq!(read(&ready_rx, &mut [0u8; 1]).unwrap(), 1);
    kill(runtime.pid, Signal::SIGTERM).unwrap();
    // The runtime survives (SIGTERM is blocked and forwarded) and exits with sleep's status: 128 + 15.
    match runtime.wait() {
        WaitStatus::Exited(_, code) => assert_eq!(code, 143, "sleep did not die of SIGTERM"),
        other => panic!("the runtime itself ended with {other:?}"),
    }
}

#[test]
fn rootless_user_namespace_maps_the_caller_to_root() {
    let dir = tempdir();
    let out = dir.path().join("out");
    let script = format!(
        "echo $(id -u) $(id -g) $(cat /proc/self/setgroups) $(cat /proc/self/uid_map) > {}",
        out.display()
    );
    let runtime = Forked::run(move || {
        nix::unistd::setgroups(&[]).unwrap();
        nix::unistd::setgid(Gid::from_raw(65534)).unwrap();
        nix::unistd::setuid(Uid::from_raw(65534)).unwrap();
        // Changing uid made the process non-dumpable, which would leave /proc/<child>/uid_map owned by root.
        nix::sys::prctl::set_dumpable(true).unwrap();
        let child = sh(&script)
            .env(vec![("PATH".into(), PATH.into())])
            .new_namespaces(
                NamespaceSet::new()
                    .with(Namespace::User)
                    .with(Namespace::Pid)
                    .with(Namespace::Uts),
            )
            .user(0, 0, vec![])
            .spawn();
        match child {
            Ok(child) => child.wait().unwrap().code(),
            Err(e) => {
                eprintln!(
                    "rootless spawn failed: {e}: {:?}",
                    std::error::Error::source(&e).map(|s| s.to_string())
                );
                100
            }
        }
    });
    let pid = runtime.pid;
    assert_eq!(runtime.wait(), WaitStatus::Exited(pid, 0));
    let text = fs::read_to_string(out).unwrap();
    let words: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(words, ["0", "0", "deny", "0", "65534", "1"]);
}

#[test]
fn explicit_id_maps_are_written_by_the_parent() {
    let (status, out) = run_capture(
        "echo $(id -u) $(cat /proc/self/uid_map) $(cat /proc/self/gid_map) > $OUT",
        |c| {
            c.new_namespaces(NamespaceSet::new().with(Namespace::User))
                .uid_map(vec![IdMap::new(0, 0, 1), IdMap::new(1, 200_000, 100)])
                .gid_map(vec![IdMap::new(0, 0, 1)])
        },
    );
    assert!(status.success());
    let words: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(
        words,
        ["0", "0", "0", "1", "1", "200000", "100", "0", "0", "1"]
    );
}

#[test]
fn user_and_cwd_apply_before_exec() {
    let dir = tempdir();
    let (status, out) = run_capture("echo $(id -u) $(id -g) $(id -G) $(pwd) > $OUT", |c| {
        c.user(65534, 65534, vec![65533])
            .cwd(dir.path().to_path_buf())
    });
    assert!(status.success());
    let expected = format!("65534 65534 65534 65533 {}", dir.path().display());
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>().join(" "),
        expected
    );

    let err = sh("exit 0")
        .cwd("/nonexistent/dir".into())
        .spawn()
        .unwrap_err();
    let SpawnError::Child(child) = err else {
        panic!("expected a child error, got {err:?}")
    };
    assert_eq!(
        (child.stage.as_str(), child.errno),
        ("chdir", Some(libc::ENOENT))
    );
}

#[test]
fn clone_into_cgroup_starts_the_process_in_the_cgroup() {
    let name = format!("cove-test-{}-spawn", std::process::id());
    // The cgroup2 mount: /sys/fs/cgroup/unified on a hybrid host, /sys/fs/cgroup on a pure v2 host.
    let cgroup2 = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
        .into_iter()
        .find(|p| Path::new(p).join("cgroup.controllers").exists())
        .expect("no cgroup2 mount");
    let dir = CgroupDir(Path::new(cgroup2).join(&name));
    fs::create_dir(&dir.0).unwrap();
    let fd: OwnedFd = fs::File::open(&dir.0).unwrap().into();
    let (status, out) = run_capture("cat /proc/self/cgroup > $OUT", |c| c.into_cgroup(fd));
    assert!(status.success());
    assert!(
        out.lines().any(|l| l == format!("0::/{name}")),
        "not in the cgroup: {out}"
    );
}

#[test]
fn joining_the_uts_namespace_of_another_container() {
    let holder = sh("exec sleep 30")
        .env(vec![("PATH".into(), PATH.into())])
        .new_namespaces(NamespaceSet::new().with(Namespace::Uts))
        .setup(|| {
            cove_ns::set_hostname("cove-holder").map_err(|e| ChildError::from_error("hostname", &e))
        })
        .forward_signals(false)
        .spawn()
        .unwrap();
    let ns = Namespace::Uts.proc_path(holder.pid());
    let (status, out) = run_capture("cat /proc/sys/kernel/hostname > $OUT", |c| {
        c.join_namespace(Namespace::Uts, ns.clone())
    });
    holder.signal(Signal::SIGKILL).unwrap();
    assert_eq!(holder.wait().unwrap(), ExitStatus::Signaled(9));
    assert!(status.success());
    assert_eq!(out.trim(), "cove-holder");
}

#[test]
fn joining_a_pid_namespace_forks_into_it() {
    let holder = sh("exec sleep 30")
        .env(vec![("PATH".into(), PATH.into())])
        .new_namespaces(NamespaceSet::new().with(Namespace::Pid))
        .forward_signals(false)
        .spawn()
        .unwrap();
    let ns = Namespace::Pid.proc_path(holder.pid());
    let expected = fs::metadata(&ns).unwrap().ino();
    let (status, out) = run_capture("echo $(stat -L -c %i /proc/self/ns/pid) $$ > $OUT", |c| {
        c.join_namespace(Namespace::Pid, ns.clone())
    });
    holder.signal(Signal::SIGKILL).unwrap();
    holder.wait().unwrap();
    assert!(status.success());
    let words: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(
        words[0],
        expected.to_string(),
        "not in the holder's PID namespace"
    );
    // $$ is the pid inside that namespace, where the holder (sleep) is 1.
    assert_ne!(words[1], "1");
}

#[test]
fn join_plus_new_pid_namespace_makes_the_command_pid_1() {
    let (status, out) = run_capture("echo $$ $(cat /proc/sys/kernel/hostname) > $OUT", |c| {
        c.join_namespace(Namespace::Net, "/proc/self/ns/net".into())
            .new_namespaces(
                NamespaceSet::new()
                    .with(Namespace::Pid)
                    .with(Namespace::Uts),
            )
            .setup(|| {
                cove_ns::set_hostname("cove-staged")
                    .map_err(|e| ChildError::from_error("hostname", &e))
            })
    });
    assert!(status.success());
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["1", "cove-staged"]
    );
}

#[test]
fn a_failed_join_is_reported_with_the_kind() {
    let err = sh("exit 0")
        .join_namespace(Namespace::Net, "/proc/self/ns/uts".into())
        .spawn()
        .unwrap_err();
    let SpawnError::Child(child) = err else {
        panic!("expected a child error, got {err:?}")
    };
    assert_eq!(
        (child.stage.as_str(), child.errno),
        ("join net namespace", Some(libc::EINVAL))
    );

    let err = sh("exit 0")
        .join_namespace(Namespace::Ipc, "/nonexistent".into())
        .spawn()
        .unwrap_err();
    assert!(
        matches!(
            err,
            SpawnError::OpenNamespace {
                kind: Namespace::Ipc,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn time_offsets_apply_to_the_new_time_namespace() {
    let (status, out) = run_capture("cut -d. -f1 /proc/uptime > $OUT", |c| {
        c.new_namespaces(NamespaceSet::new().with(Namespace::Time))
            .time_offsets(TimeOffset::ZERO, TimeOffset::new(1_000_000, 0))
    });
    assert!(status.success());
    let uptime: u64 = out.trim().parse().unwrap();
    assert!(uptime >= 1_000_000, "boottime offset not applied: {uptime}");
}

#[test]
fn new_time_namespace_without_offsets_goes_through_clone3() {
    let host = fs::metadata("/proc/self/ns/time").unwrap().ino();
    let (status, out) = run_capture("stat -L -c %i /proc/self/ns/time > $OUT", |c| {
        c.new_namespaces(
            NamespaceSet::new()
                .with(Namespace::Time)
                .with(Namespace::Ipc),
        )
    });
    assert!(status.success());
    assert_ne!(out.trim(), host.to_string());
}

#[test]
fn joins_then_a_new_user_namespace_gets_the_default_map() {
    let host_user = fs::metadata("/proc/self/ns/user").unwrap().ino();
    let script =
        "echo $$ $(id -u) $(stat -L -c %i /proc/self/ns/user) $(cat /proc/self/uid_map) > $OUT";
    let (status, out) = run_capture(script, |c| {
        c.join_namespace(Namespace::Net, "/proc/self/ns/net".into())
            .new_namespaces(
                NamespaceSet::new()
                    .with(Namespace::User)
                    .with(Namespace::Pid),
            )
    });
    assert!(status.success());
    let words: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(words.len(), 6, "{out}");
    assert_eq!(words[..2], ["1", "0"]);
    assert_ne!(
        words[2],
        host_user.to_string(),
        "not in a new user namespace"
    );
    assert_eq!(words[3..], ["0", "0", "1"]);
}

#[test]
fn pre_exec_runs_after_the_user_change() {
    let (status, out) = run_capture("echo ran > $OUT", |c| {
        c.user(65534, 65534, vec![])
            .pre_exec(|| match nix::unistd::geteuid().as_raw() {
                65534 => Ok(()),
                uid => Err(ChildError::new(
                    "pre-exec",
                    None,
                    format!("still uid {uid}"),
                )),
            })
    });
    assert!(status.success());
    assert_eq!(out.trim(), "ran");

    let err = sh("exit 0")
        .pre_exec(|| Err(ChildError::new("seccomp", Some(libc::EINVAL), "filter")))
        .spawn()
        .unwrap_err();
    let SpawnError::Child(child) = err else {
        panic!("expected a child error, got {err:?}")
    };
    assert_eq!(child.stage, "seccomp");
}

#[test]
fn joining_user_uts_and_pid_namespaces_like_exec() {
    let holder = sh("exec sleep 30")
        .env(vec![("PATH".into(), PATH.into())])
        .new_namespaces(
            NamespaceSet::new()
                .with(Namespace::User)
                .with(Namespace::Uts)
                .with(Namespace::Pid),
        )
        .uid_map(vec![IdMap::new(0, 300_000, 65_536)])
        .gid_map(vec![IdMap::new(0, 300_000, 65_536)])
        .setup(|| {
            cove_ns::set_hostname("cove-exec").map_err(|e| ChildError::from_error("hostname", &e))
        })
        .forward_signals(false)
        .spawn()
        .unwrap();
    let pid = holder.pid();
    let user_ino = fs::metadata(Namespace::User.proc_path(pid)).unwrap().ino();
    let script =
        "echo $(id -u) $(cat /proc/sys/kernel/hostname) $(stat -L -c %i /proc/self/ns/user) > $OUT";
    let (status, out) = run_capture(script, |c| {
        // Given in the wrong order on purpose: the user namespace is joined first anyway.
        c.join_namespace(Namespace::Pid, Namespace::Pid.proc_path(pid))
            .join_namespace(Namespace::Uts, Namespace::Uts.proc_path(pid))
            .join_namespace(Namespace::User, Namespace::User.proc_path(pid))
            .user(0, 0, vec![])
    });
    holder.signal(Signal::SIGKILL).unwrap();
    holder.wait().unwrap();
    assert!(status.success());
    let words: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(words, ["0", "cove-exec", &user_ino.to_string()]);
}

#[test]
fn preserve_fds_keeps_stray_descriptors_from_the_program() {
    use std::os::fd::AsRawFd;
    // Opened without O_CLOEXEC on purpose: a descriptor the runtime leaked.
    let leaked = nix::fcntl::open(
        "/dev/null",
        nix::fcntl::OFlag::O_RDONLY,
        nix::sys::stat::Mode::empty(),
    )
    .unwrap();
    let fd = leaked.as_raw_fd();
    let script =
        format!("if [ -e /proc/self/fd/{fd} ]; then echo open; else echo closed; fi > $OUT");
    let (status, out) = run_capture(&script, |c| c);
    assert!(status.success());
    assert_eq!(out.trim(), "open", "the control run should inherit fd {fd}");
    let (status, out) = run_capture(&script, |c| c.preserve_fds(0));
    assert!(status.success());
    assert_eq!(out.trim(), "closed", "fd {fd} reached the program");
}

#[test]
fn without_clone3_the_staged_path_gives_the_same_container() {
    let host_uts = fs::metadata("/proc/self/ns/uts").unwrap().ino();
    let script =
        "echo $$ $(cat /proc/sys/kernel/hostname) $(stat -L -c %i /proc/self/ns/uts) > $OUT";
    let (status, out) = run_capture(script, |c| {
        c.use_clone3(false)
            .new_namespaces(
                NamespaceSet::new()
                    .with(Namespace::Pid)
                    .with(Namespace::Uts)
                    .with(Namespace::User),
            )
            .setup(|| {
                cove_ns::set_hostname("cove-old-kernel")
                    .map_err(|e| ChildError::from_error("hostname", &e))
            })
    });
    assert!(status.success());
    let words: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(words[..2], ["1", "cove-old-kernel"]);
    assert_ne!(words[2], host_uts.to_string());

    let err = sh("exit 0")
        .use_clone3(false)
        .into_cgroup(fs::File::open("/").unwrap().into())
        .spawn()
        .unwrap_err();
    assert!(
        matches!(err, SpawnError::CloneIntoCgroupUnsupported { .. }),
        "{err:?}"
    );
}

#[test]
fn without_clone3_exit_codes_and_exec_errors_still_arrive() {
    assert_eq!(
        sh("exit 5")
            .use_clone3(false)
            .spawn()
            .unwrap()
            .wait()
            .unwrap(),
        ExitStatus::Exited(5)
    );
    let err = Command::new(vec!["/nope".into()])
        .use_clone3(false)
        .spawn()
        .unwrap_err();
    assert!(
        matches!(err, SpawnError::Child(ref c) if c.stage == "exec"),
        "{err:?}"
    );
}

#[test]
fn the_child_is_not_dumpable_until_exec() {
    // Before exec the child still runs the runtime's binary: nobody may open its /proc/<pid>/exe or memory.
    let (status, out) = run_capture("grep -c . /proc/self/status > $OUT", |c| {
        c.setup(|| match nix::sys::prctl::get_dumpable() {
            Ok(false) => Ok(()),
            Ok(true) => Err(ChildError::new(
                "dumpable",
                None,
                "the child is dumpable before exec",
            )),
            Err(e) => Err(ChildError::from_errno("dumpable", e, "PR_GET_DUMPABLE")),
        })
    });
    assert!(status.success(), "setup refused: the child was dumpable");
    // After exec the program is dumpable again (its /proc files are its own): it could read its status.
    assert!(out.trim().parse::<u32>().unwrap() > 10, "{out}");
}
