//! Landlock rules applied for real, in forked children (the test process itself is never restricted):
//! each child applies a plan, then tries reads, writes, creates and execs inside and outside the allowed
//! paths and reports every check through a pipe; the parent asserts on the report and the exit status.
#![cfg(feature = "privileged")]

use std::ffi::CString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use cove_container::landlock::{LandlockError, LandlockPlan, LandlockStatus};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, pipe2, ForkResult};

/// The running kernel's Landlock ABI version (negative when it has no Landlock).
fn kernel_abi() -> i64 {
    // SAFETY: LANDLOCK_CREATE_RULESET_VERSION (flags = 1) with a NULL attribute and size 0 only returns the
    // ABI version; the kernel reads and writes no memory.
    unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            1u32,
        )
    }
}

/// The status a plan must get on this kernel: cove's rights are those of ABI 5.
fn expected_status() -> LandlockStatus {
    let abi = kernel_abi();
    assert!(
        abi >= 1,
        "this kernel has no Landlock (landlock_create_ruleset returned {abi}): the privileged Landlock \
         tests need CONFIG_SECURITY_LANDLOCK and `landlock` in lsm="
    );
    if abi >= 5 {
        LandlockStatus::Full
    } else {
        LandlockStatus::Partial
    }
}

/// The system directories a dynamically linked `/bin/true` needs, those that exist.
fn system_read_paths() -> Vec<PathBuf> {
    ["/usr", "/bin", "/lib", "/lib64", "/etc"]
        .iter()
        .map(PathBuf::from)
        .filter(|p| p.exists())
        .collect()
}

/// A child's report: one line per check (`ok <name>` or `FAIL <name>: <detail>`), and how it ended.
struct Report {
    lines: Vec<String>,
    status: WaitStatus,
}

impl Report {
    /// Asserts that the child ended with `code` and that every check in `names` passed.
    fn assert_passed(&self, names: &[&str], code: i32) {
        let failed: Vec<_> = self
            .lines
            .iter()
            .filter(|l| !l.starts_with("ok "))
            .collect();
        assert!(
            failed.is_empty(),
            "failed checks: {failed:#?}\nreport: {:#?}",
            self.lines
        );
        for name in names {
            assert!(
                self.lines.iter().any(|l| l == &format!("ok {name}")),
                "check {name} did not run; report: {:#?}",
                self.lines
            );
        }
        assert!(
            matches!(self.status, WaitStatus::Exited(_, c) if c == code),
            "child ended with {:?}, expected exit {code}; report: {:#?}",
            self.status,
            self.lines
        );
    }
}

/// What a child writes its checks to.
struct Checks {
    out: File,
}

impl Checks {
    /// Records one check.
    fn check(&mut self, name: &str, result: Result<(), String>) {
        let line = match result {
            Ok(()) => format!("ok {name}\n"),
            Err(detail) => format!("FAIL {name}: {detail}\n"),
        };
        self.out
            .write_all(line.as_bytes())
            .expect("write the report pipe");
    }
}

/// Runs `body` in a forked child; its report pipe is close-on-exec, so a child that execs ends the report.
/// The child `_exit`s with the code `body` returns (101 if it panics) and never returns into the harness.
fn in_child(body: impl FnOnce(&mut Checks) -> i32) -> Report {
    let (read_end, write_end) = pipe2(OFlag::O_CLOEXEC).expect("pipe2");
    // SAFETY: the child only runs `body` (which allocates and opens files: glibc's fork handlers keep malloc
    // usable in the single-threaded child) and then `_exit`s; it never returns into the test harness.
    match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            drop(read_end);
            let mut checks = Checks {
                out: File::from(write_end),
            };
            let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(&mut checks)))
                .unwrap_or(101);
            // SAFETY: _exit ends the forked child at once, without running the parent's atexit handlers or
            // destructors (the temp dirs belong to the parent).
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => {
            drop(write_end);
            let lines = read_report(read_end);
            let status = waitpid(child, None).expect("waitpid");
            Report { lines, status }
        }
    }
}

fn read_report(read_end: OwnedFd) -> Vec<String> {
    let mut text = String::new();
    File::from(read_end)
        .read_to_string(&mut text)
        .expect("read the report pipe");
    text.lines().map(str::to_string).collect()
}

/// `Ok` when `result` failed with EACCES.
fn denied<T>(result: std::io::Result<T>) -> Result<(), String> {
    match result {
        Err(e) if e.raw_os_error() == Some(libc::EACCES) => Ok(()),
        Err(e) => Err(format!("expected EACCES, got {e}")),
        Ok(_) => Err("expected EACCES, but it was allowed".to_string()),
    }
}

/// `Ok` when `result` succeeded.
fn allowed<T>(result: std::io::Result<T>) -> Result<(), String> {
    result
        .map(|_| ())
        .map_err(|e| format!("expected success, got {e}"))
}

