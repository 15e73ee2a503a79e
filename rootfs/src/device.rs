//! Device nodes (OCI `linux.devices`): planning them (pure) and creating them.

use std::ffi::OsStr;
use std::fmt;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat, AtFlags, OFlag, AT_FDCWD};
use nix::sys::stat::{fchmodat, fstat, makedev, mknodat, FchmodatFlags, FileStat, Mode, SFlag};
use nix::unistd::{fchownat, Gid, Uid};

use crate::error::{PlanError, RootfsError};
use crate::plan::{device_bind, is_clean_absolute, MountOp};
use crate::resolve::{normalize, proc_fd_path};
use crate::spec::{DeviceKind, DeviceNode};

/// Largest major number the kernel's `dev_t` holds (12 bits).
const MAX_MAJOR: u64 = 0xfff;
/// Largest minor number the kernel's `dev_t` holds (20 bits).
const MAX_MINOR: u64 = 0xf_ffff;

/// One device node to create, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeviceOp {
    /// Absolute, normalised path inside the container.
    pub path: PathBuf,
    pub kind: DeviceKind,
    pub major: u64,
    pub minor: u64,
    /// Permission bits (`0o7777` at most).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Bind the host's node at the same path onto an empty file instead of mknod (a char or
    /// block device in a user namespace, where mknod is not allowed).
    pub bind_host: bool,
}

/// Validates the spec's device nodes. Char and block devices in a user namespace become binds of
/// the host's node; FIFOs are always created (mknod of a FIFO needs no privilege).
pub(crate) fn compile_devices(
    devices: &[DeviceNode],
    in_user_ns: bool,
) -> Result<Vec<DeviceOp>, PlanError> {
    devices
        .iter()
        .enumerate()
        .map(|(index, d)| compile_device(index, d, in_user_ns))
        .collect()
}

fn compile_device(index: usize, d: &DeviceNode, in_user_ns: bool) -> Result<DeviceOp, PlanError> {
    let path = normalize(&d.path);
    if !is_clean_absolute(&d.path) || path == Path::new("/") || path == Path::new("/dev") {
        return Err(PlanError::BadDevicePath {
            index,
            path: d.path.clone(),
        });
    }
    let is_fifo = d.kind == DeviceKind::Fifo;
    if !is_fifo && (d.major > MAX_MAJOR || d.minor > MAX_MINOR) {
        return Err(PlanError::BadDeviceNumber {
            index,
            path: d.path.clone(),
            major: d.major,
            minor: d.minor,
        });
    }
    Ok(DeviceOp {
        path,
        kind: d.kind,
        major: if is_fifo { 0 } else { d.major },
        minor: if is_fifo { 0 } else { d.minor },
        // Only permission bits: a file type in the mode is ignored (as runc does).
        mode: d.mode & 0o7777,
        uid: d.uid,
        gid: d.gid,
        bind_host: in_user_ns && !is_fifo,
    })
}

impl DeviceOp {
    /// The bind of the host's node on the same path (onto an empty file), read-only, nosuid and
    /// noexec, so the container can use the node but never change the host's (chmod, chown: EROFS).
    pub(crate) fn host_bind(&self) -> MountOp {
        device_bind(self.path.clone())
    }

    fn file_type(&self) -> SFlag {
        match self.kind {
            DeviceKind::Char => SFlag::S_IFCHR,
            DeviceKind::Block => SFlag::S_IFBLK,
            DeviceKind::Fifo => SFlag::S_IFIFO,
        }
    }

    fn rdev(&self) -> libc::dev_t {
        makedev(self.major, self.minor)
    }

    /// Whether the existing `st` is this node (type, and device number unless a FIFO).
    fn matches(&self, st: &FileStat) -> bool {
        SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == self.file_type()
            && (self.kind == DeviceKind::Fifo || st.st_rdev == self.rdev())
    }
}

/// The letter mknod(1) uses for a node type.
fn letter(kind: DeviceKind) -> &'static str {
    match kind {
        DeviceKind::Char => "c",
        DeviceKind::Block => "b",
        DeviceKind::Fifo => "p",
    }
}

impl fmt::Display for DeviceOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display();
        let kind = letter(self.kind);
        if self.bind_host {
            return write!(
                f,
                "bind the host's {path} ({kind} {}:{}) on {path}, an empty file, then set \
                 ro,nosuid,noexec [a user namespace cannot mknod; the host node's owner and mode \
                 stay, and the read-only mount keeps the container from changing them]",
                self.major, self.minor
            );
        }
        write!(f, "mknod {path} {kind}")?;
        match self.kind {
            DeviceKind::Fifo => f.write_str(" (FIFO)")?,
            DeviceKind::Char => write!(f, " {}:{} (char device)", self.major, self.minor)?,
            DeviceKind::Block => write!(f, " {}:{} (block device)", self.major, self.minor)?,
        }
        write!(
            f,
            ", chown {}:{}, chmod {:04o}",
            self.uid, self.gid, self.mode
        )
    }
}

