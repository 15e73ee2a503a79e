//! `[security]`: the manifest's capabilities, `no_new_privileges`, rlimits, `oom_score_adj`, Landlock and
//! seccomp settings, checked and lowered into the engine's [`SecurityPlan`].

use std::path::{Path, PathBuf};
use std::str::FromStr;

use caps::Capability;
use cove_container::landlock::LandlockPlan;
use cove_container::security::{Rlimit, Seccomp, SecurityPlan, DEFAULT_CAPABILITIES, RLIMITS};
use nix::sys::resource::RLIM_INFINITY;
use toml::Spanned;

use crate::diagnostic::{did_you_mean, Checker};
use crate::manifest::{RlimitValue, SecuritySection};

/// Checks `[security]`: capability names (`"NET_ADMIN"` or `"CAP_NET_ADMIN"`, any case, or `"ALL"`).
pub(crate) fn security_plan(
    c: &mut Checker,
    section: Option<&Spanned<SecuritySection>>,
    base: &Path,
) -> SecurityPlan {
    let mut plan = security_settings(c, section);
    let setting = section.and_then(|s| s.get_ref().seccomp.as_ref());
    seccomp_filter(c, &mut plan, setting, base);
    let listener = section.and_then(|s| s.get_ref().seccomp_listener.as_ref());
    seccomp_listener(c, &mut plan.seccomp, setting, listener);
    plan
}

/// Compiles `security.seccomp` for the kept capabilities into `plan.seccomp`.
fn seccomp_filter(
    c: &mut Checker,
    plan: &mut SecurityPlan,
    setting: Option<&Spanned<String>>,
    base: &Path,
) {
    let (text, span) = setting.map_or(("default".to_string(), 0..0), |s| {
        (s.get_ref().clone(), s.span())
    });
    let resolved = match text.as_str() {
        "default" | "unconfined" => text.clone(),
        path => base.join(path).display().to_string(),
    };
    let compiled = match resolved.as_str() {
        "default" => Seccomp::default_for(&plan.capabilities),
        _ => Seccomp::compile(&resolved, &plan.capabilities),
    };
    match compiled {
        Ok(seccomp) => plan.seccomp = seccomp,
        Err(e) => {
            c.error(span, "security.seccomp", format!("{e}")).help = Some(
                "use \"default\", \"unconfined\" or a Docker/OCI seccomp profile (JSON)".into(),
            );
        }
    }
}

/// Checks `security.seccomp_listener`: required (an absolute path) when the filter notifies,
/// refused when it does not.
fn seccomp_listener(
    c: &mut Checker,
    seccomp: &mut Seccomp,
    setting: Option<&Spanned<String>>,
    listener: Option<&Spanned<String>>,
) {
    match (seccomp.notifies(), listener) {
        (false, None) => {}
        (true, None) => {
            let span = setting.map_or(0..0, Spanned::span);
            let msg = "the profile has SCMP_ACT_NOTIFY rules but no listener socket is set";
            c.error(span, "security.seccomp", msg).help = Some(
                "set security.seccomp_listener = \"/absolute/path/of/a/unix.sock\" (a seccomp agent \
                 listening there receives the listener fd)"
                    .into(),
            );
        }
        (false, Some(path)) => {
            let msg =
                "the seccomp profile has no SCMP_ACT_NOTIFY rule, so there is no listener to send";
            c.error(path.span(), "security.seccomp_listener", msg).help =
                Some("remove the key, or add SCMP_ACT_NOTIFY rules to the profile".into());
        }
        (true, Some(path)) if !Path::new(path.get_ref()).is_absolute() => {
            let msg = format!("{:?} is not an absolute path", path.get_ref());
            c.error(path.span(), "security.seccomp_listener", msg).help =
                Some("give the unix socket's absolute host path".into());
        }
        (true, Some(path)) => seccomp.listener_path = Some(PathBuf::from(path.get_ref())),
    }
}

/// Everything of `[security]` but the seccomp filter.
fn security_settings(c: &mut Checker, section: Option<&Spanned<SecuritySection>>) -> SecurityPlan {
    // The filter is compiled once, by the caller, for the final capability set.
    let mut plan = SecurityPlan {
        capabilities: DEFAULT_CAPABILITIES.into_iter().collect(),
        no_new_privileges: true,
        rlimits: Vec::new(),
        oom_score_adj: None,
        landlock: None,
        seccomp: Seccomp::unconfined(),
        capability_sets: None,
    };
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

    /// Checks the `[security]` table `toml` with profiles relative to `dir`: the plan and the
    /// errors as `key: message`.
    fn check_security(toml_text: &str, dir: &Path) -> (SecurityPlan, Vec<String>) {
        #[derive(serde::Deserialize)]
        struct Doc {
            security: Spanned<SecuritySection>,
        }
        let doc: Doc = toml::from_str(toml_text).expect("toml");
        let file = dir.join("m.toml");
        let mut c = Checker {
            file: &file,
            source: toml_text,
            errors: Vec::new(),
        };
        let plan = security_plan(&mut c, Some(&doc.security), dir);
        let errors = c
            .errors
            .iter()
            .map(|e| format!("{}: {}", e.key.clone().unwrap_or_default(), e.message))
            .collect();
        (plan, errors)
    }

    const NOTIFY: &str = r#"{"defaultAction":"SCMP_ACT_ALLOW",
        "syscalls":[{"names":["getppid"],"action":"SCMP_ACT_NOTIFY"}]}"#;

    #[test]
    fn seccomp_listener_is_required_with_notify_rules_and_refused_without() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("notify.json"), NOTIFY).unwrap();

        let (plan, errors) = check_security(
            "[security]\nseccomp = \"notify.json\"\nseccomp_listener = \"/run/agent.sock\"\n",
            dir.path(),
        );
        assert_eq!(errors, Vec::<String>::new());
        assert!(plan.seccomp.notifies());
        assert_eq!(
            plan.seccomp.listener_path.as_deref(),
            Some(Path::new("/run/agent.sock"))
        );

        let (_, errors) = check_security("[security]\nseccomp = \"notify.json\"\n", dir.path());
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with("security.seccomp: the profile has SCMP_ACT_NOTIFY rules"),
            "{errors:?}"
        );

        let (_, errors) = check_security(
            "[security]\nseccomp = \"notify.json\"\nseccomp_listener = \"agent.sock\"\n",
            dir.path(),
        );
        assert_eq!(
            errors,
            ["security.seccomp_listener: \"agent.sock\" is not an absolute path"]
        );

        for table in [
            "[security]\nseccomp_listener = \"/run/agent.sock\"\n",
            "[security]\nseccomp = \"unconfined\"\nseccomp_listener = \"/run/agent.sock\"\n",
        ] {
            let (plan, errors) = check_security(table, dir.path());
            assert_eq!(errors.len(), 1, "{table}: {errors:?}");
            assert!(
                errors[0].starts_with("security.seccomp_listener: the seccomp profile has no"),
                "{errors:?}"
            );
            assert_eq!(plan.seccomp.listener_path, None);
        }
    }
}
