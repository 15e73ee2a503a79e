//! `cargo xtask vm-test`: run the workspace's tests (privileged ones included) as root inside a small
//! Linux guest whose only cgroup hierarchy is cgroup v2, under qemu.
//!
//! Steps: build every test binary statically into `target/vm-build` (`--all-features`, so the
//! `privileged` tests are in); fetch Debian bookworm's kernel into `target/vm-assets` (cached); pack an
//! initramfs (static busybox, `xtask/vm-init/init`, kernel modules, the list of test binaries); boot it
//! with qemu; stream the guest console; pass only if the guest reports `COVE-VM-RESULT rc=0`.
//!
//! In the guest the workspace is shared read-only over 9p and mounted at its host path with a
//! tmpfs-backed overlay on top (writes stay in the guest), so test binaries, `CARGO_BIN_EXE_*`,
//! `CARGO_MANIFEST_DIR` fixtures and `target/rootfs` all sit at the paths baked in at compile time.
//! `target/rootfs` (if present) is copied onto a tmpfs at its path. Each binary runs with cwd and
//! `CARGO_MANIFEST_DIR` = its package dir, `COVE_VM=1`, `RUST_BACKTRACE=1`, in the root cgroup, with
//! cgroup2 mounted at `/sys/fs/cgroup` (`nsdelegate`) and every controller enabled in the root's
//! `cgroup.subtree_control`; `/` is `rshared`; `/dev/vda` is a 64 MiB virtio disk reading zeros.
//!
//! # Host requirements (Debian bookworm, as root)
//!
//! ```sh
//! apt-get update
//! # qemu-system-x86 conflicts with a backports qemu-utils >= 8; --allow-downgrades pins the bookworm one.
//! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends --allow-downgrades \
//!     qemu-system-x86 qemu-utils/bookworm busybox-static xz-utils libc6-dev
//! cargo xtask vm-test
//! ```
//! `libc6-dev` provides the static glibc (`libc.a`) for `+crt-static`. `apt-get download` and `dpkg-deb`
//! (always present on Debian) fetch the kernel on first use; later runs reuse `target/vm-assets` and
//! work offline. qemu uses TCG, or KVM only when the CPU shows vmx/svm and `/dev/kvm` opens. (Only
//! runs as root have been tried; nothing here needs root, but the 9p share needs read access.)
//!
//! `VmOptions { selftest: true, .. }` (`cargo xtask vm-selftest`) boots the small standalone
//! `xtask/vm-selftest` workspace instead, which asserts the guest environment described above.
//!
//! Environment: `COVE_VM_TIMEOUT` (seconds, default 900) bounds the whole guest run; `COVE_QEMU` and
//! `COVE_BUSYBOX` override the binaries found on `PATH` / at `/bin/busybox`; `COVE_VM_VERBOSE=1` shows
//! the whole kernel boot log (for a guest that hangs before it reports `COVE-VM-READY`).

mod build;
mod cpio;
mod elf;
mod initramfs;
mod kernel;
mod qemu;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};

use self::build::TestBinary;
use self::initramfs::GuestPlan;
use self::qemu::{Outcome, QemuConfig};

/// Default limit for the whole guest run (boot, tests, power-off).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// The 9p tag of the workspace share.
const WS_TAG: &str = "ws";

