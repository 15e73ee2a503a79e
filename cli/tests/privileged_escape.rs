//! The escape battery: a hostile workload inside a default cove container tries the classic container escapes,
//! and each attempt must fail with its specific denial. Run as root (feature `privileged`).
#![cfg(feature = "privileged")]

mod common;

use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const COVE: &str = env!("CARGO_BIN_EXE_cove");
const PROBE: &str = env!("CARGO_BIN_EXE_cove-escape-probe");

/// A container on a host-backed root with the probe bound at /probe, running `script`.
struct Hostile {
    dir: tempfile::TempDir,
    name: String,
}

impl Hostile {
    fn new(test: &str, script: &str, extra: &str) -> Hostile {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let name = format!("esc-{test}-{}", std::process::id());
        let text = format!(
            "name = \"{name}\"\n{}[[mounts]]\ntype = \"tmpfs\"\ntarget = \"/scratch\"\n{extra}",
            common::host_probe_manifest(PROBE, script, "")
        );
        std::fs::write(dir.path().join("c.toml"), text).unwrap();
        Hostile { dir, name }
    }

    fn command(&self) -> Command {
        let mut c = Command::new(COVE);
        c.arg("run")
            .arg(self.dir.path().join("c.toml"))
            .stdin(Stdio::null());
        c
    }

    /// Runs it and returns its stdout lines; the run itself must succeed.
    fn lines(&self, mut command: Command) -> Vec<String> {
        let out: Output = command.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!Path::new("/run/cove").join(&self.name).exists());
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    }
}

/// What a probe of `path` must report: `denied` when the host's kernel has the file, ENOENT when it does not
/// (this CI host's kernel has no /proc/kcore or /proc/sysrq-trigger; the cgroup-v2 guest's kernel has both).
fn if_present(path: &str, denied: &str) -> String {
    if_supported(path, denied, "ENOENT")
}

/// `denied` when the host's kernel has `path` (the feature), else what a kernel without it says.
fn if_supported(path: &str, denied: &str, absent: &str) -> String {
    if Path::new(path).exists() {
        denied.to_string()
    } else {
        absent.to_string()
    }
}

#[test]
fn kernel_interfaces_are_denied() {
    let probes = [
        (
            "write /proc/sysrq-trigger",
            if_present("/proc/sysrq-trigger", "EROFS"),
        ),
        ("write /proc/sys/kernel/hostname", "EROFS".to_string()),
        ("read /proc/kcore", if_present("/proc/kcore", "empty")),
        ("read /proc/keys", if_present("/proc/keys", "empty")),
        (
            "read /proc/timer_list",
            if_present("/proc/timer_list", "empty"),
        ),
        ("mount /scratch", "EPERM".to_string()),
        // The default seccomp filter answers before the kernel (which, on this CI host, has no modules at all).
        ("init-module", "EPERM".to_string()),
        ("unshare-user", "EPERM".to_string()),
        ("keyctl", "EPERM".to_string()),
        ("reboot", "EPERM".to_string()),
        // "shocker": a handle for inode 2 through the bind-mounted probe would open the host's root directory.
        ("open-by-handle /probe", "EPERM".to_string()),
    ];
    let script: String = probes
        .iter()
        .map(|(p, _)| format!("/probe {p}; "))
        .collect();
    let h = Hostile::new("kernel", &script, "");
    let got = h.lines(h.command());
    assert_eq!(got.len(), probes.len(), "{got:?}");
    for ((probe, want), have) in probes.iter().zip(&got) {
        assert_eq!(have, want, "probe `{probe}`");
    }
}

#[test]
fn the_host_and_the_runtime_are_out_of_reach() {
    let cove = std::fs::metadata(COVE).unwrap();
    let me = std::process::id();
    let script = format!(
        "/probe ptrace {me}; /probe exe-of {}:{}; /probe fd 7",
        cove.dev(),
        cove.ino()
    );
    let h = Hostile::new("host", &script, "");
    let mut command = h.command();
    // A descriptor the caller leaked into cove (not close-on-exec, as fd 7) must not reach the container.
    let leaked = std::fs::File::open("/etc/hostname").unwrap();
    let leaked_fd = leaked.as_raw_fd();
    // SAFETY: between fork and exec the closure only calls dup2, which is async-signal-safe.
    unsafe {
        command.pre_exec(move || {
            if libc::dup2(leaked_fd, 7) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let got = h.lines(command);
    assert_eq!(
        got,
        ["ESRCH", "none", "EBADF"],
        "ptrace of a host pid, the runtime's exe, a leaked fd"
    );
    drop(leaked);
}

#[test]
fn a_setuid_binary_gains_nothing_under_no_new_privileges() {
    let script = "cp /probe /scratch/suid && chmod 4755 /scratch/suid && /probe become 1000 1000 /scratch/suid euid";
    let h = Hostile::new("nnp", script, "");
    assert_eq!(
        h.lines(h.command()),
        ["1000"],
        "the setuid-root copy must not raise the euid"
    );
    // The control: without no_new_privileges the same binary does become root, so the test can see a failure.
    let h = Hostile::new("nnp-off", script, "[security]\nno_new_privileges = false\n");
    assert_eq!(h.lines(h.command()), ["0"]);
}

/// A block device of the host that root can open here (major, minor), as the device cgroup's target.
fn openable_host_block_device() -> (u64, u64) {
    let mut found = None;
    for entry in std::fs::read_dir("/sys/dev/block").unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some((major, minor)) = name.split_once(':') else {
            continue;
        };
        let uevent = std::fs::read_to_string(entry.path().join("uevent")).unwrap_or_default();
        let Some(dev) = uevent.lines().find_map(|l| l.strip_prefix("DEVNAME=")) else {
            continue;
        };
        if std::fs::File::open(format!("/dev/{dev}")).is_ok() {
            found = Some((major.parse().unwrap(), minor.parse().unwrap()));
            break;
        }
    }
    found.expect("no block device on this host that root can open")
}

#[test]
fn a_node_for_a_host_disk_can_be_made_but_not_opened() {
    // CAP_MKNOD is in the default set (as in Docker): the device cgroup must refuse the open.
    let (major, minor) = openable_host_block_device();
    let script = format!("/probe mknod-open /scratch/disk {major} {minor}");
    let h = Hostile::new("mknod", &script, "");
    assert_eq!(h.lines(h.command()), ["open EPERM"]);
}
