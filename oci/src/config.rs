//! An OCI bundle's `config.json` lowered into the same [`Plan`] as the TOML manifest.
//!
//! [`load_bundle`] reads and parses the file with serde_json straight into oci-spec's
//! [`Spec`] (JSON errors keep their line and column), accepts `ociVersion` 1.0.0 to 1.3.x, and
//! lowers every field into the plan. **What cove does not implement is refused** with an error
//! naming the field (`linux.intelRdt`, `linux.memoryPolicy`, `linux.resources.memory.kernel`,
//! …), never ignored; only what the runtime spec lets a runtime ignore is ignored (unknown
//! properties, `annotations`, which are handed back, and `process.consoleSize` without a
//! terminal). Lowering stops at the first problem.
//!
//! Mapping decisions (see also [`lower_resources`](crate::resources::lower_resources)):
//! - **Capabilities**: the bounding set becomes [`SecurityPlan::capabilities`] (dropped before
//!   the user switch), the effective, permitted, inheritable and ambient sets are applied as
//!   given ([`CapabilitySets`](cove_container::security::CapabilitySets)); an absent set is empty.
//!   Docker-style configurations give bounding = effective = permitted. Without
//!   `process.capabilities` nothing is dropped (as runc). Effective ⊄ permitted is refused
//!   (the kernel would refuse it); ambient capabilities that are not both permitted and
//!   inheritable cannot be raised and are left out of the plan, as runc skips them (`runc spec`
//!   asks for ambient capabilities without inheritable ones).
//! - **noNewPrivileges** defaults to false, as the spec says; `linux.seccomp` absent means no
//!   filter.
//! - **rootfsPropagation** unset is `rslave`, runc's default; `shared`/`unbindable` (and their
//!   recursive forms) are set on the new root after pivot_root, `/` being made private before.
//! - **maskedPaths**/**readonlyPaths** absent mean none (not cove's defaults).
//! - **Namespaces**: `path` → join (the file must exist), else new; a new mount namespace is
//!   required; a new cgroup namespace is created.
//! - **cgroupsPath**: see [`cgroup_path`]; unset → `None` (`cove/<id>`).
//! - **`cgroup` mounts** are expanded for the host's layout by [`cgroup_mounts`]; a rootless
//!   container (it has no cgroup of its own) gets a recursive bind of the host's `/sys/fs/cgroup`
//!   with the mount's options instead, as podman gives rootless containers.
//! - **linux.devices**: created as nodes, and (root containers) allowed `rwm` in the device
//!   cgroup after the configuration's rules, as runc does.
//! - **hostname**/**domainname** need the container's own UTS namespace (new or joined, as
//!   runc).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cove_cgroup::{default_container_devices, DeviceKind, DeviceRule, Resources};
use cove_ns::Namespace;
use cove_rootfs::{DeviceKind as NodeKind, DeviceNode, MountPlan, RootSource};
use oci_spec::runtime::{Hooks, Linux, Process, Root, Spec};

use crate::resources::lower_resources;
use cove_container::cgroups::CGROUP_PARENT;
use cove_container::plan::{NamespacePlan, Plan, ProcessPlan, RootChoice, RootPlan};
use cove_container::security::SecurityPlan;

mod linux;
mod mounts;
mod process;

pub use crate::error::ConfigError;
pub use linux::cgroup_path;
pub use mounts::{cgroup_mounts, CGROUP_MOUNT};

use crate::error::Result;

/// A loaded OCI bundle: the parsed configuration and the plan it lowers to.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// The bundle directory (absolute, canonical).
    pub dir: PathBuf,
    /// `<dir>/config.json`.
    pub config_path: PathBuf,
    /// The configuration as parsed.
    pub spec: Spec,
    /// The configuration lowered.
    pub plan: Plan,
    /// `hooks`, as given (run by the lifecycle commands).
    pub hooks: Option<Hooks>,
    /// `annotations`.
    pub annotations: BTreeMap<String, String>,
    /// `ociVersion`.
    pub oci_version: String,
}

