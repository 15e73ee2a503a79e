//! OCI hooks (`cove_container::hooks`): real hook processes (`/bin/sh` scripts), no root needed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use cove_container::hooks::{
    run_all_hooks, run_hooks, Hook, HookError, HookKind, Hooks, OUTPUT_TAIL,
};

const STATE: &[u8] =
    br#"{"ociVersion":"1.2.0","id":"c1","status":"creating","pid":4242,"bundle":"/b"}"#;

/// A hook from its parts, as config.json would give it.
fn hook(path: &str, args: &[&str], env: &[String], timeout: Option<i64>) -> Hook {
    Hook {
        path: PathBuf::from(path),
        args: args.iter().map(|s| s.to_string()).collect(),
        env: env.to_vec(),
        timeout,
    }
}

/// `/bin/sh -c SCRIPT` with `OUT=<out>` as its only environment variable.
fn sh(script: &str, out: &Path) -> Hook {
    hook(
        "/bin/sh",
        &["sh", "-c", script],
        &[format!("OUT={}", out.display())],
        None,
    )
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Whether `pid` is gone (no process, not even a zombie).
fn gone(pid: i32) -> bool {
    !Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn kinds_have_their_config_json_names() {
    let names: Vec<&str> = HookKind::ALL.iter().map(|k| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "prestart",
            "createRuntime",
            "createContainer",
            "startContainer",
            "poststart",
            "poststop"
        ]
    );
    assert_eq!(HookKind::CreateContainer.to_string(), "createContainer");
    assert!(HookKind::StartContainer.failure_is_fatal());
    assert!(!HookKind::Poststop.failure_is_fatal());
}

#[test]
fn hooks_run_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("order");
    let hooks: Vec<Hook> = (1..=3)
        .map(|n| sh(&format!("echo {n} >> \"$OUT\""), &out))
        .collect();
    run_hooks(HookKind::CreateRuntime, &hooks, STATE).expect("hooks");
    assert_eq!(read(&out), "1\n2\n3\n");
}

#[test]
fn the_state_arrives_intact_on_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("state");
    run_hooks(HookKind::Prestart, &[sh("cat > \"$OUT\"", &out)], STATE).expect("hook");
    assert_eq!(std::fs::read(&out).unwrap(), STATE);
}

/// Larger than a pipe's buffer: written in pieces as the hook reads.
#[test]
fn a_large_state_arrives_intact() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("state");
    let state: Vec<u8> = (0..3 * 1024 * 1024 + 17)
        .map(|i| b'a' + (i % 26) as u8)
        .collect();
    run_hooks(HookKind::Poststart, &[sh("cat > \"$OUT\"", &out)], &state).expect("hook");
    assert!(std::fs::read(&out).unwrap() == state, "state differs");
}

#[test]
fn an_empty_state_gives_an_empty_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("state");
    run_hooks(HookKind::Prestart, &[sh("cat > \"$OUT\"", &out)], b"").expect("hook");
    assert_eq!(read(&out), "");
}

/// The hook's environment is exactly its `env` (the hook is this test binary, which writes what it got: a shell
/// would add variables of its own, and busybox's tools differ from the host's).
#[test]
fn the_environment_is_exactly_env() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("env");
    let env = vec![
        format!("COVE_HOOK_ENV_OUT={}", out.display()),
        "GREETING=hello world".to_string(),
        "EMPTY=".to_string(),
        "WITH_EQUALS=a=b".to_string(),
    ];
    let exe = std::env::current_exe().unwrap();
    let h = hook(
        exe.to_str().unwrap(),
        &["hook", "env_dump_helper", "--exact", "--quiet"],
        &env,
        None,
    );
    run_hooks(HookKind::CreateRuntime, &[h], STATE).expect("hook");
    let mut got: Vec<String> = read(&out).lines().map(str::to_owned).collect();
    got.sort();
    let mut want = env.clone();
    want.sort();
    assert_eq!(got, want);
}

/// Not a test of its own: run as a hook by `the_environment_is_exactly_env`, it writes its environment to
/// `$COVE_HOOK_ENV_OUT`.
#[test]
fn env_dump_helper() {
    if let Some(out) = std::env::var_os("COVE_HOOK_ENV_OUT") {
        let vars: Vec<String> = std::env::vars()
            .map(|(k, v)| format!("{k}={v}\n"))
            .collect();
        std::fs::write(out, vars.concat()).unwrap();
    }
}

