//! cgroup v2 device rules: a `BPF_PROG_TYPE_CGROUP_DEVICE` program generated from the rules,
//! loaded and attached to the cgroup directory.
//!
//! The kernel runs the program on every device access check (open, mknod) by a task of the
//! cgroup (and of its descendants) with a `struct bpf_cgroup_dev_ctx`:
//!
//! | offset | field | value |
//! | --- | --- | --- |
//! | 0 | `u32 access_type` | low 16 bits: `BPF_DEVCG_DEV_BLOCK` 1 / `_CHAR` 2; high 16 bits: `BPF_DEVCG_ACC_MKNOD` 1 / `_READ` 2 / `_WRITE` 4 |
//! | 4 | `u32 major` | |
//! | 8 | `u32 minor` | |
//!
//! and allows the access when it returns 1. The rules are first reduced to the v1 controller's
//! state ([`V1State`]: a default and exceptions), so v2 decides exactly what v1 would. The
//! program is then:
//!
//! ```text
//!     r2 = ctx->access_type & 0xffff      ; device type
//!     r3 = ctx->access_type >> 16         ; requested access
//!     r4 = ctx->major
//!     r5 = ctx->minor
//!   per exception:
//!     if r2 != TYPE goto next
//!     if r4 != MAJOR goto next            ; omitted for '*'
//!     if r5 != MINOR goto next            ; omitted for '*'
//!     r1 = r3 & ~ACCESS ; if r1 != 0 goto next   (deny default: all requested access granted)
//!     r1 = r3 & ACCESS  ; if r1 == 0 goto next   (allow default: any requested access refused)
//!     r0 = !default ; exit
//!   next: ...
//!     r0 = default ; exit
//! ```
//!
//! runc and crun generate the same shape of program (with their own rule semantics); this code
//! is written from the kernel's context definition.
//!
//! With `BPF_F_ALLOW_MULTI`, programs attached to ancestors run too and every one must allow the
//! access, which matches v1's rule that a child never gets more than its parent.

use std::fs::OpenOptions;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::devices::{DeviceRule, V1State};
use crate::error::{CgroupError, Result};
use crate::sys;

/// One eBPF instruction (`struct bpf_insn`), decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Insn {
    /// Opcode.
    pub code: u8,
    /// Destination register.
    pub dst: u8,
    /// Source register.
    pub src: u8,
    /// Jump offset (in instructions, from the next one) or memory offset.
    pub off: i16,
    /// Immediate operand.
    pub imm: i32,
}

/// `BPF_LDX | BPF_MEM | BPF_W`: `dst = *(u32 *)(src + off)`.
pub(crate) const LDX_W: u8 = 0x61;
/// `BPF_ALU64 | BPF_AND | BPF_K`: `dst &= imm`.
pub(crate) const AND_K: u8 = 0x57;
/// `BPF_ALU64 | BPF_RSH | BPF_K`: `dst >>= imm`.
pub(crate) const RSH_K: u8 = 0x77;
/// `BPF_ALU64 | BPF_MOV | BPF_K`: `dst = imm`.
pub(crate) const MOV_K: u8 = 0xb7;
/// `BPF_ALU64 | BPF_MOV | BPF_X`: `dst = src`.
pub(crate) const MOV_X: u8 = 0xbf;
/// `BPF_JMP | BPF_JNE | BPF_K`: `if dst != imm goto +off`.
pub(crate) const JNE_K: u8 = 0x55;
/// `BPF_JMP | BPF_JEQ | BPF_K`: `if dst == imm goto +off`.
pub(crate) const JEQ_K: u8 = 0x15;
/// `BPF_JMP | BPF_EXIT`: return r0.
pub(crate) const EXIT: u8 = 0x95;

