//! Running one contest group in a process of its own and reading its report.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::expected::Runtime;
use crate::cmd::workspace_root;

/// The prebuilt suite: `contest`, `runtimetest`, `bundle.tar.gz`.
pub struct Suite {
    dir: PathBuf,
}

/// A case's result as contest reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pass,
    Fail,
    Skip,
}

impl Status {
    /// The word used in the expectation file.
    pub fn word(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Skip => "skip",
        }
    }

    /// Parses an expectation-file word.
    pub fn from_word(word: &str) -> Option<Status> {
        match word {
            "pass" => Some(Status::Pass),
            "fail" => Some(Status::Fail),
            "skip" => Some(Status::Skip),
            _ => None,
        }
    }
}

/// One case: `group::name`, its status and contest's reason (first line) for a non-pass.
#[derive(Debug, Clone)]
pub struct Case {
    pub id: String,
    pub status: Status,
    pub reason: String,
}

/// What one group gave.
#[derive(Debug)]
pub struct Outcome {
    pub group: String,
    pub cases: Vec<Case>,
    /// The group outlived its bound and was killed.
    pub timed_out: bool,
    /// contest's own exit status was a failure with no case reported (a panic of the harness).
    pub harness_failed: Option<String>,
}

impl Outcome {
    /// `group: 3 pass, 1 fail, 0 skip` (and a timeout or harness failure).
    pub fn summary(&self) -> String {
        let count = |s| self.cases.iter().filter(|c| c.status == s).count();
        let mut line = format!(
            "{}: {} pass, {} fail, {} skip",
            self.group,
            count(Status::Pass),
            count(Status::Fail),
            count(Status::Skip)
        );
        if self.timed_out {
            line.push_str(", TIMED OUT");
        }
        if let Some(why) = &self.harness_failed {
            line.push_str(&format!(", harness failed: {why}"));
        }
        line
    }
}

impl Suite {
    /// `COVE_CONTEST_DIR`, else `../shared/conformance/contest` beside the workspace.
    pub fn find() -> Result<Suite> {
        let dir = std::env::var_os("COVE_CONTEST_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace_root().join("../shared/conformance/contest"));
        for file in ["contest", "runtimetest", "bundle.tar.gz"] {
            if !dir.join(file).is_file() {
                bail!(
                    "the contest suite is missing: no {} (set COVE_CONTEST_DIR to the folder with contest, \
                     runtimetest and bundle.tar.gz)",
                    dir.join(file).display()
                );
            }
        }
        Ok(Suite { dir })
    }

    /// Every group name (`contest list`).
    pub fn groups(&self) -> Result<Vec<String>> {
        let scratch = Scratch::new("list", &self.dir)?;
        let out = Command::new(self.dir.join("contest"))
            .arg("list")
            .current_dir(&scratch.dir)
            .stderr(Stdio::inherit())
            .output()
            .context("contest list")?;
        if !out.status.success() {
            bail!("contest list failed: {}", out.status);
        }
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect())
    }

    /// Runs one group against `runtime` in a fresh directory, killed after `bound`; leaves no container or
    /// mount of its own behind.
    pub fn run_group(
        &self,
        group: &str,
        runtime: &Path,
        kind: Runtime,
        bound: Duration,
    ) -> Result<Outcome> {
        let scratch = Scratch::new(group, &self.dir)?;
        let containers_before = containers(runtime);
        let log = scratch.dir.join("contest.log");
        let mut cmd = Command::new(self.dir.join("contest"));
        cmd.args(["run", "--runtime"])
            .arg(runtime)
            .arg("--runtimetest")
            .arg(self.dir.join("runtimetest"))
            .args(["-t", group])
            .current_dir(&scratch.dir)
            .stdin(Stdio::null())
            .stdout(fs::File::create(&log)?)
            .stderr(fs::File::create(&log)?.try_clone()?)
            .process_group(0);
        if kind == Runtime::Runc {
            cmd.env("RUNTIME_KIND", "runc");
        }
        let (status, timed_out) = run_bounded(&mut cmd, bound)?;
        remove_new_containers(runtime, &containers_before);
        let text = fs::read_to_string(&log).unwrap_or_default();
        let mut cases = parse_report(group, &text);
        let harness_failed = (!timed_out && !status && cases.is_empty())
            .then(|| first_panic_line(&text).unwrap_or_else(|| "no case reported".into()));
        if let Some(why) = &harness_failed {
            // The harness itself died (a panic in contest): the group counts as one failed pseudo-case, which the
            // expectation file can list with its reason.
            cases.push(Case {
                id: format!("{group}::(contest)"),
                status: Status::Fail,
                reason: why.chars().take(200).collect(),
            });
        }
        Ok(Outcome {
            group: group.to_string(),
            cases,
            timed_out,
            harness_failed,
        })
    }
}

