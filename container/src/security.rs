//! The container's privileges: the capabilities it keeps, `no_new_privileges`, rlimits, `oom_score_adj`,
//! Landlock and the seccomp filter, and the child-side steps that apply them (put in order, for start and exec
//! alike, by [`child`](crate::child)).
//!
//! The defaults are Docker's: the 14 capabilities of [`DEFAULT_CAPABILITIES`] in the bounding, permitted,
//! effective and inheritable sets (permitted and effective only for uid 0; a non-root user starts with none),
//! an empty ambient set, and `no_new_privileges` on.

use std::io::IoSlice;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::sync::Arc;

use caps::{CapSet, Capability, CapsHashSet};
use cove_seccomp::{Arch, Filter, Profile, SeccompError};
use cove_spawn::ChildError;
use nix::sys::resource::{Resource, RLIM_INFINITY};
use nix::sys::socket::{
    connect, sendmsg, socket, AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType, UnixAddr,
};

use crate::landlock::LandlockPlan;

/// Docker's default capability set.
pub const DEFAULT_CAPABILITIES: [Capability; 14] = [
    Capability::CAP_CHOWN,
    Capability::CAP_DAC_OVERRIDE,
    Capability::CAP_FSETID,
    Capability::CAP_FOWNER,
    Capability::CAP_MKNOD,
    Capability::CAP_NET_RAW,
    Capability::CAP_SETGID,
    Capability::CAP_SETUID,
    Capability::CAP_SETFCAP,
    Capability::CAP_SETPCAP,
    Capability::CAP_NET_BIND_SERVICE,
    Capability::CAP_SYS_CHROOT,
    Capability::CAP_KILL,
    Capability::CAP_AUDIT_WRITE,
];

/// The container's privileges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityPlan {
    /// Capabilities kept (bounding set; also permitted/effective/inheritable for uid 0).
    pub capabilities: CapsHashSet,
    /// Set `PR_SET_NO_NEW_PRIVS` before exec.
    pub no_new_privileges: bool,
    /// Resource limits to set in the child.
    pub rlimits: Vec<Rlimit>,
    /// The container's `oom_score_adj`.
    pub oom_score_adj: Option<i32>,
    /// Opt-in Landlock rules, applied right before exec.
    pub landlock: Option<LandlockPlan>,
    /// The seccomp filter, compiled up front (Docker's default profile unless configured).
    pub seccomp: Seccomp,
    /// OCI `process.capabilities`: the effective, permitted, inheritable and ambient sets given
    /// one by one (`capabilities` is then the bounding set). `None` (the TOML manifest): the kept
    /// set is also the effective, permitted and inheritable set for uid 0, empty for others.
    pub capability_sets: Option<CapabilitySets>,
}

/// The four per-thread capability sets an OCI configuration gives next to the bounding set.
///
/// Applied after the user switch, right before exec: effective, permitted, inheritable set
/// exactly (a non-root user keeps its permitted set across `setuid` through `PR_SET_KEEPCAPS`,
/// set in [`SecurityPlan::limit_bounding_set`]), then the ambient set raised one by one.
/// The lowering makes sure that effective ⊆ permitted and ambient ⊆ permitted ∩ inheritable, which
/// the kernel requires.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CapabilitySets {
    /// Effective set.
    pub effective: CapsHashSet,
    /// Permitted set.
    pub permitted: CapsHashSet,
    /// Inheritable set.
    pub inheritable: CapsHashSet,
    /// Ambient set.
    pub ambient: CapsHashSet,
}

/// The container's seccomp setting and its compiled filter (`None`: unconfined).
///
/// With `SCMP_ACT_NOTIFY` rules the filter has a listener: the run path calls
/// [`connect_listener`](Seccomp::connect_listener) before the clone (the socket's host path is
/// unreachable after `pivot_root`); the child, right after loading the filter, sends the OCI
/// container process state and the listener fd over that connection.
#[derive(Clone)]
pub struct Seccomp {
    /// What the manifest said: `default`, `unconfined` or the profile's path.
    pub setting: String,
    /// The BPF program to load last before exec.
    pub filter: Option<Filter>,
    /// `security.seccomp_listener`: the unix socket the listener fd goes to.
    pub listener_path: Option<PathBuf>,
    /// The connection to `listener_path` (close-on-exec) and the container id, once connected.
    listener: Option<(Arc<OwnedFd>, String)>,
    /// OCI `linux.seccomp.listenerMetadata`: the opaque `metadata` sent with the listener fd.
    pub listener_metadata: String,
    /// The container process's pid on the host, recorded in the child while the host's /proc is still at
    /// `/proc` (before pivot_root), for the container process state.
    host_pid: std::sync::OnceLock<u32>,
}

