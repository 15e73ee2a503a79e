//! The comparison's results: the machine, one row per subject, ratios, the issue's targets, as text for the
//! terminal and as Markdown for `docs/bench-results.md`.

use std::fmt::Write as _;
use std::fs;
use std::process::Command;
use std::time::Duration;

use super::measure::{Batch, Rounds, Summary};

/// Where and with what the numbers were taken.
#[derive(Debug, Clone)]
pub struct Machine {
    /// CPU model and number of CPUs.
    pub cpu: String,
    /// `uname -r`.
    pub kernel: String,
    /// Distribution.
    pub os: String,
    /// The cgroup hierarchies.
    pub cgroups: String,
    /// `runc --version`, `crun --version` (first lines).
    pub runtimes: Vec<String>,
    /// The commit cove was built from.
    pub commit: String,
    /// When (UTC).
    pub date: String,
}

impl Machine {
    /// Looks at this machine.
    pub fn detect(runtimes: &[&std::path::Path]) -> Machine {
        let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
        Machine {
            cpu: format!("{} × {cpus}", cpu_model()),
            kernel: read_trimmed("/proc/sys/kernel/osrelease"),
            os: os_name(),
            cgroups: cgroup_layout(&fs::read_to_string("/proc/self/mountinfo").unwrap_or_default()),
            runtimes: runtimes
                .iter()
                .map(|r| first_line_of(r, &["--version"]))
                .collect(),
            commit: first_line_of("git", &["rev-parse", "--short", "HEAD"]),
            date: first_line_of("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        }
    }
}

fn read_trimmed(path: &str) -> String {
    fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "?".into())
}

fn cpu_model() -> String {
    fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .and_then(|r| r.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "?".into())
}

fn os_name() -> String {
    fs::read_to_string("/etc/os-release")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_string())
        .unwrap_or_else(|| "?".into())
}

/// The first line a command prints, or `?`.
fn first_line_of(program: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(str::to_string)
        })
        .unwrap_or_else(|| "?".into())
}

/// Describes the cgroup mounts of a mountinfo text: `hybrid: v1 (blkio, cpu…) + cgroup2 at … (controllers: …)`.
pub fn cgroup_layout(mountinfo: &str) -> String {
    let mut v1 = Vec::new();
    let mut v2 = Vec::new();
    for line in mountinfo.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let mount_point = pre.split(' ').nth(4).unwrap_or("?");
        let mut post = post.split(' ');
        match (post.next(), post.nth(1)) {
            (Some("cgroup"), Some(options)) => v1.push(v1_controllers(options)),
            (Some("cgroup2"), _) => v2.push(mount_point.to_string()),
            _ => {}
        }
    }
    let v2_text: Vec<String> = v2
        .iter()
        .map(|m| {
            let controllers =
                fs::read_to_string(format!("{m}/cgroup.controllers")).unwrap_or_default();
            format!(
                "cgroup2 at {m} (controllers: {})",
                none_if_empty(controllers.trim())
            )
        })
        .collect();
    v1.retain(|c| !c.is_empty());
    match (v1.is_empty(), v2.is_empty()) {
        (false, false) => format!(
            "hybrid: cgroup v1 ({}) + {}",
            v1.join(", "),
            v2_text.join(", ")
        ),
        (false, true) => format!("legacy: cgroup v1 ({})", v1.join(", ")),
        (true, false) => format!("unified: {}", v2_text.join(", ")),
        (true, true) => "no cgroup mounts".into(),
    }
}

/// The controllers (or `name=`) among a cgroup v1 mount's super options.
fn v1_controllers(options: &str) -> String {
    options
        .split(',')
        .filter(|o| {
            !matches!(*o, "rw" | "ro") && !o.starts_with("release_agent") && *o != "clone_children"
        })
        .collect::<Vec<_>>()
        .join("+")
}

fn none_if_empty(s: &str) -> &str {
    if s.is_empty() {
        "none"
    } else {
        s
    }
}

/// Everything one comparison produced.
#[derive(Debug, Clone)]
pub struct Results {
    /// The machine.
    pub machine: Machine,
    /// Timed rounds (after the warm-up).
    pub rounds: u32,
    /// Per subject, in order: name and summary.
    pub summaries: Vec<(String, Summary)>,
    /// Back-to-back batches.
    pub batches: Vec<Batch>,
    /// How crun was run (e.g. in a private mount namespace).
    pub notes: Vec<String>,
}

impl Results {
    /// Summarizes rounds.
    pub fn new(
        machine: Machine,
        rounds: &Rounds,
        batches: Vec<Batch>,
        notes: Vec<String>,
    ) -> Results {
        let summaries = rounds
            .by_subject
            .iter()
            .map(|(name, samples)| (name.clone(), Summary::of(samples)))
            .collect();
        let count = rounds.by_subject.first().map_or(0, |(_, s)| s.len());
        Results {
            machine,
            rounds: u32::try_from(count).unwrap_or(u32::MAX),
            summaries,
            batches,
            notes,
        }
    }

