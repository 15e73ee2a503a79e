//! Docker's default seccomp profile, built in Rust.
//!
//! It follows moby's `profiles/seccomp/default.json` (the profile `docker run` applies unless told
//! otherwise): an allow-list, `EPERM` for every other syscall, `ENOSYS` for `clone3` (so libc falls
//! back to `clone`, whose flags the filter can inspect), argument filters for `personality`,
//! `clone` and `socket`, and groups of syscalls allowed only when a capability is kept.

use crate::profile::{ArchMap, ArgFilter, Conditions, SeccompProfile, SyscallRule};

/// Syscalls every container may make.
const ALLOWED: &[&str] = &[
    "accept",
    "accept4",
    "access",
    "adjtimex",
    "alarm",
    "bind",
    "brk",
    "cachestat",
    "capget",
    "capset",
    "chdir",
    "chmod",
    "chown",
    "chown32",
    "clock_adjtime",
    "clock_adjtime64",
    "clock_getres",
    "clock_getres_time64",
    "clock_gettime",
    "clock_gettime64",
    "clock_nanosleep",
    "clock_nanosleep_time64",
    "close",
    "close_range",
    "connect",
    "copy_file_range",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_ctl_old",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_wait",
    "epoll_wait_old",
    "eventfd",
    "eventfd2",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "faccessat",
    "faccessat2",
    "fadvise64",
    "fadvise64_64",
    "fallocate",
    "fanotify_mark",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchmodat2",
    "fchown",
    "fchown32",
    "fchownat",
    "fcntl",
    "fcntl64",
    "fdatasync",
    "fgetxattr",
    "flistxattr",
    "flock",
    "fork",
    "fremovexattr",
    "fsetxattr",
    "fstat",
    "fstat64",
    "fstatat64",
    "fstatfs",
    "fstatfs64",
    "fsync",
    "ftruncate",
    "ftruncate64",
    "futex",
    "futex_requeue",
    "futex_time64",
    "futex_wait",
    "futex_waitv",
    "futex_wake",
    "futimesat",
    "getcpu",
    "getcwd",
    "getdents",
    "getdents64",
    "getegid",
    "getegid32",
    "geteuid",
    "geteuid32",
    "getgid",
    "getgid32",
    "getgroups",
    "getgroups32",
    "getitimer",
    "getpeername",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getrandom",
    "getresgid",
    "getresgid32",
    "getresuid",
    "getresuid32",
    "getrlimit",
    "get_robust_list",
    "getrusage",
    "getsid",
    "getsockname",
    "getsockopt",
    "get_thread_area",
    "gettid",
    "gettimeofday",
    "getuid",
    "getuid32",
    "getxattr",
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "io_cancel",
    "ioctl",
    "io_destroy",
    "io_getevents",
    "io_pgetevents",
    "io_pgetevents_time64",
    "ioprio_get",
    "ioprio_set",
    "io_setup",
    "io_submit",
    "ipc",
    "kill",
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    "lchown",
    "lchown32",
    "lgetxattr",
    "link",
    "linkat",
    "listen",
    "listxattr",
    "llistxattr",
    "_llseek",
    "lremovexattr",
    "lseek",
    "lsetxattr",
    "lstat",
    "lstat64",
    "madvise",
    "map_shadow_stack",
    "membarrier",
    "memfd_create",
    "memfd_secret",
    "mincore",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "mlock",
    "mlock2",
    "mlockall",
    "mmap",
    "mmap2",
    "mprotect",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedreceive_time64",
    "mq_timedsend",
    "mq_timedsend_time64",
    "mq_unlink",
    "mremap",
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "msync",
    "munlock",
    "munlockall",
    "munmap",
    "nanosleep",
    "newfstatat",
    "_newselect",
    "open",
    "openat",
    "openat2",
    "pause",
    "pidfd_open",
    "pidfd_send_signal",
    "pipe",
    "pipe2",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "poll",
    "ppoll",
    "ppoll_time64",
    "prctl",
    "pread64",
    "preadv",
    "preadv2",
    "prlimit64",
    "process_mrelease",
    "pselect6",
    "pselect6_time64",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "read",
    "readahead",
    "readlink",
    "readlinkat",
    "readv",
    "recv",
    "recvfrom",
    "recvmmsg",
    "recvmmsg_time64",
    "recvmsg",
    "remap_file_pages",
    "removexattr",
    "rename",
    "renameat",
    "renameat2",
    "restart_syscall",
    "rmdir",
    "rseq",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_sigtimedwait_time64",
    "rt_tgsigqueueinfo",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_rr_get_interval_time64",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
    "seccomp",
    "select",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "semtimedop_time64",
    "send",
    "sendfile",
    "sendfile64",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "setfsgid",
    "setfsgid32",
    "setfsuid",
    "setfsuid32",
    "setgid",
    "setgid32",
    "setgroups",
    "setgroups32",
    "setitimer",
    "setpgid",
    "setpriority",
    "setregid",
    "setregid32",
    "setresgid",
    "setresgid32",
    "setresuid",
    "setresuid32",
    "setreuid",
    "setreuid32",
    "setrlimit",
    "set_robust_list",
    "setsid",
    "setsockopt",
    "set_thread_area",
    "set_tid_address",
    "setuid",
    "setuid32",
    "setxattr",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
    "shutdown",
    "sigaltstack",
    "signalfd",
    "signalfd4",
    "sigprocmask",
    "sigreturn",
    "socketcall",
    "socketpair",
    "splice",
    "stat",
    "stat64",
    "statfs",
    "statfs64",
    "statx",
    "symlink",
    "symlinkat",
    "sync",
    "sync_file_range",
    "syncfs",
    "sysinfo",
    "tee",
    "tgkill",
    "time",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_gettime64",
    "timer_settime",
    "timer_settime64",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_gettime64",
    "timerfd_settime",
    "timerfd_settime64",
    "times",
    "tkill",
    "truncate",
    "truncate64",
    "ugetrlimit",
    "umask",
    "uname",
    "unlink",
    "unlinkat",
    "utime",
    "utimensat",
    "utimensat_time64",
    "utimes",
    "vfork",
    "vmsplice",
    "wait4",
    "waitid",
    "waitpid",
    "write",
    "writev",
];