/// Connecting to `security.seccomp_listener` failed.
#[derive(Debug, thiserror::Error)]
#[error("connect to the seccomp listener socket {}", path.display())]
pub struct ListenerConnectError {
    /// The socket's path.
    pub path: PathBuf,
    /// The OS error.
    #[source]
    pub source: nix::Error,
}

/// Docker's default filter for the default capabilities, compiled by the build script (`build.rs`).
mod prebuilt {
    include!(concat!(env!("OUT_DIR"), "/default_seccomp.rs"));
}

impl Seccomp {
    /// Docker's default filter for `capabilities`: the program compiled at build time when they are the
    /// defaults (no compile on the start path), else compiled now.
    pub fn default_for(capabilities: &CapsHashSet) -> Result<Seccomp, SeccompError> {
        let default: CapsHashSet = DEFAULT_CAPABILITIES.into_iter().collect();
        if *capabilities != default || Arch::native().ok() != Some(prebuilt::PREBUILT_ARCH) {
            return Seccomp::compile("default", capabilities);
        }
        let program = prebuilt::PREBUILT_PROGRAM
            .iter()
            .map(|&(code, jt, jf, k)| libc::sock_filter { code, jt, jf, k })
            .collect();
        let filter = Filter::from_parts(
            prebuilt::PREBUILT_ARCH,
            prebuilt::PREBUILT_ARCHES.to_vec(),
            prebuilt::PREBUILT_FLAGS,
            program,
        );
        Ok(Seccomp {
            setting: "default".to_string(),
            filter: Some(filter),
            listener_path: None,
            listener: None,
            listener_metadata: String::new(),
            host_pid: std::sync::OnceLock::new(),
        })
    }

    /// An already compiled `filter` (`None`: unconfined) described as `setting`, whose listener
    /// fd goes to `listener_path` (OCI `linux.seccomp.listenerPath`).
    pub fn from_filter(
        setting: &str,
        filter: Option<Filter>,
        listener_path: Option<PathBuf>,
    ) -> Seccomp {
        Seccomp {
            setting: setting.to_string(),
            filter,
            listener_path,
            listener: None,
            listener_metadata: String::new(),
            host_pid: std::sync::OnceLock::new(),
        }
    }

    /// No filter.
    pub fn unconfined() -> Seccomp {
        Seccomp {
            setting: "unconfined".to_string(),
            filter: None,
            listener_path: None,
            listener: None,
            listener_metadata: String::new(),
            host_pid: std::sync::OnceLock::new(),
        }
    }

    /// Compiles `setting` for the kept capabilities.
    pub fn compile(setting: &str, capabilities: &CapsHashSet) -> Result<Seccomp, SeccompError> {
        let caps: Vec<String> = capabilities.iter().map(|c| c.to_string()).collect();
        let filter = Profile::from_setting(setting)?.compile(&caps)?;
        Ok(Seccomp {
            setting: setting.to_string(),
            filter,
            listener_path: None,
            listener: None,
            listener_metadata: String::new(),
            host_pid: std::sync::OnceLock::new(),
        })
    }

    /// Whether the filter has `SCMP_ACT_NOTIFY` rules (and so a listener).
    pub fn notifies(&self) -> bool {
        self.filter.as_ref().is_some_and(Filter::notifies)
    }

    /// Parent side, before the clone: connects (`SOCK_STREAM`, close-on-exec) to
    /// `security.seccomp_listener`, for the container `container_id`. Does nothing without a
    /// listener path. The child inherits the connection.
    pub fn connect_listener(&mut self, container_id: &str) -> Result<(), ListenerConnectError> {
        let Some(path) = &self.listener_path else {
            return Ok(());
        };
        let err = |source| ListenerConnectError {
            path: path.clone(),
            source,
        };
        let sock = socket(
            AddressFamily::Unix,
            SockType::Stream,
            SockFlag::SOCK_CLOEXEC,
            None,
        )
        .map_err(err)?;
        let addr = UnixAddr::new(path.as_path()).map_err(err)?;
        connect(sock.as_raw_fd(), &addr).map_err(err)?;
        self.listener = Some((Arc::new(sock), container_id.to_string()));
        Ok(())
    }

    /// The connection to the listener socket, which the container process uses before exec.
    pub fn listener_fd(&self) -> Option<RawFd> {
        self.listener.as_ref().map(|(sock, _)| sock.as_raw_fd())
    }

