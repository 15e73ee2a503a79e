//! The workload every runtime runs: one busybox OCI bundle (`config.json` for runc and crun) and the
//! equivalent cove manifest.
//!
//! Both describe the same container: `/bin/true` as root on the busybox test root, read-only, new pid, net, ipc,
//! uts and mount namespaces (no cgroup or user namespace), the standard `/proc`, `/sys` (read-only), `/dev`,
//! `/dev/pts`, `/dev/shm`, `/dev/mqueue` mounts, Docker's masked and read-only paths, and a cgroup with a
//! memory and a pids limit. The OCI config leaves out what cove does not do yet (capabilities, rlimits,
//! no_new_privs, a `/sys/fs/cgroup` mount), so that every runtime does the same work.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::{json, Value};

/// The container's memory limit.
pub const MEMORY_LIMIT: u64 = 64 << 20;
/// The container's pids limit.
pub const PIDS_LIMIT: u64 = 64;
/// The cgroup (relative to each hierarchy's root) runc and crun put their container in.
pub const OCI_CGROUP_PARENT: &str = "cove-bench";
/// The container name in the cove manifest (cove puts it in the cgroup `cove/<name>`).
pub const COVE_NAME: &str = "cove-bench";
/// The hostname inside the container.
const HOSTNAME: &str = "bench";

/// The paths Docker, runc and cove hide by default (cove's own list, so the bundle matches what cove does).
const MASKED_PATHS: [&str; 11] = cove_rootfs::RootfsSpec::DEFAULT_MASKED_PATHS;

/// The paths Docker, runc and cove make read-only by default.
const READONLY_PATHS: [&str; 5] = cove_rootfs::RootfsSpec::DEFAULT_READONLY_PATHS;

/// A written bundle: `dir/config.json` for the OCI runtimes and `dir/cove.toml` for cove.
#[derive(Debug)]
pub struct Bundle {
    /// The bundle directory (`--bundle`).
    pub dir: PathBuf,
    /// The cove manifest.
    pub manifest: PathBuf,
    /// The same container without `[resources]` (its cgroup has only the device rules), to show what the limits cost.
    pub manifest_no_cgroup: PathBuf,
}

impl Bundle {
    /// Writes both files into `dir` for the root file system `rootfs` (absolute).
    pub fn write(dir: &Path, rootfs: &Path) -> Result<Bundle> {
        let config = serde_json::to_string_pretty(&oci_config(rootfs))?;
        fs::write(dir.join("config.json"), config).context("writing config.json")?;
        let manifest = dir.join("cove.toml");
        let manifest_no_cgroup = dir.join("cove-no-cgroup.toml");
        for (path, limits) in [(&manifest, true), (&manifest_no_cgroup, false)] {
            fs::write(path, cove_manifest(rootfs, limits))
                .with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(Bundle {
            dir: dir.to_path_buf(),
            manifest,
            manifest_no_cgroup,
        })
    }
}

/// The OCI runtime config of the workload.
pub fn oci_config(rootfs: &Path) -> Value {
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": { "uid": 0, "gid": 0 },
            "args": ["/bin/true"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "cwd": "/"
        },
        "root": { "path": rootfs, "readonly": true },
        "hostname": HOSTNAME,
        "mounts": oci_mounts(),
        "linux": {
            "cgroupsPath": format!("/{OCI_CGROUP_PARENT}/oci"),
            "resources": {
                "memory": { "limit": MEMORY_LIMIT },
                "pids": { "limit": PIDS_LIMIT }
            },
            "namespaces": [
                { "type": "pid" },
                { "type": "network" },
                { "type": "ipc" },
                { "type": "uts" },
                { "type": "mount" }
            ],
            "maskedPaths": MASKED_PATHS,
            "readonlyPaths": READONLY_PATHS
        }
    })
}

/// The standard mounts of `runc spec`, without the `/sys/fs/cgroup` mount (cove has none).
fn oci_mounts() -> Value {
    json!([
        { "destination": "/proc", "type": "proc", "source": "proc" },
        { "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
          "options": ["nosuid", "strictatime", "mode=755", "size=65536k"] },
        { "destination": "/dev/pts", "type": "devpts", "source": "devpts",
          "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] },
        { "destination": "/dev/shm", "type": "tmpfs", "source": "shm",
          "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
        { "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
          "options": ["nosuid", "noexec", "nodev"] },
        { "destination": "/sys", "type": "sysfs", "source": "sysfs",
          "options": ["nosuid", "noexec", "nodev", "ro"] }
    ])
}

/// The cove manifest of the same workload; without `limits`, with no `[resources]` (device rules only).
pub fn cove_manifest(rootfs: &Path, limits: bool) -> String {
    let mut text = format!(
        "# The workload of `cargo xtask bench`; the OCI config.json next to it is the same container.\n\
         name = \"{COVE_NAME}\"\n\
         hostname = \"{HOSTNAME}\"\n\
         \n\
         [process]\n\
         args = [\"/bin/true\"]\n\
         \n\
         [rootfs]\n\
         path = {rootfs:?}\n\
         readonly = true\n\
         \n\
         [namespaces]\n\
         # the OCI bundle has pid, net, ipc, uts and mount: no cgroup namespace\n\
         cgroup = false\n"
    );
    if limits {
        text.push_str(&format!(
            "\n[resources]\nmemory = \"{}M\"\npids = {PIDS_LIMIT}\n",
            MEMORY_LIMIT >> 20
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_has_the_five_namespaces_a_readonly_root_and_both_limits() {
        let c = oci_config(Path::new("/srv/root"));
        let kinds: Vec<&str> = c["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["pid", "network", "ipc", "uts", "mount"]);
        assert_eq!(c["root"]["path"], "/srv/root");
        assert_eq!(c["root"]["readonly"], true);
        assert_eq!(c["linux"]["resources"]["memory"]["limit"], 64 << 20);
        assert_eq!(c["linux"]["resources"]["pids"]["limit"], 64);
        assert_eq!(c["process"]["args"][0], "/bin/true");
        assert_eq!(c["process"]["terminal"], false);
        assert_eq!(c["linux"]["cgroupsPath"], "/cove-bench/oci");
    }

    #[test]
    fn manifest_describes_the_same_container() {
        let m = cove_manifest(Path::new("/srv/root"), true);
        assert!(m.contains("path = \"/srv/root\"\nreadonly = true\n"), "{m}");
        assert!(m.contains("args = [\"/bin/true\"]"), "{m}");
        assert!(m.contains("cgroup = false"), "{m}");
        assert!(m.contains("memory = \"64M\"\npids = 64\n"), "{m}");
        let bare = cove_manifest(Path::new("/srv/root"), false);
        assert!(!bare.contains("[resources]"), "{bare}");
        assert!(bare.contains("cgroup = false"), "{bare}");
    }
}