/// config.json's `hooks` as the engine runs them (absent: none).
pub fn lower_hooks(hooks: Option<&Hooks>) -> cove_container::hooks::Hooks {
    use cove_container::hooks::Hook;
    let Some(hooks) = hooks else {
        return cove_container::hooks::Hooks::default();
    };
    let list = |hooks: &Option<Vec<oci_spec::runtime::Hook>>| -> Vec<Hook> {
        hooks
            .iter()
            .flatten()
            .map(|h| Hook {
                path: h.path().clone(),
                args: h.args().clone().unwrap_or_default(),
                env: h.env().clone().unwrap_or_default(),
                timeout: h.timeout(),
            })
            .collect()
    };
    #[allow(deprecated)] // prestart is deprecated in the spec, still run by runc and crun
    let prestart = list(hooks.prestart());
    cove_container::hooks::Hooks {
        prestart,
        create_runtime: list(hooks.create_runtime()),
        create_container: list(hooks.create_container()),
        start_container: list(hooks.start_container()),
        poststart: list(hooks.poststart()),
        poststop: list(hooks.poststop()),
    }
}

/// Reads `<dir>/config.json` and lowers it for the container `id`, for a caller with effective
/// uid `euid` (non-zero: rootless).
///
/// Pure apart from reading the file, resolving the root and bind sources, checking that
/// namespace files exist, and (only with a `cgroup` mount) reading `/proc/self/mountinfo`.
pub fn load_bundle(dir: &Path, id: &str, euid: u32) -> Result<Bundle> {
    let dir = std::fs::canonicalize(dir).map_err(|source| ConfigError::Bundle {
        dir: dir.to_path_buf(),
        source,
    })?;
    let config_path = dir.join("config.json");
    let text = std::fs::read_to_string(&config_path).map_err(|source| ConfigError::Read {
        file: config_path.clone(),
        source,
    })?;
    let spec = parse_spec(&config_path, &text)?;
    let plan =
        lower_spec(&spec, &dir, &config_path, id, euid).map_err(|e| e.with_file(&config_path))?;
    Ok(Bundle {
        hooks: spec.hooks().clone(),
        annotations: spec
            .annotations()
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        oci_version: spec.version().clone(),
        dir,
        config_path,
        spec,
        plan,
    })
}

/// Parses the text of `file` as an OCI configuration and checks its `ociVersion`.
pub fn parse_spec(file: &Path, text: &str) -> Result<Spec> {
    match serde_json::from_str::<Spec>(text) {
        Ok(spec) => {
            check_version(file, spec.version())?;
            Ok(spec)
        }
        Err(err) => {
            // A configuration of another version may fail on its shape: say so first.
            #[derive(serde::Deserialize)]
            struct VersionOnly {
                #[serde(rename = "ociVersion", default)]
                version: String,
            }
            if let Ok(v) = serde_json::from_str::<VersionOnly>(text) {
                check_version(file, &v.version)?;
            }
            Err(ConfigError::json(file, &err))
        }
    }
}

/// Whether cove reads configurations of `version`: 1.0.0 to 1.3.x, with any pre-release suffix
/// (`1.0.2-dev`, `1.1.0-rc.1`).
///
/// ```
/// use cove_oci::config::supported_version;
/// assert!(supported_version("1.0.2-dev"));
/// assert!(supported_version("1.3.0"));
/// assert!(!supported_version("1.4.0"));
/// assert!(!supported_version("0.6.0"));
/// ```
pub fn supported_version(version: &str) -> bool {
    let core = version.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    let number = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match parts.as_slice() {
        [major, minor, patch] if [major, minor, patch].iter().all(|p| number(p)) => {
            *major == "1" && minor.parse::<u32>().is_ok_and(|m| m <= 3)
        }
        _ => false,
    }
}

fn check_version(file: &Path, version: &str) -> Result<()> {
    if supported_version(version) {
        return Ok(());
    }
    Err(ConfigError::Version {
        file: file.to_path_buf(),
        version: version.to_string(),
    })
}