    /// Child side, before pivot_root: records the process's pid on the host (the host's `/proc/self`) for the
    /// container process state sent with the listener fd, as runc sends the host pid. Nothing without a listener.
    pub fn record_host_pid(&self) {
        if self.listener.is_none() {
            return;
        }
        let pid = std::fs::read_link("/proc/self")
            .ok()
            .and_then(|p| p.to_str()?.parse().ok());
        if let Some(pid) = pid {
            let _ = self.host_pid.set(pid);
        }
    }

    /// Loads the filter (child side); a listener fd goes to the connected socket.
    fn apply(&self) -> Result<(), ChildError> {
        let Some(filter) = &self.filter else {
            return Ok(());
        };
        let listener = filter
            .apply()
            .map_err(|e| ChildError::from_error("seccomp", &e))?;
        match listener {
            Some(listener) => self.send_listener(listener),
            None => Ok(()),
        }
    }

    /// Child side: sends the OCI container process state with the listener fd (SCM_RIGHTS) in
    /// one `sendmsg`, then closes the listener (the connection closes at exec: close-on-exec).
    ///
    /// `pid` is the container process's pid on the host (as `cove state` shows it, and runc sends it) when
    /// [`record_host_pid`](Seccomp::record_host_pid) ran, else as the process sees itself.
    fn send_listener(&self, listener: OwnedFd) -> Result<(), ChildError> {
        let Some((sock, id)) = &self.listener else {
            return Err(ChildError::new(
                "seccomp",
                None,
                "the filter has a listener but security.seccomp_listener was not connected \
                 (Seccomp::connect_listener not called before the clone)"
                    .to_string(),
            ));
        };
        let pid = self
            .host_pid
            .get()
            .copied()
            .unwrap_or_else(std::process::id);
        let state = container_process_state(id, pid, &self.listener_metadata);
        let fds = [listener.as_raw_fd()];
        let cmsg = [ControlMessage::ScmRights(&fds)];
        let iov = [IoSlice::new(state.as_bytes())];
        let sent = sendmsg::<()>(sock.as_raw_fd(), &iov, &cmsg, MsgFlags::MSG_NOSIGNAL, None)
            .map_err(|e| ChildError::from_errno("seccomp", e, "send the listener fd"))?;
        if sent != state.len() {
            return Err(ChildError::new(
                "seccomp",
                None,
                format!(
                    "send the listener fd: short write ({sent} of {})",
                    state.len()
                ),
            ));
        }
        Ok(())
    }
}

/// The OCI "container process state" sent with the seccomp listener fd.
pub fn container_process_state(id: &str, pid: u32, metadata: &str) -> String {
    serde_json::json!({
        "ociVersion": "1.0.2",
        "fds": ["seccompFd"],
        "pid": pid,
        "metadata": metadata,
        "state": {
            "ociVersion": "1.0.2",
            "id": id,
            "status": "creating",
            "pid": pid,
            "bundle": "",
        },
    })
    .to_string()
}

impl std::fmt::Debug for Seccomp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let instructions = self.filter.as_ref().map(Filter::instructions);
        f.debug_struct("Seccomp")
            .field("setting", &self.setting)
            .field("instructions", &instructions)
            .field("listener_path", &self.listener_path)
            .finish()
    }
}

impl PartialEq for Seccomp {
    fn eq(&self, other: &Self) -> bool {
        self.setting == other.setting
            && self.filter.is_some() == other.filter.is_some()
            && self.listener_path == other.listener_path
    }
}

impl Eq for Seccomp {}

/// One resource limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rlimit {
    /// Which limit.
    pub resource: Resource,
    /// Its manifest name (`nofile`).
    pub name: &'static str,
    /// Soft limit (`RLIM_INFINITY` for unlimited).
    pub soft: u64,
    /// Hard limit.
    pub hard: u64,
}

/// rlimit names as in the manifest (and `prlimit(1)`), with their resources.
pub const RLIMITS: [(&str, Resource); 16] = [
    ("as", Resource::RLIMIT_AS),
    ("core", Resource::RLIMIT_CORE),
    ("cpu", Resource::RLIMIT_CPU),
    ("data", Resource::RLIMIT_DATA),
    ("fsize", Resource::RLIMIT_FSIZE),
    ("locks", Resource::RLIMIT_LOCKS),
    ("memlock", Resource::RLIMIT_MEMLOCK),
    ("msgqueue", Resource::RLIMIT_MSGQUEUE),
    ("nice", Resource::RLIMIT_NICE),
    ("nofile", Resource::RLIMIT_NOFILE),
    ("nproc", Resource::RLIMIT_NPROC),
    ("rss", Resource::RLIMIT_RSS),
    ("rtprio", Resource::RLIMIT_RTPRIO),
    ("rttime", Resource::RLIMIT_RTTIME),
    ("sigpending", Resource::RLIMIT_SIGPENDING),
    ("stack", Resource::RLIMIT_STACK),
];

