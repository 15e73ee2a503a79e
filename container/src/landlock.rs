//! `[security.landlock]`: opt-in Landlock file-system rules for the container's process.
//!
//! Landlock is an unprivileged, stackable Linux security module: a process restricts itself (and everything
//! it later execs or forks) to the file hierarchies it names. No OCI runtime offers it; cove applies it in the
//! container's process after `pivot_root`, the user switch and `no_new_privs`, right before exec, so the paths
//! are paths *inside* the container.
//!
//! A [`LandlockPlan`] has two lists:
//!
//! - `read`: [`READ_ACCESS`] beneath each path — read files, list directories, execute files.
//! - `write`: [`WRITE_ACCESS`] beneath each path — everything `read` allows plus write, truncate, create
//!   (regular files, directories, symlinks, sockets, fifos, char and block devices), remove, rename/link
//!   across directories (`Refer`) and device ioctls.
//!
//! Every file-system access right of [`TARGET_ABI`] is *handled*: anything not granted beneath a listed path is
//! denied (`EACCES`; `EXDEV` for cross-directory renames). Executing the workload therefore needs its binary,
//! its dynamic loader and its libraries beneath a `read` (or `write`) path.
//!
//! Kernel compatibility is best effort (the `landlock` crate's compatibility mode): a kernel with an older
//! Landlock ABI enforces the rights it knows ([`LandlockStatus::Partial`]); a kernel without Landlock is an
//! error ([`LandlockError::NotEnforced`]) — cove never runs a container unconfined when Landlock was asked for.
//!
//! What Landlock does not restrict (kernel ≤ ABI 7): files already open before [`LandlockPlan::apply`] keep
//! their access (stdio, the console, preserved fds), and `stat`, `chdir`, `chmod`, `chown`, `utime` and
//! xattrs work on any path. Opening through a directory fd (`openat`) is checked like any other open.
//! Once restricted, the process can no longer mount, unmount or `pivot_root`.
//!
//! ```
//! use std::path::PathBuf;
//! use cove_container::landlock::LandlockPlan;
//!
//! let plan = LandlockPlan {
//!     read: vec![PathBuf::from("/usr"), PathBuf::from("/etc")],
//!     write: vec![PathBuf::from("/tmp")],
//! };
//! assert!(plan.validate().is_ok());
//! // In the container's process, after no_new_privs: `plan.apply()?`, then exec.
//! ```

use std::error::Error;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};

use landlock::{
    make_bitflags, Access, AccessFs, BitFlags, PathBeneath, Ruleset, RulesetAttr, RulesetCreated,
    RulesetCreatedAttr, RulesetError, RulesetStatus, ABI,
};
use nix::fcntl::{open, OFlag};
use nix::sys::stat::{fstat, Mode, SFlag};

/// The Landlock ABI cove is written and tested against: its file-system rights are the ones handled.
///
/// ABI 5 (Linux 6.10) is the newest ABI that adds a file-system right before `ResolveUnix` (ABI 9): it adds
/// `IoctlDev` to ABI 3's `Truncate` and ABI 2's `Refer`. Kernels with an older ABI get
/// [`LandlockStatus::Partial`].
pub const TARGET_ABI: ABI = ABI::V5;

/// The rights granted beneath a `read` path: `Execute | ReadFile | ReadDir`.
pub const READ_ACCESS: BitFlags<AccessFs> =
    make_bitflags!(AccessFs::{Execute | ReadFile | ReadDir});

/// The rights granted beneath a `write` path: every file-system right of [`TARGET_ABI`], i.e. [`READ_ACCESS`]
/// plus `WriteFile | Truncate | RemoveDir | RemoveFile | MakeChar | MakeDir | MakeReg | MakeSock | MakeFifo |
/// MakeBlock | MakeSym | Refer | IoctlDev`.
pub const WRITE_ACCESS: BitFlags<AccessFs> = make_bitflags!(AccessFs::{
    Execute | ReadFile | ReadDir | WriteFile | Truncate | RemoveDir | RemoveFile | MakeChar | MakeDir
        | MakeReg | MakeSock | MakeFifo | MakeBlock | MakeSym | Refer | IoctlDev
});

