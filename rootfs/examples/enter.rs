//! Prints the mount plan for a root directory, then (as root, unless `--dry-run`) runs a command in
//! it: new mount, pid, IPC and UTS namespaces, the plan applied in the child, then exec.
//!
//! ```text
//! cargo run -p cove-rootfs --example enter -- --dry-run /srv/rootfs
//! sudo cargo run -p cove-rootfs --example enter -- /srv/rootfs /bin/sh -c 'mount; ls -l /dev'
//! ```

use std::ffi::CString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use cove_rootfs::{MountPlan, MountSpec, RootSource, RootfsSpec};
use nix::sched::{unshare, CloneFlags};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{execv, fork, ForkResult};

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let dry_run = args.first().is_some_and(|a| a == "--dry-run");
    if dry_run {
        args.remove(0);
    }
    let Some(root) = args.first().cloned() else {
        eprintln!("usage: enter [--dry-run] ROOT [COMMAND ARGS...]");
        return ExitCode::from(2);
    };
    let command: Vec<String> = if args.len() > 1 {
        args[1..].to_vec()
    } else {
        vec!["/bin/sh".into()]
    };

    let root = std::fs::canonicalize(&root).unwrap_or_else(|_| PathBuf::from(&root));
    let mut spec = RootfsSpec::new(RootSource::Dir(root.clone()));
    spec.readonly = true;
    spec.new_pid_ns = true;
    spec.new_ipc_ns = true;
    spec.mounts.push(MountSpec::tmpfs(
        "/tmp",
        &["size=16m", "mode=1777", "nosuid", "nodev"],
    ));
    spec.masked_paths = RootfsSpec::DEFAULT_MASKED_PATHS
        .iter()
        .map(PathBuf::from)
        .collect();
    spec.readonly_paths = RootfsSpec::DEFAULT_READONLY_PATHS
        .iter()
        .map(PathBuf::from)
        .collect();
    let plan = match MountPlan::build(&spec) {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("enter: {e}");
            return ExitCode::from(2);
        }
    };
    for (i, step) in plan.steps().iter().enumerate() {
        println!("{i:2}. {step}");
    }
    // An up-front check with the same confinement apply uses.
    match cove_rootfs::resolve_in_root(&root, command[0].as_ref()) {
        Ok(host) => println!("{} is {} on the host", command[0], host.display()),
        Err(e) => println!("warning: {e}: {}", e.errno().map_or(0, |n| n)),
    }
    if dry_run {
        return ExitCode::SUCCESS;
    }
    run(&plan, &command)
}

fn run(plan: &MountPlan, command: &[String]) -> ExitCode {
    let flags = CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWIPC
        | CloneFlags::CLONE_NEWUTS;
    if let Err(e) = unshare(flags) {
        eprintln!("enter: unshare: {e} (run as root)");
        return ExitCode::from(1);
    }
    // SAFETY: this program is single-threaded, so the child may do anything the parent could.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => child(plan, command),
        Ok(ForkResult::Parent { child }) => match waitpid(child, None) {
            Ok(WaitStatus::Exited(_, code)) => ExitCode::from(code as u8),
            Ok(WaitStatus::Signaled(_, sig, _)) => ExitCode::from(128 + sig as u8),
            other => {
                eprintln!("enter: wait: {other:?}");
                ExitCode::from(1)
            }
        },
        Err(e) => {
            eprintln!("enter: fork: {e}");
            ExitCode::from(1)
        }
    }
}

/// Pid 1 of the new pid namespace: build the root, then exec.
fn child(plan: &MountPlan, command: &[String]) -> ExitCode {
    let start = Instant::now();
    if let Err(e) = plan.apply() {
        eprintln!(
            "enter: {} failed: {e} (errno {})",
            e.stage(),
            e.errno().map_or(0, |n| n)
        );
        return ExitCode::from(1);
    }
    eprintln!("enter: root file system ready in {:?}", start.elapsed());
    let argv: Vec<CString> = command
        .iter()
        .map(|a| CString::new(a.as_str()).expect("no NUL in arguments"))
        .collect();
    let err = execv(&argv[0], &argv).unwrap_err();
    eprintln!("enter: exec {}: {err}", command[0]);
    ExitCode::from(127)
}
