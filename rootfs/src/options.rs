//! Parsing mount(8)-style options into mount flags, per-mount attributes, propagation and the
//! file system data string.

use nix::mount::MsFlags;

use crate::spec::MountKind;

/// Per-mount flags that can be set or cleared after a mount exists (mount_setattr(2) or a bind
/// remount). Atime mode is one of `MS_RELATIME`, `MS_NOATIME`, `MS_STRICTATIME`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Attrs {
    /// Flags to set: any of `MS_RDONLY`, `MS_NOSUID`, `MS_NODEV`, `MS_NOEXEC`, `MS_NODIRATIME`.
    pub set: MsFlags,
    /// Flags explicitly cleared (`rw`, `suid`, `dev`, `exec`, `diratime`).
    pub clear: MsFlags,
    /// The atime mode, when one was given.
    pub atime: Option<MsFlags>,
    /// `Some(true)`: set `MOUNT_ATTR_NOSYMFOLLOW`, `Some(false)`: clear it (recursive options
    /// only: `rnosymfollow`, `rsymfollow`; mount_setattr(2) is the only way to set it).
    pub nosymfollow: Option<bool>,
    /// Apply to the whole mount tree (recursive bind mounts).
    pub recursive: bool,
}

impl Default for Attrs {
    fn default() -> Self {
        Attrs {
            set: MsFlags::empty(),
            clear: MsFlags::empty(),
            atime: None,
            nosymfollow: None,
            recursive: false,
        }
    }
}

impl Attrs {
    pub(crate) fn is_empty(&self) -> bool {
        self.set.is_empty()
            && self.clear.is_empty()
            && self.atime.is_none()
            && self.nosymfollow.is_none()
    }

    /// The empty recursive attributes, filled by the `r…` options.
    fn recursive() -> Self {
        Attrs {
            recursive: true,
            ..Attrs::default()
        }
    }

    /// Read-only (plus `extra`), recursive or not.
    pub(crate) fn readonly(extra: MsFlags, recursive: bool) -> Self {
        Attrs {
            set: MsFlags::MS_RDONLY | extra,
            recursive,
            ..Attrs::default()
        }
    }
}

/// The per-mount flags that mount_setattr / bind remount can change.
pub(crate) const ATTR_FLAGS: MsFlags = MsFlags::MS_RDONLY
    .union(MsFlags::MS_NOSUID)
    .union(MsFlags::MS_NODEV)
    .union(MsFlags::MS_NOEXEC)
    .union(MsFlags::MS_NODIRATIME);

/// The atime modes.
pub(crate) const ATIME_FLAGS: MsFlags = MsFlags::MS_RELATIME
    .union(MsFlags::MS_NOATIME)
    .union(MsFlags::MS_STRICTATIME);

/// The result of parsing one mount's options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParsedOptions {
    /// Flags set (per-mount and superblock flags such as `MS_SYNCHRONOUS`).
    pub set: MsFlags,
    /// Flags explicitly cleared.
    pub clear: MsFlags,
    /// Atime mode, if given.
    pub atime: Option<MsFlags>,
    /// `Some(recursive)` when `bind` / `rbind` was given.
    pub bind: Option<bool>,
    /// Propagation to set after mounting (`MS_PRIVATE`, … possibly with `MS_REC`).
    pub propagation: Option<MsFlags>,
    /// `idmap` was given (bind only): attach an idmapped clone of the source instead.
    pub idmap: bool,
    /// The recursive options (`rro`, `rnosuid`, …, runtime-spec 1.1): set on the mount and every
    /// mount below it with mount_setattr(2) `AT_RECURSIVE`, after the flags above.
    pub rec: Attrs,
    /// Data options, in order.
    pub data: Vec<String>,
}

/// Why one option was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OptionError {
    Unknown,
    NotForKind,
    BadValue(&'static str),
}

