//! `cargo xtask conformance`: youki's OCI conformance suite (`contest`) against cove (or runc), compared with a
//! checked-in expectation file.
//!
//! The suite is prebuilt in `../shared/conformance/contest` (override with `COVE_CONTEST_DIR`): the `contest`
//! harness, the static `runtimetest` it runs inside containers, and the busybox `bundle.tar.gz` it unpacks from
//! its working directory. Every group runs in a process of its own, in a fresh temp dir, under a time bound (one
//! group that panics or hangs must not take the others with it). The outcome of every case is compared with
//! `conformance/contest-<layout>.expected`, where each case has cove's and runc's result on this cgroup layout and
//! every non-pass a one-line reason. A case expected to pass that does not, a case the file does not list, a
//! non-pass without a reason and a group that outlives its bound fail the run; a case that now passes where a
//! failure was expected is reported so that the file is updated (`--update`).

mod contest;
mod expected;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};

use crate::bench::fixture::{build_cove, require_program};
use crate::cmd::workspace_root;

use self::contest::{Outcome, Suite};
use self::expected::{Expected, Runtime};

pub const USAGE: &str = "  conformance [--runtime cove|runc] [--update] [--group-timeout SECS] [GROUP…]
                             youki's contest suite (../shared/conformance/contest) against cove (default) or
                             runc, one group per process, compared with conformance/contest-<layout>.expected
                             (<layout>: hybrid or v2); --update rewrites that runtime's column from this run
";

/// What `cargo xtask conformance` was asked to do.
struct Options {
    runtime: Runtime,
    update: bool,
    group_timeout: Duration,
    groups: Vec<String>,
}

impl Options {
    fn parse(args: &[String]) -> Result<Options> {
        let mut o = Options {
            runtime: Runtime::Cove,
            update: false,
            group_timeout: Duration::from_secs(120),
            groups: Vec::new(),
        };
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let mut value = |name: &str| {
                it.next()
                    .cloned()
                    .ok_or_else(|| anyhow!("{name} needs a value"))
            };
            match arg.as_str() {
                "--runtime" => o.runtime = value("--runtime")?.parse()?,
                "--update" => o.update = true,
                "--group-timeout" => {
                    let secs = value("--group-timeout")?
                        .parse()
                        .context("--group-timeout")?;
                    o.group_timeout = Duration::from_secs(secs);
                }
                flag if flag.starts_with("--") => bail!("unknown option {flag}\n{USAGE}"),
                group => o.groups.push(group.to_string()),
            }
        }
        Ok(o)
    }
}

/// `cargo xtask conformance ARGS…` (see [`USAGE`]).
pub fn conformance(args: &[String]) -> Result<()> {
    let options = Options::parse(args)?;
    let suite = Suite::find()?;
    let runtime_path = match options.runtime {
        Runtime::Cove => build_cove()?,
        Runtime::Runc => require_program("runc")?,
    };
    let layout = cgroup_layout();
    let file = expectation_file(layout);
    let mut expected = Expected::load(&file)?;
    let groups = match options.groups.is_empty() {
        true => suite.groups()?,
        false => options.groups.clone(),
    };
    eprintln!(
        "xtask: contest: {} groups against {} ({}), cgroup layout {layout}",
        groups.len(),
        options.runtime,
        runtime_path.display()
    );
    let mut outcomes: Vec<Outcome> = Vec::new();
    for group in &groups {
        let outcome =
            suite.run_group(group, &runtime_path, options.runtime, options.group_timeout)?;
        eprintln!("xtask: contest: {}", outcome.summary());
        outcomes.push(outcome);
    }
    if !options.update {
        for group in expected.regressed_groups(options.runtime, &outcomes) {
            eprintln!("xtask: contest: {group}: a case expected to pass did not: running the group once more");
            let again = suite.run_group(
                &group,
                &runtime_path,
                options.runtime,
                options.group_timeout,
            )?;
            eprintln!("xtask: contest: {} (second run)", again.summary());
            if let Some(slot) = outcomes.iter_mut().find(|o| o.group == group) {
                *slot = again;
            }
        }
    }
    if options.update {
        expected.update(options.runtime, &outcomes, options.groups.is_empty());
        expected.save(&file)?;
        eprintln!("xtask: contest: wrote {}", file.display());
    }
    let verdict = expected.compare(options.runtime, &outcomes, options.groups.is_empty());
    verdict.print();
    if !verdict.failures.is_empty() {
        bail!(
            "contest: {} unexpected result(s) against {}",
            verdict.failures.len(),
            file.display()
        );
    }
    Ok(())
}

/// `v2` when `/sys/fs/cgroup` is cgroup2 alone, else `hybrid` (v1 controllers, as on the project's hosts).
fn cgroup_layout() -> &'static str {
    let unified = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some("/sys/fs/cgroup") && l.contains(" - cgroup2 "));
    if unified {
        "v2"
    } else {
        "hybrid"
    }
}

fn expectation_file(layout: &str) -> PathBuf {
    workspace_root().join(format!("conformance/contest-{layout}.expected"))
}
