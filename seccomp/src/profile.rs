//! The Docker/OCI seccomp profile JSON format, as serde types, and its validation.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize};

use crate::SeccompError;

/// A seccomp profile in the JSON format of Docker (`--security-opt seccomp=profile.json`), which is
/// also the shape of `linux.seccomp` in an OCI `config.json`.
///
/// Fields cove does not interpret (`comment`, `listenerPath`, `listenerMetadata`…) are accepted
/// and ignored.
/// Actions and operators are kept as written and checked by [`SeccompProfile::validate`] (called
/// by [`from_json`](SeccompProfile::from_json)) and again by [`Filter::compile`](crate::Filter::compile),
/// so an error names the rule.
///
/// ```
/// use cove_seccomp::SeccompProfile;
///
/// let profile = SeccompProfile::from_json(r#"{
///     "defaultAction": "SCMP_ACT_ERRNO",
///     "syscalls": [{ "names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW" }]
/// }"#).unwrap();
/// assert_eq!(profile.syscalls[0].names.len(), 3);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeccompProfile {
    /// Action for syscalls no rule matches, e.g. `SCMP_ACT_ERRNO`.
    pub default_action: String,
    /// Errno returned by an `SCMP_ACT_ERRNO` default action (EPERM when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_errno_ret: Option<u32>,
    /// OCI: architectures the filter covers (`SCMP_ARCH_X86_64`…). cove always filters the native
    /// architecture only; see the crate documentation.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub architectures: Vec<String>,
    /// Docker: per native architecture, the sub-architectures (e.g. x86_64 → x86, x32).
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub arch_map: Vec<ArchMap>,
    /// OCI: `seccomp()` flags (`SECCOMP_FILTER_FLAG_LOG`, `SECCOMP_FILTER_FLAG_SPEC_ALLOW`,
    /// `SECCOMP_FILTER_FLAG_TSYNC`), passed to the kernel by [`Filter::apply`](crate::Filter::apply).
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub flags: Vec<String>,
    /// The rules, in order.
    #[serde(default, deserialize_with = "null_as_default")]
    pub syscalls: Vec<SyscallRule>,
}

/// One `archMap` entry of a Docker profile.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchMap {
    /// The native architecture, e.g. `SCMP_ARCH_X86_64`.
    pub architecture: String,
    /// Architectures whose syscalls a process of the native one may also make.
    #[serde(default, deserialize_with = "null_as_default")]
    pub sub_architectures: Vec<String>,
}

/// One rule: an action for a set of syscalls, optionally only when argument filters match and
/// only when the `includes`/`excludes` conditions hold.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyscallRule {
    /// The syscall names.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub names: Vec<String>,
    /// Old single-name form (`"name": "read"`), merged with `names`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The action, e.g. `SCMP_ACT_ALLOW`.
    pub action: String,
    /// Errno for `SCMP_ACT_ERRNO` (and the message number for `SCMP_ACT_TRACE`); EPERM when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errno_ret: Option<u32>,
    /// Argument filters; all must match (AND).
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub args: Vec<ArgFilter>,
    /// Docker: the rule applies only if all of these hold.
    #[serde(default, skip_serializing_if = "Conditions::is_empty")]
    pub includes: Conditions,
    /// Docker: the rule does not apply if any of these holds.
    #[serde(default, skip_serializing_if = "Conditions::is_empty")]
    pub excludes: Conditions,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// A comparison of one syscall argument (64 bits wide, as libseccomp compares on 64-bit
/// architectures).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArgFilter {
    /// Argument index, 0..=5.
    pub index: u32,
    /// The value compared with (for `SCMP_CMP_MASKED_EQ`: the mask).
    pub value: u64,
    /// For `SCMP_CMP_MASKED_EQ`: the value the masked argument must equal.
    #[serde(default)]
    pub value_two: u64,
    /// `SCMP_CMP_EQ`, `NE`, `LT`, `LE`, `GT`, `GE` or `MASKED_EQ`.
    pub op: String,
}

/// Docker's `includes`/`excludes`: capabilities, architectures, minimum kernel.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Conditions {
    /// Capability names (`CAP_SYS_ADMIN`).
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub caps: Vec<String>,
    /// Architectures, in Go's names (`amd64`, `arm64`, `x32`…); `SCMP_ARCH_*` names are accepted too.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub arches: Vec<String>,
    /// Kernel version `"<major>.<minor>"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_kernel: Option<String>,
}

impl Conditions {
    /// True when no condition is set.
    pub fn is_empty(&self) -> bool {
        self.caps.is_empty() && self.arches.is_empty() && self.min_kernel.is_none()
    }
}

/// Deserializes `null` as the type's default (Docker profiles write `"args": null`).
fn null_as_default<'de, D, T>(de: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(de)?.unwrap_or_default())
}