/// What a data option's value must look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Value {
    /// No `=value` (e.g. `newinstance`).
    None,
    /// Octal digits (modes).
    Octal,
    /// Decimal digits (ids, counts).
    Decimal,
    /// Decimal with an optional k/m/g/t/% suffix.
    Size,
    /// A non-empty word or path.
    Text,
}

impl Value {
    fn expected(self) -> &'static str {
        match self {
            Value::None => "no `=value`",
            Value::Octal => "an octal mode such as 0755",
            Value::Decimal => "a decimal number",
            Value::Size => "a size such as 65536, 64k, 16m, 1g or 50%",
            Value::Text => "a non-empty value",
        }
    }

    fn accepts(self, value: Option<&str>) -> bool {
        let digits = |s: &str, radix: u32| !s.is_empty() && s.chars().all(|c| c.is_digit(radix));
        match (self, value) {
            (Value::None, None) => true,
            (Value::None, Some(_)) | (_, None) => false,
            (Value::Octal, Some(v)) => digits(v, 8) && v.len() <= 5,
            (Value::Decimal, Some(v)) => digits(v, 10),
            (Value::Size, Some(v)) => {
                let number = v
                    .strip_suffix(['k', 'K', 'm', 'M', 'g', 'G', 't', 'T', '%'])
                    .unwrap_or(v);
                digits(number, 10)
            }
            (Value::Text, Some(v)) => !v.is_empty(),
        }
    }
}

/// Data options by kind.
const DATA_OPTIONS: &[(MountKind, &str, Value)] = &[
    (MountKind::Tmpfs, "size", Value::Size),
    (MountKind::Tmpfs, "mode", Value::Octal),
    (MountKind::Tmpfs, "uid", Value::Decimal),
    (MountKind::Tmpfs, "gid", Value::Decimal),
    (MountKind::Tmpfs, "nr_inodes", Value::Size),
    (MountKind::Tmpfs, "nr_blocks", Value::Size),
    (MountKind::Tmpfs, "huge", Value::Text),
    (MountKind::Devpts, "newinstance", Value::None),
    (MountKind::Devpts, "ptmxmode", Value::Octal),
    (MountKind::Devpts, "mode", Value::Octal),
    (MountKind::Devpts, "uid", Value::Decimal),
    (MountKind::Devpts, "gid", Value::Decimal),
    (MountKind::Devpts, "max", Value::Decimal),
    (MountKind::Proc, "hidepid", Value::Text),
    (MountKind::Proc, "gid", Value::Decimal),
    (MountKind::Proc, "subset", Value::Text),
    (MountKind::Overlay, "lowerdir", Value::Text),
    (MountKind::Overlay, "upperdir", Value::Text),
    (MountKind::Overlay, "workdir", Value::Text),
    (MountKind::Overlay, "userxattr", Value::None),
    (MountKind::Overlay, "volatile", Value::None),
    (MountKind::Overlay, "redirect_dir", Value::Text),
    (MountKind::Overlay, "index", Value::Text),
    (MountKind::Overlay, "metacopy", Value::Text),
    (MountKind::Overlay, "xino", Value::Text),
];

/// What a flag-like option does.
enum FlagOpt {
    Set(MsFlags),
    Clear(MsFlags),
    Atime(MsFlags),
    /// The recursive forms (`rro`, `rrw`, `rrelatime`, `rnosymfollow`, …).
    RecSet(MsFlags),
    RecClear(MsFlags),
    RecAtime(MsFlags),
    RecNosymfollow(bool),
    Propagation(MsFlags),
    Bind {
        recursive: bool,
    },
    Idmap,
    Nothing,
}