/// Which file hierarchies the container's process may read and write; everything else is denied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LandlockPlan {
    /// Paths (inside the container) beneath which files may be read and executed and directories listed.
    pub read: Vec<PathBuf>,
    /// Paths (inside the container) beneath which everything `read` allows, plus writing, creating, removing
    /// and renaming, is allowed.
    pub write: Vec<PathBuf>,
}

/// How completely the kernel enforces a [`LandlockPlan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LandlockStatus {
    /// Every right of [`TARGET_ABI`] is enforced.
    Full,
    /// The kernel's Landlock ABI is older than [`TARGET_ABI`]: the rights it knows are enforced, newer ones
    /// (e.g. `IoctlDev` before Linux 6.10, `Truncate` before 6.2) are not restricted.
    Partial,
}

/// A failure to apply a [`LandlockPlan`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LandlockError {
    /// A listed path could not be opened (it does not exist inside the container, or is not reachable).
    #[error("landlock: open the {list} path {path}")]
    OpenPath {
        /// `"read"` or `"write"`.
        list: &'static str,
        /// The path, inside the container.
        path: PathBuf,
        /// The failed `open(O_PATH)`.
        #[source]
        source: nix::Error,
    },
    /// `fstat` of a listed path failed (to tell a file from a directory).
    #[error("landlock: stat the {list} path {path}")]
    StatPath {
        /// `"read"` or `"write"`.
        list: &'static str,
        /// The path, inside the container.
        path: PathBuf,
        /// The failed `fstat`.
        #[source]
        source: nix::Error,
    },
    /// `landlock_create_ruleset` failed.
    #[error("landlock: create the ruleset")]
    CreateRuleset(#[source] io::Error),
    /// `landlock_add_rule` failed for a path.
    #[error("landlock: add the {list} rule for {path}")]
    AddRule {
        /// `"read"` or `"write"`.
        list: &'static str,
        /// The path, inside the container.
        path: PathBuf,
        /// The failed `landlock_add_rule`.
        #[source]
        source: io::Error,
    },
    /// `landlock_restrict_self` failed; it needs `no_new_privs` or `CAP_SYS_ADMIN` (`EPERM` otherwise).
    #[error("landlock: restrict the process (needs no_new_privs or CAP_SYS_ADMIN)")]
    RestrictSelf(#[source] io::Error),
    /// The kernel has no Landlock (not built in, or not enabled at boot with `lsm=`): rules were asked for,
    /// so the container must not run.
    #[error(
        "landlock: rules were requested but the kernel does not enforce Landlock \
         (CONFIG_SECURITY_LANDLOCK and `landlock` in the lsm= boot list are needed)"
    )]
    NotEnforced,
}

impl LandlockPlan {
    /// Checks the plan without touching the system: every path is absolute, has no `..` component and no NUL
    /// byte, and at least one path is listed. The message names the list and index (`write[1]`).
    ///
    /// ```
    /// use std::path::PathBuf;
    /// use cove_container::landlock::LandlockPlan;
    ///
    /// let plan = LandlockPlan { read: vec![PathBuf::from("usr")], write: vec![] };
    /// assert_eq!(plan.validate().unwrap_err(), "landlock read[0] \"usr\" must be an absolute path");
    /// ```
    pub fn validate(&self) -> Result<(), String> {
        if self.read.is_empty() && self.write.is_empty() {
            return Err("landlock needs at least one path in read or write \
                        (with none, the container could open no file at all)"
                .to_string());
        }
        for (list, paths) in [("read", &self.read), ("write", &self.write)] {
            for (i, path) in paths.iter().enumerate() {
                validate_path(path)
                    .map_err(|why| format!("landlock {list}[{i}] {path:?} {why}"))?;
            }
        }
        Ok(())
    }

    /// Restricts the calling process (and all it execs or forks) to the plan. Call it in the container's
    /// process after `pivot_root`, the user switch and `no_new_privs`, right before exec; it does not set
    /// `no_new_privs` itself (without it, `CAP_SYS_ADMIN` is needed: [`LandlockError::RestrictSelf`]).
    ///
    /// Every path must exist: one that cannot be opened is [`LandlockError::OpenPath`], naming it, and
    /// nothing is restricted then. A regular file (not a directory) gets only the file rights of its list.
    /// A kernel without Landlock is [`LandlockError::NotEnforced`]; one with an older ABI than [`TARGET_ABI`]
    /// gives `Ok(`[`LandlockStatus::Partial`]`)`.
    pub fn apply(&self) -> Result<LandlockStatus, LandlockError> {
        let rules = self.open_rules()?;
        let mut ruleset = create_ruleset()?;
        for rule in rules {
            ruleset = rule.add_to(ruleset)?;
        }
        let status = ruleset
            .no_new_privs(false)
            .restrict_self()
            .map_err(|e| LandlockError::RestrictSelf(os_error(e)))?;
        status_of(status.ruleset)
    }

