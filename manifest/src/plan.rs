//! The manifest's plan: what the TOML means, checked before anything is created, lowered into the engine's
//! [`Plan`].
//!
//! [`from_manifest`] is pure apart from looking at the file system (does the rootfs exist, is the program
//! there); every problem is a [`ManifestError`] with its place, and all problems are reported at once.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use cove_container::plan::{
    inside_path, valid_container_id, NamespacePlan, Plan, ProcessPlan, RootChoice, RootPlan,
    RootfsOptions, DEFAULT_PATH, HOST_ROOT_DIRS,
};
use cove_container::resources::to_cgroup_resources;
use cove_ns::{IdMap, Namespace};
use cove_rootfs::{MountKind, MountSpec};
use toml::Spanned;

use crate::diagnostic::{did_you_mean, Checker, ManifestError};
use crate::manifest::{
    IdMapEntry, Manifest, MountEntry, NamespaceSetting, NamespacesSection, ProcessSection,
    RootfsSection, UserMaps,
};
use crate::resources::resources_plan;
use crate::security::security_plan;

/// Validates a parsed manifest. `file` is the manifest's path (relative paths are resolved against its
/// folder), `source` its text (for error places), `euid` the caller's effective uid.
pub fn from_manifest(
    file: &Path,
    source: &str,
    m: Manifest,
    euid: u32,
) -> Result<Plan, Vec<ManifestError>> {
    let mut c = Checker {
        file,
        source,
        errors: Vec::new(),
    };
    let base = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let base = if base.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        base
    };
    let rootless = euid != 0;

    let id = container_id(&mut c, file, m.name.as_ref());
    let namespaces = namespaces_plan(&mut c, m.namespaces.as_ref(), rootless);
    let hostname = hostname_plan(&mut c, m.hostname.as_ref(), &id, &namespaces);
    let root = root_plan(&mut c, &m.rootfs, &base);
    let process = process_plan(&mut c, m.process.get_ref());
    let user_ns = namespaces.is_new(Namespace::User)
        || namespaces.join.iter().any(|(k, _)| *k == Namespace::User);
    let mounts: Vec<MountSpec> = m
        .mounts
        .iter()
        .enumerate()
        .filter_map(|(i, e)| mount_spec(&mut c, i, e, &base, user_ns))
        .collect();
    let security = security_plan(&mut c, m.security.as_ref(), &base);
    let resources = m
        .resources
        .as_ref()
        .and_then(|r| resources_plan(&mut c, r, rootless))
        .map(|r| to_cgroup_resources(&r));
    if let (Some(root), Some(process)) = (&root, &process) {
        check_program(&mut c, &m.process, root, process, &mounts);
    }
    if !namespaces.is_new(Namespace::Mount) {
        let span = m
            .namespaces
            .as_ref()
            .and_then(|n| n.get_ref().mount.as_ref())
            .map_or(0..0, Spanned::span);
        c.error(
            span,
            "namespaces.mount",
            "a container with its own root needs a new mount namespace",
        )
        .help = Some("set `mount = true` (the default)".into());
    }
    match (root, process, c.errors.is_empty()) {
        (Some(root), Some(process), true) => Ok(Plan {
            manifest: file.to_path_buf(),
            id,
            hostname,
            domainname: None,
            process,
            root,
            namespaces,
            mounts,
            resources,
            cgroup_path: None,
            rootfs: RootfsOptions::default(),
            rootless,
            security,
        }),
        _ => Err(c.errors),
    }
}

/// The container id: `name`, or the file's stem; letters, digits, `.`, `_`, `-`.
fn container_id(c: &mut Checker, file: &Path, name: Option<&Spanned<String>>) -> String {
    let (id, span) = match name {
        Some(n) => (n.get_ref().clone(), n.span()),
        None => (
            file.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
            0..0,
        ),
    };
    if !valid_container_id(&id) {
        c.error(
            span,
            "name",
            format!("`{id}` is not a valid container name"),
        )
        .help = Some("use 1–128 letters, digits, `.`, `_` or `-`, not starting with `.`".into());
    }
    id
}

/// The hostname: set only in a new UTS namespace.
fn hostname_plan(
    c: &mut Checker,
    hostname: Option<&Spanned<String>>,
    id: &str,
    ns: &NamespacePlan,
) -> Option<String> {
    let uts_new = ns.is_new(Namespace::Uts);
    let Some(h) = hostname else {
        return uts_new.then(|| id.chars().take(64).collect());
    };
    let name = h.get_ref();
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '.' | '-'));
    if !valid {
        c.error(
            h.span(),
            "hostname",
            format!("`{name}` is not a valid hostname"),
        )
        .help = Some("use 1–64 letters, digits, `.` or `-`".into());
    } else if !uts_new {
        c.error(
            h.span(),
            "hostname",
            "setting a hostname needs a new uts namespace",
        )
        .help = Some("set `[namespaces] uts = true` or remove `hostname`".into());
    }
    Some(name.clone())
}

