//! `cove update`: runc's `update` flags, turned into an OCI [`LinuxResources`].
//!
//! As in runc, `-r/--resources FILE` (`-` = standard input) is a JSON `LinuxResources` and all
//! other resource flags are then ignored ([`UpdateArgs::ignored_flags`] lists them so the caller
//! can warn). Without `-r`, each flag given sets one field. Flags that cove cannot honour
//! (`--kernel-memory`, `--kernel-memory-tcp`, `--l3-cache-schema`, `--mem-bw-schema`) are
//! refused with an error instead of being ignored.
//!
//! ```
//! use clap::Parser;
//!
//! #[derive(Parser)]
//! struct Cli {
//!     #[command(flatten)]
//!     update: cove::oci::update::UpdateArgs,
//! }
//!
//! let cli = Cli::parse_from(["update", "--memory", "100m", "--cpu-quota", "50000"]);
//! let r = cli.update.to_resources().unwrap();
//! assert_eq!(r.memory().as_ref().unwrap().limit(), Some(100 << 20));
//! assert_eq!(r.cpu().as_ref().unwrap().quota(), Some(50000));
//! ```

use std::io::Read;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxPids, LinuxResources};

/// Errors of `cove update`'s argument handling.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpdateError {
    /// The `--resources` file (or standard input) could not be read.
    #[error("cannot read the resources from {}", input_name(path))]
    ReadResources {
        /// The file, or `-` for standard input.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The `--resources` JSON is not an OCI `LinuxResources` object.
    #[error(
        "the resources from {} are not a valid OCI LinuxResources JSON object",
        input_name(path)
    )]
    ParseResources {
        /// The file, or `-` for standard input.
        path: PathBuf,
        /// The JSON error (with line and column).
        #[source]
        source: serde_json::Error,
    },
    /// A memory flag's value is not a size.
    #[error("invalid value {value:?} for --{flag}: {reason}")]
    InvalidSize {
        /// The flag, without dashes.
        flag: &'static str,
        /// The value given.
        value: String,
        /// Why it is not a size.
        reason: String,
    },
    /// A flag cove does not support was given.
    #[error("--{flag} is not supported by cove: {why}")]
    Unsupported {
        /// The flag, without dashes.
        flag: &'static str,
        /// Why.
        why: &'static str,
    },
}

fn input_name(path: &Path) -> String {
    if path == Path::new("-") {
        "standard input".to_owned()
    } else {
        path.display().to_string()
    }
}