    /// Opens every listed path (before any Landlock syscall, so a missing path restricts nothing).
    fn open_rules(&self) -> Result<Vec<OpenRule>, LandlockError> {
        let read = self
            .read
            .iter()
            .map(|p| OpenRule::open("read", p, READ_ACCESS));
        let write = self
            .write
            .iter()
            .map(|p| OpenRule::open("write", p, WRITE_ACCESS));
        read.chain(write).collect()
    }
}

/// Why `path` is not acceptable in a plan, if it is not.
fn validate_path(path: &Path) -> Result<(), &'static str> {
    if !path.is_absolute() {
        return Err("must be an absolute path");
    }
    if path.components().any(|c| c == Component::ParentDir) {
        return Err("must not contain `..`");
    }
    if path.as_os_str().as_encoded_bytes().contains(&0) {
        return Err("must not contain a NUL byte");
    }
    Ok(())
}

/// A listed path opened with `O_PATH`, and the rights it grants.
struct OpenRule {
    list: &'static str,
    path: PathBuf,
    fd: OwnedFd,
    access: BitFlags<AccessFs>,
}

impl OpenRule {
    /// Opens `path` and narrows `access` to the file rights when it is not a directory (the kernel refuses
    /// directory rights on a file).
    fn open(
        list: &'static str,
        path: &Path,
        access: BitFlags<AccessFs>,
    ) -> Result<OpenRule, LandlockError> {
        let flags = OFlag::O_PATH | OFlag::O_CLOEXEC;
        let fd = open(path, flags, Mode::empty()).map_err(|source| LandlockError::OpenPath {
            list,
            path: path.to_path_buf(),
            source,
        })?;
        let stat = fstat(&fd).map_err(|source| LandlockError::StatPath {
            list,
            path: path.to_path_buf(),
            source,
        })?;
        let is_dir = SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR;
        Ok(OpenRule {
            list,
            path: path.to_path_buf(),
            fd,
            access: rights_for(access, is_dir),
        })
    }

    /// Adds this rule to the ruleset.
    fn add_to(self, ruleset: RulesetCreated) -> Result<RulesetCreated, LandlockError> {
        let OpenRule {
            list,
            path,
            fd,
            access,
        } = self;
        ruleset
            .add_rule(PathBeneath::new(fd, access))
            .map_err(|e| LandlockError::AddRule {
                list,
                path,
                source: os_error(e),
            })
    }
}

/// `access` as granted on a directory, or only its file rights on anything else.
fn rights_for(access: BitFlags<AccessFs>, is_dir: bool) -> BitFlags<AccessFs> {
    if is_dir {
        access
    } else {
        access & AccessFs::from_file(TARGET_ABI)
    }
}

/// Creates a ruleset handling every file-system right of [`TARGET_ABI`] (best effort on older kernels).
fn create_ruleset() -> Result<RulesetCreated, LandlockError> {
    Ruleset::default()
        .handle_access(AccessFs::from_all(TARGET_ABI))
        .and_then(Ruleset::create)
        .map_err(|e| LandlockError::CreateRuleset(os_error(e)))
}

