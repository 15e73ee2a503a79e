//! `cove check` on broken manifests: each mistake gets its own exact message with file, line, column and key.
//! Needs no root: nothing is created.

use std::path::Path;
use std::process::Command;

/// Writes `text` as `name` in a fresh temp dir and runs `cove check` on it; returns (exit code, stderr).
fn check(name: &str, text: &str) -> (i32, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(name);
    std::fs::write(&file, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cove"))
        .arg("check")
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    let stderr = stderr.replace(&dir.path().display().to_string(), "DIR");
    (out.status.code().unwrap(), stderr, dir)
}

const PROCESS: &str = "[process]\nargs = [\"/bin/sh\", \"-c\", \"true\"]\n";

#[test]
fn valid_manifest_prints_the_plan() {
    let (code, stderr, dir) = check("ok.toml", &format!("{PROCESS}[rootfs]\nhost = true\n"));
    assert_eq!(code, 0, "{stderr}");
    let out = Command::new(env!("CARGO_BIN_EXE_cove"))
        .arg("check")
        .arg(dir.path().join("ok.toml"))
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("container  ok\n"), "{text}");
    assert!(text.contains("hostname   ok\n"), "{text}");
    assert!(text.contains("  pid      new\n"), "{text}");
    assert!(text.contains("  time     host\n"), "{text}");
    assert!(
        text.contains("pivot_root") || text.contains("pivot"),
        "the mount steps end in pivot_root: {text}"
    );
}

#[test]
fn misspelt_key_suggests_the_fix() {
    let (code, stderr, _d) = check(
        "m.toml",
        &format!("hostnme = \"x\"\n{PROCESS}[rootfs]\nhost = true\n"),
    );
    assert_eq!(code, 125);
    assert_eq!(
        stderr,
        "cove: error: DIR/m.toml:1:1: `hostnme`: unknown key\n  help: did you mean `hostname`?\n"
    );
}

#[test]
fn misspelt_nested_key_is_placed_on_its_line() {
    let (_, stderr, _d) = check(
        "m.toml",
        &format!("{PROCESS}[rootfs]\nhost = true\nreadnoly = false\n"),
    );
    assert_eq!(
        stderr,
        "cove: error: DIR/m.toml:5:1: `readnoly`: unknown key\n  help: did you mean `readonly`?\n"
    );
}

#[test]
fn wrong_type_names_the_key() {
    let (_, stderr, _d) = check(
        "m.toml",
        "[process]\nargs = \"/bin/sh\"\n[rootfs]\nhost = true\n",
    );
    assert_eq!(stderr, "cove: error: DIR/m.toml:2:8: `args`: invalid type: string \"/bin/sh\", expected a sequence\n");
}

#[test]
fn missing_section_is_reported() {
    let (_, stderr, _d) = check("m.toml", "[rootfs]\nhost = true\n");
    assert!(
        stderr.starts_with("cove: error: DIR/m.toml:")
            && stderr.contains("`process`: missing required key\n  help: add `process = …`"),
        "{stderr}"
    );
}

#[test]
fn missing_rootfs_directory() {
    let (_, stderr, _d) = check("m.toml", &format!("{PROCESS}[rootfs]\npath = \"nope\"\n"));
    assert!(
        stderr.starts_with("cove: error: DIR/m.toml:4:8: `rootfs.path`: rootfs `DIR/nope` does not exist (No such file or directory (os error 2))\n"),
        "{stderr}"
    );
}

#[test]
fn path_and_host_together() {
    let (_, stderr, _d) = check(
        "m.toml",
        &format!("{PROCESS}[rootfs]\npath = \".\"\nhost = true\n"),
    );
    assert_eq!(
        stderr,
        "cove: error: DIR/m.toml:4:8: `rootfs.path`: `path` and `host = true` cannot be combined\n  help: keep one of them\n"
    );
}