/// runc's `update` flags (without the container id).
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args)]
pub struct UpdateArgs {
    /// Path to a JSON file of the resources to update (OCI `LinuxResources`), or `-` to read
    /// standard input; all other resource flags are then ignored.
    #[arg(short = 'r', long = "resources", value_name = "FILE")]
    pub resources: Option<PathBuf>,
    /// Block I/O weight, 10 to 1000 (0: unchanged).
    #[arg(long = "blkio-weight", value_name = "WEIGHT")]
    pub blkio_weight: Option<u16>,
    /// CPU CFS period in µs (0: system default).
    #[arg(long = "cpu-period", value_name = "USEC")]
    pub cpu_period: Option<u64>,
    /// CPU CFS quota in µs per period (-1: no limit).
    #[arg(long = "cpu-quota", value_name = "USEC", allow_negative_numbers = true)]
    pub cpu_quota: Option<i64>,
    /// CPU CFS burst in µs.
    #[arg(long = "cpu-burst", value_name = "USEC")]
    pub cpu_burst: Option<u64>,
    /// CPU shares (relative weight).
    #[arg(long = "cpu-share", alias = "cpu-shares", value_name = "SHARES")]
    pub cpu_share: Option<u64>,
    /// CPU realtime period in µs.
    #[arg(long = "cpu-rt-period", value_name = "USEC")]
    pub cpu_rt_period: Option<u64>,
    /// CPU realtime runtime in µs per period.
    #[arg(
        long = "cpu-rt-runtime",
        value_name = "USEC",
        allow_negative_numbers = true
    )]
    pub cpu_rt_runtime: Option<i64>,
    /// CPUs to use (`0-3,5`).
    #[arg(long = "cpuset-cpus", value_name = "CPUS")]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes to use (`0,1`).
    #[arg(long = "cpuset-mems", value_name = "MEMS")]
    pub cpuset_mems: Option<String>,
    /// SCHED_IDLE for the cgroup: 1 on, 0 default.
    #[arg(long = "cpu-idle", value_name = "0|1")]
    pub cpu_idle: Option<i64>,
    /// Memory limit: bytes or a size such as `100m`, `1g`; `-1` for none.
    #[arg(long = "memory", value_name = "SIZE", allow_hyphen_values = true)]
    pub memory: Option<String>,
    /// Memory reservation (soft limit): bytes or a size; `-1` for none.
    #[arg(
        long = "memory-reservation",
        value_name = "SIZE",
        allow_hyphen_values = true
    )]
    pub memory_reservation: Option<String>,
    /// Memory + swap limit: bytes or a size; `-1` for unlimited swap.
    #[arg(long = "memory-swap", value_name = "SIZE", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Obsolete kernel memory limit: refused.
    #[arg(
        long = "kernel-memory",
        value_name = "SIZE",
        hide = true,
        allow_hyphen_values = true
    )]
    pub kernel_memory: Option<String>,
    /// Obsolete kernel TCP memory limit: refused.
    #[arg(
        long = "kernel-memory-tcp",
        value_name = "SIZE",
        hide = true,
        allow_hyphen_values = true
    )]
    pub kernel_memory_tcp: Option<String>,
    /// Most tasks in the container (-1: no limit; 0: unchanged).
    #[arg(long = "pids-limit", value_name = "N", allow_negative_numbers = true)]
    pub pids_limit: Option<i64>,
    /// Intel RDT/CAT L3 cache schema: refused (cove has no Intel RDT support).
    #[arg(long = "l3-cache-schema", value_name = "SCHEMA")]
    pub l3_cache_schema: Option<String>,
    /// Intel RDT/MBA memory bandwidth schema: refused (cove has no Intel RDT support).
    #[arg(long = "mem-bw-schema", value_name = "SCHEMA")]
    pub mem_bw_schema: Option<String>,
}

impl UpdateArgs {
    /// The resources to apply, reading `--resources` from its file or standard input.
    pub fn to_resources(&self) -> Result<LinuxResources, UpdateError> {
        self.to_resources_from(std::io::stdin().lock())
    }

    /// As [`to_resources`](Self::to_resources), with `stdin` standing for standard input
    /// (`--resources -`).
    pub fn to_resources_from(&self, stdin: impl Read) -> Result<LinuxResources, UpdateError> {
        self.check_unsupported()?;
        let mut resources = match &self.resources {
            Some(path) => read_resources(path, stdin)?,
            None => self.resources_from_flags()?,
        };
        swap_follows_unlimited_memory(&mut resources);
        Ok(resources)
    }

