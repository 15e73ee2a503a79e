//! `cove features`: what this runtime supports, in the OCI `features.json` format
//! (runtime-spec `features.md`, as `runc features` prints it).
//!
//! Every list says what cove itself implements: the hooks of the OCI lifecycle, the mount flags
//! `cove-rootfs` parses, the namespaces `cove-ns` creates, the capabilities the `caps` crate
//! knows, and the seccomp actions, operators, flags and architectures `cove-seccomp` compiles.
//!
//! ```
//! let f = cove_oci::features::features();
//! assert_eq!(f.oci_version_min(), "1.0.0");
//! assert!(f.hooks().as_ref().unwrap().iter().any(|h| h == "createRuntime"));
//! ```

use std::collections::HashMap;

use oci_spec::runtime::{
    Apparmor, Arch, Cgroup, Features, IDMap, IntelRdt, LinuxFeature, LinuxNamespaceType,
    LinuxSeccompAction, MountExtensions, Seccomp, Selinux,
};

/// The oldest OCI runtime-spec version cove reads.
pub const OCI_VERSION_MIN: &str = "1.0.0";

/// The newest OCI runtime-spec version cove reads (and the version `cove spec` writes).
pub const OCI_VERSION_MAX: &str = "1.3.0";

/// The hooks cove runs, in lifecycle order.
pub const HOOKS: [&str; 6] = [
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

/// The mount options (flags, not file-system data) cove-rootfs accepts, sorted.
pub const MOUNT_OPTIONS: [&str; 46] = [
    "async",
    "bind",
    "defaults",
    "dev",
    "diratime",
    "dirsync",
    "exec",
    "idmap",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "nosuid",
    "private",
    "ratime",
    "rbind",
    "rdev",
    "rdiratime",
    "relatime",
    "rexec",
    "rnoatime",
    "rnodev",
    "rnodiratime",
    "rnoexec",
    "rnorelatime",
    "rnostrictatime",
    "rnosuid",
    "rnosymfollow",
    "ro",
    "rprivate",
    "rrelatime",
    "rro",
    "rrw",
    "rshared",
    "rslave",
    "rstrictatime",
    "rsuid",
    "rsymfollow",
    "runbindable",
    "rw",
    "shared",
    "slave",
    "strictatime",
    "suid",
    "sync",
    "unbindable",
];

/// The namespaces cove can create or join.
pub const NAMESPACES: [LinuxNamespaceType; 8] = [
    LinuxNamespaceType::Cgroup,
    LinuxNamespaceType::Ipc,
    LinuxNamespaceType::Mount,
    LinuxNamespaceType::Network,
    LinuxNamespaceType::Pid,
    LinuxNamespaceType::Time,
    LinuxNamespaceType::User,
    LinuxNamespaceType::Uts,
];

/// The seccomp actions cove-seccomp compiles.
pub const SECCOMP_ACTIONS: [LinuxSeccompAction; 9] = [
    LinuxSeccompAction::ScmpActAllow,
    LinuxSeccompAction::ScmpActErrno,
    LinuxSeccompAction::ScmpActKill,
    LinuxSeccompAction::ScmpActKillProcess,
    LinuxSeccompAction::ScmpActKillThread,
    LinuxSeccompAction::ScmpActLog,
    LinuxSeccompAction::ScmpActNotify,
    LinuxSeccompAction::ScmpActTrace,
    LinuxSeccompAction::ScmpActTrap,
];

/// The seccomp argument operators cove-seccomp compiles.
pub const SECCOMP_OPERATORS: [&str; 7] = [
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_LE",
    "SCMP_CMP_LT",
    "SCMP_CMP_MASKED_EQ",
    "SCMP_CMP_NE",
];

/// The seccomp filter flags cove-seccomp passes to the kernel.
pub const SECCOMP_FLAGS: [&str; 4] = [
    "SECCOMP_FILTER_FLAG_LOG",
    "SECCOMP_FILTER_FLAG_NEW_LISTENER",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_TSYNC",
];

/// The annotation with cove's version.
pub const VERSION_ANNOTATION: &str = "io.github.cove.version";

/// The seccomp architectures cove-seccomp filters on this build: the native one, plus i386 as
/// the compat ABI of x86_64.
pub fn seccomp_archs() -> Vec<Arch> {
    if cfg!(target_arch = "x86_64") {
        vec![Arch::ScmpArchX86_64, Arch::ScmpArchX86]
    } else if cfg!(target_arch = "aarch64") {
        vec![Arch::ScmpArchAarch64]
    } else {
        Vec::new()
    }
}

/// Every capability the `caps` crate knows, by number (`CAP_CHOWN` first).
pub fn capabilities() -> Vec<String> {
    let mut all: Vec<caps::Capability> = caps::all().into_iter().collect();
    all.sort_by_key(|c| c.index());
    all.iter().map(ToString::to_string).collect()
}

/// cove's features.
pub fn features() -> Features {
    let mut f = Features::default();
    f.set_oci_version_min(OCI_VERSION_MIN.to_owned())
        .set_oci_version_max(OCI_VERSION_MAX.to_owned())
        .set_hooks(Some(strings(&HOOKS)))
        .set_mount_options(Some(strings(&MOUNT_OPTIONS)))
        .set_linux(Some(linux_features()))
        .set_annotations(Some(annotations()));
    f
}

/// [`features`] as pretty-printed JSON (2-space indent, keys sorted, unknown fields left out).
pub fn features_json() -> String {
    let mut value = serde_json::to_value(features()).expect("Features always serializes");
    strip_nulls(&mut value);
    serde_json::to_string_pretty(&value).expect("a JSON value always serializes")
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn linux_features() -> LinuxFeature {
    let mut cgroup = Cgroup::default();
    cgroup
        .set_v1(Some(true))
        .set_v2(Some(true))
        .set_systemd(Some(false))
        .set_systemd_user(Some(false))
        .set_rdma(Some(false));
    let mut linux = LinuxFeature::default();
    linux
        .set_namespaces(Some(NAMESPACES.to_vec()))
        .set_capabilities(Some(capabilities()))
        .set_cgroup(Some(cgroup))
        .set_seccomp(Some(seccomp_features()))
        .set_apparmor(Some(disabled(Apparmor::default(), Apparmor::set_enabled)))
        .set_selinux(Some(disabled(Selinux::default(), Selinux::set_enabled)))
        .set_intel_rdt(Some(disabled(IntelRdt::default(), IntelRdt::set_enabled)))
        .set_mount_extensions(Some(mount_extensions()));
    linux
}

fn disabled<T>(mut feature: T, set_enabled: fn(&mut T, Option<bool>) -> &mut T) -> T {
    set_enabled(&mut feature, Some(false));
    feature
}

fn seccomp_features() -> Seccomp {
    let mut seccomp = Seccomp::default();
    seccomp
        .set_enabled(Some(true))
        .set_actions(Some(SECCOMP_ACTIONS.to_vec()))
        .set_operators(Some(strings(&SECCOMP_OPERATORS)))
        .set_archs(Some(seccomp_archs()))
        .set_known_flags(Some(strings(&SECCOMP_FLAGS)));
    seccomp
}

fn mount_extensions() -> MountExtensions {
    let mut idmap = IDMap::default();
    idmap.set_enabled(Some(true));
    let mut ext = MountExtensions::default();
    ext.set_idmap(Some(idmap));
    ext
}

fn annotations() -> HashMap<String, String> {
    HashMap::from([
        (
            VERSION_ANNOTATION.to_owned(),
            env!("CARGO_PKG_VERSION").to_owned(),
        ),
        (
            "io.github.cove.seccomp".to_owned(),
            "cove-seccomp (built-in BPF compiler, no libseccomp)".to_owned(),
        ),
        (
            "io.github.cove.checkpoint.enabled".to_owned(),
            "false".to_owned(),
        ),
    ])
}

/// Removes `null` members: in `features.json` an absent field means "unknown".
fn strip_nulls(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(strip_nulls);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}