    fn summary(&self, name: &str) -> Option<&Summary> {
        self.summaries
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s)
    }

    fn batch(&self, name: &str) -> Option<&Batch> {
        self.batches.iter().find(|b| b.name == name)
    }

    /// `a`'s median over `b`'s.
    pub fn ratio(&self, a: &str, b: &str) -> Option<f64> {
        Some(secs(self.summary(a)?.median) / secs(self.summary(b)?.median))
    }

    /// The issue's targets: (description, wanted, measured, met).
    pub fn targets(&self) -> Vec<Target> {
        let mut t = Vec::new();
        if let Some(r) = self.ratio("cove", "crun") {
            t.push(Target::at_most("cove run time / crun run time", 0.8, r));
        }
        if let Some(r) = self.ratio("cove", "runc") {
            t.push(Target::at_most("cove run time / runc run time", 0.35, r));
        }
        if let (Some(c), Some(k)) = (self.summary("cove"), self.summary("crun")) {
            t.push(Target::at_most(
                "cove peak RSS / crun peak RSS (medians)",
                1.0,
                c.rss_median_kib as f64 / k.rss_median_kib.max(1) as f64,
            ));
        }
        if let (Some(c), Some(k)) = (self.batch("cove"), self.batch("crun")) {
            t.push(Target::at_most(
                &format!("{} back to back: cove total / crun total", c.count),
                0.8,
                secs(c.total) / secs(k.total),
            ));
        }
        t
    }

    /// Text for the terminal.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{} rounds, interleaved; time from fork to reap of each run",
            self.rounds
        );
        let _ = writeln!(
            s,
            "{:<12} {:>10} {:>10} {:>10} {:>12} {:>12}",
            "", "median", "min", "max", "RSS median", "RSS max"
        );
        for (name, x) in &self.summaries {
            let _ = writeln!(
                s,
                "{:<12} {:>10} {:>10} {:>10} {:>12} {:>12}",
                name,
                ms(x.median),
                ms(x.min),
                ms(x.max),
                mib(x.rss_median_kib),
                mib(x.rss_max_kib)
            );
        }
        for b in &self.batches {
            let _ = writeln!(
                s,
                "{:<12} {} back to back: {}",
                b.name,
                b.count,
                ms(b.total)
            );
        }
        for (label, value) in self.ratio_lines() {
            let _ = writeln!(s, "{label}: {value}");
        }
        for t in self.targets() {
            let _ = writeln!(
                s,
                "target {}: ≤ {:.2}, measured {:.2}: {}",
                t.what,
                t.wanted,
                t.measured,
                if t.met() { "met" } else { "MISSED" }
            );
        }
        s
    }

    /// (label, value) for each ratio with both sides present.
    fn ratio_lines(&self) -> Vec<(String, String)> {
        let pairs = [
            ("cove", "crun"),
            ("cove", "runc"),
            ("crun", "runc"),
            ("cove", "/bin/true"),
            ("cove", "unshare"),
        ];
        pairs
            .iter()
            .filter_map(|(a, b)| {
                self.ratio(a, b)
                    .map(|r| (format!("{a} / {b}"), format!("{r:.2}")))
            })
            .collect()
    }

    /// The Markdown page.
    pub fn to_markdown(&self, command: &str) -> String {
        let m = &self.machine;
        let mut s = String::new();
        let _ = writeln!(s, "# Benchmark results\n");
        let _ = writeln!(
            s,
            "Written by `{command}` (see [performance.md](performance.md) for what the numbers mean and where \
             the time goes). Each run is timed from fork to reap by the harness; peak RSS is `ru_maxrss` from \
             `wait4` (the largest single process of the run: the runtime or one of its children).\n"
        );
        let _ = writeln!(s, "| | |\n|---|---|");
        let _ = writeln!(s, "| date | {} |", m.date);
        let _ = writeln!(s, "| cove commit | `{}` |", m.commit);
        let _ = writeln!(s, "| CPU | {} |", m.cpu);
        let _ = writeln!(s, "| kernel | {} |", m.kernel);
        let _ = writeln!(s, "| OS | {} |", m.os);
        let _ = writeln!(s, "| cgroups | {} |", m.cgroups);
        for r in &m.runtimes {
            let _ = writeln!(s, "| runtime | {r} |");
        }
        let _ = writeln!(
            s,
            "\nWorkload: `/bin/true` on the busybox root (`cargo xtask rootfs`), read-only root, new pid, net, \
             ipc, uts and mount namespaces, cgroup with a 64 MiB memory limit and a 64 pids limit; the same \
             container as an OCI bundle for runc and crun and as a cove manifest. Floors: `/bin/true` alone, and \
             `unshare --fork --pid --mount --uts --ipc --net /bin/true`.\n"
        );
        for note in &self.notes {
            let _ = writeln!(s, "- {note}");
        }
        let _ = writeln!(
            s,
            "\n## One container ({} interleaved rounds)\n",
            self.rounds
        );
        let _ = writeln!(
            s,
            "| | median | min | max | peak RSS (median) | peak RSS (max) |"
        );
        let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|");
        for (name, x) in &self.summaries {
            let _ = writeln!(
                s,
                "| `{name}` | {} | {} | {} | {} | {} |",
                ms(x.median),
                ms(x.min),
                ms(x.max),
                mib(x.rss_median_kib),
                mib(x.rss_max_kib)
            );
        }
        let _ = writeln!(s, "\n| ratio of medians | |\n|---|---:|");
        for (label, value) in self.ratio_lines() {
            let _ = writeln!(s, "| {label} | {value} |");
        }
        if !self.batches.is_empty() {
            let _ = writeln!(
                s,
                "\n## Back to back\n\n| | runs | total | per run |\n|---|---:|---:|---:|"
            );
            for b in &self.batches {
                let _ = writeln!(
                    s,
                    "| `{}` | {} | {} | {} |",
                    b.name,
                    b.count,
                    ms(b.total),
                    ms(b.total / b.count.max(1))
                );
            }
        }
        let _ = writeln!(
            s,
            "\n## Targets (issue #6)\n\n| target | wanted | measured | |\n|---|---:|---:|---|"
        );
        for t in self.targets() {
            let _ = writeln!(
                s,
                "| {} | ≤ {:.2} | {:.2} | {} |",
                t.what,
                t.wanted,
                t.measured,
                t.verdict()
            );
        }
        s
    }
}