/// The system call error inside a `landlock` crate error (whose own message repeats it), or the crate error
/// itself when no system call failed.
fn os_error(err: RulesetError) -> io::Error {
    let mut current: Option<&(dyn Error + 'static)> = Some(&err);
    while let Some(e) = current {
        if let Some(code) = e
            .downcast_ref::<io::Error>()
            .and_then(io::Error::raw_os_error)
        {
            return io::Error::from_raw_os_error(code);
        }
        current = e.source();
    }
    io::Error::other(err)
}

/// Our status for the kernel's enforcement: not enforced at all is an error.
fn status_of(ruleset: RulesetStatus) -> Result<LandlockStatus, LandlockError> {
    match ruleset {
        RulesetStatus::FullyEnforced => Ok(LandlockStatus::Full),
        RulesetStatus::PartiallyEnforced => Ok(LandlockStatus::Partial),
        RulesetStatus::NotEnforced => Err(LandlockError::NotEnforced),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(read: &[&str], write: &[&str]) -> LandlockPlan {
        LandlockPlan {
            read: read.iter().map(PathBuf::from).collect(),
            write: write.iter().map(PathBuf::from).collect(),
        }
    }

    #[test]
    fn validate_accepts_absolute_paths() {
        assert_eq!(plan(&["/usr", "/etc/"], &["/tmp"]).validate(), Ok(()));
        assert_eq!(plan(&[], &["/"]).validate(), Ok(()));
        assert_eq!(plan(&["/usr/./lib"], &[]).validate(), Ok(()));
    }

    #[test]
    fn validate_refuses_an_empty_plan() {
        let err = plan(&[], &[]).validate().unwrap_err();
        assert!(err.contains("at least one path"), "{err}");
    }

    #[test]
    fn validate_refuses_relative_paths_naming_list_and_index() {
        assert_eq!(
            plan(&["/usr"], &["/tmp", "data"]).validate(),
            Err("landlock write[1] \"data\" must be an absolute path".to_string())
        );
        assert_eq!(
            plan(&[""], &[]).validate(),
            Err("landlock read[0] \"\" must be an absolute path".to_string())
        );
    }

    #[test]
    fn validate_refuses_parent_components() {
        assert_eq!(
            plan(&["/usr/../root"], &[]).validate(),
            Err("landlock read[0] \"/usr/../root\" must not contain `..`".to_string())
        );
        assert!(plan(&[], &["/.."]).validate().is_err());
        // `..` inside a name is not a parent component.
        assert_eq!(plan(&["/usr/a..b"], &[]).validate(), Ok(()));
    }

    #[test]
    fn validate_refuses_nul_bytes() {
        let err = plan(&["/us\0r"], &[]).validate().unwrap_err();
        assert!(err.contains("NUL"), "{err}");
    }

    #[test]
    fn write_is_a_superset_of_read_and_all_of_the_target_abi() {
        assert!(WRITE_ACCESS.contains(READ_ACCESS));
        assert_eq!(READ_ACCESS, AccessFs::from_read(TARGET_ABI));
        assert_eq!(WRITE_ACCESS, AccessFs::from_all(TARGET_ABI));
    }

    #[test]
    fn files_get_only_file_rights() {
        let file = rights_for(WRITE_ACCESS, false);
        assert_eq!(file, AccessFs::from_file(TARGET_ABI));
        assert!(!file.contains(AccessFs::ReadDir));
        assert!(!file.contains(AccessFs::MakeReg));
        assert!(file.contains(AccessFs::WriteFile | AccessFs::Truncate | AccessFs::Execute));
        assert_eq!(rights_for(WRITE_ACCESS, true), WRITE_ACCESS);
        assert_eq!(
            rights_for(READ_ACCESS, false),
            AccessFs::Execute | AccessFs::ReadFile
        );
    }

    #[test]
    fn not_enforced_is_an_error() {
        assert!(matches!(
            status_of(RulesetStatus::NotEnforced),
            Err(LandlockError::NotEnforced)
        ));
        assert_eq!(
            status_of(RulesetStatus::PartiallyEnforced).unwrap(),
            LandlockStatus::Partial
        );
        assert_eq!(
            status_of(RulesetStatus::FullyEnforced).unwrap(),
            LandlockStatus::Full
        );
    }

    #[test]
    fn a_missing_path_is_an_error_naming_it_before_any_restriction() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let plan = LandlockPlan {
            read: vec![PathBuf::from("/")],
            write: vec![missing.clone()],
        };
        // Paths are opened before any Landlock syscall, so this cannot restrict the test process.
        let err = plan.apply().unwrap_err();
        assert!(
            matches!(&err, LandlockError::OpenPath { list: "write", path, .. } if *path == missing),
            "{err:?}"
        );
        assert!(err.to_string().contains(&missing.display().to_string()));
        assert_eq!(
            err.source().and_then(|s| s.downcast_ref::<nix::Error>()),
            Some(&nix::Error::ENOENT)
        );
    }
}
