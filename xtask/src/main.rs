//! `cargo xtask`: the project's helpers — the whole test suite (plain, privileged and in a cgroup-v2 VM), the
//! busybox test rootfs, benchmarks.

use std::process::ExitCode;

mod bench;
mod cmd;
mod conformance;
mod rootfs;
mod test;
mod vm;

const USAGE_HEAD: &str = "\
usage: cargo xtask <command>

commands:
  test [--no-vm] [FILTER…]   run every test: `cargo test --workspace`, then the privileged tests as root
                             (directly when root, else through sudo), then a start-up regression check against
                             runc, then the tests inside a cgroup-v2 guest under qemu (skip that with --no-vm)
  vm-test [FILTER…]          only the privileged tests inside the cgroup-v2 guest
  vm-selftest                boot the guest with a small self-test of the guest itself (cgroup v2, 9p, …)
  rootfs                     build the busybox test rootfs into target/rootfs (needs busybox-static)
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test::test(&args[1..]),
        Some("bench") => bench::bench(&args[1..]),
        Some("conformance") => conformance::conformance(&args[1..]),
        Some("vm-test") => vm::vm_test(&vm::VmOptions {
            filter: args[1..].to_vec(),
            ..Default::default()
        }),
        Some("rootfs") => {
            rootfs::ensure().map(|path| println!("test rootfs ready: {}", path.display()))
        }
        Some("-h" | "--help" | "help") | None => {
            print!("{USAGE_HEAD}  {}{}", bench::USAGE, conformance::USAGE);
            return ExitCode::SUCCESS;
        }
        Some(other) => {
            eprint!(
                "xtask: unknown command `{other}`\n\n{USAGE_HEAD}{}{}",
                bench::USAGE,
                conformance::USAGE
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
