//! The guest's initramfs: static busybox, the `/init` script from `xtask/vm-init/init`, kernel modules,
//! a few `/etc` files, and the generated `/cove/config.sh` and `/cove/tests.sh` that tell `/init` what
//! to mount and which test binaries to run.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{ensure, Context, Result};

use super::build::TestBinary;
use super::cpio::Archive;
use super::elf::Elf;
use super::kernel::Kernel;

/// The guest's `/init`, a busybox `sh` script.
const INIT_SCRIPT: &str = include_str!("../../vm-init/init");

/// Host glibc pieces copied to the same paths in the guest, so static binaries that resolve users or
/// groups through NSS (`getpwnam`) find `libnss_files` and a matching `libc` there.
const NSS_LIBS: &[&str] = &[
    "/lib/x86_64-linux-gnu/libc.so.6",
    "/lib/x86_64-linux-gnu/libnss_files.so.2",
    "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
];

/// Everything the guest needs to know, decided on the host.
#[derive(Debug, Clone)]
pub struct GuestPlan {
    /// Workspace root; the guest sees it (read-only 9p, writable overlay on top) at this same path.
    pub workspace: PathBuf,
    /// The test rootfs (`target/rootfs`) to copy onto a tmpfs at the same path, when it exists.
    pub rootfs: Option<PathBuf>,
    /// Test binaries in run order.
    pub tests: Vec<TestBinary>,
    /// Arguments for every test binary (filters, `--test-threads`, ...).
    pub test_args: Vec<String>,
    /// The 9p mount tag of the workspace share.
    pub mount_tag: String,
}

/// Builds the initramfs archive bytes.
pub fn build(busybox: &Path, kernel: &Kernel, plan: &GuestPlan) -> Result<Vec<u8>> {
    let mut a = Archive::new();
    add_base(&mut a, busybox)?;
    add_nss(&mut a)?;
    add_modules(&mut a, kernel)?;
    a.file("cove/config.sh", 0o644, config_sh(kernel, plan).as_bytes());
    a.file("cove/tests.sh", 0o644, tests_sh(plan).as_bytes());
    Ok(a.finish())
}

/// `/init`, busybox, the usr-merged directory layout, device nodes needed before devtmpfs, `/etc`.
fn add_base(a: &mut Archive, busybox: &Path) -> Result<()> {
    let bytes = fs::read(busybox).with_context(|| format!("read {}", busybox.display()))?;
    let elf = Elf::parse(&bytes).with_context(|| format!("parse {}", busybox.display()))?;
    ensure!(
        elf.is_static()?,
        "{} is not statically linked; install busybox-static (apt-get install busybox-static)",
        busybox.display()
    );
    a.file("init", 0o755, INIT_SCRIPT.as_bytes());
    a.file("bin/busybox", 0o755, &bytes);
    a.symlink("bin/sh", "busybox");
    a.symlink("sbin", "bin");
    a.symlink("usr/bin", "../bin");
    a.symlink("usr/sbin", "../bin");
    for d in ["proc", "sys", "dev", "run", "mnt", "root", "newroot"] {
        a.dir(d);
    }
    a.dir_mode("tmp", 0o1777);
    a.char_dev("dev/console", 0o600, 5, 1);
    a.char_dev("dev/null", 0o666, 1, 3);
    a.file(
        "etc/passwd",
        0o644,
        b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    );
    a.file("etc/group", 0o644, b"root:x:0:\nnogroup:x:65534:\n");
    a.file(
        "etc/nsswitch.conf",
        0o644,
        b"passwd: files\ngroup: files\nhosts: files\n",
    );
    a.file(
        "etc/hosts",
        0o644,
        b"127.0.0.1 localhost cove-vm\n::1 localhost\n",
    );
    a.file("etc/hostname", 0o644, b"cove-vm\n");
    Ok(())
}

