//! The busybox test rootfs in `target/rootfs`, from Debian's `busybox-static`.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::cmd::workspace_root;

/// Where the statically linked busybox of Debian's `busybox-static` lives.
const BUSYBOX_CANDIDATES: [&str; 2] = ["/bin/busybox", "/usr/bin/busybox"];

/// Directories every test root has.
const DIRS: [&str; 13] = [
    "bin", "sbin", "usr/bin", "usr/sbin", "etc", "proc", "sys", "dev", "tmp", "root", "home",
    "run", "var/tmp",
];

/// Path of the test rootfs.
pub fn path() -> PathBuf {
    workspace_root().join("target/rootfs")
}

/// Builds the test rootfs unless it is already there and current; returns its path.
pub fn ensure() -> Result<PathBuf> {
    let root = path();
    let busybox = find_static_busybox()?;
    let stamp = root.join(".cove-rootfs");
    let wanted = format!(
        "busybox {} {}\n",
        busybox.display(),
        fs::metadata(&busybox)?.len()
    );
    if fs::read_to_string(&stamp).is_ok_and(|s| s == wanted) {
        return Ok(root);
    }
    build(&root, &busybox)?;
    fs::write(&stamp, wanted)?;
    Ok(root)
}

/// Finds a statically linked busybox (a dynamic one would not run inside the root).
fn find_static_busybox() -> Result<PathBuf> {
    for candidate in BUSYBOX_CANDIDATES.map(Path::new) {
        if candidate.exists() && is_static_elf(candidate)? {
            return Ok(candidate.to_path_buf());
        }
    }
    bail!("no statically linked busybox found in {BUSYBOX_CANDIDATES:?}: install it with `apt-get install busybox-static`")
}

/// Whether an ELF64 file has no PT_INTERP program header, i.e. needs no dynamic loader.
fn is_static_elf(path: &Path) -> Result<bool> {
    let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" || bytes[4] != 2 {
        return Ok(false);
    }
    let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(bytes[32..40].try_into()?) as usize;
    let (phentsize, phnum) = (u16_at(54), u16_at(56));
    const PT_INTERP: u32 = 3;
    for i in 0..phnum {
        let off = phoff + i * phentsize;
        let Some(kind) = bytes.get(off..off + 4) else {
            return Ok(false);
        };
        if u32::from_le_bytes(kind.try_into()?) == PT_INTERP {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Lays out the root: directories, busybox with one symlink per applet, /etc basics.
fn build(root: &Path, busybox: &Path) -> Result<()> {
    eprintln!(
        "xtask: building the test rootfs in {} from {}",
        root.display(),
        busybox.display()
    );
    for dir in DIRS {
        fs::create_dir_all(root.join(dir))?;
    }
    fs::set_permissions(root.join("tmp"), fs::Permissions::from_mode(0o1777))?;
    let target = root.join("bin/busybox");
    let _ = fs::remove_file(&target);
    fs::copy(busybox, &target).with_context(|| format!("copying {}", busybox.display()))?;
    let list = Command::new(busybox)
        .arg("--list-full")
        .output()
        .context("running busybox --list-full")?;
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        let link = root.join(applet.trim_start_matches('/'));
        if applet.is_empty() || link == target || link.symlink_metadata().is_ok() {
            continue;
        }
        symlink("/bin/busybox", &link).with_context(|| format!("linking {}", link.display()))?;
    }
    fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
    )?;
    fs::write(
        root.join("etc/group"),
        "root:x:0:\ntty:x:5:\nnogroup:x:65534:\n",
    )?;
    fs::write(root.join("etc/hostname"), "cove\n")?;
    Ok(())
}