impl Insn {
    fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
        Insn {
            code,
            dst,
            src,
            off,
            imm,
        }
    }

    /// The 8 bytes of `struct bpf_insn` in this machine's byte order (the register nibbles are
    /// bit fields, whose order follows the byte order too).
    pub(crate) fn encode(&self) -> [u8; 8] {
        let regs = if cfg!(target_endian = "little") {
            (self.src << 4) | (self.dst & 0xf)
        } else {
            (self.dst << 4) | (self.src & 0xf)
        };
        let off = self.off.to_ne_bytes();
        let imm = self.imm.to_ne_bytes();
        [
            self.code, regs, off[0], off[1], imm[0], imm[1], imm[2], imm[3],
        ]
    }
}

/// The prologue: r2 = type, r3 = access, r4 = major, r5 = minor (r1 is the context).
fn prologue() -> Vec<Insn> {
    vec![
        Insn::new(LDX_W, 2, 1, 0, 0),
        Insn::new(AND_K, 2, 0, 0, 0xffff),
        Insn::new(LDX_W, 3, 1, 0, 0),
        Insn::new(RSH_K, 3, 0, 0, 16),
        Insn::new(LDX_W, 4, 1, 4, 0),
        Insn::new(LDX_W, 5, 1, 8, 0),
    ]
}

/// `r0 = verdict; exit`.
fn verdict(allow: bool) -> [Insn; 2] {
    [
        Insn::new(MOV_K, 0, 0, 0, i32::from(allow)),
        Insn::new(EXIT, 0, 0, 0, 0),
    ]
}

/// The instructions of one exception; jumps with `off == NEXT` go past the block.
fn exception_block(ex: &crate::devices::Exception, default_allow: bool) -> Vec<Insn> {
    const NEXT: i16 = i16::MIN;
    // Numbers are validated to 12 and 20 bits, so they fit an i32 immediate unchanged.
    let mut block = vec![Insn::new(JNE_K, 2, 0, NEXT, ex.dev_type as i32)];
    if let Some(major) = ex.major {
        block.push(Insn::new(JNE_K, 4, 0, NEXT, major as i32));
    }
    if let Some(minor) = ex.minor {
        block.push(Insn::new(JNE_K, 5, 0, NEXT, minor as i32));
    }
    block.push(Insn::new(MOV_X, 1, 3, 0, 0));
    if default_allow {
        // A deny exception: it applies when any requested access is in it.
        block.push(Insn::new(AND_K, 1, 0, 0, ex.access as i32));
        block.push(Insn::new(JEQ_K, 1, 0, NEXT, 0));
    } else {
        // An allow exception: it applies when every requested access is in it.
        block.push(Insn::new(AND_K, 1, 0, 0, !ex.access as i32));
        block.push(Insn::new(JNE_K, 1, 0, NEXT, 0));
    }
    block.extend(verdict(!default_allow));
    let len = block.len();
    for (i, insn) in block.iter_mut().enumerate() {
        if insn.off == NEXT {
            insn.off = (len - i - 1) as i16;
        }
    }
    block
}

/// The device filter program for `rules` (validated), as decided by the v1 semantics.
pub(crate) fn program(rules: &[DeviceRule]) -> Vec<Insn> {
    let state = V1State::from_rules(rules);
    let mut insns = prologue();
    for ex in &state.exceptions {
        insns.extend(exception_block(ex, state.default_allow));
    }
    insns.extend(verdict(state.default_allow));
    insns
}

/// `BPF_CGROUP_DEVICE`.
const ATTACH_CGROUP_DEVICE: u32 = 6;
/// `BPF_F_ALLOW_MULTI`.
const F_ALLOW_MULTI: u32 = 2;

fn open_dir(dir: &Path) -> Result<OwnedFd> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY)
        .open(dir)
        .map_err(|source| CgroupError::OpenDir {
            path: dir.to_owned(),
            source,
        })?;
    Ok(OwnedFd::from(file))
}

fn bpf_error(operation: &'static str, dir: &Path) -> impl FnOnce(std::io::Error) -> CgroupError {
    let path = dir.to_owned();
    move |source| CgroupError::Bpf {
        operation,
        path,
        source,
    }
}

