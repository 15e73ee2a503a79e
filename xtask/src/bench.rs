//! `cargo xtask bench`: the criterion benches of each start-path step (as root, with the `privileged` feature),
//! then the whole-process comparison of `cove run` with `crun run`, `runc run` and two floors on one busybox
//! container, written to `docs/bench-results.md`. [`regression_check`] is the small version `cargo xtask test`
//! runs: cove must not be slower than runc.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};

use crate::cmd::{cargo, is_root, run, workspace_root};
use crate::rootfs;

mod bundle;
pub(crate) mod fixture;
mod measure;
mod report;
mod sys;

use fixture::{build_cove, require_program, Fixture};
use measure::{back_to_back, interleaved, Schedule, Subject, Summary};
use report::{Machine, Results};

/// Usage of `cargo xtask bench`, for the xtask help text.
pub const USAGE: &str = "\
  bench [--rounds N] [--batch N] [--gap-ms MS] [--compare-only | --criterion-only] [--no-write] [FILTER…]
                             criterion benches of each start-path step (as root, feature `privileged`), then
                             `cove run` vs `crun run` vs `runc run` (and the floors /bin/true and unshare) on one
                             busybox container: N rounds in shuffled order, each run after MS ms idle (defaults
                             30 and 50), and N back to back (default 100); writes docs/bench-results.md unless
                             --no-write; FILTERs select criterion benches
";

/// Warm-up rounds before the timed ones (page cache, dentries, first cgroup creation).
const WARMUP_ROUNDS: u32 = 3;
/// Idle time before each timed run in the interleaved rounds (see [`Schedule::gap`]).
const DEFAULT_GAP_MS: u64 = 50;
/// Rounds of [`regression_check`].
const CHECK_ROUNDS: u32 = 9;

/// What `cargo xtask bench` was asked to do.
#[derive(Debug, Clone, PartialEq)]
struct Options {
    rounds: u32,
    batch: u32,
    gap_ms: u64,
    criterion: bool,
    compare: bool,
    write: bool,
    /// A prebuilt release `cove` (used when re-running as root through sudo).
    cove: Option<PathBuf>,
    filters: Vec<String>,
}

impl Options {
    fn parse(args: &[String]) -> Result<Options> {
        let mut o = Options {
            rounds: 30,
            batch: 100,
            gap_ms: DEFAULT_GAP_MS,
            criterion: true,
            compare: true,
            write: true,
            cove: None,
            filters: Vec::new(),
        };
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let mut value = |name: &str| {
                it.next()
                    .cloned()
                    .ok_or_else(|| anyhow!("{name} needs a value"))
            };
            match arg.as_str() {
                "--rounds" => o.rounds = value("--rounds")?.parse().context("--rounds")?,
                "--batch" => o.batch = value("--batch")?.parse().context("--batch")?,
                "--gap-ms" => o.gap_ms = value("--gap-ms")?.parse().context("--gap-ms")?,
                "--compare-only" => o.criterion = false,
                "--criterion-only" => o.compare = false,
                "--no-write" => o.write = false,
                "--cove" => o.cove = Some(PathBuf::from(value("--cove")?)),
                flag if flag.starts_with("--") => bail!("unknown option {flag}\n{USAGE}"),
                filter => o.filters.push(filter.to_string()),
            }
        }
        if o.rounds == 0 {
            bail!("--rounds must be at least 1");
        }
        Ok(o)
    }
}

/// `cargo xtask bench ARGS…` (see [`USAGE`]).
pub fn bench(args: &[String]) -> Result<()> {
    let options = Options::parse(args)?;
    if options.criterion {
        criterion(&options.filters)?;
    }
    if options.compare {
        compare(&options)?;
    }
    Ok(())
}

/// Builds the criterion benches with the `privileged` feature as the calling user and runs them as root.
fn criterion(filters: &[String]) -> Result<()> {
    let benches = build_benches()?;
    if benches.is_empty() {
        bail!("cargo built no bench executables for cove-benches");
    }
    let dir = workspace_root().join("benches");
    for exe in benches {
        let mut cmd = as_root(&exe);
        cmd.arg("--bench")
            .args(filters)
            .current_dir(&dir)
            .env("CRITERION_HOME", workspace_root().join("target/criterion"));
        run(&mut cmd)?;
    }
    Ok(())
}

