//! The container process of the cove runtime: create it with `clone3` in its namespaces and cgroup, hold it on a
//! sync channel while the parent writes its id maps and runs a hook, run the caller's child-side steps, exec,
//! wait and forward signals.
//!
//! The start protocol (see DESIGN.md, "The start path"):
//!
//! 1. parent: prepare every C string and open the namespace files to join; create a `SOCK_SEQPACKET` socket pair
//!    (close-on-exec); block SIGINT, SIGTERM, SIGHUP, SIGQUIT and SIGCHLD (when forwarding signals).
//! 2. parent: `clone3` with the namespace flags, `CLONE_PIDFD` and `CLONE_INTO_CGROUP` (when given a cgroup).
//! 3. child: `PR_SET_PDEATHSIG(SIGKILL)`, join namespaces (user first), block on the channel.
//! 4. parent: write the uid/gid maps, run the parent hook, send go.
//! 5. child: setup (caller's closure) → setgroups/setgid/setuid → chdir → pre-exec (caller's closure) → restore
//!    the signal mask → exec. A failure is sent as `{stage, errno, message}` and the child exits; a successful
//!    exec closes the socket, which the parent reads as "started".
//!
//! When namespaces are joined (or time offsets are set, or clone3 is missing) the child is cloned without
//! namespace flags, joins first and unshares the new namespaces after, reports ready, and — when a PID namespace
//! is new or joined — forks the final process with `CLONE_PARENT` so that the runtime is still its parent.
//!
//! ```no_run
//! use cove_spawn::Command;
//!
//! let child = Command::new(vec!["sh".into(), "-c".into(), "exit 7".into()]).spawn()?;
//! assert_eq!(child.wait()?.code(), 7);
//! # Ok::<(), cove_spawn::SpawnError>(())
//! ```
#![deny(missing_docs)]

mod child;
mod command;
mod cwd;
mod error;
mod fds;
mod handle;
mod path;
mod status;
mod sys;
mod wait;
mod wire;

pub use command::{Command, HookError};
pub use error::{ChildError, SpawnError, WireError};
pub use handle::ProcessHandle;
pub use path::DEFAULT_PATH;
pub use status::ExitStatus;
pub use wait::{Child, FORWARDED_SIGNALS};

pub use cove_ns::{IdMap, Namespace, NamespaceSet, TimeOffset};
pub use nix::unistd::Pid;

/// The README's examples, compiled as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
