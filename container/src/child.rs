//! The container process's child-side security sequence, built in this one place and used for the init
//! ([`run::start`](crate::run::start)) and for every process `exec` adds to a running container.
//!
//! In order, in the child: `oom_score_adj` → (the start path's own steps: cgroup entry, hostname, mounts and
//! `pivot_root`) → the new terminal → umask → personality → I/O priority → scheduler → rlimits → bounding set (and `PR_SET_KEEPCAPS`) → seccomp when it must
//! come before the user switch; then, after the user switch and chdir done by `cove-spawn`: capabilities →
//! `no_new_privs` → Landlock → seccomp (last).

use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::sync::Arc;

use cove_spawn::{ChildError, Command};
use nix::errno::Errno;
use nix::sys::stat::Mode;

use crate::console::{self, ConsoleSocket};
use crate::plan::{IoPriority, Personality, ProcessPlan, SchedPolicy, Scheduler};
use crate::security::SecurityPlan;
use crate::sys;

/// A child-side step of the sequence.
pub type Step = Box<dyn FnOnce() -> Result<(), ChildError>>;

/// What the child's security sequence applies: the security plan and the process's user, umask and terminal.
#[derive(Debug)]
pub struct ChildSecurity {
    security: SecurityPlan,
    uid: u32,
    umask: Option<u32>,
    terminal: Option<(ConsoleSocket, Option<(u16, u16)>)>,
    personality: Option<Personality>,
    io_priority: Option<IoPriority>,
    scheduler: Option<Scheduler>,
}

impl ChildSecurity {
    /// The sequence for `process` under `security`; with `terminal`, the process gets a new pty whose master
    /// goes over that socket.
    pub fn new(
        security: SecurityPlan,
        process: &ProcessPlan,
        terminal: Option<ConsoleSocket>,
    ) -> Self {
        ChildSecurity {
            security,
            uid: process.uid,
            umask: process.umask,
            terminal: terminal.map(|socket| (socket, process.console_size)),
            personality: process.personality,
            io_priority: process.io_priority,
            scheduler: process.scheduler,
        }
    }

    /// The descriptors of this process the sequence uses in the child (the console socket, the seccomp
    /// listener's connection): the child must keep them open when it closes the others.
    pub fn raw_fds(&self) -> Vec<RawFd> {
        let terminal = self.terminal.as_ref().map(|(s, _)| s.as_fd().as_raw_fd());
        terminal
            .into_iter()
            .chain(self.security.seccomp.listener_fd())
            .collect()
    }

    /// Installs the sequence as `command`'s child-side steps, with `in_namespaces` (what the start path does
    /// between `oom_score_adj` and the terminal: cgroup entry, hostname, mounts, `pivot_root`) in its place.
    pub fn install(self, command: Command, in_namespaces: Option<Step>) -> Command {
        let ChildSecurity {
            security,
            uid,
            umask,
            terminal,
            personality,
            io_priority,
            scheduler,
        } = self;
        // One copy of the security plan (with its seccomp program) shared by both child-side steps.
        let security = Arc::new(security);
        let before = Arc::clone(&security);
        command
            .setup(move || {
                before.apply_oom_score_adj()?;
                before.seccomp.record_host_pid();
                if let Some(step) = in_namespaces {
                    step()?;
                }
                if let Some((socket, size)) = terminal {
                    attach_new_terminal(&socket, size)?;
                }
                if let Some(mask) = umask {
                    nix::sys::stat::umask(Mode::from_bits_truncate(mask));
                }
                if let Some(domain) = personality {
                    set_personality(domain)?;
                }
                if let Some(priority) = io_priority {
                    set_io_priority(priority)?;
                }
                if let Some(scheduler) = scheduler {
                    set_scheduler(scheduler)?;
                }
                before.apply_rlimits()?;
                before.limit_bounding_set()?;
                before.apply_seccomp_before_user_switch()
            })
            .pre_exec(move || security.apply_before_exec(uid))
    }
}

/// Child side: the execution domain (`linux.personality`); the kernel's refusal is an error naming the field.
fn set_personality(domain: Personality) -> Result<(), ChildError> {
    sys::set_personality(domain.persona()).map_err(|e| {
        ChildError::from_errno(
            "linux.personality",
            e,
            format!("personality({})", domain.name()),
        )
    })
}

/// Child side, before the capabilities are dropped (the real-time class needs them): the I/O priority
/// (`process.ioPriority`); the kernel's refusal is an error naming the field.
fn set_io_priority(priority: IoPriority) -> Result<(), ChildError> {
    sys::set_io_priority(priority.ioprio()).map_err(|e| {
        ChildError::from_errno(
            "process.ioPriority",
            e,
            format!(
                "ioprio_set(IOPRIO_WHO_PROCESS, {} level {})",
                priority.class_name(),
                priority.level
            ),
        )
    })
}

/// Child side, before the capabilities are dropped (a real-time policy or a lower nice value needs
/// `CAP_SYS_NICE`): the scheduling policy (`process.scheduler`); the kernel's refusal is an error naming the field.
fn set_scheduler(s: Scheduler) -> Result<(), ChildError> {
    let attr = sys::SchedAttr {
        sched_policy: s.policy.value(),
        sched_flags: s.flags,
        sched_nice: s.nice,
        sched_priority: s.priority,
        sched_runtime: s.runtime,
        sched_deadline: s.deadline,
        sched_period: s.period,
        ..sys::SchedAttr::default()
    };
    sys::sched_setattr(attr).map_err(|e| {
        let mut message = format!(
            "sched_setattr({}, nice {}, priority {}, flags {:#x}, runtime {}, deadline {}, period {})",
            s.policy.name(),
            s.nice,
            s.priority,
            s.flags,
            s.runtime,
            s.deadline,
            s.period
        );
        let realtime = matches!(
            s.policy,
            SchedPolicy::Fifo | SchedPolicy::RoundRobin | SchedPolicy::Deadline
        );
        if e == Errno::EPERM && realtime {
            message.push_str(
                " (a real-time policy needs CAP_SYS_NICE and, on a kernel with real-time group scheduling, \
                 a cgroup with real-time runtime: cpu.rt_runtime_us of a new cgroup is 0)",
            );
        }
        ChildError::from_errno("process.scheduler", e, message)
    })
}

/// Child side, in the container's root: a pty from the container's own devpts, its master sent over the
/// console socket, its slave made the controlling terminal and stdio.
pub fn attach_new_terminal(
    socket: &ConsoleSocket,
    size: Option<(u16, u16)>,
) -> Result<(), ChildError> {
    let pty = console::open_pty(size).map_err(|e| ChildError::from_error("terminal", &e))?;
    socket
        .send_master(&pty)
        .map_err(|e| ChildError::from_error("terminal", &e))?;
    drop(pty.master);
    console::attach_terminal(pty.slave)
}