/// `cargo bench --no-run` of cove-benches with every feature; the bench executables.
fn build_benches() -> Result<Vec<PathBuf>> {
    let output = cargo()
        .args([
            "bench",
            "-p",
            "cove-benches",
            "--features",
            "privileged",
            "--no-run",
            "--message-format=json-render-diagnostics",
        ])
        .stderr(Stdio::inherit())
        .output()
        .context("building the benches")?;
    if !output.status.success() {
        bail!("building the benches failed");
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .filter(|m| {
            m["target"]["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "bench"))
        })
        .filter_map(|m| m["executable"].as_str().map(PathBuf::from))
        .collect())
}

/// A command for `program`, through `sudo --preserve-env` unless we are root.
fn as_root(program: &Path) -> Command {
    if is_root() {
        return Command::new(program);
    }
    let mut sudo = Command::new("sudo");
    sudo.arg("--preserve-env").arg(program);
    sudo
}

/// The whole-process comparison; re-runs itself as root through sudo when needed.
fn compare(options: &Options) -> Result<()> {
    let cove = match &options.cove {
        Some(path) => path.clone(),
        None => build_cove()?,
    };
    let rootfs = rootfs::ensure()?;
    if !is_root() {
        return rerun_as_root(options, &cove);
    }
    let runc = require_program("runc")?;
    let crun = require_program("crun")?;
    let fixture = Fixture::new(&rootfs, true)?;
    let subjects = vec![
        fixture.cove(&cove),
        fixture.oci("crun", crun.clone())?,
        fixture.oci("runc", runc.clone())?,
        fixture.oci(COVE_SAME_BUNDLE, cove.clone())?,
        fixture.cove_no_cgroup(&cove),
        Subject::plain("/bin/true", &["/bin/true"]),
        Subject::plain(
            "unshare",
            &[
                "unshare",
                "--fork",
                "--pid",
                "--mount",
                "--uts",
                "--ipc",
                "--net",
                "/bin/true",
            ],
        ),
    ];
    eprintln!(
        "xtask: bench: {WARMUP_ROUNDS} warm-up + {} rounds of {} subjects, then {} back to back each",
        options.rounds,
        subjects.len(),
        options.batch
    );
    let schedule = Schedule {
        warmup: WARMUP_ROUNDS,
        rounds: options.rounds,
        gap: Duration::from_millis(options.gap_ms),
    };
    let rounds = interleaved(&subjects, schedule)?;
    let batches = if options.batch > 0 {
        back_to_back(&subjects, options.batch)?
    } else {
        Vec::new()
    };
    let machine = Machine::detect(&[&runc, &crun]);
    let results = Results::new(machine, &rounds, batches, notes(&fixture, &schedule));
    print!("{}", results.to_text());
    if options.write {
        let page = workspace_root().join("docs/bench-results.md");
        std::fs::write(&page, results.to_markdown("cargo xtask bench"))
            .with_context(|| format!("writing {}", page.display()))?;
        eprintln!("xtask: wrote {}", page.display());
    }
    Ok(())
}

/// Runs this xtask again as root for the comparison only, with the cove already built.
fn rerun_as_root(options: &Options, cove: &Path) -> Result<()> {
    let exe = std::env::current_exe().context("finding the xtask executable")?;
    let mut cmd = as_root(&exe);
    cmd.args(["bench", "--compare-only", "--rounds"])
        .arg(options.rounds.to_string())
        .arg("--batch")
        .arg(options.batch.to_string())
        .arg("--gap-ms")
        .arg(options.gap_ms.to_string())
        .arg("--cove")
        .arg(cove);
    if !options.write {
        cmd.arg("--no-write");
    }
    run(&mut cmd)
}

/// The name of cove driven like runc and crun, through the same OCI bundle.
const COVE_SAME_BUNDLE: &str = "cove-oci";

/// What the reader of the results must know about how the runtimes were run.
fn notes(fixture: &Fixture, schedule: &Schedule) -> Vec<String> {
    let mut notes = vec![
        format!(
            "Each round runs every subject once in a shuffled order, each run after {} ms idle, so that no run \
             profits from the kernel state the previous one left (on cgroup v1, a process migration shortly after \
             another one skips an RCU grace period). The back-to-back batches have no gap.",
            schedule.gap.as_millis()
        ),
        format!(
            "`{}` is cove on the same container without `[resources]`: its cgroup then only carries the \
             default device rules (as root cove always creates one), no memory or pids limit. It shows what \
             the limits cost.",
            fixture::COVE_NO_CGROUP
        ),
        format!(
            "`{COVE_SAME_BUNDLE}` is `cove --root TMP run --bundle DIR ID` on the very bundle runc and crun get \
             (so, like them, without cove's default capabilities and seccomp filter, which the bundle does not ask \
             for); `cove` is the equivalent TOML manifest with cove's defaults."
        ),
        "runc and crun run the bundle with `RUNTIME --root TMP run --bundle DIR ID`, a new id per run, \
         cgroup `/cove-bench/oci`; cove runs `cove run cove.toml` (cgroup `cove/cove-bench`)."
            .to_string(),
        "The OCI config has no capabilities, rlimits, noNewPrivileges, seccomp or `/sys/fs/cgroup` mount: \
         runc, crun and `cove-oci` do the same work on it."
            .to_string(),
    ];
    if fixture.crun_in_private_ns() {
        notes.push(
            "crun 1.8 refuses hybrid hosts whose cgroup2 mount holds a controller, so it runs in a private mount \
             namespace (prepared once, joined with `setns` between fork and exec) in which \
             `/sys/fs/cgroup/unified` is unmounted; it then uses the v1 hierarchies only."
                .to_string(),
        );
    }
    notes
}

/// The regression check `cargo xtask test` runs: a few interleaved runs of `cove run` and `runc run` on the
/// benchmark's container; fails when cove's median is slower than runc's (a generous bound: cove should take a
/// fraction of runc's time), or when runc is not installed.
pub fn regression_check() -> Result<()> {
    let runc = require_program("runc")?;
    let rootfs = rootfs::ensure()?;
    let cove = build_cove()?;
    let fixture = Fixture::new(&rootfs, false)?;
    let sudo = !is_root();
    let subjects = [
        fixture.cove(&cove).with_sudo(sudo),
        fixture.oci("runc", runc)?.with_sudo(sudo),
    ];
    let schedule = Schedule {
        warmup: 2,
        rounds: CHECK_ROUNDS,
        gap: Duration::from_millis(DEFAULT_GAP_MS),
    };
    let rounds = interleaved(&subjects, schedule)?;
    let [cove_median, runc_median] = [0, 1].map(|i| Summary::of(&rounds.by_subject[i].1).median);
    eprintln!(
        "xtask: regression check: cove run {} vs runc run {} (medians of {CHECK_ROUNDS})",
        report::ms(cove_median),
        report::ms(runc_median)
    );
    if cove_median > runc_median {
        bail!(
            "performance regression: `cove run` of /bin/true took {} (median), slower than `runc run` ({}); \
             see docs/performance.md and `cargo xtask bench`",
            report::ms(cove_median),
            report::ms(runc_median)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<String> {
        words.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn options_default_to_everything() {
        let o = Options::parse(&[]).unwrap();
        assert_eq!(
            (o.rounds, o.batch, o.criterion, o.compare, o.write),
            (30, 100, true, true, true)
        );
    }

    #[test]
    fn options_parse_flags_and_filters() {
        let o = Options::parse(&args(&[
            "--rounds",
            "5",
            "--batch",
            "0",
            "--compare-only",
            "--no-write",
            "ns",
        ]))
        .unwrap();
        assert_eq!(
            (o.rounds, o.batch, o.criterion, o.write),
            (5, 0, false, false)
        );
        assert_eq!(o.filters, ["ns"]);
        assert!(Options::parse(&args(&["--rounds"])).is_err());
        assert!(Options::parse(&args(&["--rounds", "0"])).is_err());
        assert!(Options::parse(&args(&["--frobnicate"])).is_err());
    }
}
