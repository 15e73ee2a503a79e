//! Timing whole processes: one [`Subject`] per runtime (or floor), each run timed from fork to reap, with its
//! peak RSS from `wait4`; interleaved rounds and back-to-back batches; medians and extremes.

use std::ffi::OsString;
use std::fs::File;
use std::os::fd::AsFd;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::sys;

/// How a subject is started.
#[derive(Debug, Clone)]
enum Launch {
    /// A fixed command line.
    Plain(Vec<OsString>),
    /// An OCI runtime: `RUNTIME --root STATE run --bundle BUNDLE ID`, with a new id per run.
    Oci {
        runtime: PathBuf,
        state: PathBuf,
        bundle: PathBuf,
        id_prefix: String,
    },
}

/// One thing to time: a runtime running the workload, or a floor.
#[derive(Debug, Clone)]
pub struct Subject {
    /// Short name shown in the tables (`cove`, `crun`, `runc`, `/bin/true`, `unshare`).
    pub name: String,
    launch: Launch,
    /// A mount namespace to run in (crun on a hybrid host), joined between fork and exec.
    mount_ns: Option<Rc<File>>,
    /// Prefix the command with `sudo -n` (when the caller is not root).
    sudo: bool,
}

/// One timed run.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Fork to reap.
    pub wall: Duration,
    /// Peak RSS of the runtime or of its largest descendant, KiB.
    pub max_rss_kib: u64,
}

impl Subject {
    /// A fixed command line (`argv[0]` is the program).
    pub fn plain(name: &str, argv: &[&str]) -> Subject {
        Subject {
            name: name.to_string(),
            launch: Launch::Plain(argv.iter().map(OsString::from).collect()),
            mount_ns: None,
            sudo: false,
        }
    }

    /// An OCI runtime (runc or crun) running the bundle, its state under `state`.
    pub fn oci(name: &str, runtime: PathBuf, state: PathBuf, bundle: PathBuf) -> Subject {
        Subject {
            name: name.to_string(),
            launch: Launch::Oci {
                runtime,
                state,
                bundle,
                id_prefix: format!("cove-bench-{name}-{}", std::process::id()),
            },
            mount_ns: None,
            sudo: false,
        }
    }

    /// Runs in this mount namespace (an open `/proc/PID/ns/mnt`).
    pub fn in_mount_ns(mut self, ns: Rc<File>) -> Subject {
        self.mount_ns = Some(ns);
        self
    }

    /// Runs through `sudo -n` when `yes`.
    pub fn with_sudo(mut self, yes: bool) -> Subject {
        self.sudo = yes;
        self
    }

    /// The command line of run number `n`.
    fn argv(&self, n: u64) -> Vec<OsString> {
        let mut argv: Vec<OsString> = Vec::new();
        if self.sudo {
            argv.extend(["sudo", "-n", "--"].map(OsString::from));
        }
        match &self.launch {
            Launch::Plain(words) => argv.extend(words.iter().cloned()),
            Launch::Oci {
                runtime,
                state,
                bundle,
                id_prefix,
            } => {
                argv.push(runtime.into());
                argv.push("--root".into());
                argv.push(state.into());
                argv.push("run".into());
                argv.push("--bundle".into());
                argv.push(bundle.into());
                argv.push(format!("{id_prefix}-{n}").into());
            }
        }
        argv
    }