/// Copies the host's glibc NSS pieces that exist (none of them is required).
fn add_nss(a: &mut Archive) -> Result<()> {
    for lib in NSS_LIBS {
        let Ok(bytes) = fs::read(lib) else {
            continue;
        };
        a.file(lib, 0o755, &bytes);
    }
    if Path::new(NSS_LIBS[2]).exists() {
        a.symlink("lib64/ld-linux-x86-64.so.2", NSS_LIBS[2]);
    }
    Ok(())
}

/// The modules under `/lib/modules/<release>/` plus a busybox-readable `modules.dep`.
fn add_modules(a: &mut Archive, kernel: &Kernel) -> Result<()> {
    let base = format!("lib/modules/{}", kernel.release);
    let mut dep = String::new();
    for m in &kernel.modules {
        let bytes = fs::read(&m.file).with_context(|| format!("read {}", m.file.display()))?;
        a.file(&format!("{base}/{}", m.rel_path), 0o644, &bytes);
        writeln!(dep, "{}: {}", m.rel_path, m.deps.join(" ")).expect("write to String");
    }
    a.file(&format!("{base}/modules.dep"), 0o644, dep.as_bytes());
    Ok(())
}

/// Variables `/init` sources.
fn config_sh(kernel: &Kernel, plan: &GuestPlan) -> String {
    let modules: Vec<&str> = kernel.modules.iter().map(|m| m.rel_path.as_str()).collect();
    let rootfs = plan.rootfs.as_deref().map(path_str).unwrap_or_default();
    format!(
        "COVE_KERNEL_RELEASE={}\nCOVE_MODULES={}\nCOVE_WS={}\nCOVE_WS_TAG={}\nCOVE_ROOTFS={}\nCOVE_TEST_COUNT={}\n",
        sh_quote(&kernel.release),
        sh_quote(&modules.join(" ")),
        sh_quote(&path_str(&plan.workspace)),
        sh_quote(&plan.mount_tag),
        sh_quote(&rootfs),
        plan.tests.len(),
    )
}

/// One `run_test DIR PACKAGE EXE ARGS...` line per test binary; `run_test` is defined in `/init`.
fn tests_sh(plan: &GuestPlan) -> String {
    let mut s = String::new();
    for t in &plan.tests {
        let mut words = vec![
            "run_test".to_owned(),
            sh_quote(&path_str(&t.manifest_dir)),
            sh_quote(&t.package),
            sh_quote(&path_str(&t.executable)),
        ];
        words.extend(plan.test_args.iter().map(|a| sh_quote(a)));
        s.push_str(&words.join(" "));
        s.push('\n');
    }
    s
}

fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// Quotes `s` as one word for a POSIX shell.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sh_quote_survives_quotes() {
        assert_eq!(sh_quote("plain"), "'plain'");
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
        assert_eq!(sh_quote(""), "''");
    }

    #[test]
    fn tests_sh_lists_each_binary_with_args() {
        let plan = GuestPlan {
            workspace: "/ws".into(),
            rootfs: None,
            tests: vec![TestBinary {
                package: "cove-cgroup".into(),
                target: "privileged_cgroup".into(),
                executable: "/ws/target/vm-build/x/debug/deps/privileged_cgroup-1".into(),
                manifest_dir: "/ws/cgroup".into(),
            }],
            test_args: vec!["--test-threads=1".into(), "memory max".into()],
            mount_tag: "ws".into(),
        };
        assert_eq!(
            tests_sh(&plan),
            "run_test '/ws/cgroup' 'cove-cgroup' '/ws/target/vm-build/x/debug/deps/privileged_cgroup-1' \
             '--test-threads=1' 'memory max'\n"
        );
    }

    #[test]
    fn init_script_is_embedded() {
        assert!(INIT_SCRIPT.starts_with("#!/bin/sh"));
        assert!(INIT_SCRIPT.contains("COVE-VM-RESULT"));
    }
}