/// Not a test of its own: run as a hook by `args_give_argv_including_argv0`, it writes its argv to
/// `$COVE_HOOK_ARGV_OUT`. (A shell cannot show argv[0] portably: busybox picks its applet by it.)
#[test]
fn argv_dump_helper() {
    if let Some(out) = std::env::var_os("COVE_HOOK_ARGV_OUT") {
        let argv: Vec<String> = std::env::args().collect();
        std::fs::write(out, argv.join("\n") + "\n").unwrap();
    }
}

/// `args[0]` is argv[0], the rest follow.
#[test]
fn args_give_argv_including_argv0() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("argv");
    let exe = std::env::current_exe().unwrap();
    let args = ["my-hook-name", "argv_dump_helper", "--exact", "--quiet"];
    let h = hook(
        exe.to_str().unwrap(),
        &args,
        &[format!("COVE_HOOK_ARGV_OUT={}", out.display())],
        None,
    );
    run_hooks(HookKind::StartContainer, &[h], STATE).expect("hook");
    let argv: Vec<String> = read(&out).lines().map(str::to_owned).collect();
    assert_eq!(argv, args);
}

/// Without `args`, argv[0] is the path. `/bin/sh` without arguments reads its script from stdin: the "state".
#[test]
fn without_args_argv0_is_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("argv");
    let h = hook("/bin/sh", &[], &[format!("OUT={}", out.display())], None);
    let script = b"tr '\\0' '\\n' < /proc/$$/cmdline > \"$OUT\"\n";
    run_hooks(HookKind::CreateContainer, &[h], script).expect("hook");
    assert_eq!(read(&out), "/bin/sh\n");
}

#[test]
fn a_failing_hook_stops_the_list_with_its_index_kind_status_and_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first");
    let third = dir.path().join("third");
    let hooks = [
        sh("touch \"$OUT\"", &first),
        sh(
            "echo 'something went wrong' >&2; echo 'on stdout'; exit 3",
            &first,
        ),
        sh("touch \"$OUT\"", &third),
    ];
    let err = run_hooks(HookKind::CreateRuntime, &hooks, STATE).unwrap_err();
    assert!(first.exists(), "hook 0 ran");
    assert!(!third.exists(), "hook 2 must not run after hook 1 failed");
    match &err {
        HookError::Failed {
            hook,
            status,
            stderr,
            stdout,
            ..
        } => {
            assert_eq!(hook.kind, HookKind::CreateRuntime);
            assert_eq!(hook.index, 1);
            assert_eq!(hook.path, Path::new("/bin/sh"));
            assert_eq!(status.code(), Some(3));
            assert_eq!(stderr, "something went wrong");
            assert_eq!(stdout, "on stdout");
        }
        other => panic!("unexpected error {other:?}"),
    }
    assert_eq!(err.hook().index, 1);
    let text = err.to_string();
    assert!(text.contains("createRuntime hook 1 (/bin/sh)"), "{text}");
    assert!(text.contains("exit status: 3"), "{text}");
    assert!(text.contains("something went wrong"), "{text}");
}

#[test]
fn a_hook_killed_by_a_signal_reports_it() {
    let dir = tempfile::tempdir().unwrap();
    let err = run_hooks(
        HookKind::Poststart,
        &[sh("kill -TERM $$", &dir.path().join("x"))],
        STATE,
    )
    .unwrap_err();
    match &err {
        HookError::Failed { status, .. } => {
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(status.signal(), Some(libc::SIGTERM));
        }
        other => panic!("unexpected error {other:?}"),
    }
    assert!(err.to_string().contains("SIGTERM"), "{err}");
}

/// Only the end of a long stderr is kept.
#[test]
fn stderr_is_cut_to_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let script = "i=0; while [ $i -lt 3000 ]; do echo \"line $i of noise\" >&2; i=$((i+1)); done; \
                  echo LAST-LINE >&2; exit 1";
    let err = run_hooks(
        HookKind::Poststop,
        &[sh(script, &dir.path().join("x"))],
        STATE,
    )
    .unwrap_err();
    let HookError::Failed { stderr, .. } = &err else {
        panic!("unexpected error {err:?}");
    };
    assert!(stderr.ends_with("LAST-LINE"), "{stderr}");
    assert!(
        stderr.len() <= OUTPUT_TAIL + 3,
        "{} bytes kept",
        stderr.len()
    );
    assert!(stderr.starts_with('…'), "marked as cut");
    assert!(!stderr.contains("line 0 of noise"));
}