impl Default for SecurityPlan {
    fn default() -> Self {
        SecurityPlan {
            capabilities: DEFAULT_CAPABILITIES.into_iter().collect(),
            no_new_privileges: true,
            rlimits: Vec::new(),
            oom_score_adj: None,
            landlock: None,
            seccomp: Seccomp::default_for(&DEFAULT_CAPABILITIES.into_iter().collect())
                .expect("Docker's default profile compiles"),
            capability_sets: None,
        }
    }
}

impl SecurityPlan {
    /// Child side, first: the OOM score adjustment (on the host's /proc, before the root changes).
    pub fn apply_oom_score_adj(&self) -> Result<(), ChildError> {
        let Some(adj) = self.oom_score_adj else {
            return Ok(());
        };
        std::fs::write("/proc/self/oom_score_adj", adj.to_string()).map_err(|e| {
            ChildError::from_io(
                "oom_score_adj",
                &e,
                format!("write {adj} to /proc/self/oom_score_adj"),
            )
        })
    }

    /// Child side, after the root is in place and before the user switch (raising a hard limit needs
    /// CAP_SYS_RESOURCE): every rlimit; one that cannot be applied is an error, never ignored.
    pub fn apply_rlimits(&self) -> Result<(), ChildError> {
        for r in &self.rlimits {
            nix::sys::resource::setrlimit(r.resource, r.soft, r.hard).map_err(|e| {
                let show = |v: u64| {
                    if v == RLIM_INFINITY {
                        "unlimited".to_string()
                    } else {
                        v.to_string()
                    }
                };
                ChildError::from_errno(
                    "rlimit",
                    e,
                    format!("set {} to {}/{}", r.name, show(r.soft), show(r.hard)),
                )
            })?;
        }
        Ok(())
    }

    /// Child side, before the user switch: drops every capability outside the kept set from the bounding set
    /// (this needs CAP_SETPCAP, which a non-root user no longer has after `setuid`).
    ///
    /// With explicit [`CapabilitySets`] that keep a permitted set, also sets `PR_SET_KEEPCAPS`, so that a
    /// switch to a non-root user keeps the permitted set for [`apply_before_exec`](Self::apply_before_exec)
    /// (the flag is cleared by exec).
    pub fn limit_bounding_set(&self) -> Result<(), ChildError> {
        let supported = caps::runtime::thread_all_supported();
        for cap in supported.iter().filter(|c| !self.capabilities.contains(c)) {
            caps::drop(None, CapSet::Bounding, *cap).map_err(|e| {
                ChildError::new(
                    "capabilities",
                    None,
                    format!("drop {cap} from the bounding set: {e}"),
                )
            })?;
        }
        if self
            .capability_sets
            .as_ref()
            .is_some_and(|s| !s.permitted.is_empty())
        {
            nix::sys::prctl::set_keepcaps(true)
                .map_err(|e| ChildError::from_errno("capabilities", e, "PR_SET_KEEPCAPS"))?;
        }
        Ok(())
    }

    /// Child side, last step before the user switch: without `no_new_privileges` the kernel takes a seccomp
    /// filter only from a process with CAP_SYS_ADMIN, which a switch to a non-root user drops; the filter is then
    /// loaded here, as runc does (the profile must allow the few calls left: setresuid, capset, prctl, execve…).
    /// With `no_new_privileges` it is loaded in [`apply_before_exec`](Self::apply_before_exec) instead.
    pub fn apply_seccomp_before_user_switch(&self) -> Result<(), ChildError> {
        if self.no_new_privileges {
            return Ok(());
        }
        self.seccomp.apply()
    }

    /// The effective, permitted and inheritable sets given one by one, then the ambient set.
    fn apply_capability_sets(sets: &CapabilitySets) -> Result<(), ChildError> {
        // Shrink effective first: permitted may never be smaller than effective.
        for (set, caps) in [
            (CapSet::Effective, &sets.effective),
            (CapSet::Permitted, &sets.permitted),
            (CapSet::Inheritable, &sets.inheritable),
        ] {
            caps::set(None, set, caps).map_err(|e| {
                ChildError::new("capabilities", None, format!("set the {set:?} set: {e}"))
            })?;
        }
        caps::clear(None, CapSet::Ambient).map_err(|e| {
            ChildError::new("capabilities", None, format!("clear the ambient set: {e}"))
        })?;
        for cap in &sets.ambient {
            caps::raise(None, CapSet::Ambient, *cap).map_err(|e| {
                ChildError::new(
                    "capabilities",
                    None,
                    format!("raise {cap} in the ambient set: {e}"),
                )
            })?;
        }
        Ok(())
    }

