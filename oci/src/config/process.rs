//! `process` → [`ProcessPlan`] and [`SecurityPlan`] (capabilities, rlimits, no_new_privileges,
//! oom_score_adj, and the seccomp filter of `linux.seccomp`).

use std::path::PathBuf;

use caps::{Capability, CapsHashSet};
use nix::sys::resource::{getrlimit, RLIM_INFINITY};
use oci_spec::runtime::{
    Capabilities, IOPriorityClass, LinuxCapabilities, LinuxIOPriority, LinuxPersonality,
    LinuxPersonalityDomain, LinuxSchedulerFlag, LinuxSchedulerPolicy, LinuxSeccomp, PosixRlimit,
    Process, Scheduler as OciScheduler,
};

use crate::error::{ConfigError, Result};
use cove_container::plan::{
    inside_path, IoPriority, IoPriorityClass, Personality, ProcessPlan, SchedPolicy, Scheduler,
};
use cove_container::security::{CapabilitySets, Rlimit, Seccomp, SecurityPlan, RLIMITS};

/// `process` → the process to run.
pub(super) fn process_plan(p: &Process) -> Result<ProcessPlan> {
    refuse_unsupported(p)?;
    let args = p.args().clone().unwrap_or_default();
    if args.first().is_none_or(|a| a.is_empty()) {
        return Err(ConfigError::invalid(
            "process.args",
            "the command is empty (give at least the program)",
        ));
    }
    let cwd_text = p.cwd().to_string_lossy();
    let cwd = inside_path(&cwd_text).map_err(|m| ConfigError::invalid("process.cwd", m))?;
    let user = p.user();
    if user.username().as_ref().is_some_and(|u| !u.is_empty()) {
        return Err(ConfigError::unsupported(
            "process.user.username",
            "give numeric ids in process.user.uid and gid (a Windows field)",
        ));
    }
    let terminal = p.terminal().unwrap_or(false);
    Ok(ProcessPlan {
        args,
        env: environment(p.env().as_deref().unwrap_or_default())?,
        cwd,
        uid: user.uid(),
        gid: user.gid(),
        additional_gids: user.additional_gids().clone().unwrap_or_default(),
        umask: user.umask(),
        terminal,
        // The spec: runtimes MUST ignore consoleSize when terminal is false or unset.
        console_size: terminal
            .then(|| p.console_size().map(console_size))
            .flatten()
            .transpose()?,
        personality: None,
        io_priority: p.io_priority().map(io_priority).transpose()?,
        scheduler: p.scheduler().as_ref().map(scheduler).transpose()?,
    })
}

/// `linux.personality` → the execution domain (its flags are refused with the other `linux` fields).
pub(super) fn personality(p: Option<&LinuxPersonality>) -> Option<Personality> {
    p.map(|p| match p.domain() {
        LinuxPersonalityDomain::PerLinux => Personality::Linux,
        LinuxPersonalityDomain::PerLinux32 => Personality::Linux32,
    })
}

/// `process.ioPriority` → class and level (0..=7, as runc checks).
fn io_priority(io: LinuxIOPriority) -> Result<IoPriority> {
    let level = u8::try_from(io.priority())
        .ok()
        .filter(|l| *l <= 7)
        .ok_or_else(|| {
            ConfigError::invalid(
                "process.ioPriority.priority",
                format!("{} is out of range 0..=7", io.priority()),
            )
        })?;
    let class = match io.class() {
        IOPriorityClass::IoprioClassRt => IoPriorityClass::RealTime,
        IOPriorityClass::IoprioClassBe => IoPriorityClass::BestEffort,
        IOPriorityClass::IoprioClassIdle => IoPriorityClass::Idle,
    };
    Ok(IoPriority { class, level })
}

