//! `cove doctor` through the library API: runs on the real host, as root or not.

use cove::doctor::{diagnose, Check, Report, Status, CHECK_NAMES};

fn report() -> Report {
    diagnose()
}

#[test]
fn every_check_name_appears_once_in_order() {
    let r = report();
    let names: Vec<&str> = r.checks.iter().map(|c| c.name).collect();
    assert_eq!(names, CHECK_NAMES);
    for name in CHECK_NAMES {
        assert_eq!(
            r.checks.iter().filter(|c| c.name == *name).count(),
            1,
            "{name}"
        );
        assert!(r.check(name).is_some(), "{name}");
    }
}

#[test]
fn every_check_has_a_detail_and_problems_have_a_fix() {
    for c in report().checks {
        assert!(!c.detail.trim().is_empty(), "{c:?}");
        assert!(!c.detail.contains('\n'), "{c:?}");
        if c.status == Status::Fail {
            assert!(c.fix.is_some(), "a failure without a fix: {c:?}");
        }
        if c.status == Status::Ok {
            assert!(c.fix.is_none(), "an ok check with a fix: {c:?}");
        }
    }
}

#[test]
fn render_text_has_one_line_per_check_with_its_status() {
    let r = report();
    let text = r.render_text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), r.checks.len(), "{text}");
    for (line, check) in lines.iter().zip(&r.checks) {
        let mut words = line.split_whitespace();
        assert_eq!(words.next(), Some(check.status.as_str()), "{line}");
        assert_eq!(words.next(), Some(check.name), "{line}");
        assert!(line.contains(check.detail.as_str()), "{line}");
        if let Some(fix) = &check.fix {
            assert!(line.contains(&format!("fix: {fix}")), "{line}");
        }
    }
}

#[test]
fn render_json_parses_and_has_the_same_checks() {
    let r = report();
    let json: serde_json::Value = serde_json::from_str(&r.render_json()).unwrap();
    assert_eq!(json["ok"], serde_json::Value::Bool(r.ok()));
    let checks = json["checks"].as_array().unwrap();
    assert_eq!(checks.len(), r.checks.len());
    for (j, c) in checks.iter().zip(&r.checks) {
        assert_eq!(j["name"], c.name);
        assert_eq!(j["status"], c.status.as_str());
        assert_eq!(j["detail"], c.detail.as_str());
        match &c.fix {
            Some(fix) => assert_eq!(j["fix"], fix.as_str()),
            None => assert!(j["fix"].is_null()),
        }
    }
}

#[test]
fn ok_means_no_failure() {
    let check = |status| Check {
        name: "kernel",
        status,
        detail: "x".into(),
        fix: None,
    };
    let fine = Report {
        checks: vec![
            check(Status::Ok),
            check(Status::Warn),
            check(Status::Unknown),
        ],
    };
    assert!(fine.ok());
    let bad = Report {
        checks: vec![check(Status::Ok), check(Status::Fail)],
    };
    assert!(!bad.ok());
    let r = report();
    assert_eq!(r.ok(), r.checks.iter().all(|c| c.status != Status::Fail));
}

#[test]
fn kernel_check_matches_uname() {
    let r = report();
    let kernel = r.check("kernel").unwrap();
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    assert!(kernel.detail.contains(release.trim()), "{kernel:?}");
    assert_ne!(kernel.status, Status::Unknown, "{kernel:?}");
}

#[test]
fn privileges_reflect_the_effective_uid() {
    let r = report();
    let p = r.check("privileges").unwrap();
    if nix::unistd::geteuid().is_root() {
        assert!(
            p.detail.starts_with("root") || p.detail.starts_with("euid 0"),
            "{p:?}"
        );
    } else {
        assert!(p.detail.starts_with("rootless"), "{p:?}");
    }
}

#[test]
fn time_namespace_check_matches_proc() {
    let r = report();
    let t = r.check("time-namespace").unwrap();
    let exists = std::path::Path::new("/proc/self/ns/time").exists();
    assert_eq!(t.status == Status::Ok, exists, "{t:?}");
}

#[test]
fn diagnose_leaves_the_caller_in_its_namespaces() {
    let ns = |kind: &str| std::fs::read_link(format!("/proc/self/ns/{kind}")).unwrap();
    let (user, mnt) = (ns("user"), ns("mnt"));
    let r = report();
    // The user-namespace probe ran (in a forked child): its verdict is in the report...
    assert!(
        r.check("user-namespaces")
            .unwrap()
            .detail
            .contains("CLONE_NEWUSER")
            || r.check("user-namespaces").unwrap().status != Status::Ok
    );
    // ...and the caller is still in its own namespaces.
    assert_eq!(ns("user"), user);
    assert_eq!(ns("mnt"), mnt);
}

#[test]
fn the_doctor_command_prints_json_and_exits_by_its_verdict() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cove"))
        .args(["doctor", "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["checks"].as_array().unwrap().len(),
        cove::doctor::CHECK_NAMES.len()
    );
    assert_eq!(out.status.success(), v["ok"] == true);
}