    /// Child side, after the user switch, right before exec: the effective, permitted and inheritable sets
    /// (for uid 0; others already have none), an empty ambient set, then `no_new_privileges`.
    pub fn apply_before_exec(&self, uid: u32) -> Result<(), ChildError> {
        match &self.capability_sets {
            Some(sets) => Self::apply_capability_sets(sets)?,
            None => {
                let kept: CapsHashSet = self.capabilities.iter().copied().collect();
                let empty = CapsHashSet::new();
                let target = if uid == 0 { &kept } else { &empty };
                // Shrink effective first: permitted may never be smaller than effective.
                for set in [CapSet::Effective, CapSet::Permitted, CapSet::Inheritable] {
                    caps::set(None, set, target).map_err(|e| {
                        ChildError::new("capabilities", None, format!("set the {set:?} set: {e}"))
                    })?;
                }
                caps::clear(None, CapSet::Ambient).map_err(|e| {
                    ChildError::new("capabilities", None, format!("clear the ambient set: {e}"))
                })?;
            }
        }
        if self.no_new_privileges {
            nix::sys::prctl::set_no_new_privs().map_err(|e| {
                ChildError::from_errno("no_new_privileges", e, "PR_SET_NO_NEW_PRIVS")
            })?;
        }
        // Landlock after no_new_privs (which it requires without CAP_SYS_ADMIN) and before seccomp.
        if let Some(landlock) = &self.landlock {
            landlock
                .apply()
                .map_err(|e| ChildError::from_error("landlock", &e))?;
        }
        // Last, so it filters only the workload. The kernel takes a filter only under no_new_privs or with
        // CAP_SYS_ADMIN: without no_new_privs it was loaded before the capabilities were dropped.
        if self.no_new_privileges {
            self.seccomp.apply()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prebuilt_default_filter_is_the_compiled_one() {
        let mut names: Vec<String> = DEFAULT_CAPABILITIES.iter().map(|c| c.to_string()).collect();
        let mut prebuilt_names: Vec<String> = prebuilt::PREBUILT_FOR_CAPABILITIES
            .iter()
            .map(|c| c.to_string())
            .collect();
        names.sort();
        prebuilt_names.sort();
        assert_eq!(
            names, prebuilt_names,
            "build.rs must use DEFAULT_CAPABILITIES"
        );
        let caps: CapsHashSet = DEFAULT_CAPABILITIES.into_iter().collect();
        let prebuilt = Seccomp::default_for(&caps).unwrap().filter.unwrap();
        let fresh = Seccomp::compile("default", &caps).unwrap().filter.unwrap();
        let as_tuples = |f: &Filter| -> Vec<(u16, u8, u8, u32)> {
            f.program()
                .iter()
                .map(|i| (i.code, i.jt, i.jf, i.k))
                .collect()
        };
        assert_eq!(as_tuples(&prebuilt), as_tuples(&fresh));
        assert_eq!(prebuilt.flags(), fresh.flags());
        assert_eq!(prebuilt.arches(), fresh.arches());
    }

    #[test]
    fn the_default_set_is_dockers() {
        let mask: u64 = SecurityPlan::default()
            .capabilities
            .iter()
            .map(|c| 1u64 << c.index())
            .sum();
        assert_eq!(mask, 0xa80425fb);
        assert!(SecurityPlan::default().no_new_privileges);
    }

    #[test]
    fn the_container_process_state_is_ocis() {
        let state: serde_json::Value =
            serde_json::from_str(&container_process_state("web", 7, "opaque")).unwrap();
        assert_eq!(
            state,
            serde_json::json!({
                "ociVersion": "1.0.2", "fds": ["seccompFd"], "pid": 7, "metadata": "opaque",
                "state": { "ociVersion": "1.0.2", "id": "web", "status": "creating", "pid": 7,
                           "bundle": "" }
            })
        );
    }

    #[test]
    fn connecting_without_a_listener_path_does_nothing_and_a_missing_socket_is_an_error() {
        let mut seccomp = Seccomp::compile("default", &CapsHashSet::new()).unwrap();
        seccomp.connect_listener("c").unwrap();
        assert!(seccomp.listener.is_none());
        let dir = tempfile::tempdir().unwrap();
        seccomp.listener_path = Some(dir.path().join("absent.sock"));
        let err = seccomp.connect_listener("c").unwrap_err();
        assert_eq!(err.source, nix::Error::ENOENT);
        assert!(err.to_string().contains("absent.sock"), "{err}");
    }
}