/// One of the issue's targets.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// What is compared.
    pub what: String,
    /// The bound.
    pub wanted: f64,
    /// The measured ratio.
    pub measured: f64,
}

impl Target {
    fn at_most(what: &str, wanted: f64, measured: f64) -> Target {
        Target {
            what: what.to_string(),
            wanted,
            measured,
        }
    }

    /// Whether it is met.
    pub fn met(&self) -> bool {
        self.measured <= self.wanted
    }

    fn verdict(&self) -> &'static str {
        if self.met() {
            "met"
        } else {
            "**missed**"
        }
    }
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// Milliseconds with two decimals.
pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", secs(d) * 1e3)
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::measure::Sample;

    const HYBRID: &str = "\
30 23 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
33 30 0:29 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,memory
34 30 0:30 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,cpu,cpuacct
";

    #[test]
    fn cgroup_layout_names_v1_controllers_and_the_v2_mount() {
        let text = cgroup_layout(HYBRID);
        assert!(
            text.starts_with(
                "hybrid: cgroup v1 (memory, cpu+cpuacct) + cgroup2 at /sys/fs/cgroup/unified"
            ),
            "{text}"
        );
        assert_eq!(cgroup_layout(""), "no cgroup mounts");
    }

    fn results(cove_ms: u64, crun_ms: u64, cove_rss: u64, crun_rss: u64) -> Results {
        let samples = |ms: u64, rss: u64| {
            vec![Sample {
                wall: Duration::from_millis(ms),
                max_rss_kib: rss,
            }]
        };
        let rounds = Rounds {
            by_subject: vec![
                ("cove".into(), samples(cove_ms, cove_rss)),
                ("crun".into(), samples(crun_ms, crun_rss)),
                ("runc".into(), samples(40, 12000)),
            ],
        };
        let batch = |name: &str, ms: u64| Batch {
            name: name.into(),
            count: 100,
            total: Duration::from_millis(ms),
        };
        let machine = Machine {
            cpu: "cpu".into(),
            kernel: "6.18".into(),
            os: "Debian".into(),
            cgroups: "hybrid".into(),
            runtimes: vec!["runc 1".into()],
            commit: "abc".into(),
            date: "today".into(),
        };
        Results::new(
            machine,
            &rounds,
            vec![batch("cove", cove_ms * 100), batch("crun", crun_ms * 100)],
            vec![],
        )
    }

    #[test]
    fn targets_follow_the_issue() {
        let good = results(8, 12, 3000, 3300);
        assert!(
            good.targets().iter().all(Target::met),
            "{:?}",
            good.targets()
        );
        assert_eq!(good.targets().len(), 4);
        let slow = results(11, 12, 4000, 3300);
        let missed: Vec<String> = slow
            .targets()
            .into_iter()
            .filter(|t| !t.met())
            .map(|t| t.what)
            .collect();
        assert_eq!(
            missed,
            [
                "cove run time / crun run time",
                "cove peak RSS / crun peak RSS (medians)",
                "100 back to back: cove total / crun total"
            ]
        );
    }

    #[test]
    fn markdown_has_the_machine_the_table_and_the_targets() {
        let md = results(8, 12, 3000, 3300).to_markdown("cargo xtask bench");
        assert!(md.contains("| kernel | 6.18 |"), "{md}");
        assert!(
            md.contains("| `cove` | 8.00 ms | 8.00 ms | 8.00 ms | 2.9 MiB | 2.9 MiB |"),
            "{md}"
        );
        assert!(md.contains("| cove / crun | 0.67 |"), "{md}");
        assert!(
            md.contains("| `crun` | 100 | 1200.00 ms | 12.00 ms |"),
            "{md}"
        );
        assert!(
            md.contains("| cove run time / runc run time | ≤ 0.35 | 0.20 | met |"),
            "{md}"
        );
    }
}