/// `process.scheduler` → policy and parameters, checked as runc checks them: nice in -20..=19, a priority only
/// for `SCHED_FIFO`/`SCHED_RR`, runtime/deadline/period only for `SCHED_DEADLINE`. The kernel checks the rest.
fn scheduler(s: &OciScheduler) -> Result<Scheduler> {
    let policy = match s.policy() {
        LinuxSchedulerPolicy::SchedOther => SchedPolicy::Other,
        LinuxSchedulerPolicy::SchedFifo => SchedPolicy::Fifo,
        LinuxSchedulerPolicy::SchedRr => SchedPolicy::RoundRobin,
        LinuxSchedulerPolicy::SchedBatch => SchedPolicy::Batch,
        LinuxSchedulerPolicy::SchedIdle => SchedPolicy::Idle,
        LinuxSchedulerPolicy::SchedDeadline => SchedPolicy::Deadline,
        LinuxSchedulerPolicy::SchedIso => {
            return Err(ConfigError::unsupported(
                "process.scheduler.policy",
                "SCHED_ISO is not a Linux scheduling policy",
            ))
        }
    };
    let nice = s.nice().unwrap_or(0);
    if !(-20..=19).contains(&nice) {
        return Err(ConfigError::invalid(
            "process.scheduler.nice",
            format!("{nice} is out of range -20..=19"),
        ));
    }
    let priority = s.priority().unwrap_or(0);
    let realtime = matches!(policy, SchedPolicy::Fifo | SchedPolicy::RoundRobin);
    if priority != 0 && !realtime {
        return Err(ConfigError::invalid(
            "process.scheduler.priority",
            format!(
                "only SCHED_FIFO and SCHED_RR take a priority, not {}",
                policy.name()
            ),
        ));
    }
    let priority = u32::try_from(priority).map_err(|_| {
        ConfigError::invalid(
            "process.scheduler.priority",
            format!("{priority} is negative"),
        )
    })?;
    let (runtime, deadline, period) = (
        s.runtime().unwrap_or(0),
        s.deadline().unwrap_or(0),
        s.period().unwrap_or(0),
    );
    if policy != SchedPolicy::Deadline && (runtime, deadline, period) != (0, 0, 0) {
        return Err(ConfigError::invalid(
            "process.scheduler",
            format!(
                "runtime, deadline and period are for SCHED_DEADLINE, not {}",
                policy.name()
            ),
        ));
    }
    let flags = s
        .flags()
        .iter()
        .flatten()
        .fold(0, |bits, flag| bits | sched_flag(*flag));
    Ok(Scheduler {
        policy,
        nice,
        priority,
        flags,
        runtime,
        deadline,
        period,
    })
}

/// The kernel's `SCHED_FLAG_*` bit of `flag`.
fn sched_flag(flag: LinuxSchedulerFlag) -> u64 {
    match flag {
        LinuxSchedulerFlag::SchedResetOnFork => 0x01,
        LinuxSchedulerFlag::SchedFlagReclaim => 0x02,
        LinuxSchedulerFlag::SchedFlagDLOverrun => 0x04,
        LinuxSchedulerFlag::SchedFlagKeepPolicy => 0x08,
        LinuxSchedulerFlag::SchedFlagKeepParams => 0x10,
        LinuxSchedulerFlag::SchedFlagUtilClampMin => 0x20,
        LinuxSchedulerFlag::SchedFlagUtilClampMax => 0x40,
    }
}

/// Fields of `process` cove does not implement.
fn refuse_unsupported(p: &Process) -> Result<()> {
    let non_empty = |s: &Option<String>| s.as_ref().is_some_and(|s| !s.is_empty());
    let refused: [(&str, bool, &str); 4] = [
        (
            "process.apparmorProfile",
            non_empty(p.apparmor_profile()),
            "AppArmor is not enabled for cove containers",
        ),
        (
            "process.selinuxLabel",
            non_empty(p.selinux_label()),
            "SELinux labels are not applied by cove",
        ),
        (
            "process.execCPUAffinity",
            p.exec_cpu_affinity().is_some(),
            "",
        ),
        (
            "process.commandLine",
            p.command_line().is_some(),
            "a Windows field; give process.args",
        ),
    ];
    match refused.into_iter().find(|(_, set, _)| *set) {
        Some((field, _, reason)) => Err(ConfigError::unsupported(field, reason)),
        None => Ok(()),
    }
}

/// `process.env`: `KEY=VALUE` strings, kept in order.
fn environment(env: &[String]) -> Result<Vec<(String, String)>> {
    env.iter()
        .enumerate()
        .map(|(i, entry)| match entry.split_once('=') {
            Some((k, v)) if !k.is_empty() && !entry.contains('\0') => {
                Ok((k.to_string(), v.to_string()))
            }
            _ => Err(ConfigError::invalid(
                format!("process.env[{i}]"),
                format!("`{entry}` is not KEY=VALUE"),
            )),
        })
        .collect()
}

