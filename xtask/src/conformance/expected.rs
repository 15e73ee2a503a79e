//! The expectation file: each case's result for cove and for runc on one cgroup layout, and a reason for every
//! non-pass.
//!
//! ```text
//! # case                                   | cove | runc | reason
//! create::create                           | pass | pass |
//! huge_tlb::huge_tlb                       | skip | skip | no hugetlb controller on this host
//! ```
//!
//! Fields are separated by `|` (case names have spaces: `time_ns::simple timens`); `-` is a runtime not run.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use anyhow::{bail, Context, Result};

use super::contest::{Outcome, Status};

/// Whose column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    Cove,
    Runc,
}

impl FromStr for Runtime {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Runtime> {
        match s {
            "cove" => Ok(Runtime::Cove),
            "runc" => Ok(Runtime::Runc),
            other => bail!("--runtime {other}: expected cove or runc"),
        }
    }
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Runtime::Cove => "cove",
            Runtime::Runc => "runc",
        })
    }
}

/// One case's line.
#[derive(Debug, Clone, Default)]
struct Entry {
    cove: Option<Status>,
    runc: Option<Status>,
    reason: String,
}

impl Entry {
    fn column(&mut self, runtime: Runtime) -> &mut Option<Status> {
        match runtime {
            Runtime::Cove => &mut self.cove,
            Runtime::Runc => &mut self.runc,
        }
    }

    fn get(&self, runtime: Runtime) -> Option<Status> {
        match runtime {
            Runtime::Cove => self.cove,
            Runtime::Runc => self.runc,
        }
    }
}

/// The whole file.
#[derive(Debug, Default)]
pub struct Expected {
    cases: BTreeMap<String, Entry>,
}

/// What a run gave against the file: failures fail the run, notes only inform.
#[derive(Debug, Default)]
pub struct Verdict {
    pub failures: Vec<String>,
    pub notes: Vec<String>,
}

impl Verdict {
    pub fn print(&self) {
        for note in &self.notes {
            eprintln!("xtask: contest: note: {note}");
        }
        for failure in &self.failures {
            eprintln!("xtask: contest: FAIL: {failure}");
        }
    }
}

