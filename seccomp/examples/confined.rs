//! Runs a command under a seccomp profile, the way cove's container process does at its last step.
//!
//! ```text
//! cargo run -p cove-seccomp --example confined -- default /bin/sh -c 'unshare -U true; echo $?'
//! cargo run -p cove-seccomp --example confined -- ./profile.json /bin/true
//! cargo run -p cove-seccomp --example confined -- --dump > docker-default.json
//! ```
//!
//! The first argument is a manifest setting: `default`, `unconfined` or a profile path. The
//! capabilities that select Docker's capability-gated rules come from `$KEEP_CAPS`
//! (comma-separated, e.g. `CAP_SYS_ADMIN,CAP_SYS_PTRACE`).

use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode};

use cove_seccomp::{Profile, SeccompProfile};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--dump") {
        println!("{}", SeccompProfile::docker_default().to_json());
        return ExitCode::SUCCESS;
    }
    let [setting, program, rest @ ..] = args.as_slice() else {
        eprintln!("usage: confined <default|unconfined|profile.json> <program> [args…] | --dump");
        return ExitCode::from(2);
    };
    let caps: Vec<String> = std::env::var("KEEP_CAPS")
        .unwrap_or_default()
        .split(',')
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect();
    // Parent side: parse and compile (pure).
    let filter = match Profile::from_setting(setting).and_then(|p| p.compile(&caps)) {
        Ok(filter) => filter,
        Err(err) => {
            eprintln!("confined: {err}");
            return ExitCode::FAILURE;
        }
    };
    // Child side, last steps: no_new_privs, seccomp, exec.
    if let Some(filter) = &filter {
        eprintln!("confined: {} BPF instructions", filter.instructions());
        if let Err(err) = nix::sys::prctl::set_no_new_privs() {
            eprintln!("confined: prctl(PR_SET_NO_NEW_PRIVS): {err}");
            return ExitCode::FAILURE;
        }
        if let Err(err) = filter.apply() {
            eprintln!("confined: {err}");
            return ExitCode::FAILURE;
        }
    }
    let err = Command::new(program).args(rest).exec();
    eprintln!("confined: exec {program}: {err}");
    ExitCode::from(127)
}
