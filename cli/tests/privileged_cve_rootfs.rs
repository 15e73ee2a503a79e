//! The rootfs CVE battery, end to end through the real `cove` binary: a root container (no user
//! namespace) on a host-backed root attacks the host's device nodes through its `/dev` and its
//! masked paths (the class of CVE-2025-31133). Each attempt's outcome is asserted, and the host's
//! `/dev/zero` and `/dev/null` keep their mode, owner and ctime. Run as root (feature `privileged`).
//!
//! cove runs in a private mount namespace of its own where fresh decoy nodes are bound over
//! `/dev/zero` and `/dev/null`: a runtime that still used the host's nodes would change the
//! decoys (and the test would fail) instead of the machine's real nodes.
#![cfg(feature = "privileged")]

mod common;

use common::*;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

const PROBE: &str = env!("CARGO_BIN_EXE_cove-escape-probe");

/// A host-backed root (`[rootfs] host = true`) with the probe bound at /probe, running `script`.
fn hostile_body(script: &str) -> String {
    format!(
        "[process]\nargs = [\"/bin/sh\", \"-c\", {script:?}]\n[rootfs]\nhost = true\n\
         [[mounts]]\ntype = \"bind\"\nsource = {PROBE:?}\ntarget = \"/probe\"\noptions = [\"ro\"]\n"
    )
}

/// Fresh char nodes `zero` (1:5) and `null` (1:3), mode 0666, root's.
fn decoys(dir: &Path) -> [PathBuf; 2] {
    [("zero", 5), ("null", 3)].map(|(name, minor)| {
        let p = dir.join(name);
        nix::sys::stat::mknod(
            &p,
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::from_bits_truncate(0o666),
            nix::sys::stat::makedev(1, minor),
        )
        .unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o666)).unwrap();
        p
    })
}

/// Mode, owner, group and ctime of `p`.
fn fingerprint(p: &Path) -> (u32, u32, u32, i64, i64) {
    let m = std::fs::metadata(p).unwrap();
    (m.mode(), m.uid(), m.gid(), m.ctime(), m.ctime_nsec())
}

/// `cove run` of the case inside `unshare -m`, the decoys bound over /dev/zero and /dev/null.
fn run_with_decoys(case: &Case, decoys: &[PathBuf; 2]) -> std::process::Output {
    let script =
        "mount --bind \"$1\" /dev/zero && mount --bind \"$2\" /dev/null && shift 2 && exec \"$@\"";
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", script, "sh"])
        .args(decoys)
        .arg(COVE)
        .arg("run")
        .arg(case.manifest())
        .env("COVE_TEST_CASE", &case.name)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    case.assert_host_clean();
    out
}

#[test]
fn host_device_nodes_survive_chmod_chown_and_mknod_from_inside() {
    let tmp = tempfile::tempdir().unwrap();
    let decoys = decoys(tmp.path());
    let decoys_before = decoys.clone().map(|d| fingerprint(&d));
    let real = [Path::new("/dev/zero"), Path::new("/dev/null")];
    let real_before = real.map(fingerprint);
    let keys = if Path::new("/proc/keys").exists() {
        "EROFS"
    } else {
        "ENOENT"
    };
    let probes = [
        // The container's own nodes (mknod'ed in its /dev tmpfs): changing them is its business.
        ("chmod /dev/zero 600", "ok"),
        ("chown /dev/zero 65534", "ok"),
        ("chmod /dev/null 600", "ok"),
        // A masked file is a read-only bind of the container's /dev/null.
        ("chmod /proc/keys 600", keys),
        ("chown /proc/keys 65534", keys),
        (
            "write /proc/keys",
            if keys == "EROFS" { "ok" } else { "ENOENT" },
        ),
        // CAP_MKNOD makes the node; the device cgroup refuses to open /dev/mem.
        ("mknod-char-open /dev/x 1 1", "open EPERM"),
    ];
    let script: String = probes
        .iter()
        .map(|(p, _)| format!("/probe {p}; "))
        .collect();
    let case = Case::new("cve-dev", &hostile_body(&script));
    let out = run_with_decoys(&case, &decoys);
    assert!(out.status.success(), "{}", stderr(&out));
    let got: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
    assert_eq!(got.len(), probes.len(), "{got:?} {}", stderr(&out));
    for ((probe, want), have) in probes.iter().zip(&got) {
        assert_eq!(have, want, "probe `{probe}`");
    }
    assert_eq!(
        decoys.clone().map(|d| fingerprint(&d)),
        decoys_before,
        "the nodes cove saw as the host's /dev/zero and /dev/null changed"
    );
    assert_eq!(
        real.map(fingerprint),
        real_before,
        "the host's nodes changed"
    );
}