/// `process.consoleSize` as (rows, columns).
fn console_size(b: oci_spec::runtime::Box) -> Result<(u16, u16)> {
    let dim = |name: &str, v: u64| {
        u16::try_from(v).map_err(|_| {
            ConfigError::invalid(
                format!("process.consoleSize.{name}"),
                format!("{v} is larger than {}", u16::MAX),
            )
        })
    };
    Ok((dim("height", b.height())?, dim("width", b.width())?))
}

/// `process` capabilities, rlimits, no_new_privileges, oom_score_adj, and `linux.seccomp`
/// compiled for the bounding set.
pub(super) fn security_plan(
    p: &Process,
    seccomp: Option<&LinuxSeccomp>,
    euid: u32,
) -> Result<SecurityPlan> {
    let (bounding, sets) = capabilities(p.capabilities().as_ref(), p.user().uid())?;
    let oom_score_adj = match p.oom_score_adj() {
        Some(v) if !(-1000..=1000).contains(&v) => {
            return Err(ConfigError::invalid(
                "process.oomScoreAdj",
                format!("{v} is out of range -1000..=1000"),
            ))
        }
        other => other,
    };
    let seccomp = seccomp_filter(seccomp, &bounding)?;
    Ok(SecurityPlan {
        capabilities: bounding,
        no_new_privileges: p.no_new_privileges().unwrap_or(false),
        rlimits: rlimits(p.rlimits().as_deref().unwrap_or_default(), euid)?,
        oom_score_adj,
        landlock: None,
        seccomp,
        capability_sets: Some(sets),
    })
}

/// The five OCI sets: the bounding set becomes [`SecurityPlan::capabilities`], the other four
/// [`CapabilitySets`], applied as given. A set that is absent is empty. Without
/// `process.capabilities` at all nothing is dropped (as runc): the bounding set cove runs with,
/// and uid 0 keeps its permitted set, effective.
fn capabilities(c: Option<&LinuxCapabilities>, uid: u32) -> Result<(CapsHashSet, CapabilitySets)> {
    let Some(c) = c else {
        // What cove itself holds (a host may run it with a reduced bounding set): asking for more
        // would fail in capset(2).
        let held = |set| caps::read(None, set).unwrap_or_default();
        let bounding = held(caps::CapSet::Bounding);
        let sets = match uid {
            0 => {
                let permitted = held(caps::CapSet::Permitted);
                CapabilitySets {
                    effective: permitted.clone(),
                    permitted,
                    ..Default::default()
                }
            }
            _ => CapabilitySets::default(),
        };
        return Ok((bounding, sets));
    };
    let set = |field: &str, s: &Option<Capabilities>| -> Result<CapsHashSet> {
        s.iter().flatten().map(|cap| to_caps(field, cap)).collect()
    };
    let bounding = set("bounding", c.bounding())?;
    let mut sets = CapabilitySets {
        effective: set("effective", c.effective())?,
        permitted: set("permitted", c.permitted())?,
        inheritable: set("inheritable", c.inheritable())?,
        ambient: set("ambient", c.ambient())?,
    };
    check_subset(
        "effective",
        &sets.effective,
        &sets.permitted,
        "the permitted set",
    )?;
    // The kernel raises an ambient capability only when it is permitted and inheritable. runc
    // skips the others with a warning, and `runc spec` asks for ambient capabilities without
    // inheritable ones: the plan keeps only those that can be raised (as runc does).
    let raisable: CapsHashSet = sets
        .permitted
        .intersection(&sets.inheritable)
        .copied()
        .collect();
    sets.ambient.retain(|c| raisable.contains(c));
    Ok((bounding, sets))
}

/// The kernel refuses a capability in `set` that is not in `within`: refused at load.
fn check_subset(name: &str, set: &CapsHashSet, within: &CapsHashSet, what: &str) -> Result<()> {
    let mut missing: Vec<String> = set.difference(within).map(|c| c.to_string()).collect();
    if missing.is_empty() {
        return Ok(());
    }
    missing.sort();
    Err(ConfigError::invalid(
        format!("process.capabilities.{name}"),
        format!("{} not in {what}", missing.join(", ")),
    ))
}