/// `personality` values a container may set: PER_LINUX, PER_LINUX32, UNAME26,
/// PER_LINUX32|UNAME26 and 0xffffffff (the query).
const PERSONALITIES: &[u64] = &[0x0, 0x0008, 0x20000, 0x20008, 0xffff_ffff];

/// The namespace flags `clone` may not use without CAP_SYS_ADMIN.
const CLONE_NS_FLAGS: u64 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWCGROUP) as u64;

/// Address family AF_VSOCK, which `socket` may not create (host/guest sockets).
const AF_VSOCK: u64 = libc::AF_VSOCK as u64;

/// Syscalls allowed only when the capability is kept, as (capability, syscalls).
const CAPABILITY_GROUPS: &[(&str, &[&str])] = &[
    ("CAP_DAC_READ_SEARCH", &["open_by_handle_at"]),
    (
        "CAP_SYS_ADMIN",
        &[
            "bpf",
            "clone",
            "clone3",
            "fanotify_init",
            "fsconfig",
            "fsmount",
            "fsopen",
            "fspick",
            "lookup_dcookie",
            "mount",
            "mount_setattr",
            "move_mount",
            "name_to_handle_at",
            "open_tree",
            "perf_event_open",
            "quotactl",
            "quotactl_fd",
            "setdomainname",
            "sethostname",
            "setns",
            "syslog",
            "umount",
            "umount2",
            "unshare",
        ],
    ),
    ("CAP_SYS_BOOT", &["reboot"]),
    ("CAP_SYS_CHROOT", &["chroot"]),
    (
        "CAP_SYS_MODULE",
        &["delete_module", "init_module", "finit_module"],
    ),
    ("CAP_SYS_PACCT", &["acct"]),
    (
        "CAP_SYS_PTRACE",
        &[
            "kcmp",
            "pidfd_getfd",
            "process_madvise",
            "process_vm_readv",
            "process_vm_writev",
            "ptrace",
        ],
    ),
    ("CAP_SYS_RAWIO", &["iopl", "ioperm"]),
    (
        "CAP_SYS_TIME",
        &["settimeofday", "stime", "clock_settime", "clock_settime64"],
    ),
    ("CAP_SYS_TTY_CONFIG", &["vhangup"]),
    (
        "CAP_SYS_NICE",
        &[
            "get_mempolicy",
            "mbind",
            "set_mempolicy",
            "set_mempolicy_home_node",
        ],
    ),
    ("CAP_SYSLOG", &["syslog"]),
    ("CAP_BPF", &["bpf"]),
    ("CAP_PERFMON", &["perf_event_open"]),
];

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn allow(list: &[&str]) -> SyscallRule {
    SyscallRule {
        names: names(list),
        action: "SCMP_ACT_ALLOW".to_owned(),
        ..SyscallRule::default()
    }
}

fn arg(index: u32, value: u64, value_two: u64, op: &str) -> ArgFilter {
    ArgFilter {
        index,
        value,
        value_two,
        op: op.to_owned(),
    }
}

