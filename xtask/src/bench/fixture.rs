//! Everything a comparison needs before the first run: the release `cove`, the runtimes, a temp dir with the
//! bundle and the state dirs, and (on a hybrid host) the private mount namespace crun runs in. Dropping the
//! fixture removes the cgroups the OCI runtimes left behind.

use std::fs::{self, File};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::rc::Rc;

use anyhow::{anyhow, bail, Context, Result};

use super::bundle::{Bundle, OCI_CGROUP_PARENT};
use super::measure::Subject;
use crate::cmd::cargo;

/// The cgroup2 mount of a hybrid host, and its file listing the controllers it holds.
const UNIFIED: &str = "/sys/fs/cgroup/unified";
const UNIFIED_CONTROLLERS: &str = "/sys/fs/cgroup/unified/cgroup.controllers";
/// Where the host's cgroup hierarchies are mounted.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// Builds `cove` in release mode (as the calling user) and returns the binary's path.
pub fn build_cove() -> Result<PathBuf> {
    let output = cargo()
        .args([
            "build",
            "--release",
            "-p",
            "cove",
            "--bin",
            "cove",
            "--message-format=json-render-diagnostics",
        ])
        .stderr(Stdio::inherit())
        .output()
        .context("building cove in release mode")?;
    if !output.status.success() {
        bail!("building cove in release mode failed");
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|msg| msg["reason"] == "compiler-artifact" && msg["target"]["name"] == "cove")
        .find_map(|msg| msg["executable"].as_str().map(PathBuf::from))
        .ok_or_else(|| anyhow!("cargo built no `cove` executable"))
}

/// Finds a program in `PATH` or the sbin directories (runc lives in /usr/sbin, which a user's PATH may lack).
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// A program the comparison needs, or an error saying how to install it.
pub fn require_program(name: &str) -> Result<PathBuf> {
    find_program(name).ok_or_else(|| {
        anyhow!(
            "`{name}` is not installed: install it with `apt-get install {name}` (CI's .ci/run installs it)"
        )
    })
}

/// The temp dir with the bundle and the runtimes' state dirs.
#[derive(Debug)]
pub struct Fixture {
    dir: PathBuf,
    /// The written bundle.
    pub bundle: Bundle,
    /// The mount namespace crun must run in on a hybrid host (cgroup2 not mounted there).
    crun_ns: Option<Rc<File>>,
}

impl Fixture {
    /// Writes the bundle for `rootfs` into a new temp dir; with `for_crun`, prepares crun's mount namespace.
    pub fn new(rootfs: &Path, for_crun: bool) -> Result<Fixture> {
        let dir = make_temp_dir()?;
        let bundle = Bundle::write(&dir, rootfs)?;
        let crun_ns = if for_crun && crun_refuses_this_layout() {
            Some(Rc::new(mount_ns_without_unified()?))
        } else {
            None
        };
        Ok(Fixture {
            dir,
            bundle,
            crun_ns,
        })
    }

    /// `cove run` of the manifest.
    pub fn cove(&self, cove: &Path) -> Subject {
        cove_run("cove", cove, &self.bundle.manifest)
    }

    /// `cove run` of the manifest without limits (a cgroup with the device rules only).
    pub fn cove_no_cgroup(&self, cove: &Path) -> Subject {
        cove_run(COVE_NO_CGROUP, cove, &self.bundle.manifest_no_cgroup)
    }

    /// An OCI runtime running the bundle, with its own state dir; crun in its private mount namespace.
    pub fn oci(&self, name: &str, runtime: PathBuf) -> Result<Subject> {
        let state = self.dir.join(format!("{name}-state"));
        fs::create_dir_all(&state).with_context(|| format!("creating {}", state.display()))?;
        let subject = Subject::oci(name, runtime, state, self.bundle.dir.clone());
        Ok(match (&self.crun_ns, name) {
            (Some(ns), "crun") => subject.in_mount_ns(ns.clone()),
            _ => subject,
        })
    }

