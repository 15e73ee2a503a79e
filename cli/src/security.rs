//! `[security]`: the capabilities the container keeps and `no_new_privileges`, applied in the child.
//!
//! The defaults are Docker's: the 14 capabilities of [`DEFAULT_CAPABILITIES`] in the bounding, permitted,
//! effective and inheritable sets (permitted and effective only for uid 0; a non-root user starts with none),
//! an empty ambient set, and `no_new_privileges` on.

use std::str::FromStr;

use caps::{CapSet, Capability, CapsHashSet};
use cove_spawn::ChildError;
use toml::Spanned;

use crate::diagnostic::did_you_mean;
use std::path::{Path, PathBuf};

use std::io::IoSlice;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;

use cove_seccomp::{Arch, Filter, Profile, SeccompError};
use nix::sys::socket::{
    connect, sendmsg, socket, AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType, UnixAddr,
};

use crate::landlock::LandlockPlan;
use crate::manifest::{RlimitValue, SecuritySection};
use crate::plan::Checker;
use nix::sys::resource::{Resource, RLIM_INFINITY};

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

/// Checks `[security]`: capability names (`"NET_ADMIN"` or `"CAP_NET_ADMIN"`, any case, or `"ALL"`).
pub(crate) fn security_plan(
    c: &mut Checker,
    section: Option<&Spanned<SecuritySection>>,
    base: &Path,
) -> SecurityPlan {
    let mut plan = security_settings(c, section);
    let setting = section.and_then(|s| s.get_ref().seccomp.as_ref());
    seccomp_filter(c, &mut plan, setting, base);
    let listener = section.and_then(|s| s.get_ref().seccomp_listener.as_ref());
    seccomp_listener(c, &mut plan.seccomp, setting, listener);
    plan
}

/// Compiles `security.seccomp` for the kept capabilities into `plan.seccomp`.
fn seccomp_filter(
    c: &mut Checker,
    plan: &mut SecurityPlan,
    setting: Option<&Spanned<String>>,
    base: &Path,
) {
    let (text, span) = setting.map_or(("default".to_string(), 0..0), |s| {
        (s.get_ref().clone(), s.span())
    });
    let resolved = match text.as_str() {
        "default" | "unconfined" => text.clone(),
        path => base.join(path).display().to_string(),
    };
    let compiled = match resolved.as_str() {
        "default" => Seccomp::default_for(&plan.capabilities),
        _ => Seccomp::compile(&resolved, &plan.capabilities),
    };
    match compiled {
        Ok(seccomp) => plan.seccomp = seccomp,
        Err(e) => {
            c.error(span, "security.seccomp", format!("{e}")).help = Some(
                "use \"default\", \"unconfined\" or a Docker/OCI seccomp profile (JSON)".into(),
            );
        }
    }
}

/// Checks `security.seccomp_listener`: required (an absolute path) when the filter notifies,
/// refused when it does not.
fn seccomp_listener(
    c: &mut Checker,
    seccomp: &mut Seccomp,
    setting: Option<&Spanned<String>>,
    listener: Option<&Spanned<String>>,
) {
    match (seccomp.notifies(), listener) {
        (false, None) => {}
        (true, None) => {
            let span = setting.map_or(0..0, Spanned::span);
            let msg = "the profile has SCMP_ACT_NOTIFY rules but no listener socket is set";
            c.error(span, "security.seccomp", msg).help = Some(
                "set security.seccomp_listener = \"/absolute/path/of/a/unix.sock\" (a seccomp agent \
                 listening there receives the listener fd)"
                    .into(),
            );
        }
        (false, Some(path)) => {
            let msg =
                "the seccomp profile has no SCMP_ACT_NOTIFY rule, so there is no listener to send";
            c.error(path.span(), "security.seccomp_listener", msg).help =
                Some("remove the key, or add SCMP_ACT_NOTIFY rules to the profile".into());
        }
        (true, Some(path)) if !Path::new(path.get_ref()).is_absolute() => {
            let msg = format!("{:?} is not an absolute path", path.get_ref());
            c.error(path.span(), "security.seccomp_listener", msg).help =
                Some("give the unix socket's absolute host path".into());
        }
        (true, Some(path)) => seccomp.listener_path = Some(PathBuf::from(path.get_ref())),
    }
}