#[test]
fn command_missing_inside_the_root() {
    let (_, stderr, _d) = check(
        "m.toml",
        "[process]\nargs = [\"/no/such/program\"]\n[rootfs]\nhost = true\n",
    );
    assert_eq!(
        stderr,
        "cove: error: DIR/m.toml:2:8: `process.args`: `/no/such/program` does not exist or is not executable in the host directories of `rootfs.host`\n"
    );
}

#[test]
fn command_not_in_path() {
    let (_, stderr, _d) = check(
        "m.toml",
        "[process]\nargs = [\"no-such-tool\"]\nenv = { PATH = \"/bin\" }\n[rootfs]\nhost = true\n",
    );
    assert_eq!(
        stderr,
        "cove: error: DIR/m.toml:2:8: `process.args`: `no-such-tool` is not found in PATH (/bin) in the host directories of `rootfs.host`\n"
    );
}

#[test]
fn relative_cwd() {
    let (_, stderr, _d) = check(
        "m.toml",
        &format!("{PROCESS}cwd = \"tmp\"\n[rootfs]\nhost = true\n"),
    );
    assert_eq!(stderr, "cove: error: DIR/m.toml:3:7: `process.cwd`: `tmp` is not an absolute path inside the container\n");
}

#[test]
fn mount_target_outside_the_root() {
    let text = format!("{PROCESS}[rootfs]\nhost = true\n[[mounts]]\ntype = \"tmpfs\"\ntarget = \"/tmp/../../etc\"\n");
    let (_, stderr, _d) = check("m.toml", &text);
    assert_eq!(stderr, "cove: error: DIR/m.toml:7:10: `mounts[0].target`: `/tmp/../../etc` leaves the container's root (`..`)\n");
}

#[test]
fn unknown_mount_type() {
    let text =
        format!("{PROCESS}[rootfs]\nhost = true\n[[mounts]]\ntype = \"tmfps\"\ntarget = \"/t\"\n");
    let (_, stderr, _d) = check("m.toml", &text);
    assert_eq!(stderr, "cove: error: DIR/m.toml:6:8: `mounts[0].type`: unknown mount type `tmfps`\n  help: did you mean `tmpfs`?\n");
}

#[test]
fn bind_source_must_exist() {
    let text = format!("{PROCESS}[rootfs]\nhost = true\n[[mounts]]\ntype = \"bind\"\nsource = \"missing\"\ntarget = \"/data\"\n");
    let (_, stderr, _d) = check("m.toml", &text);
    assert_eq!(
        stderr,
        "cove: error: DIR/m.toml:7:10: `mounts[0].source`: bind source `DIR/missing` does not exist (No such file or directory (os error 2))\n"
    );
}

#[test]
fn hostname_needs_uts_namespace() {
    let text =
        format!("hostname = \"box\"\n{PROCESS}[rootfs]\nhost = true\n[namespaces]\nuts = false\n");
    let (_, stderr, _d) = check("m.toml", &text);
    assert_eq!(
        stderr,
        "cove: error: DIR/m.toml:1:12: `hostname`: setting a hostname needs a new uts namespace\n  help: set `[namespaces] uts = true` or remove `hostname`\n"
    );
}

#[test]
fn bad_size_and_all_errors_at_once() {
    let text = format!(
        "{PROCESS}cwd = \"rel\"\n[rootfs]\nhost = true\n[resources]\nmemory = \"12Q\"\npids = 0\n"
    );
    let (_, stderr, _d) = check("m.toml", &text);
    let lines: Vec<&str> = stderr.lines().collect();
    if nix::unistd::geteuid().is_root() {
        assert_eq!(
            lines,
            [
                "cove: error: DIR/m.toml:3:7: `process.cwd`: `rel` is not an absolute path inside the container",
                "cove: error: DIR/m.toml:7:10: `resources.memory`: unknown size unit `q` in `12Q` (use K, M, G or T)",
                "cove: error: DIR/m.toml:8:8: `resources.pids`: 0 is out of range 1..=18446744073709551615",
            ]
        );
    } else {
        assert_eq!(lines[1], "cove: error: DIR/m.toml:6:1: `resources`: cgroup limits need root: cove creates the container's cgroup itself");
    }
}

