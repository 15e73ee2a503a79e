//! Rootless multi-range user namespaces through the host's setuid `newuidmap`/`newgidmap` (Debian's `uidmap`)
//! and util-linux's `unshare`/`setpriv`. Runs in `cargo xtask test`'s host phase only: the cgroup-v2 guest has
//! just busybox (test targets named `privileged_host_*` are left out of the VM), and nothing here depends on the
//! cgroup layout.
#![cfg(feature = "privileged")]

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

const COVE: &str = env!("CARGO_BIN_EXE_cove");

#[test]
fn rootless_ranges_go_through_newuidmap_and_subuid() {
    // /etc/subuid and /etc/subgid get a range for nobody only inside a private mount namespace, so the host's
    // files are never touched; newuidmap/newgidmap (Debian's uidmap) read them there.
    let work = tempfile::tempdir().unwrap();
    std::fs::set_permissions(work.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let sub = work.path().join("subid");
    std::fs::write(&sub, "nobody:200000:65536\n").unwrap();
    let runtime_dir = work.path().join("xdg");
    std::fs::create_dir(&runtime_dir).unwrap();
    std::os::unix::fs::chown(&runtime_dir, Some(65534), Some(65534)).unwrap();
    let body = "[process]\nargs = [\"/bin/sh\", \"-c\", \"cat /proc/self/uid_map /proc/self/gid_map; id -u\"]\n\
                [rootfs]\nhost = true\n[namespaces.user]\n\
                uid_map = [{ inside = 0, outside = 65534, count = 1 }, { inside = 1, outside = 200000, count = 65536 }]\n";
    let name = format!("t-rootless-ranges-{}", std::process::id());
    let manifest = work.path().join("c.toml");
    std::fs::write(&manifest, format!("name = \"{name}\"\n{body}")).unwrap();
    std::fs::set_permissions(&manifest, std::fs::Permissions::from_mode(0o644)).unwrap();
    let script = format!(
        "mount --bind {sub} /etc/subuid && mount --bind {sub} /etc/subgid && \
         exec setpriv --reuid 65534 --regid 65534 --clear-groups env XDG_RUNTIME_DIR={xdg} COVE_TEST_CASE={name} {COVE} run {manifest}",
        sub = sub.display(),
        xdg = runtime_dir.display(),
        name = name,
        manifest = manifest.display(),
    );
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!std::path::Path::new("/run/cove").join(&name).exists());
    assert_eq!(
        std::fs::read_dir(&runtime_dir)
            .map(|d| d.count())
            .unwrap_or(0),
        1,
        "only the empty cove dir"
    );
    let words: Vec<&str> = std::str::from_utf8(&out.stdout)
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(
        words,
        [
            "0", "65534", "1", "1", "200000", "65536", "0", "65534", "1", "1", "200000", "65536",
            "0"
        ],
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
