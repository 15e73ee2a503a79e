//! `[resources]`: cgroup limits from the manifest, checked and in plain numbers.

use std::os::unix::fs::FileTypeExt;
use std::os::unix::fs::MetadataExt;

use toml::Spanned;

use cove_container::resources::{IoLimit, ResourcePlan};

use crate::diagnostic::Checker;
use crate::manifest::{IoEntry, ResourcesSection};
use crate::units::parse_size;

/// Checks `[resources]`; `None` when it has errors (recorded in `c`).
pub(crate) fn resources_plan(
    c: &mut Checker,
    section: &Spanned<ResourcesSection>,
    rootless: bool,
) -> Option<ResourcePlan> {
    if rootless {
        c.error(
            section.span(),
            "resources",
            "cgroup limits need root: cove creates the container's cgroup itself",
        )
        .help = Some("run as root, or remove [resources]".into());
        return None;
    }
    let r = section.get_ref();
    let before = c.errors.len();
    let plan = ResourcePlan {
        memory: size(c, "resources.memory", r.memory.as_ref()),
        memory_reservation: size(
            c,
            "resources.memory_reservation",
            r.memory_reservation.as_ref(),
        ),
        memory_swap: size(c, "resources.memory_swap", r.memory_swap.as_ref()),
        cpus: cpus(c, r.cpus.as_ref()),
        cpu_weight: in_range(c, "resources.cpu_weight", r.cpu_weight.as_ref(), 1, 10_000),
        cpuset: r.cpuset.as_ref().map(|s| s.get_ref().clone()),
        cpuset_mems: r.cpuset_mems.as_ref().map(|s| s.get_ref().clone()),
        pids: in_range(c, "resources.pids", r.pids.as_ref(), 1, u64::MAX),
        io_weight: in_range(c, "resources.io_weight", r.io_weight.as_ref(), 1, 10_000),
        io: r
            .io
            .iter()
            .enumerate()
            .filter_map(|(i, e)| io_limit(c, i, e))
            .collect(),
    };
    if let (Some(mem), Some(min)) = (plan.memory, Some(6u64 << 20)) {
        if mem < min {
            let span = r.memory.as_ref().map_or(0..0, Spanned::span);
            c.error(
                span,
                "resources.memory",
                "a memory limit below 6 MiB cannot even start a process",
            )
            .help = Some("use at least \"6M\"".into());
        }
    }
    (c.errors.len() == before).then_some(plan)
}

/// A size such as `"256M"`.
fn size(c: &mut Checker, key: &str, value: Option<&Spanned<String>>) -> Option<u64> {
    let v = value?;
    match parse_size(v.get_ref()) {
        Ok(bytes) => Some(bytes),
        Err(msg) => {
            c.error(v.span(), key, msg);
            None
        }
    }
}

/// `cpus`: more than 0, at most the host's CPU count.
fn cpus(c: &mut Checker, value: Option<&Spanned<f64>>) -> Option<f64> {
    let v = value?;
    let host = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let cpus = *v.get_ref();
    if !(cpus >= 0.01 && cpus <= host) {
        c.error(
            v.span(),
            "resources.cpus",
            format!("{cpus} CPUs is out of range: this host has {host}"),
        )
        .help = Some(format!("use a value from 0.01 to {host}"));
        return None;
    }
    Some(cpus)
}

/// An integer within `min..=max`.
fn in_range(
    c: &mut Checker,
    key: &str,
    value: Option<&Spanned<u64>>,
    min: u64,
    max: u64,
) -> Option<u64> {
    let v = value?;
    let n = *v.get_ref();
    if n < min || n > max {
        c.error(v.span(), key, format!("{n} is out of range {min}..={max}"));
        return None;
    }
    Some(n)
}

/// One `[[resources.io]]` entry: the device resolved to its numbers.
fn io_limit(c: &mut Checker, index: usize, entry: &Spanned<IoEntry>) -> Option<IoLimit> {
    let e = entry.get_ref();
    let key = format!("resources.io[{index}]");
    let (major, minor) = match device_numbers(e.device.get_ref()) {
        Ok(numbers) => numbers,
        Err(msg) => {
            c.error(e.device.span(), &format!("{key}.device"), msg);
            return None;
        }
    };
    Some(IoLimit {
        major,
        minor,
        read_bps: size(c, &format!("{key}.read_bps"), e.read_bps.as_ref()),
        write_bps: size(c, &format!("{key}.write_bps"), e.write_bps.as_ref()),
        read_iops: e.read_iops.as_ref().map(|v| *v.get_ref()),
        write_iops: e.write_iops.as_ref().map(|v| *v.get_ref()),
    })
}

/// `"MAJ:MIN"` or the path of a block device.
pub fn device_numbers(device: &str) -> Result<(u64, u64), String> {
    if let Some((major, minor)) = device.split_once(':') {
        return match (major.parse(), minor.parse()) {
            (Ok(major), Ok(minor)) => Ok((major, minor)),
            _ => Err(format!("`{device}` is not MAJ:MIN")),
        };
    }
    let meta = std::fs::metadata(device).map_err(|e| format!("device `{device}`: {e}"))?;
    if !meta.file_type().is_block_device() {
        return Err(format!("`{device}` is not a block device"));
    }
    let rdev = meta.rdev();
    Ok((
        u64::from(nix::sys::stat::major(rdev) as u32),
        u64::from(nix::sys::stat::minor(rdev) as u32),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_numbers_parse() {
        assert_eq!(device_numbers("8:0"), Ok((8, 0)));
        assert!(device_numbers("8-0").unwrap_err().contains("No such file"));
        assert_eq!(
            device_numbers("/dev/null"),
            Err("`/dev/null` is not a block device".into())
        );
    }
}
