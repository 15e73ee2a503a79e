//! `cove spec`: the example `config.json` that `runc spec` writes, with hostname `cove`.
//!
//! [`example_spec`] is runc's `specconv.Example()`: a shell (`sh`, terminal) in a read-only
//! `rootfs`, three capabilities, the standard mounts, masked and read-only paths, and new
//! pid/network/ipc/uts/mount namespaces (plus cgroup when the host runs cgroup v2 only, as runc
//! does). [`to_rootless`] is runc's `ToRootless()`: a user namespace mapping the caller to root, no
//! network namespace, `/sys` bound from the host, no `uid=`/`gid=` mount options, no resources.
//!
//! ```
//! let spec = cove_oci::spec_default::default_spec(false);
//! assert_eq!(spec.hostname().as_deref(), Some("cove"));
//! assert_eq!(spec.root().as_ref().unwrap().path(), std::path::Path::new("rootfs"));
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    Capability, LinuxCapabilities, LinuxDeviceCgroup, LinuxIdMapping, LinuxIdMappingBuilder,
    LinuxNamespace, LinuxNamespaceType, LinuxResources, Mount, PosixRlimitBuilder, PosixRlimitType,
    Process, Root, Spec, User,
};

/// Errors of `cove spec`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpecError {
    /// `config.json` is already in the bundle (runc: "File config.json exists. Remove it first").
    #[error("config.json already exists in {}: remove it first", bundle.display())]
    Exists {
        /// The bundle directory.
        bundle: PathBuf,
    },
    /// Creating or writing `config.json` failed.
    #[error("cannot write {}", path.display())]
    Write {
        /// The `config.json` path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// The hostname of the example spec (runc writes `runc`).
pub const HOSTNAME: &str = "cove";

/// The `PATH` of the example process.
const PATH_ENV: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The capabilities of the example process (bounding, effective and permitted).
const CAPABILITIES: [Capability; 3] = [
    Capability::AuditWrite,
    Capability::Kill,
    Capability::NetBindService,
];

/// Paths hidden from the container.
const MASKED_PATHS: [&str; 11] = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/sys/firmware",
    "/proc/scsi",
    "/sys/devices/virtual/tpm",
];

/// Paths made read-only in the container.
const READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// `cove spec [--rootless]`: [`example_spec`] with a cgroup namespace when the host is cgroup v2
/// only, made rootless for the caller's effective uid and gid when `rootless`.
pub fn default_spec(rootless: bool) -> Spec {
    let mut spec = example_spec(host_is_cgroup2_only());
    if rootless {
        let uid = nix::unistd::geteuid().as_raw();
        let gid = nix::unistd::getegid().as_raw();
        to_rootless(&mut spec, uid, gid);
    }
    spec
}

/// Whether `/sys/fs/cgroup` is a cgroup v2 only host (runc's `IsCgroup2UnifiedMode`); false when
/// it cannot be told.
fn host_is_cgroup2_only() -> bool {
    cove_cgroup::Layout::detect()
        .is_ok_and(|layout| layout.kind() == cove_cgroup::LayoutKind::Unified)
}

/// runc's example spec (hostname `cove`), with a cgroup namespace when `cgroup_ns`.
pub fn example_spec(cgroup_ns: bool) -> Spec {
    let mut spec = Spec::default();
    spec.set_version(super::features::OCI_VERSION_MAX.to_owned())
        .set_root(Some(example_root()))
        .set_process(Some(example_process()))
        .set_hostname(Some(HOSTNAME.to_owned()))
        .set_domainname(None)
        .set_hooks(None)
        .set_annotations(None)
        .set_mounts(Some(example_mounts()))
        .set_linux(Some(example_linux(cgroup_ns)));
    spec
}

/// runc's `ToRootless`: a user namespace instead of the network namespace, `uid`/`gid` mapped to
/// root (size 1), `/sys` as a read-only rbind of the host's, no `uid=`/`gid=` mount options and
/// no cgroup resources.
pub fn to_rootless(spec: &mut Spec, uid: u32, gid: u32) {
    if let Some(linux) = spec.linux_mut() {
        let mut namespaces: Vec<LinuxNamespace> = linux.namespaces().clone().unwrap_or_default();
        namespaces.retain(|ns| {
            !matches!(
                ns.typ(),
                LinuxNamespaceType::Network | LinuxNamespaceType::User
            )
        });
        namespaces.push(namespace(LinuxNamespaceType::User));
        linux
            .set_namespaces(Some(namespaces))
            .set_uid_mappings(Some(vec![id_map(uid)]))
            .set_gid_mappings(Some(vec![id_map(gid)]))
            .set_resources(None);
    }
    if let Some(mounts) = spec.mounts_mut() {
        mounts.iter_mut().for_each(rootless_mount);
    }
}

