//! Device access rules (the `devices` controller): the model, validation, the v1 file format,
//! and an emulation of the v1 semantics that the v2 eBPF filter is generated from.
//!
//! ## Semantics
//!
//! The rules are applied in order, exactly as cgroup v1 applies writes to `devices.allow` and
//! `devices.deny` (`Documentation/admin-guide/cgroup-v1/devices.rst`):
//!
//! - a rule of kind [`DeviceKind::All`] (`a *:* rwm`) sets the *default*: allow or deny every
//!   device, and forgets every rule before it;
//! - with a deny-all default, an allow rule adds an exception (a device may be used when one
//!   exception grants *all* the requested access), a deny rule removes access from the
//!   exception with exactly the same type and numbers;
//! - with an allow-all default, a deny rule adds an exception (a device is refused when one
//!   exception covers *any* requested access), an allow rule removes access from the
//!   exception with exactly the same type and numbers.
//!
//! A new cgroup starts from its parent's state (allow-all at a hierarchy root), so rule lists
//! should begin with a deny-all rule, as [`default_container_devices`] does. On cgroup v2 there
//! are no files: the same state is computed by [`V1State`] and compiled into a
//! `BPF_PROG_TYPE_CGROUP_DEVICE` program (see `devfilter`), so both versions behave the same.

use std::fmt;
use std::path::Path;

use crate::error::{CgroupError, Result};
use crate::fsutil::write;

/// The largest device major number the kernel has (12 bits).
pub const MAX_DEVICE_MAJOR: i64 = 0xfff;
/// The largest device minor number the kernel has (20 bits).
pub const MAX_DEVICE_MINOR: i64 = 0xf_ffff;

/// Which devices a [`DeviceRule`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceKind {
    /// Every device, character and block (`a`). Only `a *:* rwm` is meaningful: the kernel
    /// treats it as "set the default", so validation refuses numbers or partial access.
    All,
    /// Character devices (`c`).
    Char,
    /// Block devices (`b`).
    Block,
}

impl DeviceKind {
    /// The letter of the kind in the v1 format: `a`, `c` or `b`.
    pub fn letter(self) -> char {
        match self {
            DeviceKind::All => 'a',
            DeviceKind::Char => 'c',
            DeviceKind::Block => 'b',
        }
    }
}

/// One device access rule, as in the OCI `linux.resources.devices` list.
///
/// ```
/// use cove_cgroup::{DeviceKind, DeviceRule};
///
/// let null = DeviceRule::allow(DeviceKind::Char, Some(1), Some(3), "rwm");
/// assert_eq!(null.v1_entry(), "c 1:3 rwm");
/// assert_eq!(null.to_string(), "allow c 1:3 rwm");
/// assert_eq!(DeviceRule::deny_all().v1_entry(), "a *:* rwm");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeviceRule {
    /// `true`: allow (`devices.allow`), `false`: deny (`devices.deny`).
    pub allow: bool,
    /// Character, block, or all devices.
    pub kind: DeviceKind,
    /// Major number, `None` for any (`*`). At most [`MAX_DEVICE_MAJOR`].
    pub major: Option<i64>,
    /// Minor number, `None` for any (`*`). At most [`MAX_DEVICE_MINOR`].
    pub minor: Option<i64>,
    /// A non-empty subset of `"rwm"`: read, write, mknod.
    pub access: String,
}

impl DeviceRule {
    /// An allow rule.
    pub fn allow(kind: DeviceKind, major: Option<i64>, minor: Option<i64>, access: &str) -> Self {
        DeviceRule {
            allow: true,
            kind,
            major,
            minor,
            access: access.to_owned(),
        }
    }

    /// A deny rule.
    pub fn deny(kind: DeviceKind, major: Option<i64>, minor: Option<i64>, access: &str) -> Self {
        DeviceRule {
            allow: false,
            ..DeviceRule::allow(kind, major, minor, access)
        }
    }

    /// `a *:* rwm`, denied: the usual first rule.
    pub fn deny_all() -> Self {
        DeviceRule::deny(DeviceKind::All, None, None, "rwm")
    }

    /// `a *:* rwm`, allowed: no restriction at all (a privileged container).
    pub fn allow_all() -> Self {
        DeviceRule::allow(DeviceKind::All, None, None, "rwm")
    }

