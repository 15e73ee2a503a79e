//! `[security]`: the capabilities the container keeps and `no_new_privileges`, applied in the child.
//!
//! The defaults are Docker's: the 14 capabilities of [`DEFAULT_CAPABILITIES`] in the bounding, permitted,
//! effective and inheritable sets (permitted and effective only for uid 0; a non-root user starts with none),
//! an empty ambient set, and `no_new_privileges` on.

use std::str::FromStr;

use caps::{CapSet, Capability, CapsHashSet};
use cove_spawn::ChildError;
use toml::Spanned;

use crate::diagnostic::did_you_mean;
use std::path::{Path, PathBuf};

use cove_seccomp::{Filter, Profile, SeccompError};

use crate::landlock::LandlockPlan;
use crate::manifest::{RlimitValue, SecuritySection};
use crate::plan::Checker;
use nix::sys::resource::{Resource, RLIM_INFINITY};

/// Docker's default capability set.
pub const DEFAULT_CAPABILITIES: [Capability; 14] = [
    Capability::CAP_CHOWN,
    Capability::CAP_DAC_OVERRIDE,
    Capability::CAP_FSETID,
    Capability::CAP_FOWNER,
    Capability::CAP_MKNOD,
    Capability::CAP_NET_RAW,
    Capability::CAP_SETGID,
    Capability::CAP_SETUID,
    Capability::CAP_SETFCAP,
    Capability::CAP_SETPCAP,
    Capability::CAP_NET_BIND_SERVICE,
    Capability::CAP_SYS_CHROOT,
    Capability::CAP_KILL,
    Capability::CAP_AUDIT_WRITE,
];

/// The container's privileges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityPlan {
    /// Capabilities kept (bounding set; also permitted/effective/inheritable for uid 0).
    pub capabilities: CapsHashSet,
    /// Set `PR_SET_NO_NEW_PRIVS` before exec.
    pub no_new_privileges: bool,
    /// Resource limits to set in the child.
    pub rlimits: Vec<Rlimit>,
    /// The container's `oom_score_adj`.
    pub oom_score_adj: Option<i32>,
    /// Opt-in Landlock rules, applied right before exec.
    pub landlock: Option<LandlockPlan>,
    /// The seccomp filter, compiled up front (Docker's default profile unless configured).
    pub seccomp: Seccomp,
}

/// The container's seccomp setting and its compiled filter (`None`: unconfined).
#[derive(Clone)]
pub struct Seccomp {
    /// What the manifest said: `default`, `unconfined` or the profile's path.
    pub setting: String,
    /// The BPF program to load last before exec.
    pub filter: Option<Filter>,
}

impl Seccomp {
    /// Compiles `setting` for the kept capabilities.
    pub fn compile(setting: &str, capabilities: &CapsHashSet) -> Result<Seccomp, SeccompError> {
        let caps: Vec<String> = capabilities.iter().map(|c| c.to_string()).collect();
        let filter = Profile::from_setting(setting)?.compile(&caps)?;
        Ok(Seccomp {
            setting: setting.to_string(),
            filter,
        })
    }

    /// Loads the filter (child side).
    fn apply(&self) -> Result<(), ChildError> {
        match &self.filter {
            Some(filter) => filter
                .apply()
                .map_err(|e| ChildError::from_error("seccomp", &e)),
            None => Ok(()),
        }
    }
}

impl std::fmt::Debug for Seccomp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let instructions = self.filter.as_ref().map(Filter::instructions);
        f.debug_struct("Seccomp")
            .field("setting", &self.setting)
            .field("instructions", &instructions)
            .finish()
    }
}

impl PartialEq for Seccomp {
    fn eq(&self, other: &Self) -> bool {
        self.setting == other.setting && self.filter.is_some() == other.filter.is_some()
    }
}

impl Eq for Seccomp {}

/// One resource limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rlimit {
    /// Which limit.
    pub resource: Resource,
    /// Its manifest name (`nofile`).
    pub name: &'static str,
    /// Soft limit (`RLIM_INFINITY` for unlimited).
    pub soft: u64,
    /// Hard limit.
    pub hard: u64,
}

/// rlimit names as in the manifest (and `prlimit(1)`), with their resources.
pub const RLIMITS: [(&str, Resource); 16] = [
    ("as", Resource::RLIMIT_AS),
    ("core", Resource::RLIMIT_CORE),
    ("cpu", Resource::RLIMIT_CPU),
    ("data", Resource::RLIMIT_DATA),
    ("fsize", Resource::RLIMIT_FSIZE),
    ("locks", Resource::RLIMIT_LOCKS),
    ("memlock", Resource::RLIMIT_MEMLOCK),
    ("msgqueue", Resource::RLIMIT_MSGQUEUE),
    ("nice", Resource::RLIMIT_NICE),
    ("nofile", Resource::RLIMIT_NOFILE),
    ("nproc", Resource::RLIMIT_NPROC),
    ("rss", Resource::RLIMIT_RSS),
    ("rtprio", Resource::RLIMIT_RTPRIO),
    ("rttime", Resource::RLIMIT_RTTIME),
    ("sigpending", Resource::RLIMIT_SIGPENDING),
    ("stack", Resource::RLIMIT_STACK),
];

