#![cfg(feature = "privileged")]
//! Filters installed in the kernel (needs root for the control runs' expectations and the
//! `CAP_SYS_ADMIN` case). Every filter is applied in a forked child, never in the test process.

use std::ffi::CString;
use std::os::fd::OwnedFd;

use cove_seccomp::{Filter, Profile, SeccompProfile};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, pipe, read, ForkResult, Pid};

/// Number of probe results a child reports.
const PROBES: usize = 12;

/// A forked child, killed and reaped if the test fails before it is waited for.
struct Child {
    pid: Pid,
    reaped: bool,
}

impl Child {
    /// Forks; the child runs `body` and exits with its return value (101 if it panics).
    fn fork(body: impl FnOnce() -> i32) -> Child {
        // SAFETY: the child runs `body`, which makes plain syscalls and small allocations (glibc's fork
        // leaves malloc usable in the child), then leaves with `_exit`, never returning into the
        // multi-threaded test harness.
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

/// `-errno` when a raw syscall returned -1, else its return value.
fn outcome(ret: libc::c_long) -> i64 {
    if ret == -1 {
        -i64::from(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    } else {
        ret
    }
}

fn set_no_new_privs() {
    // SAFETY: PR_SET_NO_NEW_PRIVS only sets a flag on the calling (child) thread.
    let rc = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    assert_eq!(rc, 0, "prctl(PR_SET_NO_NEW_PRIVS)");
}

/// The syscalls the default profile rules on, made raw so libc cannot hide the result.
fn probes() -> [i64; PROBES] {
    let none = c"none".as_ptr();
    let target = c"/nonexistent-cove-seccomp-test".as_ptr();
    let tmpfs = c"tmpfs".as_ptr();
    let null = std::ptr::null::<u8>();
    // SAFETY: all calls below are raw syscalls with constant arguments; the pointers are NUL-terminated
    // static strings or null. None of them can change the host: mount targets a missing path,
    // reboot gets invalid magic numbers, clone3 gets a null argument, unshare and clone only
    // affect this forked child, and the socket fds are closed at `_exit`.
    unsafe {
        [
            outcome(libc::syscall(libc::SYS_getpid)),
            outcome(libc::syscall(libc::SYS_mount, none, target, tmpfs, 0, null)),
            outcome(libc::syscall(libc::SYS_unshare, libc::CLONE_NEWUSER)),
            // keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0)
            outcome(libc::syscall(libc::SYS_keyctl, 0, -3, 0)),
            outcome(libc::syscall(libc::SYS_open_by_handle_at, -1, null, 0)),
            outcome(libc::syscall(libc::SYS_reboot, 0, 0, 0, null)),
            outcome(libc::syscall(libc::SYS_clone3, null, 0)),
            outcome(libc::syscall(libc::SYS_personality, 0xffff_ffffu64)),
            outcome(libc::syscall(
                libc::SYS_socket,
                libc::AF_VSOCK,
                libc::SOCK_STREAM,
                0,
            )),
            outcome(libc::syscall(
                libc::SYS_socket,
                libc::AF_UNIX,
                libc::SOCK_STREAM,
                0,
            )),
            // clone(CLONE_NEWUSER | SIGCHLD): refused before any child exists.
            outcome(libc::syscall(
                libc::SYS_clone,
                (libc::CLONE_NEWUSER | libc::SIGCHLD) as libc::c_ulong,
                0,
                0,
                0,
                0,
            )),
            outcome(libc::syscall(libc::SYS_getppid)),
        ]
    }
}

/// Runs `probes` in a child after `setup` and returns what the child saw.
fn probe_in_child(setup: impl FnOnce()) -> [i64; PROBES] {
    let (rd, wr): (OwnedFd, OwnedFd) = pipe().expect("pipe");
    let child = Child::fork(|| {
        setup();
        let results = probes();
        let bytes: Vec<u8> = results.iter().flat_map(|r| r.to_ne_bytes()).collect();
        let written = nix::unistd::write(&wr, &bytes).expect("write results");
        i32::from(written != bytes.len())
    });
    drop(wr);
    let mut buf = [0u8; PROBES * 8];
    let mut got = 0;
    while got < buf.len() {
        let n = read(&rd, &mut buf[got..]).expect("read results");
        assert!(n > 0, "child reported {got} of {} bytes", buf.len());
        got += n;
    }
    let status = child.wait();
    assert!(matches!(status, WaitStatus::Exited(_, 0)), "{status:?}");
    let mut out = [0i64; PROBES];
    for (i, chunk) in buf.chunks_exact(8).enumerate() {
        out[i] = i64::from_ne_bytes(chunk.try_into().unwrap());
    }
    out
}

const EPERM: i64 = -(libc::EPERM as i64);
const ENOSYS: i64 = -(libc::ENOSYS as i64);

fn default_filter(caps: &[&str]) -> Filter {
    let caps: Vec<String> = caps.iter().map(|c| (*c).to_owned()).collect();
    Filter::compile(&SeccompProfile::docker_default(), &caps).expect("compile default")
}

#[test]
fn default_filter_denies_what_docker_denies() {
    let filter = default_filter(&["CAP_CHOWN", "CAP_NET_BIND_SERVICE"]);
    let [getpid, mount, unshare, keyctl, open_by_handle, reboot, clone3, personality, vsock, unix, clone_newuser, getppid] =
        probe_in_child(|| {
            set_no_new_privs();
            filter.apply().expect("apply");
        });
    assert!(getpid > 1, "getpid: {getpid}");
    assert!(getppid > 1, "getppid: {getppid}");
    assert_eq!(mount, EPERM, "mount");
    assert_eq!(unshare, EPERM, "unshare(CLONE_NEWUSER)");
    assert_eq!(keyctl, EPERM, "keyctl");
    assert_eq!(open_by_handle, EPERM, "open_by_handle_at");
    assert_eq!(reboot, EPERM, "reboot");
    assert_eq!(clone3, ENOSYS, "clone3");
    assert!(personality >= 0, "personality(0xffffffff): {personality}");
    assert_eq!(vsock, EPERM, "socket(AF_VSOCK)");
    assert!(unix >= 0, "socket(AF_UNIX): {unix}");
    assert_eq!(clone_newuser, EPERM, "clone(CLONE_NEWUSER)");
}

#[test]
fn without_a_filter_the_same_probes_fail_differently() {
    // The control run: the errors above come from the filter, not from the probes' arguments.
    let [getpid, mount, _, keyctl, open_by_handle, reboot, clone3, personality, vsock, _, _, _] =
        probe_in_child(|| {});
    assert!(getpid > 1);
    assert_eq!(mount, -i64::from(libc::ENOENT), "mount on a missing path");
    assert_ne!(keyctl, EPERM, "keyctl");
    // Linux 6.1 answers open_by_handle_at's permission check with EPERM even for root with these arguments;
    // its denial by the filter is proven by `denials_come_from_the_filter` (errno 77) instead.
    let _ = open_by_handle;
    // This machine refuses reboot with EPERM even to root, so reboot's control is
    // `denials_come_from_the_filter` below.
    let _ = reboot;
    assert_eq!(clone3, -i64::from(libc::EINVAL), "clone3(NULL, 0)");
    assert!(personality >= 0);
    assert_ne!(vsock, EPERM, "socket(AF_VSOCK)");
}

#[test]
fn denials_come_from_the_filter() {
    // Docker's default with another errno for the default action: every denial reports it.
    let mut profile = SeccompProfile::docker_default();
    profile.default_errno_ret = Some(77);
    let filter = Filter::compile(&profile, &[]).unwrap();
    let results = probe_in_child(|| {
        set_no_new_privs();
        filter.apply().expect("apply");
    });
    for (i, name) in [
        (1, "mount"),
        (2, "unshare"),
        (3, "keyctl"),
        (4, "open_by_handle_at"),
        (5, "reboot"),
        (8, "socket(AF_VSOCK)"),
        (10, "clone(CLONE_NEWUSER)"),
    ] {
        assert_eq!(results[i], -77, "{name}");
    }
    assert_eq!(results[6], ENOSYS, "clone3 keeps its own errno");
    assert!(results[0] > 1 && results[9] >= 0 && results[7] >= 0);
}

#[test]
fn kept_cap_sys_admin_allows_namespaces() {
    let filter = default_filter(&["CAP_SYS_ADMIN"]);
    let results = probe_in_child(|| {
        set_no_new_privs();
        filter.apply().expect("apply");
    });
    let (unshare, clone3, reboot) = (results[2], results[6], results[5]);
    assert_eq!(unshare, 0, "unshare(CLONE_NEWUSER) with CAP_SYS_ADMIN kept");
    assert_eq!(
        clone3,
        -i64::from(libc::EINVAL),
        "clone3 reaches the kernel"
    );
    assert_eq!(reboot, EPERM, "reboot still needs CAP_SYS_BOOT");
}

#[test]
fn custom_profile_file_takes_effect() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deny-getppid.json");
    std::fs::write(
        &path,
        r#"{
            "defaultAction": "SCMP_ACT_ALLOW",
            "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
            "syscalls": [ { "names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 42 } ]
        }"#,
    )
    .unwrap();
    let profile = Profile::from_setting(path.to_str().unwrap()).unwrap();
    let filter = profile.compile(&[]).unwrap().expect("a filter");
    let results = probe_in_child(|| {
        set_no_new_privs();
        filter.apply().expect("apply");
    });
    assert!(results[0] > 1, "getpid still works");
    assert_eq!(results[11], -42, "getppid");
    assert_eq!(
        results[6],
        -i64::from(libc::EINVAL),
        "clone3 is not filtered"
    );
}

/// Execs `argv` under the default filter and returns the exit status.
fn exec_under_default(argv: &[&str]) -> WaitStatus {
    let filter = default_filter(&[]);
    let argv: Vec<CString> = argv.iter().map(|a| CString::new(*a).unwrap()).collect();
    let child = Child::fork(|| {
        set_no_new_privs();
        filter.apply().expect("apply");
        let err = nix::unistd::execv(&argv[0], &argv).unwrap_err();
        eprintln!("execv: {err}");
        102
    });
    child.wait()
}

#[test]
fn exec_works_under_the_default_filter() {
    assert!(matches!(
        exec_under_default(&["/bin/true"]),
        WaitStatus::Exited(_, 0)
    ));
    // A shell forks and execs (glibc tries clone3, gets ENOSYS, falls back to clone).
    let status = exec_under_default(&["/bin/sh", "-c", "/bin/true && exit 7"]);
    assert!(matches!(status, WaitStatus::Exited(_, 7)), "{status:?}");
    // unshare(1) is refused inside: the filter survives exec.
    let status = exec_under_default(&["/usr/bin/unshare", "--user", "/bin/true"]);
    assert!(
        matches!(status, WaitStatus::Exited(_, code) if code != 0),
        "{status:?}"
    );
}

#[test]
fn apply_needs_no_new_privs_or_cap_sys_admin() {
    let filter = default_filter(&[]);
    let child = Child::fork(|| {
        // Drop CAP_SYS_ADMIN from the effective set (this child only), leave no_new_privs unset.
        let header = libc_cap_header();
        let mut data = [CapData::default(); 2];
        // SAFETY: capget fills two `CapData` (the v3 ABI layout) for this process.
        let rc = unsafe { libc::syscall(libc::SYS_capget, &header, data.as_mut_ptr()) };
        assert_eq!(rc, 0, "capget");
        data[0].effective &= !(1 << libc_cap_sys_admin());
        // SAFETY: capset reads the same two structures; lowering effective caps is always allowed.
        let rc = unsafe { libc::syscall(libc::SYS_capset, &header, data.as_ptr()) };
        assert_eq!(rc, 0, "capset");
        match filter.apply() {
            Err(cove_seccomp::SeccompError::Apply { source })
                if source.raw_os_error() == Some(libc::EACCES) =>
            {
                0
            }
            other => {
                eprintln!("apply: {other:?}");
                1
            }
        }
    });
    assert!(matches!(child.wait(), WaitStatus::Exited(_, 0)));
}

/// `struct __user_cap_header_struct` with `_LINUX_CAPABILITY_VERSION_3`.
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

/// `struct __user_cap_data_struct`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

fn libc_cap_header() -> CapHeader {
    CapHeader {
        version: 0x2008_0522,
        pid: 0,
    }
}

/// CAP_SYS_ADMIN's bit number.
fn libc_cap_sys_admin() -> u32 {
    21
}

/// A 32-bit syscall through `int 0x80` (the i386 ABI) from this 64-bit process; returns
/// `-errno` or the result. Arguments 3–5 are zero.
#[cfg(target_arch = "x86_64")]
fn int80(nr: u32, a: u32, b: u32) -> i64 {
    let ret: i32;
    // SAFETY: `int 0x80` enters the kernel's i386 compat entry. rbx (reserved by LLVM) is swapped
    // with a scratch register around the call and restored; the kernel preserves every register
    // but eax for this entry, and r8–r11 are declared clobbered in case it clears them. The only
    // syscalls made here take integer arguments or null pointers, so no memory is written.
    unsafe {
        std::arch::asm!(
            "xchg {a}, rbx",
            "int 0x80",
            "xchg {a}, rbx",
            a = inout(reg) u64::from(a) => _,
            inlateout("eax") nr => ret,
            in("ecx") b,
            in("edx") 0u32,
            in("esi") 0u32,
            in("edi") 0u32,
            out("r8") _,
            out("r9") _,
            out("r10") _,
            out("r11") _,
        );
    }
    i64::from(ret)
}

/// i386 syscall numbers used below.
#[cfg(target_arch = "x86_64")]
mod i386 {
    pub const GETPID: u32 = 20;
    pub const MOUNT: u32 = 21;
    pub const UNSHARE: u32 = 310;
    pub const CLONE3: u32 = 435;
}

#[cfg(target_arch = "x86_64")]
#[test]
fn i386_syscalls_are_filtered_too() {
    let filter = default_filter(&[]);
    assert_eq!(filter.arches().len(), 2);
    let (rd, wr): (OwnedFd, OwnedFd) = pipe().expect("pipe");
    let child = Child::fork(|| {
        set_no_new_privs();
        filter.apply().expect("apply");
        let results = [
            int80(i386::GETPID, 0, 0),
            int80(i386::MOUNT, 0, 0),
            int80(i386::UNSHARE, libc::CLONE_NEWUSER as u32, 0),
            int80(i386::CLONE3, 0, 0),
        ];
        let bytes: Vec<u8> = results.iter().flat_map(|r| r.to_ne_bytes()).collect();
        i32::from(nix::unistd::write(&wr, &bytes).expect("write") != bytes.len())
    });
    drop(wr);
    let mut buf = [0u8; 32];
    let mut got = 0;
    while got < buf.len() {
        let n = read(&rd, &mut buf[got..]).expect("read");
        assert!(n > 0, "child reported {got} bytes");
        got += n;
    }
    let status = child.wait();
    assert!(matches!(status, WaitStatus::Exited(_, 0)), "{status:?}");
    let r: Vec<i64> = buf
        .chunks_exact(8)
        .map(|c| i64::from_ne_bytes(c.try_into().unwrap()))
        .collect();
    assert!(r[0] > 1, "i386 getpid: {}", r[0]);
    assert_eq!(r[1], EPERM, "i386 mount");
    assert_eq!(r[2], EPERM, "i386 unshare(CLONE_NEWUSER)");
    assert_eq!(r[3], ENOSYS, "i386 clone3");
}

#[cfg(target_arch = "x86_64")]
#[test]
fn i386_syscalls_kill_when_the_profile_omits_x86() {
    let profile = SeccompProfile::from_json(r#"{ "defaultAction": "SCMP_ACT_ALLOW" }"#).unwrap();
    let filter = Filter::compile(&profile, &[]).unwrap();
    let child = Child::fork(|| {
        // SIGSYS would dump core: leave no core file behind.
        nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_CORE, 0, 0)
            .expect("setrlimit(RLIMIT_CORE)");
        set_no_new_privs();
        filter.apply().expect("apply");
        // A 64-bit syscall is fine, the 32-bit one kills the process.
        // SAFETY: getpid has no arguments and no side effects.
        assert!(unsafe { libc::getpid() } > 0);
        int80(i386::GETPID, 0, 0);
        3
    });
    let status = child.wait();
    assert!(
        matches!(status, WaitStatus::Signaled(_, Signal::SIGSYS, _)),
        "{status:?}"
    );
}