fn flag_option(option: &str) -> Option<FlagOpt> {
    use FlagOpt::*;
    Some(match option {
        "ro" => Set(MsFlags::MS_RDONLY),
        "rw" => Clear(MsFlags::MS_RDONLY),
        "nosuid" => Set(MsFlags::MS_NOSUID),
        "suid" => Clear(MsFlags::MS_NOSUID),
        "nodev" => Set(MsFlags::MS_NODEV),
        "dev" => Clear(MsFlags::MS_NODEV),
        "noexec" => Set(MsFlags::MS_NOEXEC),
        "exec" => Clear(MsFlags::MS_NOEXEC),
        "nodiratime" => Set(MsFlags::MS_NODIRATIME),
        "diratime" => Clear(MsFlags::MS_NODIRATIME),
        "sync" => Set(MsFlags::MS_SYNCHRONOUS),
        "async" => Clear(MsFlags::MS_SYNCHRONOUS),
        "dirsync" => Set(MsFlags::MS_DIRSYNC),
        "relatime" => Atime(MsFlags::MS_RELATIME),
        "noatime" => Atime(MsFlags::MS_NOATIME),
        "strictatime" => Atime(MsFlags::MS_STRICTATIME),
        "private" => Propagation(MsFlags::MS_PRIVATE),
        "rprivate" => Propagation(MsFlags::MS_PRIVATE | MsFlags::MS_REC),
        "slave" => Propagation(MsFlags::MS_SLAVE),
        "rslave" => Propagation(MsFlags::MS_SLAVE | MsFlags::MS_REC),
        "shared" => Propagation(MsFlags::MS_SHARED),
        "rshared" => Propagation(MsFlags::MS_SHARED | MsFlags::MS_REC),
        "unbindable" => Propagation(MsFlags::MS_UNBINDABLE),
        "runbindable" => Propagation(MsFlags::MS_UNBINDABLE | MsFlags::MS_REC),
        "rro" => RecSet(MsFlags::MS_RDONLY),
        "rrw" => RecClear(MsFlags::MS_RDONLY),
        "rnosuid" => RecSet(MsFlags::MS_NOSUID),
        "rsuid" => RecClear(MsFlags::MS_NOSUID),
        "rnodev" => RecSet(MsFlags::MS_NODEV),
        "rdev" => RecClear(MsFlags::MS_NODEV),
        "rnoexec" => RecSet(MsFlags::MS_NOEXEC),
        "rexec" => RecClear(MsFlags::MS_NOEXEC),
        "rnodiratime" => RecSet(MsFlags::MS_NODIRATIME),
        "rdiratime" => RecClear(MsFlags::MS_NODIRATIME),
        "rrelatime" => RecAtime(MsFlags::MS_RELATIME),
        "rnoatime" => RecAtime(MsFlags::MS_NOATIME),
        "rstrictatime" => RecAtime(MsFlags::MS_STRICTATIME),
        // A mount always has one atime mode: leaving noatime, strictatime or relatime means the
        // kernel's default, relatime, as mount(8)'s `atime`, `nostrictatime` and `norelatime`
        // (mount_setattr refuses to clear one mode alone: EINVAL).
        "ratime" | "rnostrictatime" | "rnorelatime" => RecAtime(MsFlags::MS_RELATIME),
        "rnosymfollow" => RecNosymfollow(true),
        "rsymfollow" => RecNosymfollow(false),
        "bind" => Bind { recursive: false },
        "rbind" => Bind { recursive: true },
        "idmap" => Idmap,
        "defaults" => Nothing,
        _ => return None,
    })
}

/// Parses all options of one mount of `kind`. On error returns the offending option and why.
pub(crate) fn parse_options<'a>(
    kind: MountKind,
    options: impl IntoIterator<Item = &'a str>,
) -> Result<ParsedOptions, (&'a str, OptionError)> {
    let mut parsed = ParsedOptions {
        set: MsFlags::empty(),
        clear: MsFlags::empty(),
        atime: None,
        bind: None,
        propagation: None,
        idmap: false,
        rec: Attrs::recursive(),
        data: Vec::new(),
    };
    for option in options {
        parse_one(kind, option, &mut parsed).map_err(|e| (option, e))?;
    }
    Ok(parsed)
}

