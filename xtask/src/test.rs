//! `cargo xtask test`: plain tests, privileged tests as root, then the cgroup-v2 VM.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::cmd::{cargo, is_root, run};
use crate::{bench, rootfs, vm};

/// One compiled test binary and the package directory it must run in.
struct TestBinary {
    executable: PathBuf,
    package_dir: PathBuf,
    name: String,
}

/// `cargo xtask test`: runs the whole suite; `args` may hold `--no-vm` and test-name filters.
pub fn test(args: &[String]) -> Result<()> {
    let no_vm = args.iter().any(|a| a == "--no-vm");
    let filters: Vec<String> = args.iter().filter(|a| *a != "--no-vm").cloned().collect();
    rootfs::ensure()?;
    run(cargo()
        .args(["test", "--workspace"])
        .args(filter_args(&filters)))?;
    privileged(&filters)?;
    if filters.is_empty() {
        bench::regression_check()?;
    }
    if no_vm {
        eprintln!("xtask: --no-vm given: the cgroup-v2 VM tests were NOT run");
        return Ok(());
    }
    vm::vm_test(&vm::VmOptions {
        filter: filters,
        ..Default::default()
    })
}

/// `-- FILTER…` for cargo test when filters are given.
fn filter_args(filters: &[String]) -> Vec<String> {
    if filters.is_empty() {
        return Vec::new();
    }
    std::iter::once("--".to_string())
        .chain(filters.iter().cloned())
        .collect()
}

/// Builds the privileged test binaries as the calling user, then runs them as root.
fn privileged(filters: &[String]) -> Result<()> {
    let binaries = build_privileged()?;
    if binaries.is_empty() {
        bail!(
            "no privileged test binaries were built (expected tests/privileged_*.rs in the crates)"
        );
    }
    let mut failed = Vec::new();
    for bin in &binaries {
        let mut cmd = if is_root() {
            Command::new(&bin.executable)
        } else {
            let mut sudo = Command::new("sudo");
            sudo.arg("--preserve-env").arg(&bin.executable);
            sudo
        };
        // One test at a time: cove-spawn clones with a raw clone3, and a child cloned from a multithreaded test
        // harness may inherit a lock (malloc's, stdio's) held by another test's thread.
        cmd.current_dir(&bin.package_dir)
            .arg("--test-threads=1")
            .args(filters);
        eprintln!(
            "xtask: privileged: {} ({})",
            bin.name,
            bin.executable.display()
        );
        if !run_with_timeout(&mut cmd, PRIVILEGED_TIMEOUT)? {
            failed.push(bin.name.clone());
        }
    }
    if !failed.is_empty() {
        bail!("privileged tests failed: {}", failed.join(", "));
    }
    Ok(())
}

/// How long one privileged test binary may run before it is killed and counted as failed.
const PRIVILEGED_TIMEOUT: Duration = Duration::from_secs(600);

/// Runs a test binary; kills it (and reports failure) when it outlives `timeout`. True when it passed.
fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> Result<bool> {
    let mut child = cmd.spawn().with_context(|| format!("starting {cmd:?}"))?;
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status.success());
        }
        if Instant::now() >= deadline {
            eprintln!("xtask: {cmd:?} still runs after {timeout:?}: killing it");
            let _ = child.kill();
            let _ = child.wait();
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `cargo test --no-run --all-features` for the `privileged_*` test targets; the binaries it produced.
fn build_privileged() -> Result<Vec<TestBinary>> {
    let output = cargo()
        .args([
            "test",
            "--workspace",
            "--all-features",
            "--no-run",
            "--message-format=json-render-diagnostics",
        ])
        .args(["--test", "privileged_*"])
        .stderr(Stdio::inherit())
        .output()
        .context("building the privileged tests")?;
    if !output.status.success() {
        bail!("building the privileged tests failed");
    }
    let mut binaries = Vec::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if msg["reason"] != "compiler-artifact" || msg["profile"]["test"] != true {
            continue;
        }
        let (Some(exe), Some(manifest)) =
            (msg["executable"].as_str(), msg["manifest_path"].as_str())
        else {
            continue;
        };
        let manifest = PathBuf::from(manifest);
        binaries.push(TestBinary {
            executable: PathBuf::from(exe),
            package_dir: manifest.parent().map(PathBuf::from).unwrap_or_default(),
            name: msg["target"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        });
    }
    Ok(binaries)
}
