//! Building the workspace's test binaries statically for the guest.

use std::io::{BufRead, BufReader, IsTerminal};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, ensure, Context, Result};
use serde_json::Value;

/// The target triple given explicitly so `RUSTFLAGS` reach only target code, not build scripts or
/// proc macros (which must stay dynamic to be loadable by rustc).
pub const TARGET: &str = "x86_64-unknown-linux-gnu";

/// One test executable cargo produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestBinary {
    /// The package the test belongs to.
    pub package: String,
    /// The test target's name (`lib` tests carry the crate name).
    pub target: String,
    /// Absolute path of the executable.
    pub executable: PathBuf,
    /// Directory of the package's `Cargo.toml`: cargo runs tests there, and sets `CARGO_MANIFEST_DIR`.
    pub manifest_dir: PathBuf,
}

/// Runs `cargo test --no-run` for `packages` (all of the workspace when empty) into `target_dir` with a
/// static C runtime, streaming cargo's human-readable diagnostics to stderr, and returns the test
/// binaries in the order cargo reported them.
pub fn build_tests(
    workspace: &Path,
    target_dir: &Path,
    packages: &[String],
) -> Result<Vec<TestBinary>> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace)
        .args(["test", "--no-run", "--all-features", "--target", TARGET])
        .args(["--message-format", message_format()])
        .env("CARGO_TARGET_DIR", target_dir)
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .stdout(Stdio::piped());
    if packages.is_empty() {
        // xtask's own tests exercise host tooling (cargo, apt, qemu): nothing to run in the guest.
        cmd.args(["--workspace", "--exclude", "xtask"]);
    }
    for p in packages {
        cmd.args(["--package", p]);
    }
    eprintln!(
        "vm-test: building static test binaries into {}",
        target_dir.display()
    );
    let mut child = cmd.spawn().context("run cargo test --no-run")?;
    let stdout = child.stdout.take().expect("piped stdout");
    let mut tests = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.context("read cargo output")?;
        let Ok(msg) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        if let Some(rendered) = compiler_message(&msg) {
            eprint!("{rendered}");
        }
        if let Some(test) = test_binary(&msg)? {
            tests.push(test);
        }
    }
    let status = child.wait()?;
    ensure!(
        status.success(),
        "building the test binaries failed ({status})"
    );
    Ok(tests)
}

/// JSON messages, with colored diagnostics only when stderr is a terminal (CI logs stay plain).
fn message_format() -> &'static str {
    if std::io::stderr().is_terminal() {
        "json-diagnostic-rendered-ansi"
    } else {
        "json"
    }
}

/// The rendered text of a `compiler-message` (warnings and errors), to show them as cargo would.
fn compiler_message(msg: &Value) -> Option<&str> {
    if msg["reason"] != "compiler-message" {
        return None;
    }
    msg["message"]["rendered"].as_str()
}

/// Test targets named `privileged_host_*` need the host's userland (e.g. setuid `newuidmap`, util-linux); the
/// guest has only busybox, so they run in `cargo xtask test`'s host phase and not in the VM. They test nothing
/// that depends on the cgroup layout.
pub const HOST_ONLY_PREFIX: &str = "privileged_host_";

/// A test executable from a `compiler-artifact` message with `profile.test` set.
pub fn test_binary(msg: &Value) -> Result<Option<TestBinary>> {
    if msg["reason"] != "compiler-artifact" || msg["profile"]["test"] != true {
        return Ok(None);
    }
    let Some(executable) = msg["executable"].as_str() else {
        return Ok(None);
    };
    let manifest = msg["manifest_path"]
        .as_str()
        .context("artifact without manifest_path")?;
    let manifest_dir = Path::new(manifest)
        .parent()
        .context("manifest_path without a parent")?
        .to_path_buf();
    let target = msg["target"]["name"]
        .as_str()
        .context("artifact without target.name")?;
    if target.starts_with(HOST_ONLY_PREFIX) {
        return Ok(None);
    }
    Ok(Some(TestBinary {
        package: package_name(msg)?,
        target: target.to_owned(),
        executable: PathBuf::from(executable),
        manifest_dir,
    }))
}

/// The package name from `package_id`: either the old `name version (source)` form or the
/// package-id-spec form `path+file:///dir/name#version` / `...dir#name@version`.
fn package_name(msg: &Value) -> Result<String> {
    let id = msg["package_id"]
        .as_str()
        .context("artifact without package_id")?;
    if !id.contains('#') {
        return Ok(id.split(' ').next().unwrap_or(id).to_owned());
    }
    let (url, fragment) = id.rsplit_once('#').expect("checked above");
    let name = match fragment.split_once('@') {
        Some((name, _version)) => name,
        // `#version` only: the name is the last path segment of the URL.
        None => url.rsplit('/').next().unwrap_or(url),
    };
    if name.is_empty() {
        bail!("cannot read a package name from package_id {id:?}");
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn artifact(package_id: &str, test: bool, exe: Option<&str>) -> Value {
        serde_json::json!({
            "reason": "compiler-artifact",
            "package_id": package_id,
            "manifest_path": "/ws/cgroup/Cargo.toml",
            "target": {"name": "privileged_cgroup", "kind": ["test"]},
            "profile": {"test": test},
            "executable": exe,
        })
    }

    #[test]
    fn picks_test_artifacts_only() {
        let id = "path+file:///ws/cgroup#cove-cgroup@0.1.0";
        let t = test_binary(&artifact(id, true, Some("/ws/target/t-123")))
            .unwrap()
            .unwrap();
        assert_eq!(t.package, "cove-cgroup");
        assert_eq!(t.target, "privileged_cgroup");
        assert_eq!(t.executable, PathBuf::from("/ws/target/t-123"));
        assert_eq!(t.manifest_dir, PathBuf::from("/ws/cgroup"));
        assert!(test_binary(&artifact(id, false, Some("/ws/target/cove")))
            .unwrap()
            .is_none());
        assert!(test_binary(&artifact(id, true, None)).unwrap().is_none());
        let other = serde_json::json!({"reason": "build-finished", "success": true});
        assert!(test_binary(&other).unwrap().is_none());
    }

    #[test]
    fn package_id_forms() {
        let name = |id: &str| package_name(&serde_json::json!({ "package_id": id })).unwrap();
        assert_eq!(
            name("path+file:///ws/cgroup#cove-cgroup@0.1.0"),
            "cove-cgroup"
        );
        assert_eq!(name("path+file:///ws/xtask#0.1.0"), "xtask");
        assert_eq!(name("cove 0.1.0 (path+file:///ws/cli)"), "cove");
    }
}