/// Creates the node `name` in the directory `dir` (an existing node of the same type and number
/// is kept), then sets its owner and mode. Never follows a symlink at `name`.
pub(crate) fn make_node(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    d: &DeviceOp,
) -> Result<(), RootfsError> {
    let mknod_err = |source| RootfsError::Mknod {
        path: d.path.clone(),
        source,
    };
    // The mode given here is masked by the umask: chmod below sets it exactly.
    match mknodat(
        dir,
        name,
        d.file_type(),
        Mode::from_bits_truncate(0o600),
        d.rdev(),
    ) {
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(source) => return Err(mknod_err(source)),
    }
    let flags = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let fd = openat(dir, name, flags, Mode::empty()).map_err(mknod_err)?;
    let st = fstat(&fd).map_err(mknod_err)?;
    if !d.matches(&st) {
        // Something else is there already (or was put there meanwhile).
        return Err(mknod_err(Errno::EEXIST));
    }
    // chown first: it clears set-id bits that chmod then sets. A node made by this process already has the
    // owner asked for in the common case (root's nodes as root): then there is nothing to change.
    if (st.st_uid, st.st_gid) != (d.uid, d.gid) {
        chown_node(&fd, d)?;
    }
    // An O_PATH fd cannot be fchmod()ed: chmod its /proc/self/fd link, which is the node itself.
    fchmodat(
        AT_FDCWD,
        proc_fd_path(&fd).as_str(),
        Mode::from_bits_truncate(d.mode),
        FchmodatFlags::FollowSymlink,
    )
    .map_err(|source| RootfsError::DeviceMode {
        path: d.path.clone(),
        mode: d.mode,
        source,
    })
}

fn chown_node(fd: &OwnedFd, d: &DeviceOp) -> Result<(), RootfsError> {
    fchownat(
        fd.as_fd(),
        "",
        Some(Uid::from_raw(d.uid)),
        Some(Gid::from_raw(d.gid)),
        AtFlags::AT_EMPTY_PATH,
    )
    .map_err(|source| RootfsError::DeviceOwner {
        path: d.path.clone(),
        uid: d.uid,
        gid: d.gid,
        source,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use nix::mount::MsFlags;

    /// A node with mode 0o620, owner 1:2 (shared with the plan's tests).
    pub(crate) fn node(path: &str, kind: DeviceKind, major: u64, minor: u64) -> DeviceNode {
        DeviceNode {
            path: path.into(),
            kind,
            major,
            minor,
            mode: 0o620,
            uid: 1,
            gid: 2,
        }
    }

    #[test]
    fn compiles_and_describes_nodes() {
        let mut fifo = node("/dev//fifos/f/", DeviceKind::Fifo, 7, 7);
        fifo.mode = 0o010_640; // S_IFIFO | 0640: the type bits are dropped
        let ops = compile_devices(
            &[
                node("/dev/mynull", DeviceKind::Char, 1, 3),
                node("/dev/loop9", DeviceKind::Block, 7, 9),
                fifo,
            ],
            false,
        )
        .unwrap();
        let lines: Vec<String> = ops.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            [
                "mknod /dev/mynull c 1:3 (char device), chown 1:2, chmod 0620",
                "mknod /dev/loop9 b 7:9 (block device), chown 1:2, chmod 0620",
                "mknod /dev/fifos/f p (FIFO), chown 1:2, chmod 0640",
            ]
        );
        assert_eq!(ops[2].path, Path::new("/dev/fifos/f"));
        assert_eq!((ops[2].major, ops[2].minor), (0, 0));
        assert_eq!(ops[0].rdev(), makedev(1, 3));
    }

    #[test]
    fn user_namespace_binds_devices_but_makes_fifos() {
        let ops = compile_devices(
            &[
                node("/dev/fuse", DeviceKind::Char, 10, 229),
                node("/run/p", DeviceKind::Fifo, 0, 0),
            ],
            true,
        )
        .unwrap();
        assert!(ops[0].bind_host && !ops[1].bind_host);
        assert_eq!(
            ops[0].to_string(),
            "bind the host's /dev/fuse (c 10:229) on /dev/fuse, an empty file, then set \
             ro,nosuid,noexec [a user namespace cannot mknod; the host node's owner and mode \
             stay, and the read-only mount keeps the container from changing them]"
        );
        let bind = ops[0].host_bind();
        assert_eq!(bind.source, Path::new("/dev/fuse"));
        assert_eq!(bind.target, Path::new("/dev/fuse"));
        assert_eq!(bind.flags, MsFlags::MS_BIND);
        assert_eq!(bind.create, crate::plan::TargetKind::File);
        let attrs = bind.attrs.unwrap();
        assert_eq!(
            attrs.set,
            MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC
        );
        assert!(!attrs.recursive);
    }

    #[test]
    fn rejects_bad_paths_and_numbers() {
        for bad in ["dev/x", "/dev/../etc/x", "/", "/dev", "/dev/"] {
            let err = compile_devices(&[node(bad, DeviceKind::Char, 1, 3)], false).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("devices[0] ({bad}): must be an absolute path below `/` (not `/dev` itself) without `..`")
            );
        }
        let err = compile_devices(
            &[
                node("/dev/a", DeviceKind::Char, 1, 3),
                node("/dev/b", DeviceKind::Block, 4096, 0),
            ],
            false,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "devices[1] (/dev/b): device number 4096:0 out of range (major at most 4095, minor at most 1048575)"
        );
        assert!(
            compile_devices(&[node("/dev/c", DeviceKind::Char, 4095, 0xf_ffff)], false).is_ok()
        );
        // A FIFO's numbers are ignored.
        assert!(
            compile_devices(&[node("/p", DeviceKind::Fifo, u64::MAX, u64::MAX)], false).is_ok()
        );
    }

    #[test]
    fn matches_type_and_number() {
        let null = nix::sys::stat::stat("/dev/null").unwrap();
        let file = tempfile::NamedTempFile::new().unwrap();
        let file = nix::sys::stat::stat(file.path()).unwrap();
        let d = compile_devices(
            &[
                node("/dev/n", DeviceKind::Char, 1, 3),
                node("/dev/z", DeviceKind::Char, 1, 5),
                node("/dev/p", DeviceKind::Fifo, 1, 3),
            ],
            false,
        )
        .unwrap();
        assert!(d[0].matches(&null));
        assert!(!d[1].matches(&null));
        assert!(!d[2].matches(&null));
        assert!(!d[0].matches(&file));
    }
}
