//! `mounts` → [`MountSpec`]s: bind mounts (type `bind`, or options `bind`/`rbind`), `proc`,
//! `sysfs`, `tmpfs`, `devpts`, `mqueue`, `overlay`, `cgroup2`, and `cgroup` expanded for the
//! host's layout ([`cgroup_mounts`]); then the whole mount plan is validated with
//! [`MountPlan::build`](cove_rootfs::MountPlan::build).

use std::path::{Path, PathBuf};

use cove_cgroup::{Layout, LayoutKind};
use cove_ns::IdMap;
use cove_rootfs::{MountKind, MountSpec, PlanError};
use oci_spec::runtime::{LinuxIdMapping, Mount};

use crate::error::{ConfigError, Result};
use cove_container::plan::inside_path;

/// Where engines mount the cgroup file system.
pub const CGROUP_MOUNT: &str = "/sys/fs/cgroup";

/// What the lowering of `mounts` needs to know about the rest of the configuration.
pub(super) struct MountContext<'a> {
    /// The bundle directory (relative bind sources are relative to it).
    pub bundle: &'a Path,
    /// The container's uid map (for `mounts[i].uidMappings`).
    pub uid_map: &'a [IdMap],
    /// The container's gid map.
    pub gid_map: &'a [IdMap],
    /// The container's cgroup path (for `cgroup` mounts without a cgroup namespace).
    pub cgroup_path: &'a str,
    /// The container has a new cgroup namespace.
    pub new_cgroupns: bool,
    /// The caller is not root: cove creates no cgroup for the container.
    pub rootless: bool,
}

/// The lowered mounts, and for each the index of the `mounts` entry it comes from.
pub(super) struct Lowered {
    /// The mounts, in order.
    pub mounts: Vec<MountSpec>,
    /// `origin[i]`: index in the configuration's `mounts` of `mounts[i]`.
    pub origin: Vec<usize>,
    /// Paths to make read-only after the mounts (a read-only `cgroup` mount on a v1 host, whose
    /// tmpfs must stay writable until the hierarchies are mounted in it).
    pub readonly_paths: Vec<PathBuf>,
}

/// Lowers every entry of `mounts`. The host's cgroup layout is detected only when there is a
/// `cgroup` mount.
pub(super) fn lower_mounts(list: &[Mount], ctx: &MountContext) -> Result<Lowered> {
    let mut out = Lowered {
        mounts: Vec::new(),
        origin: Vec::new(),
        readonly_paths: Vec::new(),
    };
    let mut layout: Option<Layout> = None;
    for (i, m) in list.iter().enumerate() {
        let field = format!("mounts[{i}]");
        let destination = destination(&field, m.destination())?;
        let options = m.options().clone().unwrap_or_default();
        let specs = match m.typ().as_deref().unwrap_or("") {
            "cgroup" if !is_bind(m, &options) && ctx.rootless => {
                // No cgroup of its own to show: the host's tree, read-only as given (podman's
                // rootless mount). A fresh cgroup2 mount is refused here even in a new cgroup
                // namespace (EBUSY: the namespace's root is the caller's cgroup, not the container's).
                vec![bind_of(PathBuf::from(CGROUP_MOUNT), destination, &options)]
            }
            "cgroup" if !is_bind(m, &options) => {
                let layout = detect_layout(&mut layout, &field)?;
                let specs = cgroup_mounts(layout, ctx.cgroup_path, ctx.new_cgroupns, &options);
                if layout.kind() != LayoutKind::Unified && options.iter().any(|o| o == "ro") {
                    out.readonly_paths.push(destination.clone());
                }
                rebase(specs, &destination)
            }
            "cgroup2" if !is_bind(m, &options) => {
                let layout = detect_layout(&mut layout, &field)?;
                vec![cgroup2_mount(layout, ctx, &field, destination, &options)?]
            }
            _ => vec![one_mount(&field, m, destination, options, ctx)?],
        };
        out.origin.extend(std::iter::repeat_n(i, specs.len()));
        out.mounts.extend(specs);
    }
    Ok(out)
}

/// The host's cgroup layout, detected on first use.
fn detect_layout<'a>(cache: &'a mut Option<Layout>, field: &str) -> Result<&'a Layout> {
    if cache.is_none() {
        let layout =
            cove_container::cgroups::host_layout().map_err(|source| ConfigError::CgroupLayout {
                file: PathBuf::new(),
                field: field.to_string(),
                source,
            })?;
        *cache = Some(layout);
    }
    Ok(cache.as_ref().expect("set above"))
}

/// A `cgroup2` mount: the container's cgroup2 hierarchy (a `cgroup2` mount in a new cgroup
/// namespace, else a bind of the host's `<cgroup2 mount>/<cgroup_path>`).
fn cgroup2_mount(
    layout: &Layout,
    ctx: &MountContext,
    field: &str,
    target: PathBuf,
    options: &[String],
) -> Result<MountSpec> {
    if ctx.new_cgroupns {
        return Ok(MountSpec {
            kind: MountKind::Cgroup2,
            source: Some(PathBuf::from("cgroup2")),
            target,
            options: options.to_vec(),
        });
    }
    let Some(unified) = layout.unified_root() else {
        return Err(ConfigError::invalid(
            format!("{field}.type"),
            "the host has no cgroup2 hierarchy",
        ));
    };
    let source = unified.join(ctx.cgroup_path.trim_start_matches('/'));
    Ok(bind_of(source, target, options))
}