    /// The rule in the v1 `devices.allow` / `devices.deny` format, e.g. `c 1:3 rwm`, `b *:* m`.
    pub fn v1_entry(&self) -> String {
        let num = |n: Option<i64>| n.map_or_else(|| "*".to_owned(), |n| n.to_string());
        format!(
            "{} {}:{} {}",
            self.kind.letter(),
            num(self.major),
            num(self.minor),
            self.access
        )
    }

    /// The v1 file this rule is written to.
    pub fn v1_file(&self) -> &'static str {
        if self.allow {
            "devices.allow"
        } else {
            "devices.deny"
        }
    }

    /// The access bits (`BPF_DEVCG_ACC_*`: mknod 1, read 2, write 4) of a validated rule.
    pub(crate) fn access_bits(&self) -> u32 {
        self.access.chars().map(access_bit).sum()
    }
}

impl fmt::Display for DeviceRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = if self.allow { "allow" } else { "deny" };
        write!(f, "{verb} {}", self.v1_entry())
    }
}

/// `BPF_DEVCG_ACC_MKNOD`.
pub(crate) const ACC_MKNOD: u32 = 1;
/// `BPF_DEVCG_ACC_READ`.
pub(crate) const ACC_READ: u32 = 2;
/// `BPF_DEVCG_ACC_WRITE`.
pub(crate) const ACC_WRITE: u32 = 4;
/// All three access bits.
pub(crate) const ACC_ALL: u32 = ACC_MKNOD | ACC_READ | ACC_WRITE;

fn access_bit(c: char) -> u32 {
    match c {
        'm' => ACC_MKNOD,
        'r' => ACC_READ,
        'w' => ACC_WRITE,
        _ => 0,
    }
}

/// The device rules of an unprivileged container: runc's default list (libcontainer
/// `AllowedDevices` up to runc 1.1, which Docker and Podman use as well).
///
/// 1. deny `a *:* rwm` — everything not listed below;
/// 2. allow `c *:* m` and `b *:* m` — `mknod` of any node (opening it is still refused);
/// 3. allow `rwm` on the character devices `1:3` `/dev/null`, `1:5` `/dev/zero`, `1:7`
///    `/dev/full`, `1:8` `/dev/random`, `1:9` `/dev/urandom`, `5:0` `/dev/tty`, `5:1`
///    `/dev/console`, `5:2` `/dev/ptmx`, `136:*` `/dev/pts/*` and `10:200` `/dev/net/tun`.
///
/// (runc 1.2 dropped `10:200` from its defaults; Docker's and this list keep it.)
///
/// ```
/// let rules = cove_cgroup::default_container_devices();
/// assert_eq!(rules[0], cove_cgroup::DeviceRule::deny_all());
/// assert!(rules.iter().any(|r| r.v1_entry() == "c 1:3 rwm"));
/// ```
pub fn default_container_devices() -> Vec<DeviceRule> {
    use DeviceKind::{Block, Char};
    let mut rules = vec![
        DeviceRule::deny_all(),
        DeviceRule::allow(Char, None, None, "m"),
        DeviceRule::allow(Block, None, None, "m"),
    ];
    let rwm = [
        (1, Some(3)),
        (1, Some(5)),
        (1, Some(7)),
        (1, Some(8)),
        (1, Some(9)),
        (5, Some(0)),
        (5, Some(1)),
        (5, Some(2)),
        (136, None),
        (10, Some(200)),
    ];
    rules.extend(
        rwm.into_iter()
            .map(|(major, minor)| DeviceRule::allow(Char, Some(major), minor, "rwm")),
    );
    rules
}

/// Checks every rule: access a non-empty subset of `rwm` without repeats, numbers within the
/// kernel's ranges, and `a` rules exactly `a *:* rwm`. The error names the rule and its index.
pub(crate) fn validate(rules: &[DeviceRule]) -> Result<()> {
    for (i, rule) in rules.iter().enumerate() {
        if let Some(reason) = rule_problem(rule) {
            return Err(CgroupError::InvalidResource {
                field: "devices",
                value: format!("rule {i}: {rule}"),
                reason,
            });
        }
    }
    Ok(())
}