#[test]
fn unreadable_file() {
    let out = Command::new(env!("CARGO_BIN_EXE_cove"))
        .args(["check", "/no/such.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "cove: error: /no/such.toml: cannot read the manifest: No such file or directory (os error 2)\n"
    );
    assert!(!Path::new("/no/such.toml").exists());
}

#[test]
fn unknown_capability_suggests_the_name() {
    let text = format!(
        "{PROCESS}[rootfs]\nhost = true\n[security]\ncapabilities = {{ add = [\"NET_ADMN\"] }}\n"
    );
    let (_, stderr, _d) = check("m.toml", &text);
    assert_eq!(
        stderr,
        "cove: error: DIR/m.toml:6:25: `security.capabilities.add`: unknown capability `NET_ADMN`\n  help: did you mean `NET_ADMIN`?\n"
    );
}

#[test]
fn rlimit_mistakes() {
    let text = format!(
        "{PROCESS}[rootfs]\nhost = true\n[security]\nrlimits = {{ nofiles = 10, nproc = [20, 10] }}\noom_score_adj = 5000\n"
    );
    let (_, stderr, _d) = check("m.toml", &text);
    assert_eq!(
        stderr,
        "cove: error: DIR/m.toml:6:23: `security.rlimits.nofiles`: unknown rlimit `nofiles`\n  help: did you mean `nofile`?\n\
         cove: error: DIR/m.toml:6:35: `security.rlimits.nproc`: the soft limit 20 is above the hard limit 10\n\
         cove: error: DIR/m.toml:7:17: `security.oom_score_adj`: 5000 is out of range -1000..=1000\n"
    );
}

#[test]
fn id_maps_only_for_the_user_namespace_and_only_valid_ones() {
    let text = format!(
        "{PROCESS}[rootfs]\nhost = true\n[namespaces]\nnet = {{ uid_map = [{{ inside = 0, outside = 1, count = 1 }}] }}\n\
         user = {{ uid_map = [{{ inside = 0, outside = 100000, count = 10 }}, {{ inside = 5, outside = 200000, count = 10 }}] }}\n"
    );
    let (_, stderr, _d) = check("m.toml", &text);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 3, "{stderr}");
    assert!(
        lines[0].starts_with("cove: error: DIR/m.toml:7:8: `namespaces.user.uid_map`: "),
        "{stderr}"
    );
    assert_eq!(
        lines[1],
        "cove: error: DIR/m.toml:6:7: `namespaces.net`: only the user namespace takes id maps"
    );
    assert_eq!(lines[2], "  help: use `net = true`, `false` or a path");
}

#[test]
fn landlock_needs_absolute_paths_and_no_new_privileges() {
    let text = format!("{PROCESS}[rootfs]\nhost = true\n[security.landlock]\nread = [\"usr\"]\n");
    let (_, stderr, _d) = check("m.toml", &text);
    assert!(
        stderr.starts_with("cove: error: DIR/m.toml:5:1: `security.landlock`: landlock read[0]"),
        "{stderr}"
    );
    let text = format!(
        "{PROCESS}[rootfs]\nhost = true\n[security]\nno_new_privileges = false\n[security.landlock]\nread = [\"/usr\"]\n"
    );
    let (_, stderr, _d) = check("m.toml", &text);
    assert_eq!(
        stderr,
        "cove: error: DIR/m.toml:7:1: `security.landlock`: Landlock needs no_new_privileges\n  help: remove `no_new_privileges = false`\n"
    );
}

#[test]
fn a_broken_seccomp_profile_is_reported_up_front() {
    let text = format!("{PROCESS}[rootfs]\nhost = true\n[security]\nseccomp = \"nope.json\"\n");
    let (code, stderr, _d) = check("m.toml", &text);
    assert_eq!(code, 125);
    assert!(
        stderr.starts_with("cove: error: DIR/m.toml:6:11: `security.seccomp`: "),
        "{stderr}"
    );
    assert!(
        stderr.contains("nope.json") && stderr.contains("help: use \"default\""),
        "{stderr}"
    );
}
