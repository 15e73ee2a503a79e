//! The TOML manifest as written by users: strict serde types that keep the place of every value.
//!
//! These types only describe the syntax; [`crate::plan`] checks the meaning and turns a manifest into a
//! [`cove_container::plan::Plan`]. The keys are documented in `docs/manifest.md`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use crate::diagnostic::{did_you_mean, ManifestError};

/// A whole manifest file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Container id; default: the file's stem.
    pub name: Option<Spanned<String>>,
    /// Hostname inside the container; default: the name.
    pub hostname: Option<Spanned<String>>,
    /// What to run.
    pub process: Spanned<ProcessSection>,
    /// The root file system.
    pub rootfs: Spanned<RootfsSection>,
    /// Which namespaces are new, shared or joined.
    pub namespaces: Option<Spanned<NamespacesSection>>,
    /// Extra mounts, in order.
    #[serde(default)]
    pub mounts: Vec<Spanned<MountEntry>>,
    /// cgroup limits.
    pub resources: Option<Spanned<ResourcesSection>>,
    /// Capabilities and `no_new_privileges`.
    pub security: Option<Spanned<SecuritySection>>,
}

/// `[security]`
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SecuritySection {
    /// Changes to the default capability set.
    pub capabilities: Option<Spanned<CapabilitiesSection>>,
    /// Set `PR_SET_NO_NEW_PRIVS` (default true).
    pub no_new_privileges: Option<Spanned<bool>>,
    /// Resource limits by name (`nofile`, `nproc`, …): a number (soft = hard), `[soft, hard]` or `"unlimited"`.
    #[serde(default)]
    pub rlimits: BTreeMap<String, Spanned<RlimitValue>>,
    /// `/proc/self/oom_score_adj`, -1000..=1000.
    pub oom_score_adj: Option<Spanned<i64>>,
    /// Opt-in Landlock file-system rules.
    pub landlock: Option<Spanned<LandlockSection>>,
    /// `"default"` (Docker's profile), `"unconfined"`, or a Docker/OCI profile JSON file relative to the
    /// manifest's folder.
    pub seccomp: Option<Spanned<String>>,
    /// Absolute host path of a unix socket (the OCI `linux.seccomp.listenerPath`) that receives the
    /// seccomp listener fd. Required when the profile has `SCMP_ACT_NOTIFY` rules, refused otherwise.
    pub seccomp_listener: Option<Spanned<String>>,
}

/// `[security.landlock]`: paths inside the container the workload may read (and execute) or write.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LandlockSection {
    /// Readable (and executable) trees.
    #[serde(default)]
    pub read: Vec<String>,
    /// Writable trees (readable too).
    #[serde(default)]
    pub write: Vec<String>,
}

/// One rlimit's value in the manifest.
#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
pub enum RlimitValue {
    /// Soft and hard limit alike.
    Both(u64),
    /// `[soft, hard]`.
    Pair(Vec<u64>),
    /// `"unlimited"`.
    Word(String),
}

/// `[security.capabilities]` (or the inline table `capabilities = { add = [...], drop = [...] }`).
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CapabilitiesSection {
    /// Capabilities to add to the default set (`"NET_ADMIN"`, `"CAP_SYS_PTRACE"`, `"ALL"`).
    #[serde(default)]
    pub add: Vec<Spanned<String>>,
    /// Capabilities to drop from the default set (applied before `add`).
    #[serde(default)]
    pub drop: Vec<Spanned<String>>,
}

/// `[process]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessSection {
    /// argv; the first word is the program, looked up in `PATH` inside the root when it has no `/`.
    pub args: Spanned<Vec<String>>,
    /// The complete environment.
    pub env: Option<Spanned<BTreeMap<String, String>>>,
    /// Working directory inside the container.
    pub cwd: Option<Spanned<String>>,
    /// User id inside the container.
    pub uid: Option<Spanned<u32>>,
    /// Group id inside the container.
    pub gid: Option<Spanned<u32>>,
    /// Supplementary groups.
    pub additional_gids: Option<Spanned<Vec<u32>>>,
    /// A terminal of its own (a new pty, relayed to the caller's terminal by `cove run`).
    pub terminal: Option<Spanned<bool>>,
}

/// `[rootfs]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RootfsSection {
    /// A directory, relative to the manifest's folder.
    pub path: Option<Spanned<String>>,
    /// An empty tmpfs root with the host's system directories bound read-only.
    pub host: Option<Spanned<bool>>,
    /// Mount the root read-only (default true).
    pub readonly: Option<Spanned<bool>>,
}

/// One namespace's setting: `true` new, `false` shared with the host, a path to join.
#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
pub enum NamespaceSetting {
    /// New (`true`) or the host's (`false`).
    New(bool),
    /// Join the namespace at this path, e.g. `/proc/1234/ns/net`.
    Join(String),
    /// A new user namespace with these id maps (`[namespaces.user]` only).
    Maps(UserMaps),
}