/// The destination: absolute inside the container, not `/`.
fn destination(field: &str, d: &Path) -> Result<PathBuf> {
    let text = d.to_string_lossy();
    match inside_path(&text) {
        Ok(p) if p == Path::new("/") => Err(ConfigError::invalid(
            format!("{field}.destination"),
            "cannot mount over the container's root (use root.path)",
        )),
        Ok(p) => Ok(p),
        Err(m) => Err(ConfigError::invalid(format!("{field}.destination"), m)),
    }
}

/// runc's rule: type `bind`, or the option `bind`/`rbind` whatever the type.
fn is_bind(m: &Mount, options: &[String]) -> bool {
    m.typ().as_deref() == Some("bind") || options.iter().any(|o| o == "bind" || o == "rbind")
}

/// One mount that is not a `cgroup` mount.
fn one_mount(
    field: &str,
    m: &Mount,
    target: PathBuf,
    mut options: Vec<String>,
    ctx: &MountContext,
) -> Result<MountSpec> {
    let kind = if is_bind(m, &options) {
        MountKind::Bind
    } else {
        let typ = m.typ().clone().unwrap_or_default();
        match typ.as_str() {
            "tmpfs" | "proc" | "sysfs" | "devpts" | "mqueue" | "overlay" => {
                typ.parse().expect("a kind cove-rootfs knows")
            }
            "" => {
                return Err(ConfigError::invalid(
                    format!("{field}.type"),
                    "missing (give a file system type, or `bind` with the option rbind)",
                ))
            }
            other => {
                return Err(ConfigError::unsupported(
                    format!("{field}.type"),
                    format!(
                        "`{other}` mounts are not implemented (bind, tmpfs, proc, sysfs, devpts, \
                         mqueue, overlay, cgroup and cgroup2 are)"
                    ),
                ))
            }
        }
    };
    if m.uid_mappings().is_some() || m.gid_mappings().is_some() {
        idmapped(field, m, kind, &mut options, ctx)?;
    }
    let source = match kind {
        MountKind::Bind => Some(bind_source(field, m.source().as_deref(), ctx.bundle)?),
        _ => m.source().clone().filter(|s| !s.as_os_str().is_empty()),
    };
    Ok(MountSpec {
        kind,
        source,
        target,
        options,
    })
}

/// A bind source: relative to the bundle when not absolute (as runc), and existing.
fn bind_source(field: &str, source: Option<&Path>, bundle: &Path) -> Result<PathBuf> {
    let Some(source) = source.filter(|s| !s.as_os_str().is_empty()) else {
        return Err(ConfigError::invalid(
            format!("{field}.source"),
            "a bind mount needs a source",
        ));
    };
    let path = bundle.join(source);
    if path.symlink_metadata().is_err() {
        return Err(ConfigError::invalid(
            format!("{field}.source"),
            format!("bind source {} does not exist", path.display()),
        ));
    }
    Ok(path)
}

/// `uidMappings`/`gidMappings` of a mount: cove idmaps bind mounts through the container's
/// user namespace (the `idmap` option), so they must be the container's own maps.
fn idmapped(
    field: &str,
    m: &Mount,
    kind: MountKind,
    options: &mut Vec<String>,
    ctx: &MountContext,
) -> Result<()> {
    let key = format!("{field}.uidMappings");
    if kind != MountKind::Bind {
        return Err(ConfigError::unsupported(
            key,
            "only bind mounts can be idmapped",
        ));
    }
    let same = |given: &Option<Vec<LinuxIdMapping>>, map: &[IdMap]| {
        let given: Vec<IdMap> = given
            .iter()
            .flatten()
            .map(|g| IdMap::new(g.container_id(), g.host_id(), g.size()))
            .collect();
        !map.is_empty() && given == map
    };
    if !same(m.uid_mappings(), ctx.uid_map) || !same(m.gid_mappings(), ctx.gid_map) {
        return Err(ConfigError::unsupported(
            key,
            "cove idmaps a mount with the container's own linux.uidMappings and gidMappings only",
        ));
    }
    if !options.iter().any(|o| o == "idmap") {
        options.push("idmap".to_string());
    }
    Ok(())
}

/// Moves mounts planned under [`CGROUP_MOUNT`] under `destination`.
fn rebase(specs: Vec<MountSpec>, destination: &Path) -> Vec<MountSpec> {
    specs
        .into_iter()
        .map(|mut s| {
            if let Ok(rest) = s.target.strip_prefix(CGROUP_MOUNT) {
                s.target = if rest.as_os_str().is_empty() {
                    destination.to_path_buf()
                } else {
                    destination.join(rest)
                };
            }
            s
        })
        .collect()
}

