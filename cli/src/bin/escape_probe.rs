//! Test helper for cove's escape battery: tries one operation a container must not be able to do and prints
//! `ok` or the errno name it got (`EPERM`, `ENOSYS`, …) on stdout, one line. Used only by
//! `tests/privileged_escape.rs`, inside containers.

use std::os::unix::fs::MetadataExt;

use nix::errno::Errno;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).cloned().unwrap_or_default();
    let outcome = match arg(0).as_str() {
        "write" => write_file(&arg(1)),
        "read" => read_file(&arg(1)),
        "mount" => errno_of(nix::mount::mount(
            Some("tmpfs"),
            arg(1).as_str(),
            Some("tmpfs"),
            nix::mount::MsFlags::empty(),
            None::<&str>,
        )),
        "unshare-user" => errno_of(nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER)),
        "init-module" => raw(libc::SYS_init_module, [0, 0, empty_string()]),
        // The magic numbers and an invalid command: without CAP_SYS_BOOT the kernel says EPERM before it looks
        // at the command; with it, EINVAL — never a reboot, whatever goes wrong.
        "reboot" => raw(
            libc::SYS_reboot,
            [0xfee1dead_u32 as libc::c_long, 672274793, 0],
        ),
        "keyctl" => raw(
            libc::SYS_keyctl,
            [1 /* KEYCTL_JOIN_SESSION_KEYRING */, 0, 0],
        ),
        "open-by-handle" => shocker(&arg(1)),
        "ptrace" => raw(
            libc::SYS_ptrace,
            [
                libc::PTRACE_ATTACH as libc::c_long,
                arg(1).parse().unwrap_or(0),
                0,
            ],
        ),
        "mknod-open" => mknod_open(
            &arg(1),
            nix::sys::stat::SFlag::S_IFBLK,
            arg(2).parse().unwrap_or(0),
            arg(3).parse().unwrap_or(0),
        ),
        "mknod-char-open" => mknod_open(
            &arg(1),
            nix::sys::stat::SFlag::S_IFCHR,
            arg(2).parse().unwrap_or(0),
            arg(3).parse().unwrap_or(0),
        ),
        "chmod" => errno_of(nix::sys::stat::fchmodat(
            nix::fcntl::AT_FDCWD,
            arg(1).as_str(),
            nix::sys::stat::Mode::from_bits_truncate(u32::from_str_radix(&arg(2), 8).unwrap_or(0)),
            nix::sys::stat::FchmodatFlags::FollowSymlink,
        )),
        "chown" => errno_of(nix::unistd::chown(
            arg(1).as_str(),
            Some(nix::unistd::Uid::from_raw(arg(2).parse().unwrap_or(65534))),
            None,
        )),
        "fd" => raw(
            libc::SYS_fcntl,
            [
                arg(1).parse().unwrap_or(-1),
                libc::F_GETFD as libc::c_long,
                0,
            ],
        ),
        "exe-of" => exe_of(&arg(1)),
        // Push a byte into the input of the terminal on stdin (keystroke injection into the caller's shell).
        "tiocsti" => raw(
            libc::SYS_ioctl,
            [0, libc::TIOCSTI as libc::c_long, empty_string()],
        ),
        "session" => session(),
        "euid" => format!("{}", nix::unistd::geteuid()),
        "become" => become_user(&args[1..]),
        other => format!("unknown probe `{other}`"),
    };
    println!("{outcome}");
}

/// `leader` when the process leads its own session (so shares no terminal session with its caller).
fn session() -> String {
    match nix::unistd::getsid(None) {
        Ok(sid) if sid == nix::unistd::getpid() => "leader".into(),
        Ok(_) => "member".into(),
        Err(e) => format!("{e:?}"),
    }
}

fn errno_of(r: nix::Result<()>) -> String {
    match r {
        Ok(()) => "ok".into(),
        Err(e) => format!("{e:?}"),
    }
}

fn empty_string() -> libc::c_long {
    static EMPTY: &[u8] = b"\0";
    EMPTY.as_ptr() as libc::c_long
}

