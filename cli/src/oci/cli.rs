//! The OCI commands as the `cove` binary runs them: global flags (`--root`, `--log`, `--log-format`), output
//! (pretty JSON, tables) and exit codes, on top of [`lifecycle`](crate::oci::lifecycle).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context, Result};
use cove_cgroup::Signal;

use crate::oci::exec::{self, ExecOptions};
use crate::oci::lifecycle::{self, CreateOptions, StateReport};
use crate::oci::update::UpdateArgs;
use cove_container::state::{rfc3339, StateRoot, Status};
use cove_container::statedir::default_root;
use cove_oci::{events as event_json, features as feature_json, resources, spec_default};

/// The exit code of a failed OCI command (runc's).
pub const FAILURE: i32 = 1;

/// Format of the `--log` file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// `time="…" level=error msg="…"` lines.
    #[default]
    Text,
    /// One JSON object per line: `{"level":"error","msg":"…","time":"…"}` (what podman and containerd read).
    Json,
}

/// runc's global flags.
#[derive(Debug, Clone, Default)]
pub struct Global {
    /// `--root`: the state directory.
    pub root: Option<PathBuf>,
    /// `--log`: errors are also written here.
    pub log: Option<PathBuf>,
    /// `--log-format`.
    pub log_format: LogFormat,
    /// `--debug`: say on stderr where the state lives.
    pub debug: bool,
}

impl Global {
    /// The state root: `--root`, else the default for the caller.
    pub fn state_root(&self) -> StateRoot {
        let root = self
            .root
            .clone()
            .unwrap_or_else(|| default_root(nix::unistd::geteuid().as_raw()));
        if self.debug {
            eprintln!("cove: debug: state root {}", root.display());
        }
        StateRoot::new(root)
    }

    /// Reports a command's failure (stderr, and the `--log` file) and returns the exit code.
    pub fn finish(&self, result: Result<i32>) -> i32 {
        match result {
            Ok(code) => code,
            Err(e) => {
                let message = format!("{e:#}");
                eprintln!("cove: error: {message}");
                self.log_error(&message);
                FAILURE
            }
        }
    }

    fn log_error(&self, message: &str) {
        let Some(path) = &self.log else { return };
        let time = rfc3339(SystemTime::now());
        let line = match self.log_format {
            LogFormat::Json => {
                serde_json::json!({"level": "error", "msg": message, "time": time}).to_string()
            }
            LogFormat::Text => format!("time={time:?} level=error msg={message:?}"),
        };
        if let Ok(mut file) = fs::OpenOptions::new().create(true).append(true).open(path) {
            let _ = writeln!(file, "{line}");
        }
    }
}

/// `cove create`.
pub fn create(global: &Global, id: &str, options: &CreateOptions) -> Result<i32> {
    lifecycle::create(&global.state_root(), id, options)?;
    Ok(0)
}

/// `cove run ID` with a bundle.
pub fn run(
    global: &Global,
    id: &str,
    options: &CreateOptions,
    detach: bool,
    keep: bool,
) -> Result<i32> {
    lifecycle::run_bundle(&global.state_root(), id, options, detach, keep)
}

/// `cove start`.
pub fn start(global: &Global, id: &str) -> Result<i32> {
    lifecycle::start(&global.state_root(), id)?;
    Ok(0)
}

/// `cove state`: pretty JSON, two-space indent, as runc prints it.
pub fn state(global: &Global, id: &str) -> Result<i32> {
    println!("{}", lifecycle::state(&global.state_root(), id)?);
    Ok(0)
}

/// `cove kill ID [SIGNAL]`.
pub fn kill(global: &Global, id: &str, signal: &str, all: bool) -> Result<i32> {
    let signal = parse_signal(signal)?;
    lifecycle::kill(&global.state_root(), id, signal, all)?;
    Ok(0)
}