impl Default for SecurityPlan {
    fn default() -> Self {
        SecurityPlan {
            capabilities: DEFAULT_CAPABILITIES.into_iter().collect(),
            no_new_privileges: true,
            rlimits: Vec::new(),
            oom_score_adj: None,
            landlock: None,
            seccomp: Seccomp::compile("default", &DEFAULT_CAPABILITIES.into_iter().collect())
                .expect("Docker's default profile compiles"),
        }
    }
}

impl SecurityPlan {
    /// Child side, first: the OOM score adjustment (on the host's /proc, before the root changes).
    pub fn apply_oom_score_adj(&self) -> Result<(), ChildError> {
        let Some(adj) = self.oom_score_adj else {
            return Ok(());
        };
        std::fs::write("/proc/self/oom_score_adj", adj.to_string()).map_err(|e| {
            ChildError::from_io(
                "oom_score_adj",
                &e,
                format!("write {adj} to /proc/self/oom_score_adj"),
            )
        })
    }

    /// Child side, after the root is in place and before the user switch (raising a hard limit needs
    /// CAP_SYS_RESOURCE): every rlimit; one that cannot be applied is an error, never ignored.
    pub fn apply_rlimits(&self) -> Result<(), ChildError> {
        for r in &self.rlimits {
            nix::sys::resource::setrlimit(r.resource, r.soft, r.hard).map_err(|e| {
                let show = |v: u64| {
                    if v == RLIM_INFINITY {
                        "unlimited".to_string()
                    } else {
                        v.to_string()
                    }
                };
                ChildError::from_errno(
                    "rlimit",
                    e,
                    format!("set {} to {}/{}", r.name, show(r.soft), show(r.hard)),
                )
            })?;
        }
        Ok(())
    }

    /// Child side, before the user switch: drops every capability outside the kept set from the bounding set
    /// (this needs CAP_SETPCAP, which a non-root user no longer has after `setuid`).
    pub fn limit_bounding_set(&self) -> Result<(), ChildError> {
        let supported = caps::runtime::thread_all_supported();
        for cap in supported.iter().filter(|c| !self.capabilities.contains(c)) {
            caps::drop(None, CapSet::Bounding, *cap).map_err(|e| {
                ChildError::new(
                    "capabilities",
                    None,
                    format!("drop {cap} from the bounding set: {e}"),
                )
            })?;
        }
        Ok(())
    }

    /// Child side, after the user switch, right before exec: the effective, permitted and inheritable sets
    /// (for uid 0; others already have none), an empty ambient set, then `no_new_privileges`.
    pub fn apply_before_exec(&self, uid: u32) -> Result<(), ChildError> {
        if !self.no_new_privileges {
            self.seccomp.apply()?;
        }
        let kept: CapsHashSet = self.capabilities.iter().copied().collect();
        let empty = CapsHashSet::new();
        let target = if uid == 0 { &kept } else { &empty };
        // Shrink effective first: permitted may never be smaller than effective.
        for set in [CapSet::Effective, CapSet::Permitted, CapSet::Inheritable] {
            caps::set(None, set, target).map_err(|e| {
                ChildError::new("capabilities", None, format!("set the {set:?} set: {e}"))
            })?;
        }
        caps::clear(None, CapSet::Ambient).map_err(|e| {
            ChildError::new("capabilities", None, format!("clear the ambient set: {e}"))
        })?;
        if self.no_new_privileges {
            nix::sys::prctl::set_no_new_privs().map_err(|e| {
                ChildError::from_errno("no_new_privileges", e, "PR_SET_NO_NEW_PRIVS")
            })?;
        }
        // Landlock after no_new_privs (which it requires without CAP_SYS_ADMIN) and before seccomp.
        if let Some(landlock) = &self.landlock {
            landlock
                .apply()
                .map_err(|e| ChildError::from_error("landlock", &e))?;
        }
        // Last, so it filters only the workload. The kernel takes a filter only under no_new_privs or with
        // CAP_SYS_ADMIN: without no_new_privs it was loaded before the capabilities were dropped.
        if self.no_new_privileges {
            self.seccomp.apply()?;
        }
        Ok(())
    }
}

/// Checks `[security]`: capability names (`"NET_ADMIN"` or `"CAP_NET_ADMIN"`, any case, or `"ALL"`).
pub(crate) fn security_plan(
    c: &mut Checker,
    section: Option<&Spanned<SecuritySection>>,
    base: &Path,
) -> SecurityPlan {
    let mut plan = security_settings(c, section);
    let setting = section.and_then(|s| s.get_ref().seccomp.as_ref());
    let default_caps: CapsHashSet = DEFAULT_CAPABILITIES.into_iter().collect();
    if setting.is_none() && plan.capabilities == default_caps {
        return plan; // the default filter, compiled for the default capabilities already
    }
    let (text, span) = setting.map_or(("default".to_string(), 0..0), |s| {
        (s.get_ref().clone(), s.span())
    });
    let resolved = match text.as_str() {
        "default" | "unconfined" => text.clone(),
        path => base.join(path).display().to_string(),
    };
    match Seccomp::compile(&resolved, &plan.capabilities) {
        Ok(seccomp) => plan.seccomp = seccomp,
        Err(e) => {
            c.error(span, "security.seccomp", format!("{e}")).help = Some(
                "use \"default\", \"unconfined\" or a Docker/OCI seccomp profile (JSON)".into(),
            );
        }
    }
    plan
}