fn only_with_caps(mut rule: SyscallRule, caps: &[&str]) -> SyscallRule {
    rule.includes.caps = names(caps);
    rule
}

fn only_on(mut rule: SyscallRule, arches: &[&str]) -> SyscallRule {
    rule.includes.arches = names(arches);
    rule
}

/// The architecture-specific rules (only the native one's take effect).
fn arch_rules() -> Vec<SyscallRule> {
    vec![
        only_on(allow(&["sync_file_range2", "swapcontext"]), &["ppc64le"]),
        only_on(
            allow(&[
                "arm_fadvise64_64",
                "arm_sync_file_range",
                "sync_file_range2",
                "breakpoint",
                "cacheflush",
                "set_tls",
            ]),
            &["arm", "arm64"],
        ),
        only_on(allow(&["arch_prctl"]), &["amd64", "x32"]),
        only_on(allow(&["modify_ldt"]), &["amd64", "x32", "x86"]),
        only_on(
            allow(&[
                "s390_pci_mmio_read",
                "s390_pci_mmio_write",
                "s390_runtime_instr",
            ]),
            &["s390", "s390x"],
        ),
        only_on(allow(&["riscv_flush_icache"]), &["riscv64"]),
    ]
}

/// The rules with argument filters: personality, clone, clone3 and socket.
fn argument_rules() -> Vec<SyscallRule> {
    let mut rules: Vec<SyscallRule> = PERSONALITIES
        .iter()
        .map(|value| SyscallRule {
            args: vec![arg(0, *value, 0, "SCMP_CMP_EQ")],
            ..allow(&["personality"])
        })
        .collect();
    rules.push(SyscallRule {
        args: vec![arg(0, CLONE_NS_FLAGS, 0, "SCMP_CMP_MASKED_EQ")],
        excludes: Conditions {
            caps: names(&["CAP_SYS_ADMIN"]),
            arches: names(&["s390", "s390x"]),
            min_kernel: None,
        },
        ..allow(&["clone"])
    });
    rules.push(SyscallRule {
        args: vec![arg(1, CLONE_NS_FLAGS, 0, "SCMP_CMP_MASKED_EQ")],
        comment: Some("s390 parameter ordering for clone is different".to_owned()),
        includes: Conditions {
            arches: names(&["s390", "s390x"]),
            ..Conditions::default()
        },
        excludes: Conditions {
            caps: names(&["CAP_SYS_ADMIN"]),
            ..Conditions::default()
        },
        ..allow(&["clone"])
    });
    rules.push(SyscallRule {
        names: names(&["clone3"]),
        action: "SCMP_ACT_ERRNO".to_owned(),
        errno_ret: Some(libc::ENOSYS as u32),
        comment: Some("flags cannot be inspected: make libc fall back to clone".to_owned()),
        excludes: Conditions {
            caps: names(&["CAP_SYS_ADMIN"]),
            ..Conditions::default()
        },
        ..SyscallRule::default()
    });
    rules.push(SyscallRule {
        args: vec![arg(0, AF_VSOCK, 0, "SCMP_CMP_NE")],
        comment: Some("no AF_VSOCK sockets".to_owned()),
        ..allow(&["socket"])
    });
    rules
}

fn arch_map() -> Vec<ArchMap> {
    let entry = |arch: &str, subs: &[&str]| ArchMap {
        architecture: arch.to_owned(),
        sub_architectures: names(subs),
    };
    vec![
        entry("SCMP_ARCH_X86_64", &["SCMP_ARCH_X86", "SCMP_ARCH_X32"]),
        entry("SCMP_ARCH_AARCH64", &["SCMP_ARCH_ARM"]),
        entry("SCMP_ARCH_RISCV64", &[]),
    ]
}

/// Builds Docker's default profile (see the module documentation).
pub(crate) fn default_profile() -> SeccompProfile {
    let mut syscalls = vec![allow(ALLOWED)];
    syscalls.push(SyscallRule {
        includes: Conditions {
            min_kernel: Some("4.8".to_owned()),
            ..Conditions::default()
        },
        ..allow(&["process_vm_readv", "process_vm_writev", "ptrace"])
    });
    syscalls.extend(argument_rules());
    syscalls.extend(arch_rules());
    syscalls.extend(
        CAPABILITY_GROUPS
            .iter()
            .map(|(cap, list)| only_with_caps(allow(list), &[cap])),
    );
    SeccompProfile {
        default_action: "SCMP_ACT_ERRNO".to_owned(),
        default_errno_ret: Some(libc::EPERM as u32),
        architectures: Vec::new(),
        flags: Vec::new(),
        arch_map: arch_map(),
        syscalls,
    }
}