/// How to run `vm-test`. Construct with `VmOptions { filter, keep, ..Default::default() }`.
#[derive(Debug, Clone, Default)]
pub struct VmOptions {
    /// Test name filters passed to every test binary (as `cargo test FILTER...` would).
    pub filter: Vec<String>,
    /// Keep the work dir (`target/vm-work/<pid>`: initramfs and the qemu command) after the run.
    pub keep: bool,
    /// Packages to build and test (`cargo test -p`); empty means the whole workspace.
    pub packages: Vec<String>,
    /// `--test-threads` for every test binary; `None` means 1 (serial, the robust choice under TCG).
    pub test_threads: Option<usize>,
    /// Limit for the guest run; `None` means `$COVE_VM_TIMEOUT` seconds or 15 minutes.
    pub timeout: Option<Duration>,
    /// Workspace root; `None` means the parent of xtask's manifest dir.
    pub workspace: Option<PathBuf>,
    /// Check the guest environment itself instead: boot the standalone `xtask/vm-selftest` workspace
    /// (cgroup v2 controllers, OOM kill, pivot_root, shared `/`, paths of binaries and fixtures, the
    /// test rootfs copy, veth/overlay/loop, the virtio disk). Overrides `workspace`.
    pub selftest: bool,
}

/// Builds the test binaries, boots the guest, runs them there and fails unless every one passed.
pub fn vm_test(opts: &VmOptions) -> Result<()> {
    let started = Instant::now();
    let ws = workspace_root(opts)?;
    let qemu = qemu::find_qemu().context(
        "qemu-system-x86_64 not found on PATH. Install it (Debian bookworm, as root):\n  \
         apt-get install -y --no-install-recommends --allow-downgrades qemu-system-x86 qemu-utils/bookworm\n\
         (or skip the VM tests with --no-vm)",
    )?;
    let busybox = find_busybox()?;
    let tests = build::build_tests(&ws, &ws.join("target/vm-build"), &opts.packages)?;
    check_tests(&ws, &tests)?;
    let built = started.elapsed();
    let assets = prepare_dir(&xtask_workspace()?.join("target/vm-assets"), false)?;
    let kernel = kernel::ensure_kernel(&assets)?;
    let plan = guest_plan(&ws, tests, opts);
    let work = work_dir(&ws)?;
    let initrd = work.join("initramfs.cpio");
    fs::write(&initrd, initramfs::build(&busybox, &kernel, &plan)?)
        .with_context(|| format!("write {}", initrd.display()))?;
    let config = QemuConfig {
        qemu,
        kernel: kernel.image.clone(),
        initrd,
        share: ws,
        tag: WS_TAG.to_owned(),
        memory_mib: 1024,
        cpus: 2,
        kvm: qemu::kvm_usable(),
        verbose: std::env::var_os("COVE_VM_VERBOSE").is_some_and(|v| v != "0"),
    };
    let outcome = boot(&config, &kernel.release, &work, timeout(opts)?)?;
    summarize(&outcome, built, started.elapsed());
    finish_work_dir(&work, opts.keep)?;
    verdict(&outcome, plan.tests.len())
}

/// Starts qemu (its command line is printed and saved in the work dir) and waits for the outcome.
fn boot(config: &QemuConfig, release: &str, work: &Path, limit: Duration) -> Result<Outcome> {
    let cmd = config.command();
    let shown = show_command(&cmd);
    fs::write(work.join("qemu-command.txt"), format!("{shown}\n"))?;
    let accel = if config.kvm { "KVM" } else { "TCG" };
    eprintln!(
        "vm-test: booting {release} ({accel}, limit {}s)\nvm-test: {shown}",
        limit.as_secs()
    );
    qemu::run(cmd, limit)
}

/// A fresh `target/vm-work/<pid>`, after removing the dirs of runs whose process is gone.
fn work_dir(ws: &Path) -> Result<PathBuf> {
    let parent = prepare_dir(&ws.join("target/vm-work"), false)?;
    for entry in fs::read_dir(&parent)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let stale = name.parse::<u32>().is_ok() && !Path::new("/proc").join(&name).exists();
        if stale {
            fs::remove_dir_all(&path).with_context(|| format!("remove {}", path.display()))?;
        }
    }
    prepare_dir(&parent.join(std::process::id().to_string()), true)
}

fn finish_work_dir(work: &Path, keep: bool) -> Result<()> {
    if keep {
        eprintln!(
            "vm-test: kept {} (initramfs.cpio, qemu-command.txt)",
            work.display()
        );
        return Ok(());
    }
    fs::remove_dir_all(work).with_context(|| format!("remove {}", work.display()))
}