/// A raw syscall with three arguments.
fn raw(nr: libc::c_long, a: [libc::c_long; 3]) -> String {
    // SAFETY: every probe passes null pointers, zero lengths or a static NUL-terminated string (TIOCSTI reads
    // its one byte): the kernel reads no memory of ours beyond them, and a denied call has no effect.
    let ret = unsafe { libc::syscall(nr, a[0], a[1], a[2]) };
    if ret < 0 {
        format!("{:?}", Errno::last())
    } else {
        "ok".into()
    }
}

fn write_file(path: &str) -> String {
    match std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"h"))
    {
        Ok(()) => "ok".into(),
        Err(e) => format!("{:?}", Errno::from_raw(e.raw_os_error().unwrap_or(0))),
    }
}

/// Reads up to 4 KiB; `empty` when the file reads as empty (a masked path bound to /dev/null).
fn read_file(path: &str) -> String {
    match std::fs::File::open(path).and_then(|f| {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::Read::take(f, 4096), &mut buf).map(|_| buf)
    }) {
        Ok(buf) if buf.is_empty() => "empty".into(),
        Ok(_) => "ok".into(),
        Err(e) => format!("{:?}", Errno::from_raw(e.raw_os_error().unwrap_or(0))),
    }
}

/// The "shocker" escape: a file handle for inode 2 (the root directory of most ext4/xfs file systems) opened
/// through a descriptor on a bind-mounted host file (`mount_path`), which would be the host's root directory.
fn shocker(mount_path: &str) -> String {
    #[repr(C)]
    struct FileHandle {
        handle_bytes: u32,
        handle_type: i32,
        f_handle: [u32; 2],
    }
    let Ok(mount) = std::fs::File::open(mount_path) else {
        return "cannot open the mount path".into();
    };
    // FILEID_INO32_GEN: a 32-bit inode number and a generation.
    let handle = FileHandle {
        handle_bytes: 8,
        handle_type: 1,
        f_handle: [2, 0],
    };
    // SAFETY: `handle` is a valid struct file_handle with 8 bytes of handle data and lives across the call;
    // `mount` is an open descriptor; the kernel only reads the handle.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_open_by_handle_at,
            std::os::fd::AsRawFd::as_raw_fd(&mount),
            &handle as *const FileHandle,
            libc::O_RDONLY | libc::O_DIRECTORY,
        )
    };
    if fd < 0 {
        return format!("{:?}", Errno::last());
    }
    "ok".into()
}

/// `become UID GID PROG ARGS…`: drops to `UID`/`GID` (std clears the supplementary groups as root) and execs `PROG`; prints the
/// error when it cannot.
fn become_user(args: &[String]) -> String {
    use std::os::unix::process::CommandExt;
    let (Some(uid), Some(gid), Some(prog)) = (args.first(), args.get(1), args.get(2)) else {
        return "usage: become UID GID PROG ARGS…".into();
    };
    let err = std::process::Command::new(prog)
        .args(&args[3..])
        .uid(uid.parse().unwrap_or(65534))
        .gid(gid.parse().unwrap_or(65534))
        .exec();
    format!("exec {prog}: {err}")
}

/// Creates a device node of type `kind` and opens it for reading; the first error, prefixed by
/// the step.
fn mknod_open(path: &str, kind: nix::sys::stat::SFlag, major: u64, minor: u64) -> String {
    let dev = nix::sys::stat::makedev(major, minor);
    if let Err(e) = nix::sys::stat::mknod(
        path,
        kind,
        nix::sys::stat::Mode::from_bits_truncate(0o600),
        dev,
    ) {
        return format!("mknod {e:?}");
    }
    match std::fs::File::open(path) {
        Ok(_) => "ok".into(),
        Err(e) => format!("open {:?}", Errno::from_raw(e.raw_os_error().unwrap_or(0))),
    }
}

/// `found` when some process's /proc/<pid>/exe is the file `device:inode`, else `none`.
fn exe_of(dev_ino: &str) -> String {
    let Some((dev, ino)) = dev_ino.split_once(':') else {
        return "bad argument".into();
    };
    let (dev, ino): (u64, u64) = (dev.parse().unwrap_or(0), ino.parse().unwrap_or(0));
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return "no /proc".into();
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().parse::<u32>().is_err() {
            continue;
        }
        if let Ok(meta) = std::fs::metadata(entry.path().join("exe")) {
            if meta.dev() == dev && meta.ino() == ino {
                return format!("found {}", entry.path().display());
            }
        }
    }
    "none".into()
}