fn rule_problem(rule: &DeviceRule) -> Option<String> {
    if rule.access.is_empty() {
        return Some("access must be a non-empty subset of \"rwm\"".to_owned());
    }
    if let Some(c) = rule.access.chars().find(|c| !"rwm".contains(*c)) {
        return Some(format!(
            "access letter {c:?} is none of r (read), w (write), m (mknod)"
        ));
    }
    let mut seen = String::new();
    for c in rule.access.chars() {
        if seen.contains(c) {
            return Some(format!("access letter {c:?} given twice"));
        }
        seen.push(c);
    }
    let ranges = [
        ("major", rule.major, MAX_DEVICE_MAJOR),
        ("minor", rule.minor, MAX_DEVICE_MINOR),
    ];
    for (what, n, max) in ranges {
        if let Some(n) = n.filter(|n| !(0..=max).contains(n)) {
            return Some(format!(
                "{what} {n} is outside 0..={max} (use None for '*')"
            ));
        }
    }
    if rule.kind == DeviceKind::All
        && (rule.major.is_some() || rule.minor.is_some() || rule.access_bits() != ACC_ALL)
    {
        return Some(
            "an 'a' rule sets the default for every device: it must be 'a *:* rwm'".to_owned(),
        );
    }
    None
}

/// v1: writes every rule, in order, to `devices.allow` or `devices.deny` in `dir`. An `a` rule
/// is written as plain `a`, the form the kernel documents for "all devices".
pub(crate) fn apply_v1(dir: &Path, rules: &[DeviceRule]) -> Result<()> {
    for rule in rules {
        let entry = match rule.kind {
            DeviceKind::All => "a".to_owned(),
            _ => rule.v1_entry(),
        };
        write(dir, rule.v1_file(), "devices", &entry)?;
    }
    Ok(())
}

/// One v1 exception: a char or block device pattern and its access bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Exception {
    /// `BPF_DEVCG_DEV_BLOCK` (1) or `BPF_DEVCG_DEV_CHAR` (2).
    pub dev_type: u32,
    /// `None`: any major.
    pub major: Option<u32>,
    /// `None`: any minor.
    pub minor: Option<u32>,
    /// `ACC_*` bits.
    pub access: u32,
}

/// `BPF_DEVCG_DEV_BLOCK`.
pub(crate) const DEV_BLOCK: u32 = 1;
/// `BPF_DEVCG_DEV_CHAR`.
pub(crate) const DEV_CHAR: u32 = 2;

/// The v1 devices controller's state after a list of rules: a default and its exceptions
/// (the kernel's `dev_cgroup->behavior` and `->exceptions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct V1State {
    /// `true`: everything is allowed except the exceptions (which deny);
    /// `false`: everything is denied except the exceptions (which allow).
    pub default_allow: bool,
    /// The exceptions, in the order they were added.
    pub exceptions: Vec<Exception>,
}

impl V1State {
    /// The state of a cgroup under a root that allows everything, after `rules` (validated).
    pub(crate) fn from_rules(rules: &[DeviceRule]) -> V1State {
        let mut state = V1State {
            default_allow: true,
            exceptions: Vec::new(),
        };
        for rule in rules {
            state.apply(rule);
        }
        state
    }

    fn apply(&mut self, rule: &DeviceRule) {
        let dev_type = match rule.kind {
            DeviceKind::All => {
                self.default_allow = rule.allow;
                self.exceptions.clear();
                return;
            }
            DeviceKind::Char => DEV_CHAR,
            DeviceKind::Block => DEV_BLOCK,
        };
        let ex = Exception {
            dev_type,
            major: rule.major.map(|n| n as u32),
            minor: rule.minor.map(|n| n as u32),
            access: rule.access_bits(),
        };
        // An exception is the opposite of the default: a rule that agrees with the default
        // takes access away from the exception with the same pattern.
        if rule.allow == self.default_allow {
            self.remove(ex);
        } else {
            self.add(ex);
        }
    }

    fn same_pattern(a: &Exception, b: &Exception) -> bool {
        (a.dev_type, a.major, a.minor) == (b.dev_type, b.major, b.minor)
    }

    fn add(&mut self, ex: Exception) {
        match self
            .exceptions
            .iter_mut()
            .find(|e| V1State::same_pattern(e, &ex))
        {
            Some(e) => e.access |= ex.access,
            None => self.exceptions.push(ex),
        }
    }