#[test]
fn a_hook_past_its_timeout_is_killed_and_reaped() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    let mut h = sh(
        "echo $$ > \"$OUT\"; echo 'about to sleep' >&2; exec sleep 30",
        &pidfile,
    );
    h.timeout = Some(1);
    let start = Instant::now();
    let err = run_hooks(HookKind::Poststop, &[h], STATE).unwrap_err();
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(950),
        "returned after {took:?}"
    );
    assert!(
        took < Duration::from_millis(1500),
        "returned after {took:?}"
    );
    match &err {
        HookError::TimedOut {
            hook,
            timeout,
            stderr,
        } => {
            assert_eq!(hook.kind, HookKind::Poststop);
            assert_eq!(hook.index, 0);
            assert_eq!(*timeout, Duration::from_secs(1));
            assert_eq!(stderr, "about to sleep");
        }
        other => panic!("unexpected error {other:?}"),
    }
    assert!(err.to_string().contains("timed out after 1 s"), "{err}");
    let pid: i32 = read(&pidfile).trim().parse().unwrap();
    assert!(
        gone(pid),
        "hook process {pid} still exists (running or zombie)"
    );
}

#[test]
fn a_hook_within_its_timeout_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = sh("sleep 0.1", &dir.path().join("x"));
    h.timeout = Some(5);
    run_hooks(HookKind::CreateRuntime, &[h], STATE).expect("hook");
}

/// A hook that leaves a background process holding its stdout/stderr: we return when the hook exits, not
/// when the pipes close.
#[test]
fn a_daemon_holding_the_pipes_does_not_hold_us() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    let h = sh("sleep 30 & echo $! > \"$OUT\"; exit 0", &pidfile);
    let start = Instant::now();
    let result = run_hooks(HookKind::CreateRuntime, &[h], STATE);
    let took = start.elapsed();
    let daemon: i32 = read(&pidfile).trim().parse().unwrap();
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(daemon),
        nix::sys::signal::Signal::SIGKILL,
    );
    result.expect("hook");
    assert!(took < Duration::from_secs(5), "returned after {took:?}");
}