/// The standalone `xtask/vm-selftest` workspace, with its stand-in for `target/rootfs` written.
fn selftest_workspace() -> Result<PathBuf> {
    let ws = Path::new(env!("CARGO_MANIFEST_DIR")).join("vm-selftest");
    let marker = ws.join("target/rootfs/etc/marker");
    fs::create_dir_all(marker.parent().expect("marker has a parent"))?;
    fs::write(&marker, "rootfs\n").with_context(|| format!("write {}", marker.display()))?;
    Ok(ws)
}

/// The cove workspace xtask belongs to; the kernel cache lives in its `target/vm-assets`.
fn xtask_workspace() -> Result<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("xtask has no parent dir")?;
    Ok(root.to_path_buf())
}

fn workspace_root(opts: &VmOptions) -> Result<PathBuf> {
    let root = match &opts.workspace {
        _ if opts.selftest => selftest_workspace()?,
        Some(w) => w.clone(),
        None => xtask_workspace()?,
    };
    root.canonicalize()
        .with_context(|| format!("resolve the workspace root {}", root.display()))
}

fn find_busybox() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("COVE_BUSYBOX") {
        return Ok(PathBuf::from(p));
    }
    ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .context("busybox not found; install it: apt-get install -y busybox-static")
}

/// Every binary must sit inside the shared workspace and be static (the guest has no shared libraries).
fn check_tests(ws: &Path, tests: &[TestBinary]) -> Result<()> {
    ensure!(
        !tests.is_empty(),
        "cargo built no test binaries; nothing to run in the VM"
    );
    for t in tests {
        ensure!(
            t.executable.starts_with(ws) && t.manifest_dir.starts_with(ws),
            "{} is outside the workspace {} that the guest sees",
            t.executable.display(),
            ws.display()
        );
        let bytes =
            fs::read(&t.executable).with_context(|| format!("read {}", t.executable.display()))?;
        let is_static = elf::Elf::parse(&bytes)
            .and_then(|e| e.is_static())
            .with_context(|| format!("parse {}", t.executable.display()))?;
        ensure!(
            is_static,
            "{} is dynamically linked despite +crt-static",
            t.executable.display()
        );
    }
    Ok(())
}

fn guest_plan(ws: &Path, tests: Vec<TestBinary>, opts: &VmOptions) -> GuestPlan {
    let rootfs = ws.join("target/rootfs");
    let mut test_args = vec![format!("--test-threads={}", opts.test_threads.unwrap_or(1))];
    test_args.extend(opts.filter.iter().cloned());
    GuestPlan {
        workspace: ws.to_path_buf(),
        rootfs: rootfs.is_dir().then_some(rootfs),
        tests,
        test_args,
        mount_tag: WS_TAG.to_owned(),
    }
}

/// Creates `dir` (emptied first when `fresh`). Only ever holds files this module wrote, never mounts.
fn prepare_dir(dir: &Path, fresh: bool) -> Result<PathBuf> {
    if fresh && dir.exists() {
        fs::remove_dir_all(dir).with_context(|| format!("remove {}", dir.display()))?;
    }
    fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    Ok(dir.to_path_buf())
}

fn timeout(opts: &VmOptions) -> Result<Duration> {
    if let Some(t) = opts.timeout {
        return Ok(t);
    }
    match std::env::var("COVE_VM_TIMEOUT") {
        Ok(s) => Ok(Duration::from_secs(s.trim().parse().with_context(
            || format!("COVE_VM_TIMEOUT={s:?} is not a number of seconds"),
        )?)),
        Err(_) => Ok(DEFAULT_TIMEOUT),
    }
}