/// Which namespaces are new, shared or joined, with the defaults filled in.
fn namespaces_plan(
    c: &mut Checker,
    section: Option<&Spanned<NamespacesSection>>,
    rootless: bool,
) -> NamespacePlan {
    let empty = NamespacesSection::default();
    let s = section.map_or(&empty, Spanned::get_ref);
    let entries = [
        (Namespace::User, &s.user, rootless),
        (Namespace::Mount, &s.mount, true),
        (Namespace::Pid, &s.pid, true),
        (Namespace::Net, &s.net, true),
        (Namespace::Ipc, &s.ipc, true),
        (Namespace::Uts, &s.uts, true),
        (Namespace::Cgroup, &s.cgroup, true),
        (Namespace::Time, &s.time, false),
    ];
    let mut plan = NamespacePlan::default();
    for (kind, setting, default) in entries {
        match setting.as_ref().map(|s| (s.get_ref(), s.span())) {
            None if default => plan.new.push(kind),
            None | Some((NamespaceSetting::New(false), _)) => {}
            Some((NamespaceSetting::New(true), _)) => plan.new.push(kind),
            Some((NamespaceSetting::Maps(maps), span)) => {
                if kind == Namespace::User {
                    user_maps(c, &mut plan, maps, span, rootless);
                    plan.new.push(kind);
                } else {
                    c.error(
                        span,
                        &format!("namespaces.{kind}"),
                        "only the user namespace takes id maps",
                    )
                    .help = Some(format!("use `{kind} = true`, `false` or a path"));
                }
            }
            Some((NamespaceSetting::Join(path), span)) => {
                let key = format!("namespaces.{kind}");
                if !path.starts_with('/') {
                    c.error(span, &key, format!("`{path}` is not an absolute path"))
                        .help = Some(format!("e.g. \"/proc/1234/ns/{}\"", kind.proc_name()));
                } else if !Path::new(path).exists() {
                    c.error(
                        span,
                        &key,
                        format!("namespace file `{path}` does not exist"),
                    );
                } else {
                    plan.join.push((kind, PathBuf::from(path)));
                }
            }
        }
    }
    if rootless
        && !plan.is_new(Namespace::User)
        && !plan.join.iter().any(|(k, _)| *k == Namespace::User)
    {
        let span = s.user.as_ref().map_or(0..0, Spanned::span);
        c.error(
            span,
            "namespaces.user",
            "running as a non-root user needs a user namespace",
        )
        .help = Some("remove `user = false` (cove then maps your uid to root inside)".into());
    }
    plan
}

/// `[namespaces.user]` maps: valid ranges; as a non-root caller anything beyond the caller's own ids goes
/// through `newuidmap`/`newgidmap`.
fn user_maps(
    c: &mut Checker,
    plan: &mut NamespacePlan,
    maps: &UserMaps,
    span: Range<usize>,
    rootless: bool,
) {
    let to_maps = |v: &[IdMapEntry]| -> Vec<IdMap> {
        v.iter()
            .map(|m| IdMap::new(m.inside, m.outside, m.count))
            .collect()
    };
    let uid_map = to_maps(&maps.uid_map);
    let gid_map = if maps.gid_map.is_empty() {
        uid_map.clone()
    } else {
        to_maps(&maps.gid_map)
    };
    for (name, map) in [("uid_map", &uid_map), ("gid_map", &gid_map)] {
        if let Err(problem) = cove_ns::validate_id_maps(map) {
            c.error(
                span.clone(),
                &format!("namespaces.user.{name}"),
                problem.to_string(),
            );
            return;
        }
    }
    let own = |map: &[IdMap], id: u32| map.len() == 1 && map[0].outside == id && map[0].count == 1;
    let (euid, egid) = (
        nix::unistd::geteuid().as_raw(),
        nix::unistd::getegid().as_raw(),
    );
    if rootless && !(own(&uid_map, euid) && own(&gid_map, egid)) {
        let helpers = ["newuidmap", "newgidmap"].map(|h| {
            ["/usr/bin", "/bin", "/usr/sbin"]
                .iter()
                .any(|d| Path::new(d).join(h).exists())
        });
        if helpers.contains(&false) {
            c.error(span.clone(), "namespaces.user", "mapping more than your own uid and gid needs newuidmap and newgidmap")
                .help = Some("install them (`apt-get install uidmap`) and give your user ranges in /etc/subuid and /etc/subgid".into());
            return;
        }
        plan.id_map_helpers = true;
    }
    plan.uid_map = uid_map;
    plan.gid_map = gid_map;
}