impl Expected {
    /// Reads `path`; a missing file is empty (every case is then unexpected).
    pub fn load(path: &Path) -> Result<Expected> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Expected::default()),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let mut cases = BTreeMap::new();
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line.splitn(4, '|').map(str::trim).collect();
            let [id, cove, runc, reason] = match fields[..] {
                [id, cove, runc] => [id, cove, runc, ""],
                [id, cove, runc, reason] => [id, cove, runc, reason],
                _ => bail!(
                    "{}:{}: expected `case | cove | runc | reason`",
                    path.display(),
                    n + 1
                ),
            };
            let status = |w: &str| -> Result<Option<Status>> {
                match w {
                    "-" => Ok(None),
                    w => Status::from_word(w).map(Some).with_context(|| {
                        format!(
                            "{}:{}: `{w}` is not pass, fail, skip or -",
                            path.display(),
                            n + 1
                        )
                    }),
                }
            };
            let entry = Entry {
                cove: status(cove)?,
                runc: status(runc)?,
                reason: reason.to_string(),
            };
            cases.insert(id.to_string(), entry);
        }
        Ok(Expected { cases })
    }

    /// Writes the file, one aligned line per case.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut text = String::from(
            "# youki contest (../shared/conformance/contest) on this cgroup layout: cove's and runc's result per\n\
             # case (`case | cove | runc | reason`); every non-pass has a one-line reason. `cargo xtask conformance` fails when a case\n\
             # expected to pass does not, or a case is missing here. Update a column with\n\
             # `cargo xtask conformance --runtime cove|runc --update`, then edit the reasons.\n",
        );
        let word = |s: Option<Status>| s.map_or("-", Status::word);
        for (id, e) in &self.cases {
            let line = format!(
                "{id:<64} | {:<4} | {:<4} | {}",
                word(e.cove),
                word(e.runc),
                e.reason
            );
            text.push_str(line.trim_end());
            text.push('\n');
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
    }

    /// Takes `runtime`'s results from the run; a non-pass without a reason gets contest's. With `whole_suite`, a
    /// case the run did not report loses its status for `runtime`.
    pub fn update(&mut self, runtime: Runtime, outcomes: &[Outcome], whole_suite: bool) {
        if whole_suite {
            for entry in self.cases.values_mut() {
                *entry.column(runtime) = None;
            }
        }
        for case in outcomes.iter().flat_map(|o| &o.cases) {
            let entry = self.cases.entry(case.id.clone()).or_default();
            *entry.column(runtime) = Some(case.status);
            if case.status != Status::Pass && entry.reason.is_empty() {
                entry.reason = case.reason.clone();
            }
        }
        self.cases
            .retain(|_, e| e.cove.is_some() || e.runc.is_some());
        for entry in self.cases.values_mut() {
            if entry.cove == Some(Status::Pass) && entry.runc == Some(Status::Pass) {
                entry.reason.clear();
            }
        }
    }

    /// Compares `runtime`'s run with the file.
    pub fn compare(&self, runtime: Runtime, outcomes: &[Outcome], whole_suite: bool) -> Verdict {
        let mut v = Verdict::default();
        for outcome in outcomes {
            if outcome.timed_out {
                v.failures.push(format!(
                    "group {} did not finish in its time bound",
                    outcome.group
                ));
            }
            for case in &outcome.cases {
                self.compare_case(runtime, &case.id, case.status, &mut v);
            }
        }
        if whole_suite {
            let seen: Vec<&str> = outcomes
                .iter()
                .flat_map(|o| &o.cases)
                .map(|c| c.id.as_str())
                .collect();
            for (id, e) in &self.cases {
                if e.get(runtime).is_some() && !seen.contains(&id.as_str()) {
                    v.failures
                        .push(format!("{id}: expected in the run, not reported"));
                }
            }
        }
        v
    }

    /// Groups in which a case expected to pass did not (worth one more run: some contest cases race, e.g.
    /// `hooks` deletes a container right after `start`, before its `true` may have exited).
    pub fn regressed_groups(&self, runtime: Runtime, outcomes: &[Outcome]) -> Vec<String> {
        outcomes
            .iter()
            .filter(|o| {
                o.cases.iter().any(|c| {
                    c.status != Status::Pass
                        && self.cases.get(&c.id).and_then(|e| e.get(runtime)) == Some(Status::Pass)
                })
            })
            .map(|o| o.group.clone())
            .collect()
    }

    fn compare_case(&self, runtime: Runtime, id: &str, got: Status, v: &mut Verdict) {
        let Some(entry) = self.cases.get(id) else {
            v.failures.push(format!(
                "{id}: {} but not in the expectation file",
                got.word()
            ));
            return;
        };
        match (entry.get(runtime), got) {
            (None, _) => v
                .failures
                .push(format!("{id}: {} but no {runtime} column", got.word())),
            (Some(Status::Pass), Status::Pass) => {}
            (Some(Status::Pass), got) => v
                .failures
                .push(format!("{id}: expected pass, got {}", got.word())),
            (Some(want), _) if entry.reason.is_empty() => v
                .failures
                .push(format!("{id}: expected {} without a reason", want.word())),
            (Some(want), got) if want != got => v.notes.push(format!(
                "{id}: expected {}, got {} (update the file)",
                want.word(),
                got.word()
            )),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::contest::Case;
    use super::*;

    fn outcome(cases: &[(&str, Status)]) -> Outcome {
        Outcome {
            group: "g".into(),
            cases: cases
                .iter()
                .map(|(id, status)| Case {
                    id: id.to_string(),
                    status: *status,
                    reason: "why".into(),
                })
                .collect(),
            timed_out: false,
            harness_failed: None,
        }
    }

    #[test]
    fn regressions_unknown_cases_and_reasonless_failures_fail_improvements_are_notes() {
        let dir = std::env::temp_dir().join(format!("xtask-expected-{}", std::process::id()));
        let path = dir.join("e.expected");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            &path,
            "# header\ng::a | pass | pass\ng::b | fail | pass | cove lacks b\ng::c | fail | fail |\ng::d x | skip | - | no d here\n",
        )
        .unwrap();
        let e = Expected::load(&path).unwrap();
        let run = outcome(&[
            ("g::a", Status::Fail),
            ("g::b", Status::Pass),
            ("g::c", Status::Fail),
            ("g::new", Status::Pass),
        ]);
        let v = e.compare(Runtime::Cove, &[run], true);
        assert_eq!(
            v.failures,
            [
                "g::a: expected pass, got fail",
                "g::c: expected fail without a reason",
                "g::new: pass but not in the expectation file",
                "g::d x: expected in the run, not reported",
            ]
        );
        assert_eq!(v.notes, ["g::b: expected fail, got pass (update the file)"]);

        let mut e = e;
        e.update(
            Runtime::Cove,
            &[outcome(&[("g::a", Status::Pass), ("g::b", Status::Pass)])],
            true,
        );
        e.save(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<Vec<&str>> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.split('|').map(str::trim).collect())
            .collect();
        assert_eq!(
            lines,
            [
                vec!["g::a", "pass", "pass", ""],
                vec!["g::b", "pass", "pass", ""],
                vec!["g::c", "-", "fail", ""],
            ]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
