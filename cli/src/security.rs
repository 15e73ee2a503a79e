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
use crate::manifest::SecuritySection;
use crate::plan::Checker;

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
}

impl Default for SecurityPlan {
    fn default() -> Self {
        SecurityPlan {
            capabilities: DEFAULT_CAPABILITIES.into_iter().collect(),
            no_new_privileges: true,
        }
    }
}

impl SecurityPlan {
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
        Ok(())
    }
}

/// Checks `[security]`: capability names (`"NET_ADMIN"` or `"CAP_NET_ADMIN"`, any case, or `"ALL"`).
pub(crate) fn security_plan(
    c: &mut Checker,
    section: Option<&Spanned<SecuritySection>>,
) -> SecurityPlan {
    let mut plan = SecurityPlan::default();
    let Some(section) = section else { return plan };
    let s = section.get_ref();
    if let Some(nnp) = &s.no_new_privileges {
        plan.no_new_privileges = *nnp.get_ref();
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
