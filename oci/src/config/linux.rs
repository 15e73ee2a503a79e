//! `linux` → namespaces and id maps, root file system options (propagation, masked and read-only
//! paths, device nodes, sysctls), the cgroup path; and the `linux` fields cove refuses.

use std::path::{Path, PathBuf};

use cove_ns::{IdMap, Namespace, TimeOffset};
use cove_rootfs::{DeviceKind, DeviceNode, Propagation};
use oci_spec::runtime::{Linux, LinuxDevice, LinuxDeviceType, LinuxIdMapping, LinuxNamespaceType};

use crate::error::{ConfigError, Result};
use cove_container::plan::{inside_path, NamespacePlan, RootfsOptions};

/// `linux` fields cove does not implement.
pub(super) fn refuse_unsupported(l: &Linux) -> Result<()> {
    let non_empty = |s: &Option<String>| s.as_ref().is_some_and(|s| !s.is_empty());
    let refused: [(&str, bool, &str); 5] = [
        ("linux.intelRdt", l.intel_rdt().is_some(), ""),
        (
            "linux.personality.flags",
            l.personality()
                .as_ref()
                .is_some_and(|p| p.flags().as_ref().is_some_and(|f| !f.is_empty())),
            "the runtime spec defines no personality flags; give only linux.personality.domain",
        ),
        ("linux.memoryPolicy", l.memory_policy().is_some(), ""),
        (
            "linux.netDevices",
            l.net_devices().as_ref().is_some_and(|d| !d.is_empty()),
            "move network devices into the namespace before `cove start`",
        ),
        (
            "linux.mountLabel",
            non_empty(l.mount_label()),
            "SELinux labels are not applied by cove",
        ),
    ];
    match refused.into_iter().find(|(_, set, _)| *set) {
        Some((field, _, reason)) => Err(ConfigError::unsupported(field, reason)),
        None => Ok(()),
    }
}

/// `linux.namespaces` (type → new, `path` → join) with `linux.uidMappings`/`gidMappings`.
pub(super) fn namespaces(l: &Linux, euid: u32) -> Result<NamespacePlan> {
    let rootless = euid != 0;
    let mut plan = NamespacePlan::default();
    for (i, ns) in l.namespaces().iter().flatten().enumerate() {
        let field = format!("linux.namespaces[{i}]");
        let kind = namespace_kind(ns.typ());
        if plan.is_new(kind) || plan.join.iter().any(|(k, _)| *k == kind) {
            return Err(ConfigError::invalid(
                format!("{field}.type"),
                format!("the {kind} namespace is listed twice"),
            ));
        }
        match ns.path() {
            None => plan.new.push(kind),
            Some(p) if p.as_os_str().is_empty() => plan.new.push(kind),
            Some(p) => plan.join.push((kind, join_path(&field, p)?)),
        }
    }
    if !plan.is_new(Namespace::Mount) {
        return Err(ConfigError::invalid(
            "linux.namespaces",
            "cove needs a new mount namespace (add {\"type\": \"mount\"} without a path)",
        ));
    }
    let in_user_ns =
        plan.is_new(Namespace::User) || plan.join.iter().any(|(k, _)| *k == Namespace::User);
    if rootless && !in_user_ns {
        return Err(ConfigError::invalid(
            "linux.namespaces",
            "running as a non-root user needs a user namespace (add {\"type\": \"user\"})",
        ));
    }
    id_maps(l, &mut plan, euid)?;
    plan.time_offsets = time_offsets(l, &plan)?;
    Ok(plan)
}

/// `linux.timeOffsets` (`monotonic`, `boottime`): offsets of a new time namespace.
fn time_offsets(l: &Linux, plan: &NamespacePlan) -> Result<Option<(TimeOffset, TimeOffset)>> {
    let Some(offsets) = l.time_offsets().as_ref().filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if !plan.is_new(Namespace::Time) {
        return Err(ConfigError::invalid(
            "linux.timeOffsets",
            "offsets need a new time namespace (add {\"type\": \"time\"} without a path)",
        ));
    }
    let mut clocks = (TimeOffset::default(), TimeOffset::default());
    for (clock, offset) in offsets {
        let field = format!("linux.timeOffsets.{clock}");
        let nanos = offset.nanosecs().unwrap_or(0);
        if nanos >= 1_000_000_000 {
            return Err(ConfigError::invalid(
                format!("{field}.nanosecs"),
                "must be below 1000000000",
            ));
        }
        let value = TimeOffset {
            secs: offset.secs().unwrap_or(0),
            nanos,
        };
        match clock.as_str() {
            "monotonic" => clocks.0 = value,
            "boottime" => clocks.1 = value,
            _ => {
                return Err(ConfigError::invalid(
                    field,
                    "the clocks are monotonic and boottime",
                ))
            }
        }
    }
    Ok(Some(clocks))
}