/// Runs `cmd` (its own process group); past `bound`, kills the whole group. (success, timed out).
fn run_bounded(cmd: &mut Command, bound: Duration) -> Result<(bool, bool)> {
    let mut child = cmd.spawn().with_context(|| format!("starting {cmd:?}"))?;
    let deadline = Instant::now() + bound;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok((status.success(), false));
        }
        if Instant::now() >= deadline {
            // SAFETY: kill(2) with a negative pid signals the process group we created for this child alone.
            unsafe { libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL) };
            let _ = child.wait();
            return Ok((false, true));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The ids `runtime list -q` shows (its default state root, which contest uses).
fn containers(runtime: &Path) -> Vec<String> {
    Command::new(runtime)
        .args(["list", "-q"])
        .stderr(Stdio::null())
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// `delete --force` of every container the group created and left (a killed or failed case).
fn remove_new_containers(runtime: &Path, before: &[String]) {
    for id in containers(runtime) {
        if !before.contains(&id) {
            let _ = Command::new(runtime)
                .args(["delete", "--force", &id])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Cases from contest's report: `N / M : name : ok | not ok | skipped`, the reason on the next indented line.
pub fn parse_report(group: &str, text: &str) -> Vec<Case> {
    let lines: Vec<&str> = text.lines().collect();
    let mut cases = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let parts: Vec<&str> = line.splitn(3, " : ").collect();
        if parts.len() != 3 || !parts[0].contains(" / ") {
            continue;
        }
        let status = match parts[2].trim() {
            "ok" => Status::Pass,
            "not ok" => Status::Fail,
            "skipped" => Status::Skip,
            _ => continue,
        };
        let reason = lines[i + 1..]
            .iter()
            .take_while(|l| l.starts_with('\t') || l.trim().is_empty())
            .map(|l| l.trim())
            .find(|l| !l.is_empty())
            .unwrap_or("")
            .chars()
            .take(200)
            .collect();
        cases.push(Case {
            id: format!("{group}::{}", parts[1].trim()),
            status,
            reason,
        });
    }
    cases
}

fn first_panic_line(text: &str) -> Option<String> {
    let at = text.lines().position(|l| l.contains("panicked"))?;
    let lines: Vec<&str> = text.lines().skip(at).take(2).map(str::trim).collect();
    Some(lines.join(" "))
}

/// A temp directory with the bundle in it (contest reads `bundle.tar.gz` from its working directory), removed on
/// drop after unmounting whatever a case left mounted under it (a config without a mount namespace sets its
/// rootfs up in ours).
struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    fn new(name: &str, suite: &Path) -> Result<Scratch> {
        let dir = std::env::temp_dir().join(format!("cove-contest-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        fs::copy(suite.join("bundle.tar.gz"), dir.join("bundle.tar.gz"))
            .context("copying bundle.tar.gz")?;
        Ok(Scratch { dir })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut left: Vec<&str> = mounts
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|mp| Path::new(mp).starts_with(&self.dir))
            .collect();
        // Deepest first.
        left.sort_by_key(|mp| std::cmp::Reverse(mp.len()));
        for mp in left {
            let _ = Command::new("umount").args(["-l", mp]).status();
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_gives_status_and_first_reason_line() {
        let text = "# Start group g\n1 / 3 : a : ok\n2 / 3 : b : not ok\n\tcontainer stderr was: x\n\tmore\n\n\
                    3 / 3 : c : skipped\n\tno hugetlb\n# End group g\n";
        let cases = parse_report("g", text);
        let got: Vec<(&str, Status, &str)> = cases
            .iter()
            .map(|c| (c.id.as_str(), c.status, c.reason.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("g::a", Status::Pass, ""),
                ("g::b", Status::Fail, "container stderr was: x"),
                ("g::c", Status::Skip, "no hugetlb"),
            ]
        );
    }
}