fn parse_one(kind: MountKind, option: &str, parsed: &mut ParsedOptions) -> Result<(), OptionError> {
    if option.contains(',') {
        return Err(OptionError::BadValue(
            "one option per element, without commas",
        ));
    }
    let Some(flag) = flag_option(option) else {
        return parse_data(kind, option, parsed);
    };
    match flag {
        FlagOpt::Set(f) => {
            parsed.set |= f;
            parsed.clear -= f;
        }
        FlagOpt::Clear(f) => {
            parsed.clear |= f;
            parsed.set -= f;
        }
        FlagOpt::Atime(f) => parsed.atime = Some(f),
        FlagOpt::RecSet(f) => {
            parsed.rec.set |= f;
            parsed.rec.clear -= f;
        }
        FlagOpt::RecClear(f) => {
            parsed.rec.clear |= f;
            parsed.rec.set -= f;
        }
        FlagOpt::RecAtime(f) => parsed.rec.atime = Some(f),
        FlagOpt::RecNosymfollow(on) => parsed.rec.nosymfollow = Some(on),
        FlagOpt::Propagation(f) => parsed.propagation = Some(f),
        FlagOpt::Bind { .. } if kind != MountKind::Bind => return Err(OptionError::NotForKind),
        FlagOpt::Bind { recursive } => parsed.bind = Some(recursive),
        FlagOpt::Idmap if kind != MountKind::Bind => return Err(OptionError::NotForKind),
        FlagOpt::Idmap => parsed.idmap = true,
        FlagOpt::Nothing => {}
    }
    Ok(())
}

fn parse_data(
    kind: MountKind,
    option: &str,
    parsed: &mut ParsedOptions,
) -> Result<(), OptionError> {
    let (key, value) = match option.split_once('=') {
        Some((k, v)) => (k, Some(v)),
        None => (option, None),
    };
    if passes_data_through(kind) {
        // Controller names, `name=`, root flags: the kernel knows which exist.
        if key.is_empty() || value == Some("") {
            return Err(OptionError::BadValue(Value::Text.expected()));
        }
        parsed.data.push(option.to_owned());
        return Ok(());
    }
    let Some(&(_, _, expect)) = DATA_OPTIONS
        .iter()
        .find(|(k, name, _)| *k == kind && *name == key)
    else {
        let known_elsewhere = DATA_OPTIONS.iter().any(|(_, name, _)| *name == key);
        return Err(if known_elsewhere {
            OptionError::NotForKind
        } else {
            OptionError::Unknown
        });
    };
    if !expect.accepts(value) {
        return Err(OptionError::BadValue(expect.expected()));
    }
    parsed.data.push(option.to_owned());
    Ok(())
}

/// Kinds whose every non-flag option is file system data passed to the kernel as is: the cgroup
/// controllers and `name=` of a v1 hierarchy, the root flags of cgroup2 (`nsdelegate`, …).
fn passes_data_through(kind: MountKind) -> bool {
    matches!(kind, MountKind::Cgroup | MountKind::Cgroup2)
}

/// The value of data option `key` (`lowerdir` → the path list), if present.
pub(crate) fn data_value<'a>(data: &'a [String], key: &str) -> Option<&'a str> {
    data.iter()
        .find_map(|d| d.strip_prefix(key).and_then(|rest| rest.strip_prefix('=')))
}

/// Renders flags mount(8) style (`ro,nosuid,nodev`), for step descriptions.
pub(crate) fn flags_to_string(flags: MsFlags) -> String {
    const NAMES: &[(MsFlags, &str)] = &[
        (MsFlags::MS_BIND, "bind"),
        (MsFlags::MS_REC, "rec"),
        (MsFlags::MS_RDONLY, "ro"),
        (MsFlags::MS_NOSUID, "nosuid"),
        (MsFlags::MS_NODEV, "nodev"),
        (MsFlags::MS_NOEXEC, "noexec"),
        (MsFlags::MS_SYNCHRONOUS, "sync"),
        (MsFlags::MS_DIRSYNC, "dirsync"),
        (MsFlags::MS_NOATIME, "noatime"),
        (MsFlags::MS_NODIRATIME, "nodiratime"),
        (MsFlags::MS_RELATIME, "relatime"),
        (MsFlags::MS_STRICTATIME, "strictatime"),
        (MsFlags::MS_PRIVATE, "private"),
        (MsFlags::MS_SLAVE, "slave"),
        (MsFlags::MS_SHARED, "shared"),
        (MsFlags::MS_UNBINDABLE, "unbindable"),
    ];
    let names: Vec<&str> = NAMES
        .iter()
        .filter(|(f, _)| flags.contains(*f))
        .map(|(_, n)| *n)
        .collect();
    names.join(",")
}

