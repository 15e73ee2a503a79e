//! cove refuses to run when installed setuid or setgid, as runc does: it acts with whatever privilege it
//! holds on paths, ids and configs its caller names, so a set-id `cove` would hand that privilege to any user.

use std::path::Path;

use anyhow::{Context, Result};

/// Why a process with these ids, running an executable of this mode, must not go on; `None` when it may.
pub fn setid_refusal(uids: (u32, u32), gids: (u32, u32), exe_mode: u32) -> Option<String> {
    let (ruid, euid) = uids;
    let (rgid, egid) = gids;
    if ruid != euid {
        return Some(format!(
            "cove runs setuid (real uid {ruid}, effective uid {euid})"
        ));
    }
    if rgid != egid {
        return Some(format!(
            "cove runs setgid (real gid {rgid}, effective gid {egid})"
        ));
    }
    let bits = exe_mode & (libc::S_ISUID | libc::S_ISGID);
    if bits != 0 {
        return Some(format!(
            "the cove executable has the setuid or setgid bit (mode {:o})",
            exe_mode & 0o7777
        ));
    }
    None
}

/// Checks the running process and its executable (`/proc/self/exe`): an error saying why when cove is
/// set-id.
pub fn check_not_setid() -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let exe = Path::new("/proc/self/exe");
    let mode = std::fs::metadata(exe)
        .context("inspecting the cove executable (/proc/self/exe)")?
        .mode();
    let uids = (
        nix::unistd::getuid().as_raw(),
        nix::unistd::geteuid().as_raw(),
    );
    let gids = (
        nix::unistd::getgid().as_raw(),
        nix::unistd::getegid().as_raw(),
    );
    match setid_refusal(uids, gids, mode) {
        Some(why) => anyhow::bail!(
            "{why}: refusing to run; cove must not be installed setuid or setgid (remove the bits: \
             chmod ug-s)"
        ),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_id_ids_or_mode_bits_are_refused() {
        assert_eq!(setid_refusal((1000, 1000), (100, 100), 0o100755), None);
        assert_eq!(setid_refusal((0, 0), (0, 0), 0o100755), None);
        assert!(setid_refusal((1000, 0), (100, 100), 0o100755)
            .unwrap()
            .contains("setuid"));
        assert!(setid_refusal((1000, 1000), (100, 0), 0o100755)
            .unwrap()
            .contains("setgid"));
        for mode in [0o104755, 0o102755, 0o106755] {
            let why = setid_refusal((0, 0), (0, 0), mode).unwrap();
            assert!(why.contains("setuid or setgid bit"), "{why}");
        }
    }

    #[test]
    fn this_test_process_is_not_set_id() {
        check_not_setid().unwrap();
    }
}