fn namespace_kind(t: LinuxNamespaceType) -> Namespace {
    match t {
        LinuxNamespaceType::Mount => Namespace::Mount,
        LinuxNamespaceType::Cgroup => Namespace::Cgroup,
        LinuxNamespaceType::Uts => Namespace::Uts,
        LinuxNamespaceType::Ipc => Namespace::Ipc,
        LinuxNamespaceType::User => Namespace::User,
        LinuxNamespaceType::Pid => Namespace::Pid,
        LinuxNamespaceType::Network => Namespace::Net,
        LinuxNamespaceType::Time => Namespace::Time,
    }
}

/// A namespace file to join: absolute and existing.
fn join_path(field: &str, p: &Path) -> Result<PathBuf> {
    if !p.is_absolute() {
        return Err(ConfigError::invalid(
            format!("{field}.path"),
            format!("{} is not an absolute path", p.display()),
        ));
    }
    if p.symlink_metadata().is_err() {
        return Err(ConfigError::invalid(
            format!("{field}.path"),
            format!("namespace file {} does not exist", p.display()),
        ));
    }
    Ok(p.to_path_buf())
}

/// The uid/gid maps of a new user namespace; as a non-root caller anything beyond its own ids is
/// written with `newuidmap`/`newgidmap`.
fn id_maps(l: &Linux, plan: &mut NamespacePlan, euid: u32) -> Result<()> {
    let to_maps = |v: &Option<Vec<LinuxIdMapping>>| -> Vec<IdMap> {
        v.iter()
            .flatten()
            .map(|m| IdMap::new(m.container_id(), m.host_id(), m.size()))
            .collect()
    };
    let (uid_map, gid_map) = (to_maps(l.uid_mappings()), to_maps(l.gid_mappings()));
    if uid_map.is_empty() && gid_map.is_empty() {
        return Ok(());
    }
    if !plan.is_new(Namespace::User) {
        return Err(ConfigError::invalid(
            "linux.uidMappings",
            "id mappings need a new user namespace ({\"type\": \"user\"} without a path)",
        ));
    }
    for (field, map) in [
        ("linux.uidMappings", &uid_map),
        ("linux.gidMappings", &gid_map),
    ] {
        if map.is_empty() {
            return Err(ConfigError::invalid(
                field,
                "give both uidMappings and gidMappings",
            ));
        }
        cove_ns::validate_id_maps(map).map_err(|p| ConfigError::invalid(field, p.to_string()))?;
    }
    let own = |map: &[IdMap], id: u32| map.len() == 1 && map[0].outside == id && map[0].count == 1;
    let egid = nix::unistd::getegid().as_raw();
    plan.id_map_helpers = euid != 0 && !(own(&uid_map, euid) && own(&gid_map, egid));
    plan.uid_map = uid_map;
    plan.gid_map = gid_map;
    Ok(())
}

/// Propagation, masked and read-only paths (absent: none), device nodes and sysctls.
pub(super) fn rootfs_options(l: &Linux, ns: &NamespacePlan) -> Result<RootfsOptions> {
    Ok(RootfsOptions {
        propagation: propagation(l.rootfs_propagation().as_deref())?,
        masked_paths: paths("linux.maskedPaths", l.masked_paths())?,
        readonly_paths: paths("linux.readonlyPaths", l.readonly_paths())?,
        devices: l
            .devices()
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, d)| device_node(i, d))
            .collect::<Result<_>>()?,
        sysctl: sysctls(l, ns)?,
    })
}

/// `linux.rootfsPropagation`; unset is `rslave`, runc's default. `shared`/`rshared` and
/// `unbindable`/`runbindable` apply to the new root after pivot_root (runc's order); before, `/`
/// is made recursively private, so the container's mounts never propagate to the host.
fn propagation(value: Option<&str>) -> Result<Propagation> {
    match value.unwrap_or("") {
        "" | "slave" | "rslave" => Ok(Propagation::Slave),
        "private" | "rprivate" => Ok(Propagation::Private),
        "shared" => Ok(Propagation::Shared { recursive: false }),
        "rshared" => Ok(Propagation::Shared { recursive: true }),
        "unbindable" => Ok(Propagation::Unbindable { recursive: false }),
        "runbindable" => Ok(Propagation::Unbindable { recursive: true }),
        other => Err(ConfigError::invalid(
            "linux.rootfsPropagation",
            format!(
                "unknown propagation `{other}` (private, rprivate, slave, rslave, shared, \
                 rshared, unbindable or runbindable)"
            ),
        )),
    }
}