    /// The resource flags that were given but are ignored because `--resources` was given too
    /// (as runc does), so the caller can warn about them.
    pub fn ignored_flags(&self) -> Vec<&'static str> {
        if self.resources.is_none() {
            return Vec::new();
        }
        let given = [
            ("blkio-weight", self.blkio_weight.is_some()),
            ("cpu-period", self.cpu_period.is_some()),
            ("cpu-quota", self.cpu_quota.is_some()),
            ("cpu-burst", self.cpu_burst.is_some()),
            ("cpu-share", self.cpu_share.is_some()),
            ("cpu-rt-period", self.cpu_rt_period.is_some()),
            ("cpu-rt-runtime", self.cpu_rt_runtime.is_some()),
            ("cpuset-cpus", self.cpuset_cpus.is_some()),
            ("cpuset-mems", self.cpuset_mems.is_some()),
            ("cpu-idle", self.cpu_idle.is_some()),
            ("memory", self.memory.is_some()),
            ("memory-reservation", self.memory_reservation.is_some()),
            ("memory-swap", self.memory_swap.is_some()),
            ("pids-limit", self.pids_limit.is_some()),
        ];
        given.iter().filter(|(_, g)| *g).map(|(f, _)| *f).collect()
    }

    fn check_unsupported(&self) -> Result<(), UpdateError> {
        const KMEM: &str =
            "kernel memory limits are obsolete (cgroup v1 kmem, deprecated by Linux \
                            and absent from cgroup v2)";
        const RDT: &str = "cove has no Intel RDT (resctrl) support";
        let refused = [
            ("kernel-memory", self.kernel_memory.is_some(), KMEM),
            ("kernel-memory-tcp", self.kernel_memory_tcp.is_some(), KMEM),
            ("l3-cache-schema", self.l3_cache_schema.is_some(), RDT),
            ("mem-bw-schema", self.mem_bw_schema.is_some(), RDT),
        ];
        match refused.iter().find(|(_, given, _)| *given) {
            Some(&(flag, _, why)) => Err(UpdateError::Unsupported { flag, why }),
            None => Ok(()),
        }
    }

    fn resources_from_flags(&self) -> Result<LinuxResources, UpdateError> {
        let mut r = LinuxResources::default();
        r.set_memory(self.memory_from_flags()?);
        r.set_cpu(self.cpu_from_flags());
        if let Some(weight) = self.blkio_weight.filter(|w| *w != 0) {
            let mut blkio = LinuxBlockIo::default();
            blkio.set_weight(Some(weight));
            r.set_block_io(Some(blkio));
        }
        if let Some(limit) = self.pids_limit.filter(|l| *l != 0) {
            let mut pids = LinuxPids::default();
            pids.set_limit(limit);
            r.set_pids(Some(pids));
        }
        Ok(r)
    }

    fn memory_from_flags(&self) -> Result<Option<LinuxMemory>, UpdateError> {
        let limit = parse_memory_flag("memory", self.memory.as_deref())?;
        let reservation =
            parse_memory_flag("memory-reservation", self.memory_reservation.as_deref())?;
        let swap = parse_memory_flag("memory-swap", self.memory_swap.as_deref())?;
        if limit.is_none() && reservation.is_none() && swap.is_none() {
            return Ok(None);
        }
        let mut memory = LinuxMemory::default();
        memory
            .set_limit(limit)
            .set_reservation(reservation)
            .set_swap(swap);
        Ok(Some(memory))
    }

    fn cpu_from_flags(&self) -> Option<LinuxCpu> {
        let non_empty = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
        let mut cpu = LinuxCpu::default();
        cpu.set_shares(self.cpu_share)
            .set_quota(self.cpu_quota)
            .set_burst(self.cpu_burst)
            .set_period(self.cpu_period)
            .set_realtime_runtime(self.cpu_rt_runtime)
            .set_realtime_period(self.cpu_rt_period)
            .set_cpus(non_empty(&self.cpuset_cpus))
            .set_mems(non_empty(&self.cpuset_mems))
            .set_idle(self.cpu_idle);
        (cpu != LinuxCpu::default()).then_some(cpu)
    }
}

/// Reads and parses the `--resources` JSON from `path`, or from `stdin` when `path` is `-`.
fn read_resources(path: &Path, stdin: impl Read) -> Result<LinuxResources, UpdateError> {
    let read_err = |source| UpdateError::ReadResources {
        path: path.to_owned(),
        source,
    };
    let text = if path == Path::new("-") {
        let mut text = String::new();
        { stdin }.read_to_string(&mut text).map_err(read_err)?;
        text
    } else {
        std::fs::read_to_string(path).map_err(read_err)?
    };
    serde_json::from_str(&text).map_err(|source| UpdateError::ParseResources {
        path: path.to_owned(),
        source,
    })
}

/// Parses a memory flag as runc does: `-1` (no limit) or a size (`1024`, `100m`, `1.5g`).
fn parse_memory_flag(flag: &'static str, value: Option<&str>) -> Result<Option<i64>, UpdateError> {
    let Some(value) = value else {
        return Ok(None);
    };
    if value == "-1" {
        return Ok(Some(-1));
    }
    let invalid = |reason: String| UpdateError::InvalidSize {
        flag,
        value: value.to_owned(),
        reason,
    };
    let bytes = cove_manifest::units::parse_size(value).map_err(invalid)?;
    i64::try_from(bytes)
        .map(Some)
        .map_err(|_| invalid("larger than 2^63-1 bytes".to_owned()))
}

/// runc: a memory limit of -1 without a swap setting means "memory and swap unlimited".
fn swap_follows_unlimited_memory(resources: &mut LinuxResources) {
    if let Some(memory) = resources.memory_mut() {
        if memory.limit() == Some(-1) && memory.swap().is_none() {
            memory.set_swap(Some(-1));
        }
    }
}
