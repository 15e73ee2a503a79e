//! One OCI container under test: a bundle on the busybox root in its own temp dir, driven through the real `cove`
//! binary with its own state root (or the default one), deleted with `delete --force` on drop.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{busybox_root, host_mountinfo, stderr, stdout, COVE};

/// The state root `cove run FILE.toml` and an OCI command without `--root` use as root.
pub const DEFAULT_ROOT: &str = "/run/cove";

pub struct Oci {
    pub dir: tempfile::TempDir,
    pub id: String,
    /// `--root` for every command; `None`: the default root.
    state_root: Option<PathBuf>,
    pub mountinfo_before: String,
}

impl Oci {
    /// A bundle whose process runs `script` under busybox sh, with the cgroup `cove-test/<id>` and a state root
    /// of its own.
    pub fn new(test: &str, script: &str) -> Oci {
        let id = format!("oci-{test}-{}", std::process::id());
        let cgroup = format!("/cove-test/{id}");
        Oci::with_id(id, script, Some(&cgroup), true)
    }

    /// A bundle with the container id `id`; `cgroup`: its `linux.cgroupsPath` (`None`: cove's default,
    /// `cove/<id>`); `own_root`: a state root in the temp dir rather than the default one.
    pub fn with_id(id: String, script: &str, cgroup: Option<&str>, own_root: bool) -> Oci {
        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let state_root = own_root.then(|| dir.path().join("state"));
        let oci = Oci {
            dir,
            id,
            state_root,
            mountinfo_before: host_mountinfo(),
        };
        let out = oci.cove(&["spec", "--bundle", oci.bundle().to_str().unwrap()]);
        assert!(out.status.success(), "cove spec: {}", stderr(&out));
        oci.edit(|c| {
            c["root"] = json!({"path": busybox_root(), "readonly": true});
            c["process"]["terminal"] = json!(false);
            c["process"]["args"] = json!(["sh", "-c", script]);
            match cgroup {
                Some(path) => c["linux"]["cgroupsPath"] = json!(path),
                None => {
                    c["linux"].as_object_mut().unwrap().remove("cgroupsPath");
                }
            }
        });
        oci
    }

    pub fn bundle(&self) -> &Path {
        self.dir.path()
    }

    /// The state root this container lives in.
    pub fn root(&self) -> PathBuf {
        self.state_root
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_ROOT))
    }

    pub fn state_dir(&self) -> PathBuf {
        self.root().join(&self.id)
    }

    /// Changes config.json.
    pub fn edit(&self, f: impl FnOnce(&mut Value)) {
        let path = self.bundle().join("config.json");
        let mut config: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        f(&mut config);
        fs::write(&path, serde_json::to_string_pretty(&config).unwrap()).unwrap();
    }

    /// `cove [--root R] ARGS…` with stdin from /dev/null.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(COVE);
        if let Some(root) = &self.state_root {
            c.arg("--root").arg(root);
        }
        c.args(args).stdin(Stdio::null());
        c
    }

    /// Runs `cove ARGS…` with captured output.
    pub fn cove(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// Runs `cove ARGS…`, which must succeed; its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.cove(args);
        assert!(
            out.status.success(),
            "cove {args:?} failed: {}",
            stderr(&out)
        );
        stdout(&out)
    }

    /// `create --bundle B ID`.
    pub fn create(&self) -> Output {
        self.create_with(&[])
    }

    /// `create --bundle B EXTRA… ID`.
    pub fn create_with(&self, extra: &[&str]) -> Output {
        let bundle = self.bundle().to_str().unwrap().to_owned();
        let mut args = vec!["create", "--bundle", bundle.as_str()];
        args.extend_from_slice(extra);
        args.push(&self.id);
        self.detaching(&args)
    }

    /// Runs a command that leaves the container's process behind with its stdio (create, run --detach):
    /// output goes to files, as waiting for the end of a pipe would wait for the container.
    pub fn detaching(&self, args: &[&str]) -> Output {
        let (out, err) = (
            self.dir.path().join("out.txt"),
            self.dir.path().join("err.txt"),
        );
        let status = self
            .command(args)
            .stdout(fs::File::create(&out).unwrap())
            .stderr(fs::File::create(&err).unwrap())
            .status()
            .unwrap();
        Output {
            status,
            stdout: fs::read(&out).unwrap(),
            stderr: fs::read(&err).unwrap(),
        }
    }

    pub fn state(&self) -> Value {
        serde_json::from_str(&self.ok(&["state", &self.id])).unwrap()
    }

    pub fn status(&self) -> String {
        self.state()["status"].as_str().unwrap().to_owned()
    }

    pub fn pid(&self) -> i32 {
        self.state()["pid"].as_i64().unwrap() as i32
    }

    pub fn wait_for_status(&self, want: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.status() != want {
            assert!(Instant::now() < deadline, "status stayed {}", self.status());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The container's cgroup directories on the host (for the cgroup `cove-test/<id>` of [`Oci::new`]).
    pub fn cgroup_dirs(&self) -> Vec<PathBuf> {
        hierarchies()
            .into_iter()
            .map(|h| h.join(format!("cove-test/{}", self.id)))
            .collect()
    }

    /// Asserts that nothing of the container is left: state dir, cgroups, mounts.
    pub fn assert_gone(&self) {
        assert!(!self.state_dir().exists(), "state dir left behind");
        for dir in self.cgroup_dirs() {
            assert!(!dir.exists(), "cgroup left behind: {}", dir.display());
        }
        assert_eq!(
            host_mountinfo(),
            self.mountinfo_before,
            "the host's mounts changed"
        );
    }
}

impl Drop for Oci {
    fn drop(&mut self) {
        let _ = self.cove(&["delete", "--force", &self.id]);
        // The parent cove created for the tests' cgroups (left in place by cove, as runc leaves its parents).
        for h in hierarchies() {
            let _ = fs::remove_dir(h.join("cove-test"));
        }
    }
}

/// Every cgroup hierarchy's root on this host (v1 controllers, the unified one, or `/sys/fs/cgroup` on v2).
pub fn hierarchies() -> Vec<PathBuf> {
    let root = Path::new("/sys/fs/cgroup");
    if root.join("cgroup.procs").exists() {
        return vec![root.to_path_buf()];
    }
    fs::read_dir(root)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| !p.is_symlink() && p.join("cgroup.procs").exists())
        .collect()
}
