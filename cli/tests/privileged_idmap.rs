//! `options = ["idmap"]` on bind mounts, end to end as root: what the container sees, what it can
//! write, and what the host sees afterwards.
//!
//! Semantics (kernel idmapped mounts through the container's user namespace, as runc/crun): an
//! on-disk id `n` shows inside as id `n`; ids outside the map's inside range show as 65534; a file
//! the container's root creates is stored as host uid 0.
#![cfg(feature = "privileged")]

mod common;

use std::os::unix::fs::{chown, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Output;

use common::busybox_root;

/// A manifest and a `data` dir (host uid 0, mode 0755) holding `by-root` (uid 0) and `by-100000`
/// (uid 100000), in the case's temp dir (removed on drop).
struct Case(common::Case);

const USERNS: &str =
    "[namespaces.user]\nuid_map = [{ inside = 0, outside = 100000, count = 65536 }]\n\
                      gid_map = [{ inside = 0, outside = 100000, count = 65536 }]\n";

const SCRIPT: &str = "stat -c %u /home/by-root /home/by-100000 /home; \
                      echo hi > /home/new 2>/dev/null && echo wrote || echo denied";

impl Case {
    fn new(test: &str, options: &str, userns: bool) -> Case {
        let body = format!(
            "[process]\nargs = [\"/bin/sh\", \"-c\", {SCRIPT:?}]\n\
             [rootfs]\npath = {:?}\n{}\
             [[mounts]]\ntype = \"bind\"\nsource = \"data\"\ntarget = \"/home\"\noptions = [{options}]\n",
            busybox_root().display().to_string(),
            if userns { USERNS } else { "" },
        );
        let case = common::Case::new(&format!("idmap-{test}"), &body);
        let data = case.dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(data.join("by-root"), "r").unwrap();
        std::fs::write(data.join("by-100000"), "m").unwrap();
        chown(data.join("by-100000"), Some(100_000), Some(100_000)).unwrap();
        Case(case)
    }

    fn data(&self) -> PathBuf {
        self.0.dir.path().join("data")
    }

    /// Runs it; the host's mounts, the state dir and the process list are checked afterwards.
    fn run(&self) -> Output {
        self.0.run()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Whether this host should support an idmapped mount of `dir`: Linux 5.12+ and a file system
/// known to support idmapping on every kernel that has it (ext4, xfs, btrfs).
fn expect_idmap_support(dir: &Path) -> bool {
    const EXT4: i64 = 0xEF53;
    const XFS: i64 = 0x5846_5342;
    const BTRFS: i64 = 0x9123_683E;
    let fs = nix::sys::statfs::statfs(dir).unwrap().filesystem_type().0 as i64;
    let release = nix::sys::utsname::uname().unwrap();
    let release = release.release().to_string_lossy().into_owned();
    let mut parts = release
        .split(['.', '-'])
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let version = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    version >= (5, 12) && [EXT4, XFS, BTRFS].contains(&fs)
}

#[test]
fn idmapped_bind_shows_host_ids_as_container_ids_and_is_writable_by_root() {
    let case = Case::new("on", "\"idmap\"", true);
    let out = case.run();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    if !out.status.success() && !expect_idmap_support(&case.data()) {
        // No idmapping here (old kernel, 9p/overlay/tmpfs work dir): a clear error, not a plain bind.
        eprintln!(
            "idmapped mounts unsupported for {}: checking the error",
            case.data().display()
        );
        assert!(
            stderr.contains("idmap the bind mount of") && stderr.contains("/home"),
            "{stderr}"
        );
        assert!(stdout.is_empty(), "the program ran: {stdout}");
        return;
    }
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout, "0\n65534\n0\nwrote\n", "{stderr}");
    let meta = std::fs::metadata(case.data().join("new")).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid()),
        (0, 0),
        "stored with the host's ids"
    );
    assert_eq!(
        std::fs::read_to_string(case.data().join("new")).unwrap(),
        "hi\n"
    );
}

#[test]
fn without_idmap_a_bind_in_the_same_user_namespace_shows_overflow_ids_and_is_read_only_to_root() {
    let case = Case::new("off", "", true);
    let out = case.run();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "65534\n0\n65534\ndenied\n");
    assert!(!case.data().join("new").exists());
}

#[test]
fn idmap_without_a_user_namespace_is_a_manifest_error() {
    let case = Case::new("nouserns", "\"idmap\"", false);
    let out = case.run();
    let stderr = text(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("mounts[0].options")
            && stderr.contains("`idmap` option needs a user namespace"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}
