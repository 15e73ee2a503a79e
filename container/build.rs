//! Compiles Docker's default seccomp profile for cove's default capability set ahead of time, so `cove run`
//! with the defaults loads a ready BPF program instead of compiling ~1400 instructions on every start (which
//! costs about 125 µs and a few hundred KiB of peak memory). Any other setting is compiled at run time.

use std::fmt::Write as _;

/// Must equal `cove::security::DEFAULT_CAPABILITIES` (a unit test there checks it).
const DEFAULT_CAPABILITY_NAMES: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let caps: Vec<String> = DEFAULT_CAPABILITY_NAMES
        .iter()
        .map(|c| c.to_string())
        .collect();
    let profile = cove_seccomp::SeccompProfile::docker_default();
    let filter =
        cove_seccomp::Filter::compile(&profile, &caps).expect("Docker's default profile compiles");
    let mut out = String::new();
    let _ = writeln!(
        out,
        "/// The capability names the default filter was compiled for (checked by a unit test)."
    );
    let _ = writeln!(out, "#[cfg_attr(not(test), allow(dead_code))]");
    let _ = writeln!(
        out,
        "pub const PREBUILT_FOR_CAPABILITIES: [&str; {}] = {:?};",
        caps.len(),
        DEFAULT_CAPABILITY_NAMES
    );
    let _ = writeln!(out, "/// The architecture of the prebuilt filter.");
    let _ = writeln!(
        out,
        "pub const PREBUILT_ARCH: cove_seccomp::Arch = cove_seccomp::Arch::{:?};",
        filter.arch()
    );
    let arches: Vec<String> = filter
        .arches()
        .iter()
        .map(|a| format!("cove_seccomp::Arch::{a:?}"))
        .collect();
    let _ = writeln!(out, "/// The ABIs it passes to its rules.");
    let _ = writeln!(
        out,
        "pub const PREBUILT_ARCHES: [cove_seccomp::Arch; {}] = [{}];",
        arches.len(),
        arches.join(", ")
    );
    let _ = writeln!(out, "/// Its seccomp(2) flags.");
    let _ = writeln!(
        out,
        "pub const PREBUILT_FLAGS: libc::c_ulong = {};",
        filter.flags()
    );
    let _ = writeln!(out, "/// The program: (code, jt, jf, k).");
    let _ = write!(
        out,
        "pub const PREBUILT_PROGRAM: [(u16, u8, u8, u32); {}] = [",
        filter.program().len()
    );
    for i in filter.program() {
        let _ = write!(out, "({}, {}, {}, {}),", i.code, i.jt, i.jf, i.k);
    }
    let _ = writeln!(out, "];");
    let dest = std::path::Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR"))
        .join("default_seccomp.rs");
    std::fs::write(dest, out).expect("write the prebuilt filter");
}