/// Loads the filter for `rules` and attaches it to the cgroup v2 directory `dir`
/// (`BPF_F_ALLOW_MULTI`), then detaches the device programs that were attached to `dir` before
/// (a previous [`apply`] or update), so at every moment one filter is in force. The program
/// stays attached as long as the cgroup exists; no file descriptor is kept.
///
/// The rules are validated here too, even for `create_unvalidated`: no kernel judges rule text
/// on v2, and out-of-range numbers would otherwise be truncated into the program.
pub(crate) fn apply(dir: &Path, rules: &[DeviceRule]) -> Result<()> {
    crate::devices::validate(rules)?;
    let insns = program(rules);
    let code: Vec<[u8; 8]> = insns.iter().map(Insn::encode).collect();
    let cgroup = open_dir(dir)?;
    let old = sys::prog_query(cgroup.as_fd(), ATTACH_CGROUP_DEVICE)
        .map_err(bpf_error("BPF_PROG_QUERY", dir))?;
    let prog = sys::prog_load_cgroup_device(&code).map_err(|e| CgroupError::BpfLoad {
        path: dir.to_owned(),
        insns: insns.len(),
        log: e.log,
        source: e.source,
    })?;
    sys::prog_attach(
        cgroup.as_fd(),
        prog.as_fd(),
        ATTACH_CGROUP_DEVICE,
        F_ALLOW_MULTI,
    )
    .map_err(bpf_error("BPF_PROG_ATTACH", dir))?;
    for id in old {
        let old_prog =
            sys::prog_get_fd_by_id(id).map_err(bpf_error("BPF_PROG_GET_FD_BY_ID", dir))?;
        sys::prog_detach(cgroup.as_fd(), old_prog.as_fd(), ATTACH_CGROUP_DEVICE)
            .map_err(bpf_error("BPF_PROG_DETACH", dir))?;
    }
    Ok(())
}