/// Renders [`Attrs`] mount(8) style (`ro,nosuid,suid,rec`).
pub(crate) fn attrs_to_string(attrs: &Attrs) -> String {
    let mut parts = Vec::new();
    let set = flags_to_string(attrs.set | attrs.atime.unwrap_or(MsFlags::empty()));
    if !set.is_empty() {
        parts.push(set);
    }
    for (flag, name) in [
        (MsFlags::MS_RDONLY, "rw"),
        (MsFlags::MS_NOSUID, "suid"),
        (MsFlags::MS_NODEV, "dev"),
        (MsFlags::MS_NOEXEC, "exec"),
        (MsFlags::MS_NODIRATIME, "diratime"),
    ] {
        if attrs.clear.contains(flag) {
            parts.push(name.to_owned());
        }
    }
    match attrs.nosymfollow {
        Some(true) => parts.push("nosymfollow".to_owned()),
        Some(false) => parts.push("symfollow".to_owned()),
        None => {}
    }
    if attrs.recursive {
        parts.push("recursive".to_owned());
    }
    parts.join(",")
}

/// Renders recursive attributes as the options that ask for them (`rro,rnosuid,rsuid`).
pub(crate) fn rec_attrs_to_string(attrs: &Attrs) -> String {
    let plain = Attrs {
        recursive: false,
        ..*attrs
    };
    let parts: Vec<String> = attrs_to_string(&plain)
        .split(',')
        .filter(|p| !p.is_empty())
        .map(|p| format!("r{p}"))
        .collect();
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(
        kind: MountKind,
        opts: &[&'static str],
    ) -> Result<ParsedOptions, (&'static str, OptionError)> {
        parse_options(kind, opts.iter().copied())
    }

    #[test]
    fn flags_set_and_clear_last_wins() {
        let p = parse(
            MountKind::Tmpfs,
            &["ro", "nosuid", "rw", "noexec", "exec", "nodev"],
        )
        .unwrap();
        assert_eq!(p.set, MsFlags::MS_NOSUID | MsFlags::MS_NODEV);
        assert_eq!(p.clear, MsFlags::MS_RDONLY | MsFlags::MS_NOEXEC);
    }

    #[test]
    fn atime_and_propagation() {
        let p = parse(MountKind::Tmpfs, &["noatime", "relatime", "rslave"]).unwrap();
        assert_eq!(p.atime, Some(MsFlags::MS_RELATIME));
        assert_eq!(p.propagation, Some(MsFlags::MS_SLAVE | MsFlags::MS_REC));
        let p = parse(MountKind::Bind, &["private"]).unwrap();
        assert_eq!(p.propagation, Some(MsFlags::MS_PRIVATE));
    }

    #[test]
    fn bind_options_only_on_bind() {
        assert_eq!(parse(MountKind::Bind, &["bind"]).unwrap().bind, Some(false));
        assert_eq!(parse(MountKind::Bind, &["rbind"]).unwrap().bind, Some(true));
        assert_eq!(parse(MountKind::Bind, &[]).unwrap().bind, None);
        assert_eq!(
            parse(MountKind::Tmpfs, &["rbind"]),
            Err(("rbind", OptionError::NotForKind))
        );
    }

    #[test]
    fn data_options_by_kind() {
        let p = parse(
            MountKind::Tmpfs,
            &["size=64k", "mode=1777", "uid=0", "gid=5"],
        )
        .unwrap();
        assert_eq!(p.data, ["size=64k", "mode=1777", "uid=0", "gid=5"]);
        let p = parse(
            MountKind::Devpts,
            &["newinstance", "ptmxmode=0666", "mode=620"],
        )
        .unwrap();
        assert_eq!(p.data, ["newinstance", "ptmxmode=0666", "mode=620"]);
        let p = parse(
            MountKind::Overlay,
            &["lowerdir=/a:/b", "upperdir=/u", "workdir=/w"],
        )
        .unwrap();
        assert_eq!(data_value(&p.data, "lowerdir"), Some("/a:/b"));
        assert_eq!(data_value(&p.data, "workdir"), Some("/w"));
        assert_eq!(data_value(&p.data, "index"), None);
    }

    #[test]
    fn data_option_errors() {
        assert_eq!(
            parse(MountKind::Tmpfs, &["nosiud"]),
            Err(("nosiud", OptionError::Unknown))
        );
        assert_eq!(
            parse(MountKind::Tmpfs, &["newinstance"]),
            Err(("newinstance", OptionError::NotForKind))
        );
        assert_eq!(
            parse(MountKind::Bind, &["size=1m"]),
            Err(("size=1m", OptionError::NotForKind))
        );
        assert!(matches!(
            parse(MountKind::Tmpfs, &["size=lots"]),
            Err(("size=lots", OptionError::BadValue(_)))
        ));
        assert!(matches!(
            parse(MountKind::Tmpfs, &["mode=0999"]),
            Err((_, OptionError::BadValue(_)))
        ));
        assert!(matches!(
            parse(MountKind::Tmpfs, &["mode"]),
            Err((_, OptionError::BadValue(_)))
        ));
        assert!(matches!(
            parse(MountKind::Devpts, &["newinstance=1"]),
            Err((_, OptionError::BadValue(_)))
        ));
        assert!(matches!(
            parse(MountKind::Tmpfs, &["ro,nosuid"]),
            Err((_, OptionError::BadValue(_)))
        ));
        assert!(matches!(
            parse(MountKind::Overlay, &["lowerdir="]),
            Err((_, OptionError::BadValue(_)))
        ));
    }

    #[test]
    fn cgroup_data_options_pass_through() {
        let p = parse(
            MountKind::Cgroup,
            &["cpu", "cpuacct", "nosuid", "noexec", "nodev", "ro"],
        )
        .unwrap();
        assert_eq!(p.data, ["cpu", "cpuacct"]);
        assert_eq!(
            p.set,
            MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_NODEV | MsFlags::MS_RDONLY
        );
        let p = parse(MountKind::Cgroup, &["none", "name=systemd", "xattr"]).unwrap();
        assert_eq!(p.data, ["none", "name=systemd", "xattr"]);
        let p = parse(MountKind::Cgroup2, &["nsdelegate", "relatime", "rslave"]).unwrap();
        assert_eq!(p.data, ["nsdelegate"]);
        assert_eq!(p.atime, Some(MsFlags::MS_RELATIME));
        assert_eq!(p.propagation, Some(MsFlags::MS_SLAVE | MsFlags::MS_REC));
        assert_eq!(
            parse(MountKind::Cgroup, &["rbind"]),
            Err(("rbind", OptionError::NotForKind))
        );
        assert!(matches!(
            parse(MountKind::Cgroup, &["name="]),
            Err(("name=", OptionError::BadValue(_)))
        ));
        assert!(matches!(
            parse(MountKind::Cgroup2, &[""]),
            Err(("", OptionError::BadValue(_)))
        ));
        assert!(matches!(
            parse(MountKind::Cgroup, &["cpu,cpuacct"]),
            Err((_, OptionError::BadValue(_)))
        ));
    }

    #[test]
    fn sizes() {
        for ok in ["65536", "64k", "16M", "1g", "50%"] {
            assert!(Value::Size.accepts(Some(ok)), "{ok}");
        }
        for bad in ["", "k", "1.5g", "-1", "1x"] {
            assert!(!Value::Size.accepts(Some(bad)), "{bad}");
        }
    }

    #[test]
    fn renders_flags() {
        assert_eq!(
            flags_to_string(MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_BIND),
            "bind,ro,nosuid"
        );
        let a = Attrs {
            set: MsFlags::MS_RDONLY,
            clear: MsFlags::MS_NOSUID,
            atime: Some(MsFlags::MS_NOATIME),
            recursive: true,
            ..Attrs::default()
        };
        assert_eq!(attrs_to_string(&a), "ro,noatime,suid,recursive");
    }

    #[test]
    fn recursive_options_fill_their_own_attrs() {
        let p = parse(
            MountKind::Bind,
            &[
                "rbind",
                "ro",
                "rro",
                "rnosuid",
                "rnoexec",
                "rexec",
                "rnoatime",
                "rnosymfollow",
            ],
        )
        .unwrap();
        // The plain `ro` stays a top-mount flag.
        assert_eq!(p.set, MsFlags::MS_RDONLY);
        assert!(p.rec.recursive);
        assert_eq!(p.rec.set, MsFlags::MS_RDONLY | MsFlags::MS_NOSUID);
        assert_eq!(p.rec.clear, MsFlags::MS_NOEXEC);
        assert_eq!(p.rec.atime, Some(MsFlags::MS_NOATIME));
        assert_eq!(p.rec.nosymfollow, Some(true));
        assert_eq!(
            rec_attrs_to_string(&p.rec),
            "rro,rnosuid,rnoatime,rexec,rnosymfollow"
        );
        let p = parse(
            MountKind::Bind,
            &["rrw", "rsuid", "rdev", "rdiratime", "rsymfollow"],
        )
        .unwrap();
        assert_eq!(
            p.rec.clear,
            MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NODIRATIME
        );
        assert_eq!(p.rec.nosymfollow, Some(false));
        assert!(p.set.is_empty() && p.clear.is_empty());
    }

    #[test]
    fn every_recursive_option_is_known_on_every_kind() {
        let all = [
            "rro",
            "rrw",
            "rnosuid",
            "rsuid",
            "rnodev",
            "rdev",
            "rnoexec",
            "rexec",
            "rnodiratime",
            "rdiratime",
            "rrelatime",
            "rnorelatime",
            "rnoatime",
            "ratime",
            "rstrictatime",
            "rnostrictatime",
            "rnosymfollow",
            "rsymfollow",
        ];
        for kind in [MountKind::Bind, MountKind::Tmpfs, MountKind::Proc] {
            for option in all {
                let p = parse(kind, &[option]).unwrap();
                assert!(!p.rec.is_empty(), "{option}");
                assert!(p.data.is_empty(), "{option}");
            }
        }
        // Cgroup mounts pass unknown words to the kernel: a recursive option is still a flag.
        let p = parse(MountKind::Cgroup, &["cpu", "rro"]).unwrap();
        assert_eq!(p.data, ["cpu"]);
        assert_eq!(p.rec.set, MsFlags::MS_RDONLY);
    }

    #[test]
    fn recursive_atime_options_last_wins_and_leaving_a_mode_means_relatime() {
        let atime = |opts: &[&'static str]| parse(MountKind::Bind, opts).unwrap().rec.atime;
        assert_eq!(
            atime(&["rnoatime", "rstrictatime"]),
            Some(MsFlags::MS_STRICTATIME)
        );
        assert_eq!(
            atime(&["rstrictatime", "rrelatime"]),
            Some(MsFlags::MS_RELATIME)
        );
        for leave in ["ratime", "rnostrictatime", "rnorelatime"] {
            assert_eq!(
                atime(&["rnoatime", leave]),
                Some(MsFlags::MS_RELATIME),
                "{leave}"
            );
        }
        assert_eq!(atime(&["rbind"]), None);
    }
}