fn show_command(cmd: &Command) -> String {
    let mut words = vec![initramfs::sh_quote(&cmd.get_program().to_string_lossy())];
    words.extend(
        cmd.get_args()
            .map(|a| initramfs::sh_quote(&a.to_string_lossy())),
    );
    words.join(" ")
}

fn summarize(o: &Outcome, build: Duration, total: Duration) {
    eprintln!("vm-test: ---- summary ----");
    for (rc, exe) in &o.binaries {
        eprintln!("vm-test: {} {exe}", if *rc == 0 { "ok  " } else { "FAIL" });
    }
    if let Some(c) = &o.controllers {
        eprintln!("vm-test: guest cgroup v2 controllers: {c}");
    }
    let ready = o
        .ready_after
        .map_or("never".to_owned(), |d| format!("{:.1}s", d.as_secs_f64()));
    eprintln!(
        "vm-test: build {:.1}s, guest ready after {ready}, guest total {:.1}s, vm-test total {:.1}s",
        build.as_secs_f64(),
        o.elapsed.as_secs_f64(),
        total.as_secs_f64()
    );
}

/// Ok only when the guest reported rc=0 after running every binary, each with rc 0.
fn verdict(o: &Outcome, expected: usize) -> Result<()> {
    if o.timed_out {
        let running = o
            .last_started
            .as_deref()
            .unwrap_or("(none started; COVE_VM_VERBOSE=1 shows the boot)");
        bail!("the VM timed out; test binary running at the time: {running}");
    }
    if !o.errors.is_empty() {
        bail!("guest setup failed: {}", o.errors.join("; "));
    }
    let Some(rc) = o.rc else {
        let why = if o.panicked {
            "the guest kernel panicked"
        } else {
            "no COVE-VM-RESULT marker"
        };
        bail!(
            "the VM ended without a result ({why}; qemu: {:?}); see the console above",
            o.qemu_status
        );
    };
    let failed: Vec<&str> = o
        .binaries
        .iter()
        .filter(|b| b.0 != 0)
        .map(|b| b.1.as_str())
        .collect();
    ensure!(
        failed.is_empty() && rc == 0,
        "{} test binaries failed in the VM: {}",
        failed.len().max(1),
        failed.join(", ")
    );
    ensure!(
        o.binaries.len() == expected,
        "the guest ran {} of {expected} test binaries",
        o.binaries.len()
    );
    Ok(())
}

/// Runs `cmd`, failing with its command line when it does not exit 0.
fn run_checked(cmd: &mut Command) -> Result<()> {
    let shown = show_command(cmd);
    let status = cmd.status().with_context(|| format!("run {shown}"))?;
    ensure!(status.success(), "{shown} failed ({status})");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(rc: Option<i32>, bins: &[i32]) -> Outcome {
        Outcome {
            rc,
            binaries: bins.iter().map(|&r| (r, format!("/t{r}"))).collect(),
            ..Outcome::default()
        }
    }

    #[test]
    fn verdict_needs_marker_zero_and_all_binaries() {
        assert!(verdict(&outcome(Some(0), &[0, 0]), 2).is_ok());
        assert!(verdict(&outcome(Some(1), &[0, 101]), 2).is_err());
        assert!(verdict(&outcome(None, &[0, 0]), 2).is_err());
        assert!(verdict(&outcome(Some(0), &[0]), 2).is_err());
        let mut timed_out = outcome(None, &[0]);
        timed_out.timed_out = true;
        assert!(verdict(&timed_out, 1)
            .unwrap_err()
            .to_string()
            .contains("timed out"));
    }

    #[test]
    fn guest_plan_passes_threads_and_filters() {
        let opts = VmOptions {
            filter: vec!["memory".into()],
            ..VmOptions::default()
        };
        let plan = guest_plan(Path::new("/nonexistent-ws"), Vec::new(), &opts);
        assert_eq!(plan.test_args, ["--test-threads=1", "memory"]);
        assert_eq!(plan.rootfs, None);
    }
}