/// The root: a directory (relative to the manifest's folder) or a host-backed tmpfs.
fn root_plan(c: &mut Checker, section: &Spanned<RootfsSection>, base: &Path) -> Option<RootPlan> {
    let r = section.get_ref();
    let readonly = r.readonly.as_ref().is_none_or(|s| *s.get_ref());
    let host = r.host.as_ref().is_some_and(|h| *h.get_ref());
    let choice = match (&r.path, host) {
        (Some(p), true) => {
            c.error(
                p.span(),
                "rootfs.path",
                "`path` and `host = true` cannot be combined",
            )
            .help = Some("keep one of them".into());
            return None;
        }
        (None, false) => {
            c.error(section.span(), "rootfs", "no root file system given")
                .help = Some("set `path = \"DIR\"` or `host = true`".into());
            return None;
        }
        (None, true) => RootChoice::Host(
            HOST_ROOT_DIRS
                .iter()
                .map(PathBuf::from)
                .filter(|p| p.symlink_metadata().is_ok())
                .collect(),
        ),
        (Some(p), false) => {
            let dir = base.join(p.get_ref());
            match std::fs::canonicalize(&dir) {
                Ok(abs) if abs.is_dir() => RootChoice::Dir(abs),
                Ok(abs) => {
                    c.error(
                        p.span(),
                        "rootfs.path",
                        format!("`{}` is not a directory", abs.display()),
                    );
                    return None;
                }
                Err(e) => {
                    c.error(p.span(), "rootfs.path", format!("rootfs `{}` does not exist ({e})", dir.display()))
                        .help = Some("build the busybox test root with `cargo xtask rootfs`, or use `host = true`".into());
                    return None;
                }
            }
        }
    };
    Some(RootPlan { choice, readonly })
}

/// The process: args, environment, cwd and ids.
fn process_plan(c: &mut Checker, p: &ProcessSection) -> Option<ProcessPlan> {
    let args = p.args.get_ref().clone();
    if args.first().is_none_or(|a| a.is_empty()) {
        c.error(p.args.span(), "process.args", "the command is empty")
            .help = Some("e.g. `args = [\"/bin/sh\", \"-c\", \"echo hi\"]`".into());
    }
    let env = environment(c, p.env.as_ref());
    let cwd = match &p.cwd {
        None => PathBuf::from("/"),
        Some(cwd) => match inside_path(cwd.get_ref()) {
            Ok(path) => path,
            Err(msg) => {
                c.error(cwd.span(), "process.cwd", msg);
                PathBuf::from("/")
            }
        },
    };
    Some(ProcessPlan {
        args,
        env,
        cwd,
        uid: p.uid.as_ref().map_or(0, |u| *u.get_ref()),
        gid: p.gid.as_ref().map_or(0, |g| *g.get_ref()),
        additional_gids: p
            .additional_gids
            .as_ref()
            .map(|g| g.get_ref().clone())
            .unwrap_or_default(),
        umask: None,
        terminal: p.terminal.as_ref().is_some_and(|t| *t.get_ref()),
        console_size: None,
        personality: None,
        io_priority: None,
        scheduler: None,
    })
}