/// A signal by number, or by name with or without `SIG`, in any case (`TERM`, `sigterm`, `SIGTERM`, `15`).
pub fn parse_signal(text: &str) -> Result<Signal> {
    if let Ok(number) = text.parse::<i32>() {
        return Signal::try_from(number).with_context(|| format!("{text} is not a signal number"));
    }
    let upper = text.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    Signal::from_str(&name).map_err(|_| anyhow::anyhow!("unknown signal `{text}`"))
}

/// `cove delete`.
pub fn delete(global: &Global, id: &str, force: bool) -> Result<i32> {
    lifecycle::delete(&global.state_root(), id, force)?;
    Ok(0)
}

/// `cove list`.
pub fn list(global: &Global, json: bool, quiet: bool) -> Result<i32> {
    let reports = lifecycle::list(&global.state_root())?;
    if quiet {
        for r in &reports {
            println!("{}", r.id);
        }
    } else if json {
        println!("{}", serde_json::to_string(&reports)?);
    } else {
        print!("{}", list_table(&reports));
    }
    Ok(0)
}

/// runc's `list` table.
fn list_table(reports: &[StateReport]) -> String {
    let mut rows = vec![[
        "ID".to_string(),
        "PID".into(),
        "STATUS".into(),
        "BUNDLE".into(),
        "CREATED".into(),
        "OWNER".into(),
    ]];
    for r in reports {
        rows.push([
            r.id.clone(),
            r.pid.to_string(),
            r.status.clone(),
            r.bundle.display().to_string(),
            r.created.clone(),
            r.owner.clone(),
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(cells.join("   ").trim_end());
        out.push('\n');
    }
    out
}

/// `cove ps`: the pids as JSON, or `ps` output restricted to the container's processes.
pub fn ps(global: &Global, id: &str, json: bool, ps_args: &[String]) -> Result<i32> {
    let pids = lifecycle::pids(&global.state_root(), id)?;
    if json {
        println!("{}", serde_json::to_string(&pids)?);
        return Ok(0);
    }
    let args: Vec<String> = if ps_args.is_empty() {
        vec!["-ef".into()]
    } else {
        ps_args.to_vec()
    };
    let output = std::process::Command::new("ps")
        .args(&args)
        .output()
        .context("running ps")?;
    if !output.status.success() {
        bail!(
            "ps {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    print!(
        "{}",
        filter_ps(&String::from_utf8_lossy(&output.stdout), &pids)?
    );
    Ok(0)
}

/// Keeps the header and the lines whose PID column is one of `pids`.
fn filter_ps(text: &str, pids: &[i32]) -> Result<String> {
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let column = header
        .split_whitespace()
        .position(|h| h == "PID")
        .context("ps printed no PID column")?;
    let mut out = format!("{header}\n");
    for line in lines {
        let pid = line
            .split_whitespace()
            .nth(column)
            .and_then(|p| p.parse::<i32>().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            out.push_str(line);
            out.push('\n');
        }
    }
    Ok(out)
}

/// `cove exec`.
pub fn exec(global: &Global, id: &str, options: &ExecOptions) -> Result<i32> {
    exec::exec(&global.state_root(), id, options)
}

/// `cove pause`.
pub fn pause(global: &Global, id: &str) -> Result<i32> {
    lifecycle::pause(&global.state_root(), id)?;
    Ok(0)
}

/// `cove resume`.
pub fn resume(global: &Global, id: &str) -> Result<i32> {
    lifecycle::resume(&global.state_root(), id)?;
    Ok(0)
}

/// `cove update`: new limits for the container's cgroup.
pub fn update(global: &Global, id: &str, args: &UpdateArgs) -> Result<i32> {
    for flag in args.ignored_flags() {
        eprintln!("cove: warning: --{flag} is ignored with --resources (as in runc)");
    }
    let linux = args.to_resources()?;
    let mut limits = resources::lower_resources(&linux)?;
    // No rules means: leave device access as it is.
    limits.devices.clear();
    let root = global.state_root();
    let container = root.open(id)?;
    let saved = container.load()?;
    if lifecycle::status(&saved) == Status::Stopped {
        bail!("cannot update container `{id}`: it has stopped");
    }
    lifecycle::open_cgroup(&saved)?
        .update(&limits)
        .with_context(|| format!("updating the limits of `{id}`"))?;
    Ok(0)
}

/// `cove events`: one stats event (`--stats`), or one every `interval` until the container stops.
pub fn events(global: &Global, id: &str, once: bool, interval: &str) -> Result<i32> {
    let interval = parse_interval(interval)?;
    let root = global.state_root();
    loop {
        let saved = root.open(id)?.load()?;
        if lifecycle::status(&saved) == Status::Stopped {
            if once {
                bail!("container `{id}` is not running");
            }
            return Ok(0);
        }
        let stats = lifecycle::open_cgroup(&saved)?.stats()?;
        let line = format!("{}\n", event_json::stats_event(id, &stats));
        let mut out = std::io::stdout().lock();
        match out.write_all(line.as_bytes()).and_then(|()| out.flush()) {
            Ok(()) => {}
            // The reader went away (`cove events ID | head -1`): done.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(0),
            Err(e) => return Err(e).context("writing the event"),
        }
        if once {
            return Ok(0);
        }
        std::thread::sleep(interval);
    }
}

/// A Go-style duration: `5s`, `500ms`, `1m`, `1.5s`, or plain seconds.
pub fn parse_interval(text: &str) -> Result<Duration> {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .with_context(|| format!("`{text}` is not a duration (e.g. 5s, 500ms)"))?;
    let seconds = match unit {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => bail!("`{text}`: unknown unit `{unit}` (use ms, s, m or h)"),
    };
    if !(seconds > 0.0 && seconds.is_finite()) {
        bail!("`{text}`: the interval must be positive");
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// `cove features`.
pub fn features() -> Result<i32> {
    println!("{}", feature_json::features_json());
    Ok(0)
}

/// `cove spec`.
pub fn spec(bundle: Option<PathBuf>, rootless: bool) -> Result<i32> {
    let bundle = bundle.unwrap_or_else(|| PathBuf::from("."));
    spec_default::write_spec(Path::new(&bundle), rootless)?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_by_name_with_or_without_sig_or_by_number() {
        for text in ["TERM", "SIGTERM", "term", "15"] {
            assert_eq!(parse_signal(text).unwrap(), Signal::SIGTERM, "{text}");
        }
        assert_eq!(parse_signal("KILL").unwrap(), Signal::SIGKILL);
        assert_eq!(parse_signal("10").unwrap(), Signal::SIGUSR1);
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("999").is_err());
    }

    #[test]
    fn intervals_in_go_units() {
        assert_eq!(parse_interval("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_interval("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_interval("2").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_interval("1m").unwrap(), Duration::from_secs(60));
        assert!(parse_interval("0s").is_err());
        assert!(parse_interval("5 parsecs").is_err());
    }

    #[test]
    fn ps_output_keeps_the_header_and_the_containers_pids() {
        let text = "UID PID PPID C STIME TTY TIME CMD\nroot 1 0 0 10:00 ? 00:00:01 init\nroot 42 1 0 10:00 ? 00:00:00 sleep 100\n";
        assert_eq!(
            filter_ps(text, &[42]).unwrap(),
            "UID PID PPID C STIME TTY TIME CMD\nroot 42 1 0 10:00 ? 00:00:00 sleep 100\n"
        );
        assert!(filter_ps("no header here\n", &[1]).is_err());
    }

    #[test]
    fn list_table_aligns_columns() {
        let reports = vec![StateReport {
            oci_version: "1.2.0".into(),
            id: "web".into(),
            pid: 42,
            status: "running".into(),
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: "2026-11-27T00:00:00.000000000Z".into(),
            annotations: Default::default(),
            owner: String::new(),
        }];
        let table = list_table(&reports);
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[0].starts_with("ID    PID   STATUS"), "{table}");
        assert!(lines[1].starts_with("web   42    running"), "{table}");
    }
}