/// `p` from the container's `/` when it is relative.
fn rooted(p: &str) -> String {
    match p.starts_with('/') {
        true => p.to_string(),
        false => format!("/{p}"),
    }
}

/// Paths inside the container, not `/`. A relative entry is taken from the container's `/` as runc joins it to
/// the root (`readonly_relpath` is `/readonly_relpath`); one that climbs out with `..` is refused.
fn paths(field: &str, list: &Option<Vec<String>>) -> Result<Vec<PathBuf>> {
    list.iter()
        .flatten()
        .enumerate()
        .map(|(i, p)| match inside_path(&rooted(p)) {
            Ok(path) if path != Path::new("/") => Ok(path),
            Ok(_) => Err(ConfigError::invalid(
                format!("{field}[{i}]"),
                "cannot be the container's `/`",
            )),
            Err(m) => Err(ConfigError::invalid(format!("{field}[{i}]"), m)),
        })
        .collect()
}

/// One `linux.devices` entry.
fn device_node(index: usize, d: &LinuxDevice) -> Result<DeviceNode> {
    let field = |part: &str| format!("linux.devices[{index}].{part}");
    let kind = match d.typ() {
        LinuxDeviceType::C | LinuxDeviceType::U => DeviceKind::Char,
        LinuxDeviceType::B => DeviceKind::Block,
        LinuxDeviceType::P => DeviceKind::Fifo,
        LinuxDeviceType::A => {
            return Err(ConfigError::invalid(
                field("type"),
                "a device node is c, u, b or p (`a` is only for cgroup rules)",
            ))
        }
    };
    let path = inside_path(&d.path().to_string_lossy())
        .map_err(|m| ConfigError::invalid(field("path"), m))?;
    if path == Path::new("/") {
        return Err(ConfigError::invalid(field("path"), "cannot be `/`"));
    }
    let number = |part: &str, n: i64| {
        u64::try_from(n)
            .map_err(|_| ConfigError::invalid(field(part), format!("{n} is not a device number")))
    };
    let mode = d.file_mode().unwrap_or(0o666);
    if mode & !0o7777 != 0 {
        return Err(ConfigError::invalid(
            field("fileMode"),
            format!("{mode:#o} has bits beyond the permission bits (0o7777)"),
        ));
    }
    Ok(DeviceNode {
        path,
        kind,
        major: number("major", d.major())?,
        minor: number("minor", d.minor())?,
        mode,
        uid: d.uid().unwrap_or(0),
        gid: d.gid().unwrap_or(0),
    })
}

/// Prefixes of the sysctls that belong to the IPC namespace (`kernel.msg*`, `kernel.sem*`,
/// `kernel.shm*`, `fs.mqueue.*`).
const IPC_SYSCTL_PREFIXES: [&str; 4] = ["kernel.msg", "kernel.sem", "kernel.shm", "fs.mqueue."];

/// `linux.sysctl`: only keys of a namespace the container does not share with the host, sorted.
fn sysctls(l: &Linux, ns: &NamespacePlan) -> Result<Vec<(String, String)>> {
    let joined = |k: Namespace| ns.join.iter().any(|(j, _)| *j == k);
    let mut out: Vec<(String, String)> = Vec::new();
    // Sorted, so the first problem reported does not depend on the map's order.
    let sorted: std::collections::BTreeMap<&String, &String> =
        l.sysctl().iter().flatten().collect();
    for (key, value) in sorted {
        let field = format!("linux.sysctl.{key}");
        let needs = if IPC_SYSCTL_PREFIXES.iter().any(|p| key.starts_with(p)) {
            Namespace::Ipc
        } else if key.starts_with("net.") {
            Namespace::Net
        } else if key == "kernel.hostname" || key == "kernel.domainname" {
            Namespace::Uts
        } else {
            return Err(ConfigError::unsupported(
                field,
                "not a namespaced sysctl: it would change the host",
            ));
        };
        if !ns.is_new(needs) && !joined(needs) {
            return Err(ConfigError::invalid(
                field,
                format!("needs the container's own {needs} namespace"),
            ));
        }
        if key.contains('/') || key.split('.').any(str::is_empty) {
            return Err(ConfigError::invalid(
                field,
                "not a sysctl name (use the dotted form, e.g. net.ipv4.ip_forward)",
            ));
        }
        out.push((key.clone(), value.clone()));
    }
    Ok(out)
}