/// For `cove exec`: an OCI `Process` (from `--process FILE` or built from flags) lowered with the
/// container's `linux` section: its seccomp profile and its personality (exec'd processes get both, as in runc).
/// Errors name the field but no file: add it with [`ConfigError::with_file`].
pub fn lower_process(
    process: &Process,
    linux: Option<&Linux>,
    euid: u32,
) -> Result<(ProcessPlan, SecurityPlan)> {
    let seccomp = linux.and_then(|l| l.seccomp().as_ref());
    let mut plan = process::process_plan(process)?;
    plan.personality = process::personality(linux.and_then(|l| l.personality().as_ref()));
    Ok((plan, process::security_plan(process, seccomp, euid)?))
}

/// Lowers a parsed configuration (errors without the file name).
fn lower_spec(spec: &Spec, dir: &Path, config: &Path, id: &str, euid: u32) -> Result<Plan> {
    check_id(id)?;
    refuse_other_platforms(spec)?;
    let rootless = euid != 0;
    let root = root_plan(spec.root().as_ref(), dir)?;
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| ConfigError::invalid("process", "missing: cove needs a process to run"))?;
    let linux = spec
        .linux()
        .as_ref()
        .ok_or_else(|| ConfigError::invalid("linux", "missing: cove runs Linux containers"))?;
    linux::refuse_unsupported(linux)?;
    let namespaces = linux::namespaces(linux, euid)?;
    let (hostname, domainname) = uts_names(spec, &namespaces)?;
    let mut process_plan = process::process_plan(process)?;
    process_plan.personality = process::personality(linux.personality().as_ref());
    let security = process::security_plan(process, linux.seccomp().as_ref(), euid)?;
    let resources = linux
        .resources()
        .as_ref()
        .map(lower_resources)
        .transpose()?
        .filter(|r| *r != Resources::default());
    let cgroup_path = linux
        .cgroups_path()
        .as_deref()
        .map(cgroup_path)
        .transpose()?;
    let mut rootfs = linux::rootfs_options(linux, &namespaces)?;
    let resources = allow_device_nodes(resources, &rootfs.devices, rootless);
    let lowered = lower_mounts(
        spec,
        dir,
        &namespaces,
        (id, rootless),
        cgroup_path.as_deref(),
    )?;
    rootfs.readonly_paths.extend(lowered.readonly_paths);
    let plan = Plan {
        manifest: config.to_path_buf(),
        id: id.to_string(),
        hostname,
        domainname,
        process: process_plan,
        root,
        namespaces,
        mounts: lowered.mounts,
        resources,
        cgroup_path,
        rootfs,
        rootless,
        security,
    };
    check_mount_plan(&plan, &lowered.origin)?;
    Ok(plan)
}

/// The container id, checked as the manifest's name is: 1–128 of `[A-Za-z0-9._-]`, not
/// starting with `.`.
fn check_id(id: &str) -> Result<()> {
    if cove_container::plan::valid_container_id(id) {
        return Ok(());
    }
    Err(ConfigError::invalid(
        "id",
        format!("`{id}` is not a valid container id (1–128 letters, digits, `.`, `_` or `-`, not starting with `.`)"),
    ))
}

/// The sections for other platforms.
fn refuse_other_platforms(spec: &Spec) -> Result<()> {
    let others = [
        ("solaris", spec.solaris().is_some()),
        ("windows", spec.windows().is_some()),
        ("vm", spec.vm().is_some()),
        ("zos", spec.zos().is_some()),
    ];
    match others.into_iter().find(|(_, set)| *set) {
        Some((field, _)) => Err(ConfigError::unsupported(
            field,
            "cove runs Linux containers only",
        )),
        None => Ok(()),
    }
}