/// An oci-spec capability as the `caps` crate's (by its `CAP_*` name).
fn to_caps(field: &str, cap: &oci_spec::runtime::Capability) -> Result<Capability> {
    let name = serde_json::to_value(cap)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    name.parse().map_err(|_| {
        ConfigError::unsupported(
            format!("process.capabilities.{field}"),
            format!("{name} is unknown to this build of cove"),
        )
    })
}

/// `process.rlimits`: each type once, soft ≤ hard; a non-root caller cannot raise a hard limit.
fn rlimits(list: &[PosixRlimit], euid: u32) -> Result<Vec<Rlimit>> {
    let mut out: Vec<Rlimit> = Vec::new();
    for (i, r) in list.iter().enumerate() {
        let field = format!("process.rlimits[{i}]");
        let type_name = r.typ().to_string();
        let short = type_name.trim_start_matches("RLIMIT_").to_ascii_lowercase();
        let Some(&(name, resource)) = RLIMITS.iter().find(|(n, _)| *n == short) else {
            return Err(ConfigError::unsupported(
                format!("{field}.type"),
                format!("{type_name} is unknown to cove"),
            ));
        };
        if out.iter().any(|o| o.resource == resource) {
            return Err(ConfigError::invalid(
                format!("{field}.type"),
                format!("{type_name} is given twice"),
            ));
        }
        if r.soft() > r.hard() {
            return Err(ConfigError::invalid(
                field,
                format!(
                    "the soft limit {} is above the hard limit {}",
                    r.soft(),
                    r.hard()
                ),
            ));
        }
        if euid != 0 {
            check_hard_limit(&field, &type_name, resource, r.hard())?;
        }
        out.push(Rlimit {
            resource,
            name,
            soft: r.soft(),
            hard: r.hard(),
        });
    }
    Ok(out)
}

/// Raising a hard limit needs CAP_SYS_RESOURCE in the initial user namespace.
fn check_hard_limit(
    field: &str,
    type_name: &str,
    resource: nix::sys::resource::Resource,
    hard: u64,
) -> Result<()> {
    let Ok((_, current)) = getrlimit(resource) else {
        return Ok(());
    };
    if current != RLIM_INFINITY && (hard == RLIM_INFINITY || hard > current) {
        return Err(ConfigError::invalid(
            format!("{field}.hard"),
            format!(
                "{type_name} {hard} is above the caller's hard limit {current}, which only root can raise"
            ),
        ));
    }
    Ok(())
}

/// `linux.seccomp`, compiled now for the bounding set (absent: no filter, as OCI says).
fn seccomp_filter(seccomp: Option<&LinuxSeccomp>, bounding: &CapsHashSet) -> Result<Seccomp> {
    let Some(s) = seccomp else {
        return Ok(Seccomp::unconfined());
    };
    let field = "linux.seccomp";
    let err = |source| ConfigError::Seccomp {
        file: PathBuf::new(),
        field: field.to_string(),
        source,
    };
    let value = serde_json::to_value(s).expect("an oci-spec seccomp object serializes");
    let profile = cove_seccomp::SeccompProfile::from_value(value).map_err(err)?;
    let names: Vec<String> = bounding.iter().map(|c| c.to_string()).collect();
    let filter = cove_seccomp::Filter::compile(&profile, &names).map_err(err)?;
    let listener = s.listener_path().clone();
    match (filter.notifies(), &listener) {
        (true, None) => Err(ConfigError::invalid(
            "linux.seccomp.listenerPath",
            "the profile has SCMP_ACT_NOTIFY rules but no listenerPath",
        )),
        (false, Some(_)) => Err(ConfigError::invalid(
            "linux.seccomp.listenerPath",
            "the profile has no SCMP_ACT_NOTIFY rule, so there is no listener to send",
        )),
        (true, Some(path)) if !path.is_absolute() => Err(ConfigError::invalid(
            "linux.seccomp.listenerPath",
            format!("{} is not an absolute path", path.display()),
        )),
        _ => {
            let mut seccomp = Seccomp::from_filter("oci", Some(filter), listener);
            seccomp.listener_metadata = s.listener_metadata().clone().unwrap_or_default();
            Ok(seccomp)
        }
    }
}