/// Everything of `[security]` but the seccomp filter.
fn security_settings(c: &mut Checker, section: Option<&Spanned<SecuritySection>>) -> SecurityPlan {
    // The filter is compiled once, by the caller, for the final capability set.
    let mut plan = SecurityPlan {
        capabilities: DEFAULT_CAPABILITIES.into_iter().collect(),
        no_new_privileges: true,
        rlimits: Vec::new(),
        oom_score_adj: None,
        landlock: None,
        seccomp: Seccomp::unconfined(),
        capability_sets: None,
    };
    let Some(section) = section else { return plan };
    let s = section.get_ref();
    if let Some(nnp) = &s.no_new_privileges {
        plan.no_new_privileges = *nnp.get_ref();
    }
    plan.rlimits = s
        .rlimits
        .iter()
        .filter_map(|(name, value)| rlimit(c, name, value))
        .collect();
    if let Some(adj) = &s.oom_score_adj {
        match i32::try_from(*adj.get_ref()) {
            Ok(v) if (-1000..=1000).contains(&v) => plan.oom_score_adj = Some(v),
            _ => {
                let msg = format!("{} is out of range -1000..=1000", adj.get_ref());
                c.error(adj.span(), "security.oom_score_adj", msg);
            }
        }
    }
    if let Some(section) = &s.landlock {
        let ll = section.get_ref();
        let landlock = LandlockPlan {
            read: ll.read.iter().map(PathBuf::from).collect(),
            write: ll.write.iter().map(PathBuf::from).collect(),
        };
        match landlock.validate() {
            Err(msg) => {
                c.error(section.span(), "security.landlock", msg);
            }
            Ok(()) if !plan.no_new_privileges => {
                c.error(
                    section.span(),
                    "security.landlock",
                    "Landlock needs no_new_privileges",
                )
                .help = Some("remove `no_new_privileges = false`".into());
            }
            Ok(()) => plan.landlock = Some(landlock),
        }
    }
    let Some(caps) = &s.capabilities else {
        return plan;
    };
    let caps = caps.get_ref();
    for name in &caps.drop {
        for cap in capability_names(c, name, "security.capabilities.drop") {
            plan.capabilities.remove(&cap);
        }
    }
    for name in &caps.add {
        plan.capabilities
            .extend(capability_names(c, name, "security.capabilities.add"));
    }
    plan
}