impl SeccompProfile {
    /// Parses and validates a profile from JSON text.
    pub fn from_json(text: &str) -> Result<Self, SeccompError> {
        Self::parse(text, "<inline JSON>")
    }

    /// Reads, parses and validates a profile file.
    pub fn from_file(path: &Path) -> Result<Self, SeccompError> {
        let text = std::fs::read_to_string(path).map_err(|source| SeccompError::ReadProfile {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    fn parse(text: &str, origin: &str) -> Result<Self, SeccompError> {
        let profile: Self =
            serde_json::from_str(text).map_err(|source| SeccompError::ParseProfile {
                origin: origin.to_owned(),
                source,
            })?;
        profile.validate()?;
        Ok(profile)
    }

    /// Takes an already parsed JSON value, e.g. `serde_json::to_value(&oci_spec.linux.seccomp)`
    /// (the OCI `linux.seccomp` object has this format), and validates it.
    pub fn from_value(value: serde_json::Value) -> Result<Self, SeccompError> {
        let profile: Self =
            serde_json::from_value(value).map_err(|source| SeccompError::ParseProfile {
                origin: "<JSON value>".to_owned(),
                source,
            })?;
        profile.validate()?;
        Ok(profile)
    }

    /// Checks every action, operator, argument index, `minKernel` and flag, naming the first bad
    /// rule.
    pub fn validate(&self) -> Result<(), SeccompError> {
        crate::action::parse(
            &self.default_action,
            self.default_errno_ret,
            "defaultAction",
        )?;
        crate::action::flags(&self.flags)?;
        for (index, rule) in self.syscalls.iter().enumerate() {
            rule.validate(index)?;
        }
        Ok(())
    }

    /// Serializes the profile as pretty JSON (e.g. to write out [`docker_default`](Self::docker_default)).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a profile always serializes")
    }
}

impl SyscallRule {
    /// All syscall names of the rule: `names` followed by the old single `name`.
    pub fn all_names(&self) -> impl Iterator<Item = &str> {
        self.names
            .iter()
            .map(String::as_str)
            .chain(self.name.as_deref())
    }

    /// Checks the rule at position `index` of `syscalls`.
    pub fn validate(&self, index: usize) -> Result<(), SeccompError> {
        if self.all_names().next().is_none() {
            return Err(SeccompError::NoSyscallNames { index });
        }
        let label = RuleLabel { index, rule: self }.to_string();
        crate::action::parse(&self.action, self.errno_ret, &label)?;
        for (arg, filter) in self.args.iter().enumerate() {
            crate::action::condition(filter, arg, &label)?;
        }
        for version in [&self.includes.min_kernel, &self.excludes.min_kernel]
            .into_iter()
            .flatten()
        {
            version.parse::<KernelVersion>()?;
        }
        Ok(())
    }
}

/// Formats a rule as `syscalls[<index>] (<up to three names>…)` for error messages.
pub(crate) struct RuleLabel<'a> {
    pub(crate) index: usize,
    pub(crate) rule: &'a SyscallRule,
}

impl fmt::Display for RuleLabel<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "syscalls[{}] (", self.index)?;
        let total = self.rule.all_names().count();
        for (i, name) in self.rule.all_names().take(3).enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(name)?;
        }
        if total > 3 {
            write!(f, ", … {} more", total - 3)?;
        }
        f.write_str(")")
    }
}

/// A kernel version `major.minor`, for Docker's `minKernel`.
///
/// ```
/// use cove_seccomp::KernelVersion;
///
/// let v: KernelVersion = "6.18.0-1-amd64".parse().unwrap();
/// assert!(v >= "4.8".parse().unwrap());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KernelVersion {
    /// Major version.
    pub major: u32,
    /// Minor version.
    pub minor: u32,
}

impl std::str::FromStr for KernelVersion {
    type Err = SeccompError;

    /// Parses `"4.8"`, `"6.18.0-1-amd64"` (anything after the minor number is ignored).
    fn from_str(text: &str) -> Result<Self, SeccompError> {
        let invalid = || SeccompError::KernelVersion {
            text: text.to_owned(),
        };
        let mut parts = text.trim().splitn(3, '.');
        let major = parts.next().ok_or_else(invalid)?;
        let minor = parts.next().ok_or_else(invalid)?;
        let minor_digits: &str = minor
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap_or("");
        Ok(Self {
            major: major.parse().map_err(|_| invalid())?,
            minor: minor_digits.parse().map_err(|_| invalid())?,
        })
    }
}

impl fmt::Display for KernelVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl KernelVersion {
    /// The running kernel's version (one `uname` call).
    pub fn running() -> Result<Self, SeccompError> {
        let release =
            crate::sys::kernel_release().map_err(|source| SeccompError::Uname { source })?;
        release.parse()
    }
}