/// `[namespaces.user]` as a table: a new user namespace with explicit id maps.
#[derive(Debug, Deserialize, Clone, Default)]
#[serde(deny_unknown_fields)]
pub struct UserMaps {
    /// uid ranges: container ids `inside..inside+count` are host ids `outside..outside+count`.
    #[serde(default)]
    pub uid_map: Vec<IdMapEntry>,
    /// gid ranges; default: the same as `uid_map`.
    #[serde(default)]
    pub gid_map: Vec<IdMapEntry>,
}

/// One id-map range.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct IdMapEntry {
    /// First id inside the container.
    pub inside: u32,
    /// First id on the host.
    pub outside: u32,
    /// Number of ids.
    pub count: u32,
}

/// `[namespaces]`
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct NamespacesSection {
    /// User namespace.
    pub user: Option<Spanned<NamespaceSetting>>,
    /// Mount namespace.
    pub mount: Option<Spanned<NamespaceSetting>>,
    /// PID namespace.
    pub pid: Option<Spanned<NamespaceSetting>>,
    /// Network namespace.
    pub net: Option<Spanned<NamespaceSetting>>,
    /// IPC namespace.
    pub ipc: Option<Spanned<NamespaceSetting>>,
    /// UTS (hostname) namespace.
    pub uts: Option<Spanned<NamespaceSetting>>,
    /// cgroup namespace.
    pub cgroup: Option<Spanned<NamespaceSetting>>,
    /// Time namespace.
    pub time: Option<Spanned<NamespaceSetting>>,
}

/// One `[[mounts]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MountEntry {
    /// bind | tmpfs | proc | sysfs | devpts | mqueue | overlay
    #[serde(rename = "type")]
    pub kind: Spanned<String>,
    /// Host path for bind mounts (relative to the manifest's folder), otherwise the file-system source.
    pub source: Option<Spanned<String>>,
    /// Absolute path inside the container.
    pub target: Spanned<String>,
    /// Mount options (`ro`, `nosuid`, `size=64m`, …).
    #[serde(default)]
    pub options: Vec<String>,
}

/// `[resources]`: cgroup limits.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ResourcesSection {
    /// Memory hard limit, e.g. `"256M"`.
    pub memory: Option<Spanned<String>>,
    /// Memory reservation (soft limit).
    pub memory_reservation: Option<Spanned<String>>,
    /// Swap allowed beyond the memory limit.
    pub memory_swap: Option<Spanned<String>>,
    /// CPU bandwidth in CPUs, e.g. 0.5.
    pub cpus: Option<Spanned<f64>>,
    /// CPU weight, 1..10000.
    pub cpu_weight: Option<Spanned<u64>>,
    /// CPUs the container may run on, e.g. `"0-1"`.
    pub cpuset: Option<Spanned<String>>,
    /// Memory nodes the container may use.
    pub cpuset_mems: Option<Spanned<String>>,
    /// Maximum number of processes.
    pub pids: Option<Spanned<u64>>,
    /// I/O weight, 1..10000.
    pub io_weight: Option<Spanned<u64>>,
    /// Per-device I/O limits.
    #[serde(default)]
    pub io: Vec<Spanned<IoEntry>>,
}

/// One `[[resources.io]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IoEntry {
    /// A block device path or `"MAJ:MIN"`.
    pub device: Spanned<String>,
    /// Read bytes per second, e.g. `"10M"`.
    pub read_bps: Option<Spanned<String>>,
    /// Write bytes per second.
    pub write_bps: Option<Spanned<String>>,
    /// Read operations per second.
    pub read_iops: Option<Spanned<u64>>,
    /// Write operations per second.
    pub write_iops: Option<Spanned<u64>>,
}

/// Reads and parses a manifest file; syntax errors carry their place.
pub fn load(path: &Path) -> Result<(Manifest, String), ManifestError> {
    let source = std::fs::read_to_string(path).map_err(|e| ManifestError {
        file: path.to_path_buf(),
        line: 0,
        column: 0,
        key: None,
        message: format!("cannot read the manifest: {e}"),
        help: None,
    })?;
    let manifest = parse(path, &source)?;
    Ok((manifest, source))
}

/// Parses manifest text; `path` is only used in error messages.
pub fn parse(path: &Path, source: &str) -> Result<Manifest, ManifestError> {
    toml::from_str(source).map_err(|e| syntax_error(path, source, &e))
}