/// One `rlimits` entry: a known name and a soft limit not above the hard one.
fn rlimit(c: &mut Checker, name: &str, value: &Spanned<RlimitValue>) -> Option<Rlimit> {
    let key = format!("security.rlimits.{name}");
    let Some((name, resource)) = RLIMITS
        .iter()
        .copied()
        .find(|(n, _)| *n == name.to_ascii_lowercase())
    else {
        let err = c.error(value.span(), &key, format!("unknown rlimit `{name}`"));
        err.help = Some(match did_you_mean(name, RLIMITS.iter().map(|(n, _)| *n)) {
            Some(best) => format!("did you mean `{best}`?"),
            None => format!(
                "known: {}",
                RLIMITS
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
        return None;
    };
    let (soft, hard) = match value.get_ref() {
        RlimitValue::Both(v) => (*v, *v),
        RlimitValue::Pair(pair) if pair.len() == 2 => (pair[0], pair[1]),
        RlimitValue::Word(w) if w == "unlimited" => (RLIM_INFINITY, RLIM_INFINITY),
        _ => {
            c.error(
                value.span(),
                &key,
                "expected a number, [soft, hard] or \"unlimited\"",
            );
            return None;
        }
    };
    if soft > hard {
        c.error(
            value.span(),
            &key,
            format!("the soft limit {soft} is above the hard limit {hard}"),
        );
        return None;
    }
    Some(Rlimit {
        resource,
        name,
        soft,
        hard,
    })
}

/// One capability name (or `ALL`) as capabilities; an unknown name is an error with a suggestion.
fn capability_names(c: &mut Checker, name: &Spanned<String>, key: &str) -> Vec<Capability> {
    let upper = name.get_ref().to_ascii_uppercase();
    if upper == "ALL" {
        return caps::all().into_iter().collect();
    }
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    match Capability::from_str(&full) {
        Ok(cap) => vec![cap],
        Err(_) => {
            let known: Vec<String> = caps::all().iter().map(|c| c.to_string()).collect();
            let err = c.error(
                name.span(),
                key,
                format!("unknown capability `{}`", name.get_ref()),
            );
            err.help = Some(
                match did_you_mean(&full, known.iter().map(String::as_str)) {
                    Some(best) => format!("did you mean `{}`?", best.trim_start_matches("CAP_")),
                    None => "use a name from capabilities(7), e.g. \"NET_ADMIN\", or \"ALL\""
                        .to_string(),
                },
            );
            Vec::new()
        }
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

    /// Checks the `[security]` table `toml` with profiles relative to `dir`: the plan and the
    /// errors as `key: message`.
    fn check_security(toml_text: &str, dir: &Path) -> (SecurityPlan, Vec<String>) {
        #[derive(serde::Deserialize)]
        struct Doc {
            security: Spanned<SecuritySection>,
        }
        let doc: Doc = toml::from_str(toml_text).expect("toml");
        let file = dir.join("m.toml");
        let mut c = Checker {
            file: &file,
            source: toml_text,
            errors: Vec::new(),
        };
        let plan = security_plan(&mut c, Some(&doc.security), dir);
        let errors = c
            .errors
            .iter()
            .map(|e| format!("{}: {}", e.key.clone().unwrap_or_default(), e.message))
            .collect();
        (plan, errors)
    }

    const NOTIFY: &str = r#"{"defaultAction":"SCMP_ACT_ALLOW",
        "syscalls":[{"names":["getppid"],"action":"SCMP_ACT_NOTIFY"}]}"#;

    #[test]
    fn seccomp_listener_is_required_with_notify_rules_and_refused_without() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("notify.json"), NOTIFY).unwrap();

        let (plan, errors) = check_security(
            "[security]\nseccomp = \"notify.json\"\nseccomp_listener = \"/run/agent.sock\"\n",
            dir.path(),
        );
        assert_eq!(errors, Vec::<String>::new());
        assert!(plan.seccomp.notifies());
        assert_eq!(
            plan.seccomp.listener_path.as_deref(),
            Some(Path::new("/run/agent.sock"))
        );

        let (_, errors) = check_security("[security]\nseccomp = \"notify.json\"\n", dir.path());
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with("security.seccomp: the profile has SCMP_ACT_NOTIFY rules"),
            "{errors:?}"
        );

        let (_, errors) = check_security(
            "[security]\nseccomp = \"notify.json\"\nseccomp_listener = \"agent.sock\"\n",
            dir.path(),
        );
        assert_eq!(
            errors,
            ["security.seccomp_listener: \"agent.sock\" is not an absolute path"]
        );

        for table in [
            "[security]\nseccomp_listener = \"/run/agent.sock\"\n",
            "[security]\nseccomp = \"unconfined\"\nseccomp_listener = \"/run/agent.sock\"\n",
        ] {
            let (plan, errors) = check_security(table, dir.path());
            assert_eq!(errors.len(), 1, "{table}: {errors:?}");
            assert!(
                errors[0].starts_with("security.seccomp_listener: the seccomp profile has no"),
                "{errors:?}"
            );
            assert_eq!(plan.seccomp.listener_path, None);
        }
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
