//! `cove check`: the resolved plan in words.

use std::fmt::Write;

use anyhow::{Context, Result};
use cove_ns::Namespace;
use cove_rootfs::{MountPlan, RootSource};

use cove_container::plan::{Plan, RootChoice};
use cove_container::statedir::default_root;
use cove_manifest::units::format_size;

/// Describes what `cove run` would do with this plan, one fact per line.
pub fn describe(plan: &Plan) -> Result<String> {
    let mut out = String::new();
    let p = &plan.process;
    let _ = writeln!(out, "container  {}", plan.id);
    let _ = writeln!(out, "manifest   {}", plan.manifest.display());
    if let Some(h) = &plan.hostname {
        let _ = writeln!(out, "hostname   {h}");
    }
    let _ = writeln!(out, "process    {:?}", p.args);
    let _ = writeln!(out, "  cwd      {}", p.cwd.display());
    let _ = writeln!(
        out,
        "  user     uid={} gid={} groups={:?}",
        p.uid, p.gid, p.additional_gids
    );
    for (k, v) in &p.env {
        let _ = writeln!(out, "  env      {k}={v}");
    }
    let _ = writeln!(out, "namespaces");
    for kind in Namespace::ALL {
        let how = if plan.namespaces.is_new(kind) {
            "new".to_string()
        } else if let Some((_, path)) = plan.namespaces.join.iter().find(|(k, _)| *k == kind) {
            format!("join {}", path.display())
        } else {
            "host".to_string()
        };
        let _ = writeln!(out, "  {:<8} {how}", kind.to_string());
    }
    if plan.rootless {
        let _ = writeln!(
            out,
            "rootless   uid {} is root inside",
            nix::unistd::geteuid()
        );
    }
    let mut caps: Vec<_> = plan
        .security
        .capabilities
        .iter()
        .map(|c| c.to_string())
        .collect();
    caps.sort();
    let _ = writeln!(
        out,
        "security   no_new_privileges={}",
        plan.security.no_new_privileges
    );
    let _ = writeln!(out, "  caps     {}", caps.join(" "));
    for r in &plan.security.rlimits {
        let show = |v: u64| match v {
            nix::sys::resource::RLIM_INFINITY => "unlimited".to_string(),
            v => v.to_string(),
        };
        let _ = writeln!(
            out,
            "  rlimit   {} {}/{}",
            r.name,
            show(r.soft),
            show(r.hard)
        );
    }
    if let Some(adj) = plan.security.oom_score_adj {
        let _ = writeln!(out, "  oom_adj  {adj}");
    }
    if let Some(ll) = &plan.security.landlock {
        let _ = writeln!(out, "  landlock read={:?} write={:?}", ll.read, ll.write);
    }
    describe_root(&mut out, plan)?;
    describe_resources(&mut out, plan);
    Ok(out)
}

/// The root and the mount steps, as the rootfs crate will apply them.
fn describe_root(out: &mut String, plan: &Plan) -> Result<()> {
    let source = match &plan.root.choice {
        RootChoice::Dir(dir) => {
            let _ = writeln!(
                out,
                "rootfs     {} ({})",
                dir.display(),
                if plan.root.readonly {
                    "read-only"
                } else {
                    "read-write"
                }
            );
            RootSource::Dir(dir.clone())
        }
        RootChoice::Host(dirs) => {
            let list: Vec<_> = dirs.iter().map(|d| d.display().to_string()).collect();
            let _ = writeln!(
                out,
                "rootfs     tmpfs with the host's {} read-only",
                list.join(", ")
            );
            {
                let staging = default_root(nix::unistd::geteuid().as_raw())
                    .join(&plan.id)
                    .join("rootfs");
                RootSource::HostTmpfs {
                    staging,
                    host_dirs: dirs.clone(),
                }
            }
        }
    };
    let spec = plan.rootfs_spec(source);
    let mount_plan = MountPlan::build(&spec).context("building the mount plan")?;
    let _ = writeln!(out, "mounts");
    for (i, step) in mount_plan.steps().iter().enumerate() {
        let _ = writeln!(out, "  {:>2}. {step}", i + 1);
    }
    Ok(())
}

/// The cgroup limits.
fn describe_resources(out: &mut String, plan: &Plan) {
    let Some(r) = &plan.resources else { return };
    let path = plan
        .cgroup_path
        .clone()
        .unwrap_or_else(|| format!("cove/{}", plan.id));
    let _ = writeln!(out, "resources  (cgroup {path})");
    let sizes = [
        ("memory", r.memory.limit),
        ("memory_reservation", r.memory.reservation),
        ("memory_swap", r.memory.swap),
    ];
    for (name, value) in sizes {
        if let Some(v) = value {
            let _ = writeln!(out, "  {name:<18} {}", format_size(v));
        }
    }
    if let Some(c) = r.cpu.cpus {
        let _ = writeln!(out, "  {:<18} {c}", "cpus");
    }
    let numbers = [
        ("cpu_weight", r.cpu.weight),
        ("cpu_quota_us", r.cpu.quota_us),
        ("cpu_period_us", r.cpu.period_us),
        ("pids", r.pids.max),
        ("io_weight", r.io.weight),
    ];
    for (name, value) in numbers {
        if let Some(v) = value {
            let _ = writeln!(out, "  {name:<18} {v}");
        }
    }
    let sets = [
        ("cpuset", &r.cpu.cpuset_cpus),
        ("cpuset_mems", &r.cpu.cpuset_mems),
    ];
    for (name, value) in sets {
        if let Some(v) = value {
            let _ = writeln!(out, "  {name:<18} {v}");
        }
    }
    for io in &r.io.devices {
        let _ = writeln!(
            out,
            "  io {}:{}  read_bps={:?} write_bps={:?} read_iops={:?} write_iops={:?}",
            io.major, io.minor, io.read_bps, io.write_bps, io.read_iops, io.write_iops
        );
    }
}
