//! `cove run --stats`: one resource report when the container exits.

use std::fmt::Write;
use std::time::Duration;

use cove_cgroup::Stats;
use cove_spawn::ExitStatus;

use cove_manifest::units::format_size;

/// The report's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StatsFormat {
    /// Human units, one line per resource.
    Text,
    /// One JSON object.
    Json,
}

/// What a container used, from its cgroup, collected just before the cgroup is removed.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Report {
    /// Container id.
    pub id: String,
    /// The container's exit code (128+N when killed by signal N).
    pub exit_code: i32,
    /// From `cove run` start to exit, in microseconds.
    pub wall_time_us: u64,
    /// User CPU time in microseconds.
    pub cpu_user_us: Option<u64>,
    /// System CPU time in microseconds.
    pub cpu_system_us: Option<u64>,
    /// Peak memory use in bytes.
    pub memory_peak_bytes: Option<u64>,
    /// Processes killed by the OOM killer.
    pub oom_kills: Option<u64>,
    /// Most processes at once, when the kernel tracks it.
    pub pids_peak: Option<u64>,
    /// Bytes read from block devices.
    pub io_read_bytes: Option<u64>,
    /// Bytes written to block devices.
    pub io_write_bytes: Option<u64>,
}

impl Report {
    /// Builds the report from the cgroup's statistics.
    pub fn new(id: &str, stats: &Stats, wall: Duration, status: ExitStatus) -> Report {
        let io = &stats.io.devices;
        let has_io = !io.is_empty();
        Report {
            id: id.to_string(),
            exit_code: status.code(),
            wall_time_us: wall.as_micros() as u64,
            cpu_user_us: stats.cpu.user_usec,
            cpu_system_us: stats.cpu.system_usec,
            memory_peak_bytes: stats.memory.peak,
            oom_kills: stats.memory.oom_kill_events,
            pids_peak: stats.pids.peak,
            io_read_bytes: has_io.then(|| io.iter().map(|d| d.read_bytes).sum()),
            io_write_bytes: has_io.then(|| io.iter().map(|d| d.write_bytes).sum()),
        }
    }

    /// The report in the chosen format (no trailing newline).
    pub fn render(&self, format: StatsFormat) -> String {
        match format {
            StatsFormat::Json => serde_json::to_string(self).unwrap_or_default(),
            StatsFormat::Text => self.text(),
        }
    }

    /// Human-readable form.
    fn text(&self) -> String {
        let secs = |us: u64| format!("{:.3} s", us as f64 / 1e6);
        let known = |v: Option<String>| v.unwrap_or_else(|| "n/a".to_string());
        let mut out = String::new();
        let _ = writeln!(out, "cove: resources used by {}", self.id);
        let _ = writeln!(out, "  exit code    {}", self.exit_code);
        let _ = writeln!(out, "  wall time    {}", secs(self.wall_time_us));
        let _ = writeln!(out, "  cpu user     {}", known(self.cpu_user_us.map(secs)));
        let _ = writeln!(
            out,
            "  cpu system   {}",
            known(self.cpu_system_us.map(secs))
        );
        let _ = writeln!(
            out,
            "  memory peak  {}",
            known(self.memory_peak_bytes.map(format_size))
        );
        let _ = writeln!(
            out,
            "  oom kills    {}",
            known(self.oom_kills.map(|n| n.to_string()))
        );
        let _ = writeln!(
            out,
            "  pids peak    {}",
            known(self.pids_peak.map(|n| n.to_string()))
        );
        let _ = writeln!(
            out,
            "  io read      {}",
            format_size(self.io_read_bytes.unwrap_or(0))
        );
        let _ = write!(
            out,
            "  io written   {}",
            format_size(self.io_write_bytes.unwrap_or(0))
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Report {
        Report {
            id: "c".into(),
            exit_code: 137,
            wall_time_us: 1_500_000,
            cpu_user_us: Some(250_000),
            cpu_system_us: Some(5_000),
            memory_peak_bytes: Some(64 << 20),
            oom_kills: Some(1),
            pids_peak: None,
            io_read_bytes: Some(4096),
            io_write_bytes: Some(0),
        }
    }

    #[test]
    fn text_uses_human_units() {
        let text = sample().render(StatsFormat::Text);
        assert!(text.contains("  wall time    1.500 s\n"), "{text}");
        assert!(text.contains("  memory peak  64.0 MiB\n"), "{text}");
        assert!(text.contains("  oom kills    1\n"), "{text}");
        assert!(text.contains("  pids peak    n/a\n"), "{text}");
        assert!(text.ends_with("  io written   0 B"), "{text}");
    }

    #[test]
    fn json_has_every_field() {
        let v: serde_json::Value =
            serde_json::from_str(&sample().render(StatsFormat::Json)).unwrap();
        assert_eq!(v["exit_code"], 137);
        assert_eq!(v["memory_peak_bytes"], 64 << 20);
        assert_eq!(v["pids_peak"], serde_json::Value::Null);
        assert_eq!(v["oom_kills"], 1);
    }
}