/// Expands the engines' `{"destination": "/sys/fs/cgroup", "type": "cgroup"}` into concrete mounts
/// for the host's cgroup `layout`, with the mount's `options` (`nosuid`, `ro`, …):
///
/// - unified host: a `cgroup2` mount at `/sys/fs/cgroup` when the container has a new cgroup
///   namespace (it then shows the container's cgroup as its root), else a bind of the host's
///   `<cgroup2 mount>/<cgroup_path>`;
/// - v1 and hybrid hosts: a tmpfs at `/sys/fs/cgroup` (writable, mode 755: the hierarchies'
///   mount points are created in it), then per controller hierarchy at
///   `/sys/fs/cgroup/<name of its mount point>` (`cpu,cpuacct`) a `cgroup` mount with the
///   controller names as options (new cgroup namespace) or a bind of
///   `<hierarchy mount>/<cgroup_path>`; on hybrid hosts the cgroup2 one at
///   `/sys/fs/cgroup/unified` the same way. Named hierarchies without controllers
///   (`name=systemd`) are not mounted: cove does not create cgroups in them.
///
/// Bind sources need not exist yet: the container's cgroup is created after loading.
///
/// ```
/// use cove_oci::config::cgroup_mounts;
/// use cove_cgroup::Layout;
/// use cove_rootfs::MountKind;
/// let ro = ["nosuid".to_string(), "ro".to_string()];
/// let m = cgroup_mounts(&Layout::unified("/sys/fs/cgroup"), "machine.slice/c.scope", false, &ro);
/// assert_eq!(m.len(), 1);
/// assert_eq!(m[0].kind, MountKind::Bind);
/// assert_eq!(m[0].source.as_deref(), Some(std::path::Path::new("/sys/fs/cgroup/machine.slice/c.scope")));
/// ```
pub fn cgroup_mounts(
    layout: &Layout,
    cgroup_path: &str,
    new_cgroupns: bool,
    options: &[String],
) -> Vec<MountSpec> {
    let root = Path::new(CGROUP_MOUNT);
    let relative = cgroup_path.trim_start_matches('/');
    let v2 = |target: PathBuf, mount: &Path| -> MountSpec {
        if new_cgroupns {
            MountSpec {
                kind: MountKind::Cgroup2,
                source: Some(PathBuf::from("cgroup2")),
                target,
                options: options.to_vec(),
            }
        } else {
            bind_of(mount.join(relative), target, options)
        }
    };
    if layout.kind() == LayoutKind::Unified {
        let mount = layout.unified_root().unwrap_or(root);
        return vec![v2(root.to_path_buf(), mount)];
    }
    let mut tmpfs_options: Vec<String> = options
        .iter()
        .filter(|o| *o != "ro" && *o != "rw")
        .cloned()
        .collect();
    tmpfs_options.push("mode=755".to_string());
    let mut out = vec![MountSpec {
        kind: MountKind::Tmpfs,
        source: Some(PathBuf::from("tmpfs")),
        target: root.to_path_buf(),
        options: tmpfs_options,
    }];
    for h in layout
        .hierarchies()
        .iter()
        .filter(|h| !h.controllers.is_empty())
    {
        let name = h.mount_point.file_name().map_or_else(
            || h.controllers.join(","),
            |n| n.to_string_lossy().into_owned(),
        );
        let target = root.join(name);
        out.push(if new_cgroupns {
            let mut opts = options.to_vec();
            opts.extend(h.controllers.iter().cloned());
            MountSpec {
                kind: MountKind::Cgroup,
                source: Some(PathBuf::from("cgroup")),
                target,
                options: opts,
            }
        } else {
            bind_of(h.mount_point.join(relative), target, options)
        });
    }
    if let Some(unified) = layout.unified_root() {
        out.push(v2(root.join("unified"), unified));
    }
    out
}

/// A recursive bind with the cgroup mount's options.
fn bind_of(source: PathBuf, target: PathBuf, options: &[String]) -> MountSpec {
    let mut opts = vec!["rbind".to_string()];
    opts.extend(options.iter().cloned());
    MountSpec {
        kind: MountKind::Bind,
        source: Some(source),
        target,
        options: opts,
    }
}

/// A mount plan error as a [`ConfigError`] naming the configuration's mount (`origin` maps plan
/// indexes to `mounts` indexes).
pub(super) fn plan_error(err: &PlanError, origin: &[usize]) -> ConfigError {
    let text = err.to_string();
    // Mount errors read "mounts[N] (target): what"; N is the plan's index.
    let parsed = text.strip_prefix("mounts[").and_then(|rest| {
        let (n, rest) = rest.split_once(']')?;
        Some((n.parse::<usize>().ok()?, rest.trim_start()))
    });
    match parsed {
        Some((n, rest)) => {
            let index = origin.get(n).copied().unwrap_or(n);
            let message = match rest.strip_prefix('(').and_then(|r| r.split_once("): ")) {
                Some((target, what)) => format!("{what} (destination {target})"),
                None => rest.to_string(),
            };
            ConfigError::invalid(format!("mounts[{index}]"), message)
        }
        None => ConfigError::invalid("mounts", text),
    }
}