/// Everything of `[security]` but the seccomp filter.
fn security_settings(c: &mut Checker, section: Option<&Spanned<SecuritySection>>) -> SecurityPlan {
    let mut plan = SecurityPlan::default();
    let Some(section) = section else { return plan };
    let s = section.get_ref();
    if let Some(nnp) = &s.no_new_privileges {
        plan.no_new_privileges = *nnp.get_ref();
    }
    plan.rlimits = s
        .rlimits
        .iter()
        .filter_map(|(name, value)| rlimit(c, name, value))
        .collect();
    if let Some(adj) = &s.oom_score_adj {
        match i32::try_from(*adj.get_ref()) {
            Ok(v) if (-1000..=1000).contains(&v) => plan.oom_score_adj = Some(v),
            _ => {
                let msg = format!("{} is out of range -1000..=1000", adj.get_ref());
                c.error(adj.span(), "security.oom_score_adj", msg);
            }
        }
    }
    if let Some(section) = &s.landlock {
        let ll = section.get_ref();
        let landlock = LandlockPlan {
            read: ll.read.iter().map(PathBuf::from).collect(),
            write: ll.write.iter().map(PathBuf::from).collect(),
        };
        match landlock.validate() {
            Err(msg) => {
                c.error(section.span(), "security.landlock", msg);
            }
            Ok(()) if !plan.no_new_privileges => {
                c.error(
                    section.span(),
                    "security.landlock",
                    "Landlock needs no_new_privileges",
                )
                .help = Some("remove `no_new_privileges = false`".into());
            }
            Ok(()) => plan.landlock = Some(landlock),
        }
    }
    let Some(caps) = &s.capabilities else {
        return plan;
    };
    let caps = caps.get_ref();
    for name in &caps.drop {
        for cap in capability_names(c, name, "security.capabilities.drop") {
            plan.capabilities.remove(&cap);
        }
    }
    for name in &caps.add {
        plan.capabilities
            .extend(capability_names(c, name, "security.capabilities.add"));
    }
    plan
}

/// One `rlimits` entry: a known name and a soft limit not above the hard one.
fn rlimit(c: &mut Checker, name: &str, value: &Spanned<RlimitValue>) -> Option<Rlimit> {
    let key = format!("security.rlimits.{name}");
    let Some((name, resource)) = RLIMITS
        .iter()
        .copied()
        .find(|(n, _)| *n == name.to_ascii_lowercase())
    else {
        let err = c.error(value.span(), &key, format!("unknown rlimit `{name}`"));
        err.help = Some(match did_you_mean(name, RLIMITS.iter().map(|(n, _)| *n)) {
            Some(best) => format!("did you mean `{best}`?"),
            None => format!(
                "known: {}",
                RLIMITS
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
        return None;
    };
    let (soft, hard) = match value.get_ref() {
        RlimitValue::Both(v) => (*v, *v),
        RlimitValue::Pair(pair) if pair.len() == 2 => (pair[0], pair[1]),
        RlimitValue::Word(w) if w == "unlimited" => (RLIM_INFINITY, RLIM_INFINITY),
        _ => {
            c.error(
                value.span(),
                &key,
                "expected a number, [soft, hard] or \"unlimited\"",
            );
            return None;
        }
    };
    if soft > hard {
        c.error(
            value.span(),
            &key,
            format!("the soft limit {soft} is above the hard limit {hard}"),
        );
        return None;
    }
    Some(Rlimit {
        resource,
        name,
        soft,
        hard,
    })
}

/// One capability name (or `ALL`) as capabilities; an unknown name is an error with a suggestion.
fn capability_names(c: &mut Checker, name: &Spanned<String>, key: &str) -> Vec<Capability> {
    let upper = name.get_ref().to_ascii_uppercase();
    if upper == "ALL" {
        return caps::all().into_iter().collect();
    }
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    match Capability::from_str(&full) {
        Ok(cap) => vec![cap],
        Err(_) => {
            let known: Vec<String> = caps::all().iter().map(|c| c.to_string()).collect();
            let err = c.error(
                name.span(),
                key,
                format!("unknown capability `{}`", name.get_ref()),
            );
            err.help = Some(
                match did_you_mean(&full, known.iter().map(String::as_str)) {
                    Some(best) => format!("did you mean `{}`?", best.trim_start_matches("CAP_")),
                    None => "use a name from capabilities(7), e.g. \"NET_ADMIN\", or \"ALL\""
                        .to_string(),
                },
            );
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_set_is_dockers() {
        let mask: u64 = SecurityPlan::default()
            .capabilities
            .iter()
            .map(|c| 1u64 << c.index())
            .sum();
        assert_eq!(mask, 0xa80425fb);
        assert!(SecurityPlan::default().no_new_privileges);
    }
}
