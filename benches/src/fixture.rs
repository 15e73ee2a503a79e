//! What the benches share: the busybox root, the benchmark's container (the same one `cargo xtask bench` runs
//! under cove, crun and runc), its plan and mount spec, and the cgroup limits.
//!
//! ```no_run
//! use cove_benches::fixture;
//!
//! let rootfs = fixture::rootfs()?;
//! let dir = tempfile::tempdir().unwrap();
//! let manifest = fixture::write_manifest(dir.path(), &rootfs, fixture::Limits::Yes)?;
//! let plan = fixture::load_plan(&manifest)?;
//! let spec = fixture::rootfs_spec(&plan);
//! assert!(spec.readonly);
//! # Ok::<(), cove_benches::BenchError>(())
//! ```

use std::path::{Path, PathBuf};

use cove_cgroup::{CpuResources, MemoryResources, PidsResources, Resources};
use cove_container::plan::{Plan, RootChoice};
use cove_ns::Namespace;
use cove_rootfs::{RootSource, RootfsSpec};

use crate::BenchError;

/// The environment variable that overrides where the busybox root is.
pub const ROOTFS_ENV: &str = "COVE_BENCH_ROOTFS";

/// The container's memory limit.
pub const MEMORY_LIMIT: u64 = 64 << 20;
/// The container's pids limit.
pub const PIDS_LIMIT: u64 = 64;
/// The CPU bandwidth of the cgroup bench (half a CPU).
pub const CPUS: f64 = 0.5;

/// The namespaces a container gets in the whole-process comparison (as in runc's default config).
pub const CONTAINER_NAMESPACES: [Namespace; 5] = [
    Namespace::Mount,
    Namespace::Pid,
    Namespace::Net,
    Namespace::Ipc,
    Namespace::Uts,
];

/// The namespace kinds the benches create one by one.
pub const BENCHED_NAMESPACES: [Namespace; 7] = [
    Namespace::User,
    Namespace::Mount,
    Namespace::Pid,
    Namespace::Net,
    Namespace::Ipc,
    Namespace::Uts,
    Namespace::Cgroup,
];

/// Whether the benchmark's manifest sets cgroup limits (which makes `cove run` create a cgroup).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limits {
    /// `[resources]` with a memory and a pids limit.
    Yes,
    /// No `[resources]`: no cgroup.
    No,
}

/// The busybox root built by `cargo xtask rootfs` (`target/rootfs`, or `$COVE_BENCH_ROOTFS`), canonical.
pub fn rootfs() -> Result<PathBuf, BenchError> {
    let path = std::env::var_os(ROOTFS_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/rootfs"));
    if !path.join("bin/busybox").is_file() {
        return Err(BenchError::NoRootfs { path });
    }
    path.canonicalize()
        .map_err(|_| BenchError::NoRootfs { path })
}

/// The manifest of the benchmark's container: `/bin/true` on `rootfs`, read-only, new mount, pid, net, ipc and
/// uts namespaces, and with [`Limits::Yes`] a 64 MiB memory and a 64 pids limit.
pub fn manifest_text(rootfs: &Path, limits: Limits) -> String {
    let mut text = format!(
        "name = \"cove-bench-criterion\"\n\
         hostname = \"bench\"\n\
         \n\
         [process]\n\
         args = [\"/bin/true\"]\n\
         \n\
         [rootfs]\n\
         path = {rootfs:?}\n\
         readonly = true\n\
         \n\
         [namespaces]\n\
         cgroup = false\n"
    );
    if limits == Limits::Yes {
        text.push_str(&format!(
            "\n[resources]\nmemory = \"{}M\"\npids = {PIDS_LIMIT}\n",
            MEMORY_LIMIT >> 20
        ));
    }
    text
}

/// Writes [`manifest_text`] as `dir/bench.toml` and returns its path.
pub fn write_manifest(dir: &Path, rootfs: &Path, limits: Limits) -> Result<PathBuf, BenchError> {
    let path = dir.join("bench.toml");
    std::fs::write(&path, manifest_text(rootfs, limits)).map_err(|source| {
        BenchError::WriteManifest {
            path: path.clone(),
            source,
        }
    })?;
    Ok(path)
}

/// Loads and validates a manifest as the current user would.
pub fn load_plan(manifest: &Path) -> Result<Plan, BenchError> {
    let euid = nix::unistd::geteuid().as_raw();
    cove_manifest::load_plan(manifest, euid).map_err(|errors| BenchError::InvalidManifest {
        path: manifest.to_path_buf(),
        problems: errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n"),
    })
}

/// The mount spec cove builds for the plan (for a directory root, as `cove run` does).
///
/// # Panics
/// When the plan's root is not a directory (the benchmark's manifest always has one).
pub fn rootfs_spec(plan: &Plan) -> RootfsSpec {
    let RootChoice::Dir(dir) = &plan.root.choice else {
        panic!("the benchmark's manifest has a directory root");
    };
    plan.rootfs_spec(RootSource::Dir(dir.clone()))
}

/// The limits of the cgroup bench: memory, CPU bandwidth and pids.
pub fn resources() -> Resources {
    Resources {
        memory: MemoryResources {
            limit: Some(MEMORY_LIMIT),
            ..Default::default()
        },
        cpu: CpuResources {
            cpus: Some(CPUS),
            ..Default::default()
        },
        pids: PidsResources {
            max: Some(PIDS_LIMIT),
        },
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_with_and_without_limits() {
        let with = manifest_text(Path::new("/srv/root"), Limits::Yes);
        assert!(
            with.contains("path = \"/srv/root\"\nreadonly = true\n"),
            "{with}"
        );
        assert!(
            with.ends_with("[resources]\nmemory = \"64M\"\npids = 64\n"),
            "{with}"
        );
        let without = manifest_text(Path::new("/srv/root"), Limits::No);
        assert!(!without.contains("[resources]"), "{without}");
    }

    #[test]
    fn the_manifest_validates_into_the_benchmarked_plan() {
        let Ok(rootfs) = rootfs() else {
            panic!("the busybox root is missing: run `cargo xtask rootfs` first");
        };
        let dir = tempfile::tempdir().unwrap();
        let path = write_manifest(dir.path(), &rootfs, Limits::No).unwrap();
        let plan = load_plan(&path).unwrap();
        for kind in CONTAINER_NAMESPACES {
            assert!(plan.namespaces.is_new(kind), "{kind:?}");
        }
        assert!(!plan.namespaces.is_new(Namespace::Cgroup));
        let spec = rootfs_spec(&plan);
        assert!(spec.readonly && spec.new_pid_ns && spec.new_net_ns && spec.new_ipc_ns);
        assert_eq!(spec.root, RootSource::Dir(rootfs));
        assert!(plan.resources.is_none());
    }
}