#[test]
fn a_missing_hook_is_a_clear_error() {
    let err = run_hooks(
        HookKind::CreateContainer,
        &[hook("/nonexistent/cove-hook", &[], &[], None)],
        STATE,
    )
    .unwrap_err();
    match &err {
        HookError::Spawn { hook, source } => {
            assert_eq!(hook.path, Path::new("/nonexistent/cove-hook"));
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("unexpected error {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("createContainer hook 0 (/nonexistent/cove-hook)"),
        "{text}"
    );
}

#[test]
fn a_relative_path_is_rejected() {
    let err = run_hooks(HookKind::Prestart, &[hook("sh", &["sh"], &[], None)], STATE).unwrap_err();
    assert!(matches!(err, HookError::RelativePath { .. }), "{err:?}");
    assert!(err.to_string().contains("absolute"), "{err}");
}

#[test]
fn a_non_positive_timeout_is_rejected() {
    for timeout in [0, -5] {
        let err = run_hooks(
            HookKind::Prestart,
            &[hook("/bin/true", &[], &[], Some(timeout))],
            STATE,
        )
        .unwrap_err();
        match &err {
            HookError::InvalidTimeout { timeout: t, .. } => assert_eq!(*t, timeout),
            other => panic!("unexpected error {other:?}"),
        }
    }
}

#[test]
fn an_env_entry_without_equals_is_rejected() {
    let err = run_hooks(
        HookKind::Prestart,
        &[hook("/bin/true", &[], &["NOVALUE".to_string()], None)],
        STATE,
    )
    .unwrap_err();
    assert!(
        matches!(&err, HookError::InvalidEnv { entry, .. } if entry == "NOVALUE"),
        "{err:?}"
    );
}

#[test]
fn run_all_hooks_carries_on_after_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    let after = dir.path().join("after");
    let hooks = [
        sh("exit 1", &after),
        sh("touch \"$OUT\"", &after),
        sh("echo bad >&2; exit 2", &after),
    ];
    let errors = run_all_hooks(HookKind::Poststop, &hooks, STATE);
    assert!(after.exists(), "hook 1 ran after hook 0 failed");
    let indexes: Vec<usize> = errors.iter().map(|e| e.hook().index).collect();
    assert_eq!(indexes, [0, 2]);
    assert!(run_all_hooks(HookKind::Poststop, &hooks[1..2], STATE).is_empty());
}

/// Hooks that never read their stdin, with a state larger than a pipe's buffer: no EPIPE error, no SIGPIPE.
/// Runs with SIGPIPE at its default disposition when re-executed by the test below.
#[test]
fn hooks_that_ignore_a_large_state_are_fine() {
    if std::env::var_os("COVE_TEST_SIGPIPE_DEFAULT").is_some() {
        // SAFETY: SIG_DFL installs no handler code; this process runs only this test (--test-threads=1).
        unsafe {
            nix::sys::signal::signal(
                nix::sys::signal::Signal::SIGPIPE,
                nix::sys::signal::SigHandler::SigDfl,
            )
        }
        .expect("reset SIGPIPE");
        assert!(!sigpipe_ignored(), "SIGPIPE should be at its default now");
    }
    let dir = tempfile::tempdir().unwrap();
    let state = vec![b'x'; 2 * 1024 * 1024];
    let hooks = [
        hook("/bin/true", &[], &[], None),
        // Closes stdin at once and stays alive, so that our writes hit EPIPE.
        sh("exec 0<&-; sleep 0.3", &dir.path().join("x")),
        sh("exec 0<&-; sleep 0.3", &dir.path().join("x")),
    ];
    for _ in 0..3 {
        run_hooks(HookKind::CreateRuntime, &hooks, &state).expect("hooks");
    }
    assert!(!pending_sigpipe(), "no SIGPIPE left pending");
}

/// Re-runs the test above in a fresh process whose SIGPIPE disposition is the default (the Rust runtime
/// ignores it, which would hide a SIGPIPE).
#[test]
fn hooks_that_ignore_their_stdin_do_not_kill_us_with_sigpipe() {
    assert!(
        sigpipe_ignored(),
        "the test harness ignores SIGPIPE: this case is covered in-process"
    );
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe)
        .args([
            "--exact",
            "hooks_that_ignore_a_large_state_are_fine",
            "--test-threads=1",
        ])
        .env("COVE_TEST_SIGPIPE_DEFAULT", "1")
        .output()
        .expect("re-run the test binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{:?}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("1 passed"), "{stdout}");
}

fn status_mask(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/thread-self/status").unwrap();
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .unwrap_or_else(|| panic!("{field} in status"));
    u64::from_str_radix(line.trim(), 16).unwrap()
}

fn sigpipe_ignored() -> bool {
    status_mask("SigIgn:") & (1 << (libc::SIGPIPE - 1)) != 0
}

fn pending_sigpipe() -> bool {
    status_mask("SigPnd:") & (1 << (libc::SIGPIPE - 1)) != 0
}

#[test]
fn select_picks_each_kind_from_config_json() {
    let json = r#"{
        "prestart": [{"path": "/p"}],
        "createRuntime": [{"path": "/cr1"}, {"path": "/cr2"}],
        "createContainer": [{"path": "/cc"}],
        "startContainer": [{"path": "/sc"}],
        "poststart": [{"path": "/ps"}],
        "poststop": [{"path": "/pst"}]
    }"#;
    let hooks: Hooks = serde_json::from_str(json).unwrap();
    let paths = |kind: HookKind| -> Vec<PathBuf> {
        kind.select(&hooks).iter().map(|h| h.path.clone()).collect()
    };
    assert_eq!(paths(HookKind::Prestart), [PathBuf::from("/p")]);
    assert_eq!(
        paths(HookKind::CreateRuntime),
        [PathBuf::from("/cr1"), PathBuf::from("/cr2")]
    );
    assert_eq!(paths(HookKind::CreateContainer), [PathBuf::from("/cc")]);
    assert_eq!(paths(HookKind::StartContainer), [PathBuf::from("/sc")]);
    assert_eq!(paths(HookKind::Poststart), [PathBuf::from("/ps")]);
    assert_eq!(paths(HookKind::Poststop), [PathBuf::from("/pst")]);
    let empty: Hooks = serde_json::from_str("{}").unwrap();
    assert!(HookKind::ALL.iter().all(|k| k.select(&empty).is_empty()));
}