/// Turns a toml/serde error into a [`ManifestError`] with the key it is about and a suggestion.
fn syntax_error(path: &Path, source: &str, err: &toml::de::Error) -> ManifestError {
    let message = err.message().trim().to_string();
    let span = err.span();
    let key = span.clone().and_then(|s| key_at(source, s));
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let unknown = rest.split('`').next().unwrap_or_default().to_string();
        let expected = expected_words(&message);
        let mut e = ManifestError::at(path, source, span, Some(unknown.clone()), "unknown key");
        e.help = match did_you_mean(&unknown, expected.iter().map(String::as_str)) {
            Some(best) => Some(format!("did you mean `{best}`?")),
            None if !expected.is_empty() => {
                Some(format!("known keys here: {}", expected.join(", ")))
            }
            None => None,
        };
        return e;
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        let missing = rest.split('`').next().unwrap_or_default().to_string();
        return ManifestError::at(
            path,
            source,
            span,
            Some(missing.clone()),
            "missing required key",
        )
        .with_help(format!("add `{missing} = …` here (see docs/manifest.md)"));
    }
    if message.starts_with("data did not match any variant of untagged enum NamespaceSetting") {
        return ManifestError::at(
            path,
            source,
            span,
            key,
            "expected true, false or a namespace path",
        )
        .with_help(
            "e.g. `net = true`, `net = false` or `net = \"/proc/1234/ns/net\"`; `user` also takes a table: \
             `[namespaces.user] uid_map = [{ inside = 0, outside = 100000, count = 65536 }]`",
        );
    }
    ManifestError::at(path, source, span, key, message)
}

/// The words between backticks after "expected" in a serde message.
fn expected_words(message: &str) -> Vec<String> {
    let Some((_, tail)) = message.split_once("expected") else {
        return Vec::new();
    };
    tail.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// The key a span is about: the span's own text when it is a key, else the key before `=` on its line.
fn key_at(source: &str, span: std::ops::Range<usize>) -> Option<String> {
    let text = source.get(span.clone())?.trim();
    let is_bare_key = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let line_start = source[..span.start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = source[span.start..]
        .find('\n')
        .map_or(source.len(), |i| span.start + i);
    let line = &source[line_start..line_end];
    match line.split_once('=') {
        Some((key, _)) if span.start >= line_start + key.len() => Some(key.trim().to_string()),
        _ if is_bare_key => Some(text.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(src: &str) -> ManifestError {
        parse(Path::new("t.toml"), src).unwrap_err()
    }

    const MINIMAL: &str = "[process]\nargs = [\"/bin/true\"]\n[rootfs]\nhost = true\n";

    #[test]
    fn minimal_manifest_parses() {
        let m = parse(Path::new("t.toml"), MINIMAL).unwrap();
        assert_eq!(
            m.process.get_ref().args.get_ref(),
            &vec!["/bin/true".to_string()]
        );
        assert!(m.mounts.is_empty());
    }

    #[test]
    fn misspelt_top_level_key_suggests_the_right_one() {
        let e = err(&format!("hostnme = \"x\"\n{MINIMAL}"));
        assert_eq!((e.line, e.column), (1, 1));
        assert_eq!(e.key.as_deref(), Some("hostnme"));
        assert_eq!(e.help.as_deref(), Some("did you mean `hostname`?"));
    }

    #[test]
    fn misspelt_nested_key_points_at_its_line() {
        let e = err("[process]\nargs = [\"/bin/true\"]\ncwdd = \"/\"\n[rootfs]\nhost = true\n");
        assert_eq!((e.line, e.column), (3, 1));
        assert_eq!(e.help.as_deref(), Some("did you mean `cwd`?"));
    }

    #[test]
    fn wrong_type_names_the_key() {
        let e = err("[process]\nargs = [\"/bin/true\"]\nuid = \"root\"\n[rootfs]\nhost = true\n");
        assert_eq!(e.line, 3);
        assert_eq!(e.key.as_deref(), Some("uid"));
        assert!(e.message.contains("invalid type"), "{}", e.message);
    }

    #[test]
    fn missing_process_is_reported() {
        let e = err("[rootfs]\nhost = true\n");
        assert_eq!(e.key.as_deref(), Some("process"));
        assert_eq!(e.message, "missing required key");
    }

    #[test]
    fn namespace_setting_accepts_bool_and_path_only() {
        let ok = format!("{MINIMAL}[namespaces]\nnet = \"/proc/1/ns/net\"\npid = false\n");
        let m = parse(Path::new("t.toml"), &ok).unwrap();
        let ns = m.namespaces.unwrap().into_inner();
        assert!(
            matches!(ns.net.unwrap().into_inner(), NamespaceSetting::Join(p) if p == "/proc/1/ns/net")
        );
        let e = err(&format!("{MINIMAL}[namespaces]\nnet = 3\n"));
        assert_eq!(e.message, "expected true, false or a namespace path");
        assert_eq!(e.line, 6);
    }
}