    /// Starts run `n` with stdio as given, waits for it and returns its status and sample.
    fn start(&self, n: u64, output: fn() -> Stdio) -> Result<(ExitStatus, Sample)> {
        let argv = self.argv(n);
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..])
            .stdin(Stdio::null())
            .stdout(output())
            .stderr(output());
        sys::join_mount_ns_before_exec(&mut cmd, self.mount_ns.as_ref().map(|f| f.as_fd()));
        let started = Instant::now();
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", shown(&argv)))?;
        let reaped =
            sys::wait4(child.id()).with_context(|| format!("waiting for {}", shown(&argv)))?;
        let wall = started.elapsed();
        Ok((
            ExitStatus::from_raw(reaped.status),
            Sample {
                wall,
                max_rss_kib: reaped.max_rss_kib,
            },
        ))
    }

    /// Times run `n`; on failure runs it again with its output shown, and fails.
    pub fn run_once(&self, n: u64) -> Result<Sample> {
        let (status, sample) = self.start(n, Stdio::null)?;
        self.clean_up(n)?;
        if !status.success() {
            eprintln!(
                "xtask: {} failed ({status}); running it again with its output:",
                self.name
            );
            let (again, _) = self.start(n, Stdio::inherit)?;
            self.clean_up(n)?;
            bail!("{} failed: {status} (again: {again})", shown(&self.argv(n)));
        }
        Ok(sample)
    }

    /// Deletes what an OCI runtime may have left of run `n` (`run` normally deletes the container itself).
    fn clean_up(&self, n: u64) -> Result<()> {
        let Launch::Oci {
            state, id_prefix, ..
        } = &self.launch
        else {
            return Ok(());
        };
        let id = format!("{id_prefix}-{n}");
        if !state.join(&id).exists() {
            return Ok(());
        }
        let mut argv = self.argv(n);
        argv.truncate(argv.len() - 4); // drop `run --bundle BUNDLE ID`
        argv.extend(["delete", "--force", &id].map(OsString::from));
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..]);
        sys::join_mount_ns_before_exec(&mut cmd, self.mount_ns.as_ref().map(|f| f.as_fd()));
        let status = cmd
            .status()
            .with_context(|| format!("running {}", shown(&argv)))?;
        if !status.success() {
            bail!("{} failed: {status}", shown(&argv));
        }
        Ok(())
    }
}

/// A command line for messages.
fn shown(argv: &[OsString]) -> String {
    argv.iter()
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The samples of every subject, in the subjects' order.
#[derive(Debug, Clone)]
pub struct Rounds {
    /// Per subject: its name and samples.
    pub by_subject: Vec<(String, Vec<Sample>)>,
}

/// How interleaved rounds are run.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// Untimed rounds first.
    pub warmup: u32,
    /// Timed rounds.
    pub rounds: u32,
    /// Idle time before each timed run, so that a run does not profit from (or pay for) the kernel state the
    /// previous one left: on cgroup v1 a process migration right after another one skips an RCU grace period.
    pub gap: Duration,
}

/// Runs the schedule's warm-up rounds, then its timed rounds; each round runs every subject once, in a shuffled
/// order (the same for every invocation), each run after the schedule's idle gap, so that no subject always
/// follows the same one.
pub fn interleaved(subjects: &[Subject], schedule: Schedule) -> Result<Rounds> {
    let mut n = 0u64;
    for _ in 0..schedule.warmup {
        for s in subjects {
            n += 1;
            s.run_once(n)?;
        }
    }
    let mut by_subject: Vec<(String, Vec<Sample>)> = subjects
        .iter()
        .map(|s| (s.name.clone(), Vec::new()))
        .collect();
    for round in 0..schedule.rounds {
        for i in round_order(subjects.len(), round) {
            n += 1;
            std::thread::sleep(schedule.gap);
            by_subject[i].1.push(subjects[i].run_once(n)?);
        }
    }
    Ok(Rounds { by_subject })
}

/// A permutation of `0..len` for round `round` (Fisher-Yates with a xorshift generator seeded by the round).
fn round_order(len: usize, round: u32) -> Vec<usize> {
    let mut state =
        0x9e37_79b9_7f4a_7c15u64 ^ (u64::from(round) + 1).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut order: Vec<usize> = (0..len).collect();
    for i in (1..len).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    order
}

/// One subject's back-to-back batch: total time of `count` runs in a row, and the largest peak RSS.
#[derive(Debug, Clone)]
pub struct Batch {
    /// The subject's name.
    pub name: String,
    /// Number of runs.
    pub count: u32,
    /// Total wall time (sum of the runs, clean-up excluded).
    pub total: Duration,
}

/// Runs each subject `count` times back to back (one subject after the other).
pub fn back_to_back(subjects: &[Subject], count: u32) -> Result<Vec<Batch>> {
    let mut batches = Vec::new();
    for (k, s) in subjects.iter().enumerate() {
        let mut total = Duration::ZERO;
        for i in 0..count {
            total += s.run_once(1_000_000 * (k as u64 + 1) + u64::from(i))?.wall;
        }
        batches.push(Batch {
            name: s.name.clone(),
            count,
            total,
        });
    }
    Ok(batches)
}

/// Median, extremes and peak RSS of one subject's samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Median wall time.
    pub median: Duration,
    /// Fastest run.
    pub min: Duration,
    /// Slowest run.
    pub max: Duration,
    /// Median of the runs' peak RSS, KiB.
    pub rss_median_kib: u64,
    /// Largest peak RSS, KiB.
    pub rss_max_kib: u64,
}