/// Writes `default_spec(rootless)` to `<bundle>/config.json` (pretty JSON, 2-space indent) and
/// returns its path. Refuses to replace an existing `config.json`.
pub fn write_spec(bundle: &Path, rootless: bool) -> Result<PathBuf, SpecError> {
    let path = bundle.join("config.json");
    let text = spec_json(&default_spec(rootless));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::AlreadyExists => SpecError::Exists {
                bundle: bundle.to_owned(),
            },
            _ => SpecError::Write {
                path: path.clone(),
                source,
            },
        })?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .map_err(|source| SpecError::Write {
            path: path.clone(),
            source,
        })?;
    Ok(path)
}

/// `spec` as pretty JSON (2-space indent). Keys are sorted and the capability sets listed in
/// name order, so the output does not depend on hash order.
pub fn spec_json(spec: &Spec) -> String {
    let mut value = serde_json::to_value(spec).expect("a Spec always serializes");
    if let Some(caps) = value
        .pointer_mut("/process/capabilities")
        .and_then(|c| c.as_object_mut())
    {
        for set in caps.values_mut().filter_map(|s| s.as_array_mut()) {
            set.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
        }
    }
    serde_json::to_string_pretty(&value).expect("a JSON value always serializes")
}

fn example_root() -> Root {
    let mut root = Root::default();
    root.set_path(PathBuf::from("rootfs"))
        .set_readonly(Some(true));
    root
}

fn example_process() -> Process {
    let caps: oci_spec::runtime::Capabilities = CAPABILITIES.into_iter().collect();
    let mut capabilities = LinuxCapabilities::default();
    capabilities
        .set_bounding(Some(caps.clone()))
        .set_effective(Some(caps.clone()))
        .set_permitted(Some(caps))
        .set_inheritable(None)
        .set_ambient(None);
    let nofile = PosixRlimitBuilder::default()
        .typ(PosixRlimitType::RlimitNofile)
        .hard(1024_u64)
        .soft(1024_u64)
        .build()
        .expect("every PosixRlimit field has a value");
    let mut process = Process::default();
    process
        .set_terminal(Some(true))
        .set_user(User::default())
        .set_args(Some(vec!["sh".to_owned()]))
        .set_env(Some(vec![PATH_ENV.to_owned(), "TERM=xterm".to_owned()]))
        .set_cwd(PathBuf::from("/"))
        .set_capabilities(Some(capabilities))
        .set_rlimits(Some(vec![nofile]))
        .set_no_new_privileges(Some(true));
    process
}

fn mount(destination: &str, typ: &str, source: &str, options: &[&str]) -> Mount {
    let mut m = Mount::default();
    m.set_destination(PathBuf::from(destination))
        .set_typ(Some(typ.to_owned()))
        .set_source(Some(PathBuf::from(source)))
        .set_options(
            (!options.is_empty()).then(|| options.iter().map(|o| (*o).to_owned()).collect()),
        );
    m
}

fn example_mounts() -> Vec<Mount> {
    vec![
        mount("/proc", "proc", "proc", &[]),
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        ),
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        ),
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        ),
        mount(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", "ro"],
        ),
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["nosuid", "noexec", "nodev", "relatime", "ro"],
        ),
    ]
}

fn namespace(typ: LinuxNamespaceType) -> LinuxNamespace {
    let mut ns = LinuxNamespace::default();
    ns.set_typ(typ).set_path(None);
    ns
}

fn example_linux(cgroup_ns: bool) -> oci_spec::runtime::Linux {
    let mut kinds = vec![
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::Network,
        LinuxNamespaceType::Ipc,
        LinuxNamespaceType::Uts,
        LinuxNamespaceType::Mount,
    ];
    if cgroup_ns {
        kinds.push(LinuxNamespaceType::Cgroup);
    }
    let mut deny_all = LinuxDeviceCgroup::default();
    deny_all
        .set_allow(false)
        .set_typ(None)
        .set_major(None)
        .set_minor(None)
        .set_access(Some("rwm".to_owned()));
    let mut resources = LinuxResources::default();
    resources.set_devices(Some(vec![deny_all]));
    let mut linux = oci_spec::runtime::Linux::default();
    linux
        .set_masked_paths(Some(strings(&MASKED_PATHS)))
        .set_readonly_paths(Some(strings(&READONLY_PATHS)))
        .set_resources(Some(resources))
        .set_namespaces(Some(kinds.into_iter().map(namespace).collect()));
    linux
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn id_map(host_id: u32) -> LinuxIdMapping {
    LinuxIdMappingBuilder::default()
        .host_id(host_id)
        .container_id(0_u32)
        .size(1_u32)
        .build()
        .expect("every LinuxIdMapping field has a value")
}

/// runc's rootless mount fix-up: `/sys` becomes a read-only rbind of the host's `/sys`; every other
/// mount loses its `uid=` and `gid=` options.
fn rootless_mount(m: &mut Mount) {
    if m.destination()
        .components()
        .eq(Path::new("/sys").components())
    {
        *m = mount(
            "/sys",
            "none",
            "/sys",
            &["rbind", "nosuid", "noexec", "nodev", "ro"],
        );
        return;
    }
    if let Some(options) = m.options().clone() {
        let kept: Vec<String> = options
            .into_iter()
            .filter(|o| !o.starts_with("uid=") && !o.starts_with("gid="))
            .collect();
        m.set_options(Some(kept));
    }
}