/// The environment, with a default `PATH` when none is given.
fn environment(
    c: &mut Checker,
    env: Option<&Spanned<BTreeMap<String, String>>>,
) -> Vec<(String, String)> {
    let Some(env) = env else {
        return vec![("PATH".into(), DEFAULT_PATH.into())];
    };
    for key in env.get_ref().keys() {
        if key.is_empty() || key.contains('=') || key.contains('\0') {
            c.error(
                env.span(),
                "process.env",
                format!("`{key}` is not a valid variable name"),
            );
        }
    }
    env.get_ref()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// One `[[mounts]]` entry, checked.
fn mount_spec(
    c: &mut Checker,
    index: usize,
    entry: &Spanned<MountEntry>,
    base: &Path,
    user_ns: bool,
) -> Option<MountSpec> {
    let e = entry.get_ref();
    let key = format!("mounts[{index}]");
    if e.options.iter().any(|o| o == "idmap") && !user_ns {
        let err = c.error(
            entry.span(),
            &format!("{key}.options"),
            "the `idmap` option needs a user namespace: ids are mapped through the container's uid_map/gid_map",
        );
        err.help =
            Some("add `[namespaces.user]` with uid_map and gid_map, or drop `idmap`".to_string());
        return None;
    }
    let kind: MountKind = match e.kind.get_ref().parse() {
        Ok(kind) => kind,
        Err(_) => {
            let known = [
                "bind", "tmpfs", "proc", "sysfs", "devpts", "mqueue", "overlay",
            ];
            let err = c.error(
                e.kind.span(),
                &format!("{key}.type"),
                format!("unknown mount type `{}`", e.kind.get_ref()),
            );
            err.help = Some(match did_you_mean(e.kind.get_ref(), known) {
                Some(best) => format!("did you mean `{best}`?"),
                None => format!("use one of: {}", known.join(", ")),
            });
            return None;
        }
    };
    let target = match inside_path(e.target.get_ref()) {
        Ok(t) if t == Path::new("/") => {
            c.error(
                e.target.span(),
                &format!("{key}.target"),
                "cannot mount over the container's root",
            );
            return None;
        }
        Ok(t) => t,
        Err(msg) => {
            c.error(e.target.span(), &format!("{key}.target"), msg);
            return None;
        }
    };
    let source = match (&e.source, kind) {
        (None, MountKind::Bind) => {
            c.error(entry.span(), &key, "a bind mount needs a `source`");
            return None;
        }
        (Some(s), MountKind::Bind) => {
            let host = base.join(s.get_ref());
            match std::fs::canonicalize(&host) {
                Ok(abs) => Some(abs),
                Err(err) => {
                    c.error(
                        s.span(),
                        &format!("{key}.source"),
                        format!("bind source `{}` does not exist ({err})", host.display()),
                    );
                    return None;
                }
            }
        }
        (s, _) => s.as_ref().map(|s| PathBuf::from(s.get_ref())),
    };
    Some(MountSpec {
        kind,
        source,
        target,
        options: e.options.clone(),
    })
}

/// Checks that the program exists and is executable inside the root.
fn check_program(
    c: &mut Checker,
    section: &Spanned<ProcessSection>,
    root: &RootPlan,
    process: &ProcessPlan,
    mounts: &[MountSpec],
) {
    let Some(program) = process.args.first().filter(|p| !p.is_empty()) else {
        return;
    };
    let path_var = process
        .env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map_or("", |(_, v)| v.as_str());
    let candidates: Vec<PathBuf> = if program.contains('/') {
        match inside_path(program) {
            Ok(p) => vec![p],
            Err(_) => vec![process.cwd.join(program)],
        }
    } else {
        path_var
            .split(':')
            .filter(|d| d.starts_with('/'))
            .map(|d| Path::new(d).join(program))
            .collect()
    };
    if candidates
        .iter()
        .any(|p| is_executable_in_root(root, p) || is_executable_in_bind_mount(mounts, p))
    {
        return;
    }
    let span = section.get_ref().args.span();
    let where_ = match &root.choice {
        RootChoice::Dir(dir) => format!("in the rootfs `{}`", dir.display()),
        RootChoice::Host(_) => "in the host directories of `rootfs.host`".to_string(),
    };
    let msg = if program.contains('/') {
        format!("`{program}` does not exist or is not executable {where_}")
    } else {
        format!("`{program}` is not found in PATH ({path_var}) {where_}")
    };
    c.error(span, "process.args", msg);
}

/// Whether `inside` lies in a bind mount of the manifest whose host side is an executable file.
fn is_executable_in_bind_mount(mounts: &[MountSpec], inside: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    mounts
        .iter()
        .filter(|m| m.kind == MountKind::Bind)
        .filter_map(|m| {
            let rest = inside.strip_prefix(&m.target).ok()?;
            let source = m.source.as_ref()?;
            // `join("")` would add a trailing `/`, which a file does not take.
            Some(if rest.as_os_str().is_empty() {
                source.clone()
            } else {
                source.join(rest)
            })
        })
        .any(|host| {
            std::fs::metadata(&host)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// Whether `inside` (an absolute container path) names an executable file in the root.
fn is_executable_in_root(root: &RootPlan, inside: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let host_path = match &root.choice {
        RootChoice::Dir(dir) => match cove_rootfs::resolve_in_root(dir, inside) {
            Ok(p) => p,
            Err(_) => return false,
        },
        RootChoice::Host(dirs) => {
            if !dirs.iter().any(|d| inside.starts_with(d)) {
                return false;
            }
            inside.to_path_buf()
        }
    };
    std::fs::metadata(&host_path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