/// `root`: `path` relative to the bundle (or absolute), an existing directory; `readonly`.
fn root_plan(root: Option<&Root>, bundle: &Path) -> Result<RootPlan> {
    let root = root.ok_or_else(|| ConfigError::invalid("root", "missing: give root.path"))?;
    if root.path().as_os_str().is_empty() {
        return Err(ConfigError::invalid("root.path", "empty"));
    }
    let dir = bundle.join(root.path());
    let abs = std::fs::canonicalize(&dir).map_err(|e| {
        ConfigError::invalid(
            "root.path",
            format!("root file system {} does not exist ({e})", dir.display()),
        )
    })?;
    if !abs.is_dir() {
        return Err(ConfigError::invalid(
            "root.path",
            format!("{} is not a directory", abs.display()),
        ));
    }
    Ok(RootPlan {
        choice: RootChoice::Dir(abs),
        readonly: root.readonly().unwrap_or(false),
    })
}

/// `hostname` and `domainname`: set only in the container's own UTS namespace.
fn uts_names(spec: &Spec, ns: &NamespacePlan) -> Result<(Option<String>, Option<String>)> {
    let own_uts = ns.is_new(Namespace::Uts) || ns.join.iter().any(|(k, _)| *k == Namespace::Uts);
    let check = |field: &str, value: &Option<String>| -> Result<Option<String>> {
        let Some(name) = value.as_ref().filter(|n| !n.is_empty()) else {
            return Ok(None);
        };
        if name.len() > 64 || name.contains(['\0', '/']) {
            return Err(ConfigError::invalid(
                field,
                format!("`{name}` is not a valid name (at most 64 bytes)"),
            ));
        }
        if !own_uts {
            return Err(ConfigError::invalid(
                field,
                "setting it needs the container's own uts namespace",
            ));
        }
        Ok(Some(name.clone()))
    };
    Ok((
        check("hostname", spec.hostname())?,
        check("domainname", spec.domainname())?,
    ))
}

/// The device nodes of `linux.devices` are allowed in the device cgroup after the other rules,
/// as runc does (a root container only: rootless ones get no device cgroup). With no rules yet,
/// cove's default rules come first, so the list still starts by denying everything.
fn allow_device_nodes(
    resources: Option<Resources>,
    nodes: &[DeviceNode],
    rootless: bool,
) -> Option<Resources> {
    let rules: Vec<DeviceRule> = nodes
        .iter()
        .filter_map(|n| {
            let kind = match n.kind {
                NodeKind::Char => DeviceKind::Char,
                NodeKind::Block => DeviceKind::Block,
                NodeKind::Fifo => return None,
            };
            let number = |v: u64| i64::try_from(v).ok();
            Some(DeviceRule::allow(
                kind,
                number(n.major),
                number(n.minor),
                "rwm",
            ))
        })
        .collect();
    if rootless || rules.is_empty() {
        return resources;
    }
    let mut r = resources.unwrap_or_default();
    if r.devices.is_empty() {
        r.devices = default_container_devices();
    }
    r.devices.extend(rules);
    Some(r)
}

/// `mounts`, with what they need from the rest of the configuration.
fn lower_mounts(
    spec: &Spec,
    dir: &Path,
    ns: &NamespacePlan,
    (id, rootless): (&str, bool),
    cgroup_path: Option<&str>,
) -> Result<mounts::Lowered> {
    let default_path = format!("{CGROUP_PARENT}/{id}");
    let ctx = mounts::MountContext {
        bundle: dir,
        uid_map: &ns.uid_map,
        gid_map: &ns.gid_map,
        cgroup_path: cgroup_path.unwrap_or(&default_path),
        new_cgroupns: ns.is_new(Namespace::Cgroup),
        rootless,
    };
    mounts::lower_mounts(spec.mounts().as_deref().unwrap_or_default(), &ctx)
}

/// Builds the mount plan once, so bad options fail now with the configuration's mount index.
fn check_mount_plan(plan: &Plan, origin: &[usize]) -> Result<()> {
    let RootChoice::Dir(root) = &plan.root.choice else {
        return Ok(());
    };
    MountPlan::build(&plan.rootfs_spec(RootSource::Dir(root.clone())))
        .map(drop)
        .map_err(|e| mounts::plan_error(&e, origin))
}
