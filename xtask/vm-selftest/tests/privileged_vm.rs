//! What cove's privileged tests rely on in the `cargo xtask vm-test` guest.
#![cfg(feature = "privileged")]

use std::fs;
use std::path::Path;
use std::process::Command;

/// Runs a busybox shell script, asserting success, and returns its stdout.
fn sh(script: &str) -> String {
    let out = Command::new("/bin/sh").args(["-c", script]).output().unwrap();
    assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn mounts() -> String {
    fs::read_to_string("/proc/self/mounts").unwrap()
}

/// Removes a cgroup directory even when the test fails.
struct CgroupGuard(&'static str);

impl Drop for CgroupGuard {
    fn drop(&mut self) {
        let _ = fs::remove_dir(self.0);
    }
}

#[test]
fn only_cgroup_v2_with_every_controller_enabled() {
    let controllers = fs::read_to_string("/sys/fs/cgroup/cgroup.controllers").unwrap();
    let enabled = fs::read_to_string("/sys/fs/cgroup/cgroup.subtree_control").unwrap();
    for c in ["cpuset", "cpu", "io", "memory", "pids"] {
        assert!(controllers.split_whitespace().any(|x| x == c), "{c} not available: {controllers}");
        assert!(enabled.split_whitespace().any(|x| x == c), "{c} not enabled: {enabled}");
    }
    assert_eq!(fs::read_to_string("/proc/self/cgroup").unwrap(), "0::/\n");
    let mounts = mounts();
    assert!(!mounts.lines().any(|l| l.split_whitespace().nth(2) == Some("cgroup")), "a v1 hierarchy: {mounts}");
    let cg2 = mounts.lines().find(|l| l.starts_with("cgroup2 /sys/fs/cgroup cgroup2 ")).expect("cgroup2 mount");
    assert!(cg2.contains("nsdelegate"), "{cg2}");
}

#[test]
fn memory_max_oom_kills_in_a_child_cgroup() {
    let cg = CgroupGuard("/sys/fs/cgroup/vm-selftest-oom");
    fs::create_dir(cg.0).unwrap();
    fs::write(format!("{}/memory.max", cg.0), "16M").unwrap();
    let script = format!("echo $$ > {}/cgroup.procs && exec awk 'BEGIN {{ s = \"x\"; while (1) s = s s }}'", cg.0);
    let status = Command::new("/bin/sh").args(["-c", &script]).status().unwrap();
    let events = fs::read_to_string(format!("{}/memory.events", cg.0)).unwrap();
    assert!(!status.success(), "awk survived a 16M limit");
    assert!(events.lines().any(|l| l.starts_with("oom_kill ") && l != "oom_kill 0"), "{events}");
}

#[test]
fn pivot_root_works_from_a_private_mount_namespace() {
    let out = sh("unshare -m sh -c 'mount --make-rprivate / && mkdir -p /tmp/pr && mount -t tmpfs t /tmp/pr \
                  && mkdir /tmp/pr/old && cd /tmp/pr && pivot_root . old && echo pivoted'");
    assert_eq!(out, "pivoted\n");
    assert!(!mounts().contains("/tmp/pr"), "the mount leaked out of the namespace");
}

#[test]
fn root_mount_is_shared_like_a_systemd_host() {
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let root = info.lines().find(|l| l.split_whitespace().nth(4) == Some("/")).unwrap();
    assert!(root.contains(" shared:"), "{root}");
}

#[test]
fn binaries_fixtures_and_target_tmpdir_are_at_their_host_paths() {
    let out = Command::new(env!("CARGO_BIN_EXE_hello")).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello from the guest\n");
    let data = fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/data.txt")).unwrap();
    assert_eq!(data, "fixture-content\n");
    assert_eq!(std::env::current_dir().unwrap(), Path::new(env!("CARGO_MANIFEST_DIR")));
    assert_eq!(std::env::var("CARGO_MANIFEST_DIR").unwrap(), env!("CARGO_MANIFEST_DIR"));
    // Writes land in the guest's overlay, not on the host.
    let p = concat!(env!("CARGO_TARGET_TMPDIR"), "/written-in-guest");
    fs::write(p, "x").unwrap();
    fs::remove_file(p).unwrap();
}

#[test]
fn test_rootfs_is_a_writable_tmpfs_copy() {
    let rootfs = concat!(env!("CARGO_MANIFEST_DIR"), "/target/rootfs");
    assert_eq!(fs::read_to_string(format!("{rootfs}/etc/marker")).unwrap(), "rootfs\n");
    assert!(mounts().lines().any(|l| l.starts_with(&format!("tmpfs {rootfs} tmpfs "))), "{}", mounts());
    fs::write(format!("{rootfs}/etc/written"), "ok").unwrap();
}

#[test]
fn modules_devices_and_users_are_there() {
    assert_eq!(sh("ip link add vst0 type veth peer name vst1 && ip link del vst0 && echo ok"), "ok\n");
    let out = sh("mkdir -p /tmp/o/l /tmp/o/u /tmp/o/w /tmp/o/m && unshare -m sh -c 'mount --make-rprivate / && \
                  mount -t overlay o -o lowerdir=/tmp/o/l,upperdir=/tmp/o/u,workdir=/tmp/o/w /tmp/o/m && echo ok'");
    assert_eq!(out, "ok\n");
    assert_eq!(fs::read_to_string("/sys/block/vda/size").unwrap().trim(), "131072");
    assert!(Path::new("/dev/loop-control").exists());
    assert_eq!(sh("id -un"), "root\n");
    assert_eq!(std::env::var("COVE_VM").as_deref(), Ok("1"));
}
