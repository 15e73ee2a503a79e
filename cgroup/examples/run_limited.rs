//! Runs a command in a fresh cgroup with a memory, CPU and pids limit, then prints its stats.
//!
//! ```sh
//! sudo cargo run -p cove-cgroup --example run_limited -- sh -c 'echo hello from $$; cat /proc/self/cgroup'
//! ```
use std::io::Write;
use std::process::{Command, Stdio};

use cove_cgroup::{Cgroup, CpuResources, Layout, MemoryResources, PidsResources, Resources};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.is_empty() {
        return Err("usage: run_limited COMMAND [ARGS...]".into());
    }
    let layout = Layout::detect()?;
    println!("cgroup layout: {:?}", layout.kind());
    let res = Resources {
        memory: MemoryResources {
            limit: Some(128 << 20),
            ..Default::default()
        },
        cpu: CpuResources {
            cpus: Some(0.5),
            ..Default::default()
        },
        pids: PidsResources { max: Some(64) },
        ..Default::default()
    };
    let cg = Cgroup::create(
        &layout,
        &format!("cove-example/{}", std::process::id()),
        &res,
    )?;

    // The shell waits for a line on stdin, so the command starts only once it is in the cgroup.
    let mut child = Command::new("/bin/sh")
        .args(["-c", "read _go && exec \"$0\" \"$@\""])
        .args(&argv)
        .stdin(Stdio::piped())
        .spawn()?;
    cg.add_pid(child.id() as i32)?;
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(b"go\n")?;
    let status = child.wait()?;

    let stats = cg.stats()?;
    println!("exit: {status}");
    println!(
        "memory peak: {:?} bytes, cpu: {:?} µs",
        stats.memory.peak, stats.cpu.usage_usec
    );
    cg.kill()?;
    cg.remove()?;
    Ok(())
}