/// `execv(path)`: returns only on failure.
fn exec(path: &Path) -> std::io::Error {
    let path = CString::new(path.as_os_str().as_encoded_bytes()).expect("no NUL in path");
    let argv = [path.as_c_str()];
    match nix::unistd::execv(&path, &argv) {
        Err(errno) => std::io::Error::from(errno),
        Ok(never) => match never {},
    }
}

/// An allowed (write) and a denied temp dir; the denied one holds a readable file and a copy of `true`.
struct Dirs {
    allowed: tempfile::TempDir,
    denied: tempfile::TempDir,
}

impl Dirs {
    fn new() -> Dirs {
        let dirs = Dirs {
            allowed: tempfile::tempdir().expect("tempdir"),
            denied: tempfile::tempdir().expect("tempdir"),
        };
        std::fs::write(dirs.denied_file(), "secret\n").expect("write the denied file");
        std::fs::copy("/bin/true", dirs.denied_true()).expect("copy /bin/true");
        std::fs::set_permissions(dirs.denied_true(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod the copy of true");
        dirs
    }

    fn denied_file(&self) -> PathBuf {
        self.denied.path().join("secret")
    }

    fn denied_true(&self) -> PathBuf {
        self.denied.path().join("true")
    }

    /// System dirs readable, the allowed dir writable.
    fn plan(&self) -> LandlockPlan {
        LandlockPlan {
            read: system_read_paths(),
            write: vec![self.allowed.path().to_path_buf()],
        }
    }
}

#[test]
fn landlock_confines_reads_writes_and_execs_to_the_plan() {
    let expected = expected_status();
    let dirs = Dirs::new();
    let plan = dirs.plan();
    plan.validate().expect("a valid plan");

    let report = in_child(|c| {
        c.check(
            "no_new_privs",
            nix::sys::prctl::set_no_new_privs().map_err(|e| e.to_string()),
        );
        let status = plan.apply();
        c.check(
            "apply",
            match &status {
                Ok(s) if *s == expected => Ok(()),
                other => Err(format!("expected Ok({expected:?}), got {other:?}")),
            },
        );
        c.check(
            "read /etc/hostname",
            allowed(std::fs::read("/etc/hostname")),
        );
        c.check(
            "list /usr",
            allowed(std::fs::read_dir("/usr").map(|d| d.count())),
        );
        c.check(
            "write /etc/hostname denied",
            denied(File::options().append(true).open("/etc/hostname")),
        );
        let inside = dirs.allowed.path().join("file");
        c.check(
            "write in the allowed dir",
            allowed(std::fs::write(&inside, "hello")),
        );
        c.check(
            "read back in the allowed dir",
            match std::fs::read_to_string(&inside) {
                Ok(s) if s == "hello" => Ok(()),
                other => Err(format!("{other:?}")),
            },
        );
        let sub = dirs.allowed.path().join("sub");
        c.check(
            "mkdir in the allowed dir",
            allowed(std::fs::create_dir(&sub)),
        );
        c.check(
            "rename in the allowed dir",
            allowed(std::fs::rename(&inside, sub.join("moved"))),
        );
        c.check(
            "create in another tempdir denied",
            denied(File::create(dirs.denied.path().join("new"))),
        );
        c.check(
            "create in /tmp denied",
            denied(File::create(dirs.allowed.path().with_extension("outside"))),
        );
        c.check(
            "read outside the plan denied",
            denied(std::fs::read(dirs.denied_file())),
        );
        c.check(
            "list outside the plan denied",
            denied(std::fs::read_dir(dirs.denied.path())),
        );
        c.check(
            "exec outside the plan denied",
            denied::<()>(Err(exec(&dirs.denied_true()))),
        );
        c.check("exec /bin/true", Ok(()));
        // The pipe is close-on-exec: a successful exec ends the report and `true` exits 0.
        let err = exec(Path::new("/bin/true"));
        c.check("exec /bin/true returned", Err(err.to_string()));
        2
    });

    report.assert_passed(
        &[
            "no_new_privs",
            "apply",
            "read /etc/hostname",
            "list /usr",
            "write /etc/hostname denied",
            "write in the allowed dir",
            "read back in the allowed dir",
            "mkdir in the allowed dir",
            "rename in the allowed dir",
            "create in another tempdir denied",
            "create in /tmp denied",
            "read outside the plan denied",
            "list outside the plan denied",
            "exec outside the plan denied",
            "exec /bin/true",
        ],
        0,
    );
    // The writes really happened, and nothing appeared where the child was denied.
    assert_eq!(
        std::fs::read_to_string(dirs.allowed.path().join("sub/moved")).unwrap(),
        "hello"
    );
    assert!(!dirs.denied.path().join("new").exists());
    assert!(!dirs.allowed.path().with_extension("outside").exists());
}

#[test]
fn landlock_does_not_set_no_new_privs_and_fails_without_it_or_cap_sys_admin() {
    let dirs = Dirs::new();
    let plan = dirs.plan();

    let report = in_child(|c| {
        let dropped = caps::drop(
            None,
            caps::CapSet::Effective,
            caps::Capability::CAP_SYS_ADMIN,
        );
        c.check("drop CAP_SYS_ADMIN", dropped.map_err(|e| e.to_string()));
        let result = plan.apply();
        c.check(
            "apply fails with EPERM",
            match &result {
                Err(err @ LandlockError::RestrictSelf(_)) => {
                    let child = cove_spawn::ChildError::from_error("landlock", err);
                    if child.errno == Some(libc::EPERM) && !child.to_string().contains("os error") {
                        Ok(())
                    } else {
                        Err(format!("expected a clean EPERM, got {child}"))
                    }
                }
                other => Err(format!("expected RestrictSelf, got {other:?}")),
            },
        );
        c.check(
            "no_new_privs still off",
            match nix::sys::prctl::get_no_new_privs() {
                Ok(false) => Ok(()),
                other => Err(format!("{other:?}")),
            },
        );
        c.check(
            "still unrestricted",
            allowed(std::fs::read(dirs.denied_file())),
        );
        0
    });
    report.assert_passed(
        &[
            "drop CAP_SYS_ADMIN",
            "apply fails with EPERM",
            "no_new_privs still off",
            "still unrestricted",
        ],
        0,
    );
}

#[test]
fn landlock_rules_on_single_files_are_fully_enforced() {
    let expected = expected_status();
    let dirs = Dirs::new();
    let readable = dirs.allowed.path().join("readable");
    let writable = dirs.allowed.path().join("writable");
    std::fs::write(&readable, "r").unwrap();
    std::fs::write(&writable, "w").unwrap();
    let plan = LandlockPlan {
        read: vec![readable.clone()],
        write: vec![writable.clone()],
    };

    let report = in_child(|c| {
        c.check(
            "no_new_privs",
            nix::sys::prctl::set_no_new_privs().map_err(|e| e.to_string()),
        );
        c.check(
            "apply",
            match plan.apply() {
                Ok(s) if s == expected => Ok(()),
                other => Err(format!("expected Ok({expected:?}), got {other:?}")),
            },
        );
        c.check("read the read file", allowed(std::fs::read(&readable)));
        c.check(
            "write the read file denied",
            denied(File::options().write(true).open(&readable)),
        );
        c.check(
            "write the write file",
            allowed(
                File::options()
                    .append(true)
                    .open(&writable)
                    .and_then(|mut f| f.write_all(b"+")),
            ),
        );
        c.check(
            "create a sibling denied",
            denied(File::create(dirs.allowed.path().join("sibling"))),
        );
        c.check(
            "list the parent denied",
            denied(std::fs::read_dir(dirs.allowed.path())),
        );
        c.check(
            "read /etc/hostname denied",
            denied(std::fs::read("/etc/hostname")),
        );
        0
    });
    report.assert_passed(
        &[
            "no_new_privs",
            "apply",
            "read the read file",
            "write the read file denied",
            "write the write file",
            "create a sibling denied",
            "list the parent denied",
            "read /etc/hostname denied",
        ],
        0,
    );
    assert_eq!(std::fs::read_to_string(&writable).unwrap(), "w+");
    assert!(!dirs.allowed.path().join("sibling").exists());
}

#[test]
fn landlock_missing_path_is_an_error_naming_it_and_restricts_nothing() {
    let dirs = Dirs::new();
    let missing = dirs.allowed.path().join("does-not-exist");
    let mut plan = dirs.plan();
    plan.read.push(missing.clone());

    let report = in_child(|c| {
        c.check(
            "no_new_privs",
            nix::sys::prctl::set_no_new_privs().map_err(|e| e.to_string()),
        );
        let result = plan.apply();
        c.check(
            "apply names the path",
            match &result {
                Err(e @ LandlockError::OpenPath { path, .. }) if *path == missing => {
                    if e.to_string().contains(&missing.display().to_string()) {
                        Ok(())
                    } else {
                        Err(format!("message does not name the path: {e}"))
                    }
                }
                other => Err(format!("expected OpenPath, got {other:?}")),
            },
        );
        c.check(
            "still unrestricted",
            allowed(std::fs::read(dirs.denied_file())),
        );
        c.check(
            "source is ENOENT",
            match &result {
                Err(e) => {
                    match std::error::Error::source(e).and_then(|s| s.downcast_ref::<Errno>()) {
                        Some(Errno::ENOENT) => Ok(()),
                        other => Err(format!("{other:?}")),
                    }
                }
                Ok(_) => Err("no error".to_string()),
            },
        );
        0
    });
    report.assert_passed(
        &[
            "no_new_privs",
            "apply names the path",
            "still unrestricted",
            "source is ENOENT",
        ],
        0,
    );
}