/// `linux.cgroupsPath` → the cgroup path relative to each hierarchy's root.
///
/// - `/a/b` or `a/b` → `a/b`;
/// - systemd's `slice:prefix:name` → the cgroupfs path systemd uses:
///   `machine.slice:libpod:<id>` → `machine.slice/libpod-<id>.scope`, with dashed slices
///   expanded (`a-b.slice` → `a.slice/a-b.slice`), an empty slice meaning `system.slice`, and a
///   `name` ending in `.slice` naming a slice itself.
pub fn cgroup_path(value: &Path) -> Result<String> {
    let field = "linux.cgroupsPath";
    let text = value.to_string_lossy();
    let parts: Vec<&str> = text.split(':').collect();
    let path = match parts.as_slice() {
        [plain] => plain.trim_matches('/').to_string(),
        [slice, prefix, name] if !text.starts_with('/') => systemd_path(slice, prefix, name)?,
        _ => {
            return Err(ConfigError::invalid(
                field,
                format!("`{text}` is neither a path nor slice:prefix:name"),
            ))
        }
    };
    let bad = path
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..");
    if path.is_empty() || bad {
        return Err(ConfigError::invalid(
            field,
            format!("`{text}` is not a cgroup path below the hierarchy's root"),
        ));
    }
    Ok(path)
}

/// `slice:prefix:name` → `<expanded slice>/<prefix>-<name>.scope`.
fn systemd_path(slice: &str, prefix: &str, name: &str) -> Result<String> {
    let field = "linux.cgroupsPath";
    let slice = if slice.is_empty() {
        "system.slice"
    } else {
        slice
    };
    let expanded = expand_slice(slice).ok_or_else(|| {
        ConfigError::invalid(field, format!("`{slice}` is not a systemd slice name"))
    })?;
    if name.is_empty() || name.contains('/') {
        return Err(ConfigError::invalid(
            field,
            format!("`{name}` is not a unit name"),
        ));
    }
    let unit = if name.ends_with(".slice") {
        // A slice named directly: its own path, below the parent slice.
        return expand_slice(name)
            .ok_or_else(|| ConfigError::invalid(field, format!("`{name}` is not a slice name")));
    } else if prefix.is_empty() {
        format!("{name}.scope")
    } else {
        format!("{prefix}-{name}.scope")
    };
    Ok(if expanded.is_empty() {
        unit
    } else {
        format!("{expanded}/{unit}")
    })
}

/// `a-b-c.slice` → `a.slice/a-b.slice/a-b-c.slice`; `-.slice` (the root slice) → ``.
fn expand_slice(slice: &str) -> Option<String> {
    let base = slice.strip_suffix(".slice")?;
    if base == "-" {
        return Some(String::new());
    }
    if base.is_empty()
        || base.contains('/')
        || base.starts_with('-')
        || base.ends_with('-')
        || base.contains("--")
    {
        return None;
    }
    let mut out = Vec::new();
    let mut prefix = String::new();
    for part in base.split('-') {
        if !prefix.is_empty() {
            prefix.push('-');
        }
        prefix.push_str(part);
        out.push(format!("{prefix}.slice"));
    }
    Some(out.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_paths() {
        let p = |s: &str| cgroup_path(Path::new(s)).map_err(|e| e.to_string());
        assert_eq!(p("/a/b").unwrap(), "a/b");
        assert_eq!(p("a/b").unwrap(), "a/b");
        assert_eq!(
            p("/libpod_parent/libpod-abc").unwrap(),
            "libpod_parent/libpod-abc"
        );
        assert_eq!(
            p("machine.slice:libpod:abc").unwrap(),
            "machine.slice/libpod-abc.scope"
        );
        assert_eq!(
            p("user-1000.slice:podman:x").unwrap(),
            "user.slice/user-1000.slice/podman-x.scope"
        );
        assert_eq!(p(":cri:x").unwrap(), "system.slice/cri-x.scope");
        assert_eq!(p("-.slice::x").unwrap(), "x.scope");
        assert_eq!(p("a-b.slice::c-d.slice").unwrap(), "c.slice/c-d.slice");
        for bad in ["/", "/a/../b", "machine:libpod:x", "a:b", "a.slice:p:"] {
            assert!(p(bad).is_err(), "{bad}");
        }
    }
}