    /// Whether crun runs in a private mount namespace (for the report).
    pub fn crun_in_private_ns(&self) -> bool {
        self.crun_ns.is_some()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        remove_oci_cgroups();
        // Only our files: the bundle and the (empty) state dirs; no mount is ever made in this directory.
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// The name of the `cove run` without cgroup in the tables.
pub const COVE_NO_CGROUP: &str = "cove, no limits";

fn cove_run(name: &str, cove: &Path, manifest: &Path) -> Subject {
    Subject::plain(
        name,
        &[&cove.to_string_lossy(), "run", &manifest.to_string_lossy()],
    )
}

/// A fresh private directory under the system temp dir.
fn make_temp_dir() -> Result<PathBuf> {
    let base = std::env::temp_dir();
    for attempt in 0..100u32 {
        let dir = base.join(format!("cove-bench-{}-{attempt}", std::process::id()));
        match fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e).with_context(|| format!("creating {}", dir.display())),
        }
    }
    bail!("could not create a temp dir under {}", base.display())
}

/// crun 1.8 refuses to start on a hybrid host whose cgroup2 mount holds any controller.
fn crun_refuses_this_layout() -> bool {
    fs::read_to_string(UNIFIED_CONTROLLERS).is_ok_and(|s| !s.trim().is_empty())
}

/// A private mount namespace in which `/sys/fs/cgroup/unified` is unmounted (the host's mounts are untouched):
/// a helper process unshares it, unmounts, and holds it until we have opened its `ns/mnt`.
fn mount_ns_without_unified() -> Result<File> {
    let script = format!("umount {UNIFIED} && echo ready && exec cat >/dev/null");
    let mut helper = Command::new("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "--",
            "sh",
            "-c",
            &script,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("starting `unshare --mount` for crun's private mount namespace")?;
    let mut line = String::new();
    if let Some(out) = helper.stdout.take() {
        BufReader::new(out).read_line(&mut line)?;
    }
    let ns = if line.trim() == "ready" {
        File::open(format!("/proc/{}/ns/mnt", helper.id())).context("opening the helper's ns/mnt")
    } else {
        Err(anyhow!(
            "could not unmount {UNIFIED} in a private mount namespace"
        ))
    };
    if let Some(mut stdin) = helper.stdin.take() {
        let _ = stdin.flush();
    }
    helper
        .wait()
        .context("waiting for the mount namespace helper")?;
    ns
}

/// Removes the (empty) cgroups `OCI_CGROUP_PARENT/oci` and `OCI_CGROUP_PARENT` that runc and crun create, in
/// every hierarchy; only rmdir, which the kernel refuses for a cgroup still in use.
fn remove_oci_cgroups() {
    let mut hierarchies = vec![PathBuf::from(CGROUP_ROOT)];
    if let Ok(entries) = fs::read_dir(CGROUP_ROOT) {
        hierarchies.extend(entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
    }
    for h in hierarchies {
        let parent = h.join(OCI_CGROUP_PARENT);
        for dir in [parent.join("oci"), parent.clone()] {
            match fs::remove_dir(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => eprintln!("xtask: warning: could not remove {}: {e}", dir.display()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_runtime_is_an_error_that_says_how_to_install_it() {
        let err = require_program("cove-bench-no-such-runtime").unwrap_err();
        assert_eq!(
            err.to_string(),
            "`cove-bench-no-such-runtime` is not installed: install it with \
             `apt-get install cove-bench-no-such-runtime` (CI's .ci/run installs it)"
        );
        assert!(find_program("sh").is_some());
    }

    #[test]
    fn the_bundle_holds_the_config_and_both_manifests() {
        let dir = make_temp_dir().unwrap();
        let bundle = Bundle::write(&dir, Path::new("/srv/root")).unwrap();
        let config: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
        assert_eq!(config["root"]["path"], "/srv/root");
        assert!(fs::read_to_string(&bundle.manifest)
            .unwrap()
            .contains("[resources]"));
        assert!(!fs::read_to_string(&bundle.manifest_no_cgroup)
            .unwrap()
            .contains("[resources]"));
        fs::remove_dir_all(&dir).unwrap();
    }
}