/// How many device filter programs are attached directly to the cgroup v2 directory `dir`.
pub(crate) fn attached_count(dir: &Path) -> Result<usize> {
    let cgroup = open_dir(dir)?;
    let ids = sys::prog_query(cgroup.as_fd(), ATTACH_CGROUP_DEVICE)
        .map_err(bpf_error("BPF_PROG_QUERY", dir))?;
    Ok(ids.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::{
        default_container_devices, DeviceKind, V1State, ACC_ALL, ACC_MKNOD, ACC_READ, ACC_WRITE,
        DEV_BLOCK, DEV_CHAR,
    };

    /// Runs `prog` as the kernel would for the context (type, access, major, minor) and returns
    /// r0. Checks what the verifier checks for these programs: known opcodes, jumps forward
    /// and inside the program, registers written before read, r0 set at exit.
    fn run(prog: &[Insn], dev_type: u32, access: u32, major: u32, minor: u32) -> u64 {
        let ctx = [dev_type | (access << 16), major, minor];
        let mut reg = [0u64; 11];
        let mut init = [false; 11];
        init[1] = true;
        let mut pc = 0usize;
        let mut steps = 0;
        loop {
            steps += 1;
            assert!(steps <= prog.len(), "a loop in the program");
            let i = prog
                .get(pc)
                .unwrap_or_else(|| panic!("pc {pc} ran off the end"));
            let (d, s) = (i.dst as usize, i.src as usize);
            let get = |r: usize| {
                assert!(init[r], "r{r} read before written at {pc}");
                reg[r]
            };
            let imm = i.imm as i64 as u64;
            let mut taken = false;
            match i.code {
                LDX_W => {
                    assert_eq!(s, 1, "loads only from the context");
                    assert!(i.off >= 0 && i.off % 4 == 0 && i.off <= 8);
                    reg[d] = u64::from(ctx[i.off as usize / 4]);
                    init[d] = true;
                }
                AND_K => reg[d] = get(d) & imm,
                RSH_K => reg[d] = get(d) >> i.imm,
                MOV_K => {
                    reg[d] = imm;
                    init[d] = true;
                }
                MOV_X => {
                    reg[d] = get(s);
                    init[d] = true;
                }
                JNE_K => taken = get(d) != imm,
                JEQ_K => taken = get(d) == imm,
                EXIT => return get(0),
                other => panic!("unexpected opcode {other:#x} at {pc}"),
            }
            if taken {
                assert!(i.off >= 0, "backward jump at {pc}");
                pc += i.off as usize;
            }
            pc += 1;
        }
    }

    /// Every (type, access, major, minor) of interest for `rules`, as the kernel could ask.
    fn probes(rules: &[DeviceRule]) -> Vec<(u32, u32, u32, u32)> {
        let mut numbers = vec![0u32, 1, 3, 5, 7, 8, 9, 10, 136, 200, 4095];
        for r in rules {
            numbers.extend(r.major.map(|n| n as u32));
            numbers.extend(r.minor.map(|n| n as u32));
        }
        numbers.sort();
        numbers.dedup();
        let mut out = Vec::new();
        for dev_type in [DEV_BLOCK, DEV_CHAR] {
            for access in 1..=ACC_ALL {
                for &major in &numbers {
                    for &minor in &numbers {
                        out.push((dev_type, access, major, minor));
                    }
                }
            }
        }
        out
    }

    /// The program decides every probe exactly as the v1 emulation does.
    fn assert_same_as_v1(rules: &[DeviceRule]) {
        let prog = program(rules);
        let state = V1State::from_rules(rules);
        for (t, a, ma, mi) in probes(rules) {
            let want = state.permits(t, ma, mi, a);
            let got = run(&prog, t, a, ma, mi);
            assert_eq!(
                got,
                u64::from(want),
                "type {t} access {a} {ma}:{mi} with rules {rules:?}"
            );
        }
    }

    #[test]
    fn default_rules_as_a_program() {
        let rules = default_container_devices();
        let prog = program(&rules);
        // 6 prologue, 12 exceptions, 2 final.
        assert_eq!(prog.len(), 6 + 2 * 6 + 9 * 8 + 7 + 2);
        let allow = |t, a, ma, mi| run(&prog, t, a, ma, mi) == 1;
        assert!(allow(DEV_CHAR, ACC_READ | ACC_WRITE, 1, 3)); // /dev/null
        assert!(allow(DEV_CHAR, ACC_WRITE, 136, 7)); // /dev/pts/7
        assert!(allow(DEV_CHAR, ACC_READ, 10, 200)); // /dev/net/tun
        assert!(allow(DEV_BLOCK, ACC_MKNOD, 8, 0)); // mknod of sda
        assert!(!allow(DEV_BLOCK, ACC_READ, 8, 0)); // but no opening it
        assert!(!allow(DEV_BLOCK, ACC_WRITE, 7, 0));
        assert!(!allow(DEV_CHAR, ACC_READ, 1, 1)); // /dev/mem
        assert!(!allow(DEV_CHAR, ACC_MKNOD | ACC_READ, 1, 1));
        assert!(!allow(DEV_CHAR, ACC_READ, 10, 229)); // /dev/fuse
        assert_same_as_v1(&rules);
    }

    #[test]
    fn empty_and_allow_all_programs() {
        let all = program(&[DeviceRule::allow_all()]);
        assert_eq!(all.len(), 8);
        assert_eq!(run(&all, DEV_BLOCK, ACC_ALL, 8, 0), 1);
        let none = program(&[DeviceRule::deny_all()]);
        assert_eq!(run(&none, DEV_CHAR, ACC_READ, 1, 3), 0);
        assert_eq!(program(&[]), all);
    }

    #[test]
    fn hand_written_lists_match_v1() {
        use DeviceKind::{Block, Char};
        let lists = vec![
            vec![
                DeviceRule::deny_all(),
                DeviceRule::allow(Char, Some(1), Some(3), "rwm"),
                DeviceRule::deny(Char, Some(1), Some(3), "w"),
                DeviceRule::allow(Char, None, Some(9), "r"),
            ],
            vec![
                DeviceRule::deny(Block, Some(8), None, "rw"),
                DeviceRule::allow(Block, Some(8), None, "r"),
                DeviceRule::deny(Char, None, None, "m"),
            ],
            vec![
                DeviceRule::deny(Block, Some(8), Some(0), "rwm"),
                DeviceRule::deny_all(),
                DeviceRule::allow(Block, Some(4095), Some(0xfffff), "wm"),
            ],
        ];
        for rules in lists {
            assert_same_as_v1(&rules);
        }
    }

    #[test]
    fn random_lists_match_v1() {
        // A small xorshift generator: deterministic, no dependency.
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let numbers = [1i64, 3, 8, 136];
        for _ in 0..150 {
            let mut rules = Vec::new();
            for _ in 0..next(7) {
                let rule = if next(8) == 0 {
                    if next(2) == 0 {
                        DeviceRule::allow_all()
                    } else {
                        DeviceRule::deny_all()
                    }
                } else {
                    let kind = [DeviceKind::Char, DeviceKind::Block][next(2) as usize];
                    let num = |r: u64| (r < 4).then(|| numbers[r as usize]);
                    let access: String = ["r", "w", "m"]
                        .iter()
                        .filter(|_| next(2) == 0)
                        .copied()
                        .collect();
                    let access = if access.is_empty() {
                        "rwm".into()
                    } else {
                        access
                    };
                    DeviceRule {
                        allow: next(2) == 0,
                        kind,
                        major: num(next(5)),
                        minor: num(next(5)),
                        access,
                    }
                };
                rules.push(rule);
            }
            crate::devices::validate(&rules).unwrap();
            assert_same_as_v1(&rules);
        }
    }

    #[test]
    fn encoding_of_struct_bpf_insn() {
        let i = Insn::new(LDX_W, 4, 1, 4, 0);
        let b = i.encode();
        assert_eq!(b[0], 0x61);
        if cfg!(target_endian = "little") {
            assert_eq!(b, [0x61, 0x14, 4, 0, 0, 0, 0, 0]);
            let j = Insn::new(AND_K, 1, 0, 0, !ACC_MKNOD as i32).encode();
            assert_eq!(j, [0x57, 0x01, 0, 0, 0xfe, 0xff, 0xff, 0xff]);
        }
        let jump = Insn::new(JNE_K, 2, 0, 5, DEV_CHAR as i32).encode();
        assert_eq!(i16::from_ne_bytes([jump[2], jump[3]]), 5);
        assert_eq!(i32::from_ne_bytes([jump[4], jump[5], jump[6], jump[7]]), 2);
    }

    #[test]
    fn jump_offsets_land_on_the_next_block() {
        let prog = program(&[
            DeviceRule::deny_all(),
            DeviceRule::allow(DeviceKind::Char, Some(1), Some(3), "r"),
            DeviceRule::allow(DeviceKind::Block, None, None, "m"),
        ]);
        // Block 1 starts at 6 (8 insns), block 2 at 14 (6 insns), the final verdict at 20.
        assert_eq!(prog.len(), 22);
        let targets = |range: std::ops::Range<usize>| -> Vec<usize> {
            range
                .filter(|&pc| matches!(prog[pc].code, JNE_K | JEQ_K))
                .map(|pc| pc + 1 + prog[pc].off as usize)
                .collect()
        };
        assert_eq!(targets(6..14), [14, 14, 14, 14]);
        assert_eq!(targets(14..20), [20, 20]);
        assert_eq!(prog[20], Insn::new(MOV_K, 0, 0, 0, 0));
        assert_eq!(prog[21].code, EXIT);
    }
}