impl Summary {
    /// Summarizes non-empty samples.
    pub fn of(samples: &[Sample]) -> Summary {
        let mut walls: Vec<Duration> = samples.iter().map(|s| s.wall).collect();
        let mut rss: Vec<u64> = samples.iter().map(|s| s.max_rss_kib).collect();
        walls.sort();
        rss.sort();
        Summary {
            median: median(&walls),
            min: walls.first().copied().unwrap_or_default(),
            max: walls.last().copied().unwrap_or_default(),
            rss_median_kib: rss.get(rss.len() / 2).copied().unwrap_or(0),
            rss_max_kib: rss.last().copied().unwrap_or(0),
        }
    }
}

/// The median of sorted durations (mean of the middle two for an even count).
fn median(sorted: &[Duration]) -> Duration {
    match sorted.len() {
        0 => Duration::ZERO,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(ms: u64, rss: u64) -> Sample {
        Sample {
            wall: Duration::from_millis(ms),
            max_rss_kib: rss,
        }
    }

    #[test]
    fn summary_takes_median_extremes_and_rss() {
        let s = Summary::of(&[
            sample(5, 300),
            sample(1, 100),
            sample(9, 900),
            sample(3, 200),
        ]);
        assert_eq!(s.median, Duration::from_millis(4));
        assert_eq!(s.min, Duration::from_millis(1));
        assert_eq!(s.max, Duration::from_millis(9));
        assert_eq!(s.rss_median_kib, 300);
        assert_eq!(s.rss_max_kib, 900);
        let odd = Summary::of(&[sample(7, 1), sample(2, 1), sample(4, 1)]);
        assert_eq!(odd.median, Duration::from_millis(4));
    }

    #[test]
    fn oci_runs_get_unique_ids_and_sudo_prefixes() {
        let s = Subject::oci(
            "runc",
            "/usr/sbin/runc".into(),
            "/tmp/s".into(),
            "/tmp/b".into(),
        );
        let a = shown(&s.argv(1));
        let b = shown(&s.argv(2));
        assert_ne!(a, b);
        assert!(
            a.starts_with("/usr/sbin/runc --root /tmp/s run --bundle /tmp/b cove-bench-runc-"),
            "{a}"
        );
        let sudo = Subject::plain("true", &["/bin/true"]).with_sudo(true);
        assert_eq!(shown(&sudo.argv(1)), "sudo -n -- /bin/true");
    }

    #[test]
    fn plain_commands_are_timed_with_their_peak_rss() {
        let s = Subject::plain("true", &["/bin/true"]);
        let sample = s.run_once(1).unwrap();
        assert!(sample.wall > Duration::ZERO);
        assert!(sample.max_rss_kib > 0, "wait4 reports the child's peak RSS");
        let err = Subject::plain("false", &["/bin/false"])
            .run_once(1)
            .unwrap_err();
        assert!(err.to_string().contains("/bin/false failed"), "{err}");
    }

    #[test]
    fn interleaved_rounds_collect_one_sample_per_subject_and_round() {
        let subjects = [
            Subject::plain("a", &["/bin/true"]),
            Subject::plain("b", &["/bin/true"]),
        ];
        let schedule = Schedule {
            warmup: 1,
            rounds: 3,
            gap: Duration::from_millis(1),
        };
        let r = interleaved(&subjects, schedule).unwrap();
        assert_eq!(r.by_subject.len(), 2);
        assert!(r.by_subject.iter().all(|(_, v)| v.len() == 3));
        let batches = back_to_back(&subjects[..1], 4).unwrap();
        assert_eq!(batches[0].count, 4);
        assert!(batches[0].total > Duration::ZERO);
    }

    #[test]
    fn rounds_are_permutations_in_which_each_subject_follows_several_others() {
        let mut predecessors_of_0 = std::collections::BTreeSet::new();
        for round in 0..30 {
            let order = round_order(5, round);
            let mut sorted = order.clone();
            sorted.sort();
            assert_eq!(sorted, [0, 1, 2, 3, 4]);
            if let Some(pos) = order.iter().position(|&i| i == 0).filter(|&p| p > 0) {
                predecessors_of_0.insert(order[pos - 1]);
            }
        }
        assert_eq!(predecessors_of_0.len(), 4, "{predecessors_of_0:?}");
        assert_eq!(round_order(5, 7), round_order(5, 7));
    }
}