    fn remove(&mut self, ex: Exception) {
        for e in self
            .exceptions
            .iter_mut()
            .filter(|e| V1State::same_pattern(e, &ex))
        {
            e.access &= !ex.access;
        }
        self.exceptions.retain(|e| e.access != 0);
    }

    /// Whether access `access` (`ACC_*` bits) to device `dev_type` `major:minor` is allowed, as
    /// the kernel's v1 check decides it (the reference the eBPF program is tested against).
    #[cfg(test)]
    pub(crate) fn permits(&self, dev_type: u32, major: u32, minor: u32, access: u32) -> bool {
        let matches = |e: &&Exception| {
            e.dev_type == dev_type
                && e.major.is_none_or(|m| m == major)
                && e.minor.is_none_or(|m| m == minor)
        };
        if self.default_allow {
            // Refused when any exception covers any of the requested access.
            !self
                .exceptions
                .iter()
                .filter(matches)
                .any(|e| e.access & access != 0)
        } else {
            // Allowed when one exception grants all of the requested access.
            self.exceptions
                .iter()
                .filter(matches)
                .any(|e| access & !e.access == 0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DeviceKind::{All, Block, Char};

    #[test]
    fn v1_entries() {
        assert_eq!(
            DeviceRule::allow(Block, None, None, "m").v1_entry(),
            "b *:* m"
        );
        assert_eq!(
            DeviceRule::allow(Char, Some(136), None, "rwm").v1_entry(),
            "c 136:* rwm"
        );
        assert_eq!(
            DeviceRule::deny(Char, None, Some(7), "rw").v1_entry(),
            "c *:7 rw"
        );
        let r = DeviceRule::deny(Block, Some(8), Some(0), "r");
        assert_eq!(r.v1_file(), "devices.deny");
        assert_eq!(r.to_string(), "deny b 8:0 r");
        assert_eq!(DeviceRule::allow_all().v1_file(), "devices.allow");
    }

    #[test]
    fn the_default_list_is_runcs() {
        let rules = default_container_devices();
        let text: Vec<String> = rules.iter().map(|r| r.to_string()).collect();
        assert_eq!(
            text,
            [
                "deny a *:* rwm",
                "allow c *:* m",
                "allow b *:* m",
                "allow c 1:3 rwm",
                "allow c 1:5 rwm",
                "allow c 1:7 rwm",
                "allow c 1:8 rwm",
                "allow c 1:9 rwm",
                "allow c 5:0 rwm",
                "allow c 5:1 rwm",
                "allow c 5:2 rwm",
                "allow c 136:* rwm",
                "allow c 10:200 rwm",
            ]
        );
        validate(&rules).unwrap();
    }

    fn problem(rule: DeviceRule) -> String {
        let err = validate(&[DeviceRule::deny_all(), rule]).unwrap_err();
        match &err {
            CgroupError::InvalidResource { field, value, .. } => {
                assert_eq!(*field, "devices");
                assert!(value.starts_with("rule 1: "), "{value}");
            }
            other => panic!("unexpected error {other:?}"),
        }
        err.to_string()
    }

    #[test]
    fn validation_names_the_rule() {
        let e = problem(DeviceRule::allow(Char, Some(1), Some(3), "rwx"));
        assert!(e.contains("allow c 1:3 rwx") && e.contains("'x'"), "{e}");
        let e = problem(DeviceRule::allow(Char, Some(1), Some(3), ""));
        assert!(e.contains("non-empty"), "{e}");
        let e = problem(DeviceRule::allow(Char, Some(1), Some(3), "rr"));
        assert!(e.contains("twice"), "{e}");
        let e = problem(DeviceRule::allow(Char, Some(-1), Some(3), "r"));
        assert!(e.contains("major -1"), "{e}");
        let e = problem(DeviceRule::allow(Block, Some(8), Some(1 << 20), "r"));
        assert!(e.contains("minor 1048576"), "{e}");
        let e = problem(DeviceRule::allow(All, Some(1), None, "rwm"));
        assert!(e.contains("a *:* rwm"), "{e}");
        let e = problem(DeviceRule::deny(All, None, None, "r"));
        assert!(e.contains("a *:* rwm"), "{e}");
        validate(&[DeviceRule::allow(
            Block,
            Some(MAX_DEVICE_MAJOR),
            Some(MAX_DEVICE_MINOR),
            "mwr",
        )])
        .unwrap();
    }

    #[test]
    fn v1_writes_in_order() {
        let dir = tempfile::tempdir().unwrap();
        // Fake control files that record each write (the real ones are write-only).
        let rules = [
            DeviceRule::deny_all(),
            DeviceRule::allow(Char, Some(1), Some(3), "rwm"),
            DeviceRule::deny(Char, Some(1), Some(3), "w"),
        ];
        std::fs::write(dir.path().join("devices.allow"), "").unwrap();
        std::fs::write(dir.path().join("devices.deny"), "").unwrap();
        apply_v1(dir.path(), &rules[..2]).unwrap();
        let read = |f: &str| std::fs::read_to_string(dir.path().join(f)).unwrap();
        assert_eq!(read("devices.deny"), "a");
        assert_eq!(read("devices.allow"), "c 1:3 rwm");
        apply_v1(dir.path(), &rules[2..]).unwrap();
        assert_eq!(read("devices.deny"), "c 1:3 w");
        let empty = tempfile::tempdir().unwrap();
        assert!(matches!(
            apply_v1(empty.path(), &rules),
            Err(CgroupError::Write {
                controller: "devices",
                ..
            })
        ));
    }

    #[test]
    fn emulation_of_the_default_list() {
        let s = V1State::from_rules(&default_container_devices());
        assert!(!s.default_allow);
        assert!(s.permits(DEV_CHAR, 1, 3, ACC_READ | ACC_WRITE));
        assert!(s.permits(DEV_CHAR, 136, 42, ACC_READ));
        assert!(s.permits(DEV_BLOCK, 8, 0, ACC_MKNOD));
        assert!(!s.permits(DEV_BLOCK, 8, 0, ACC_READ));
        assert!(!s.permits(DEV_BLOCK, 8, 0, ACC_MKNOD | ACC_READ));
        assert!(!s.permits(DEV_CHAR, 1, 1, ACC_READ)); // /dev/mem
        assert!(!s.permits(DEV_CHAR, 10, 201, ACC_WRITE));
    }

    #[test]
    fn emulation_follows_v1_exceptions() {
        // Deny default: a deny removes access from the same pattern only.
        let s = V1State::from_rules(&[
            DeviceRule::deny_all(),
            DeviceRule::allow(Char, Some(1), Some(3), "rwm"),
            DeviceRule::deny(Char, Some(1), Some(3), "w"),
            DeviceRule::allow(Char, None, None, "r"),
            DeviceRule::deny(Char, Some(4), None, "r"), // no such exception: no effect
        ]);
        assert!(s.permits(DEV_CHAR, 1, 3, ACC_READ));
        assert!(!s.permits(DEV_CHAR, 1, 3, ACC_WRITE));
        assert!(s.permits(DEV_CHAR, 4, 1, ACC_READ));
        assert!(!s.permits(DEV_CHAR, 4, 1, ACC_READ | ACC_WRITE));
        // Allow default: deny exceptions refuse any overlap; an allow lifts them.
        let s = V1State::from_rules(&[
            DeviceRule::deny(Block, Some(8), None, "rw"),
            DeviceRule::allow(Block, Some(8), None, "r"),
        ]);
        assert!(s.default_allow);
        assert!(s.permits(DEV_BLOCK, 8, 0, ACC_READ));
        assert!(!s.permits(DEV_BLOCK, 8, 0, ACC_READ | ACC_WRITE));
        assert!(s.permits(DEV_CHAR, 8, 0, ACC_WRITE));
        // An 'a' rule forgets everything before it; duplicate patterns merge.
        let s = V1State::from_rules(&[
            DeviceRule::deny(Block, Some(8), None, "rw"),
            DeviceRule::deny_all(),
            DeviceRule::allow(Char, Some(1), Some(3), "r"),
            DeviceRule::allow(Char, Some(1), Some(3), "w"),
        ]);
        assert_eq!(s.exceptions.len(), 1);
        assert_eq!(s.exceptions[0].access, ACC_READ | ACC_WRITE);
        assert!(s.permits(DEV_CHAR, 1, 3, ACC_READ | ACC_WRITE));
        assert!(!s.permits(DEV_CHAR, 1, 3, ACC_MKNOD));
        assert_eq!(
            V1State::from_rules(&[]),
            V1State {
                default_allow: true,
                exceptions: vec![]
            }
        );
    }
}
