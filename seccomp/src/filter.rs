//! Compiling a profile to one BPF program, evaluating it, and installing it.
//!
//! # Program layout
//!
//! seccompiler's `SeccompFilter` has one match action for all rules, but a profile has one action
//! per rule (ALLOW for most, `ERRNO(ENOSYS)` for clone3, …). So the outer program is built here and
//! seccompiler compiles each rule's argument conditions ([`SeccompRule`] → BPF, including the
//! 64-bit comparisons split into two 32-bit halves). A rule's BPF is followed by a `RET <action>`
//! of that rule; when a condition fails, seccompiler's code jumps just past that `RET`, which is
//! the next rule of the same syscall or the syscall's fallback `RET`:
//!
//! ```text
//! ld  arch ; jeq AUDIT_ARCH_<native> ? 0 : +1 ; ja <native section>
//!            (x86_64) jeq AUDIT_ARCH_I386 ? 0 : +1 ; ja <i386 section> ; ret KILL_PROCESS
//! native section:
//! ld  nr   ; (x86_64) jge 0x40000000 ? 0 : +2 ; jeq -1 ? +1 : 0 ; ret KILL_PROCESS (x32)
//! jeq nr_a ? 0 : +1 ; ret <action of a>                               (unconditional rule)
//! jeq nr_b ? +1 : 0 ; ja <past block> ;                               (rules with arguments)
//!     <rule 1 conditions> ; ret <action 1> ; <rule 2 …> ; ret <action 2> ; ret <fallback of b>
//! …
//! ret <defaultAction>
//! i386 section (when the profile lists SCMP_ARCH_X86): the same with i386 numbers
//! ```
//!
//! Syscalls whose action equals the default are left out. One program keeps the semantics exact
//! (stacking one filter per action would let the most restrictive filter win instead of the rule)
//! and costs one `seccomp()` call.

use std::collections::BTreeMap;
use std::fmt;

use seccompiler::{sock_filter, BpfProgram, SeccompCondition, SeccompRule};

use crate::profile::{KernelVersion, RuleLabel, SyscallRule};
use std::os::fd::OwnedFd;

use crate::action::{self, Action};
use crate::{Arch, SeccompError, SeccompProfile};

const BPF_LD: u16 = 0x00;
const BPF_W: u16 = 0x00;
const BPF_ABS: u16 = 0x20;
const BPF_ALU: u16 = 0x04;
const BPF_AND: u16 = 0x50;
const BPF_JMP: u16 = 0x05;
const BPF_JA: u16 = 0x00;
const BPF_JEQ: u16 = 0x10;
const BPF_JGT: u16 = 0x20;
const BPF_JGE: u16 = 0x30;
const BPF_JSET: u16 = 0x40;
const BPF_K: u16 = 0x00;
const BPF_RET: u16 = 0x06;

/// Offset of `nr` in `struct seccomp_data`.
const DATA_NR: u32 = 0;
/// Offset of `arch` in `struct seccomp_data`.
const DATA_ARCH: u32 = 4;
/// Offset of `args[0]` in `struct seccomp_data`.
const DATA_ARGS: usize = 16;
/// Syscall numbers with this bit set are x32-ABI calls on x86_64.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;
/// The kernel's limit on a filter's length (BPF_MAXINSNS).
const MAX_INSTRUCTIONS: usize = 4096;

const SECCOMP_RET_KILL_PROCESS: u32 = 0x8000_0000;
const SECCOMP_RET_KILL_THREAD: u32 = 0x0000_0000;
const SECCOMP_RET_TRAP: u32 = 0x0003_0000;
const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
const SECCOMP_RET_TRACE: u32 = 0x7ff0_0000;
const SECCOMP_RET_LOG: u32 = 0x7ffc_0000;
const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
const SECCOMP_RET_ACTION_FULL: u32 = 0xffff_0000;
const SECCOMP_RET_DATA: u32 = 0x0000_ffff;

fn stmt(code: u16, k: u32) -> sock_filter {
    sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

fn ret(action: &Action) -> sock_filter {
    stmt(BPF_RET | BPF_K, action.ret_value())
}

/// What the filter decides for one syscall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// The syscall runs.
    Allow,
    /// The syscall runs and is logged.
    Log,
    /// The syscall fails with this errno.
    Errno(u32),
    /// A tracer is notified with this message number.
    Trace(u32),
    /// The thread gets SIGSYS.
    Trap,
    /// The thread is killed.
    KillThread,
    /// The process is killed.
    KillProcess,
    /// The syscall waits for the answer of the filter's listener (`SCMP_ACT_NOTIFY`).
    Notify,
}

impl Verdict {
    fn from_ret(value: u32) -> Self {
        let data = value & SECCOMP_RET_DATA;
        match value & SECCOMP_RET_ACTION_FULL {
            SECCOMP_RET_ALLOW => Self::Allow,
            SECCOMP_RET_LOG => Self::Log,
            SECCOMP_RET_ERRNO => Self::Errno(data),
            SECCOMP_RET_TRACE => Self::Trace(data),
            SECCOMP_RET_TRAP => Self::Trap,
            SECCOMP_RET_KILL_THREAD => Self::KillThread,
            SECCOMP_RET_KILL_PROCESS => Self::KillProcess,
            libc::SECCOMP_RET_USER_NOTIF => Self::Notify,
            // The kernel treats unknown actions as KILL_PROCESS.
            _ => Self::KillProcess,
        }
    }
}

/// The syscall rules of one syscall number, after includes/excludes.
#[derive(Default)]
struct Entry {
    /// Rules with argument filters, in profile order.
    conditional: Vec<(SeccompRule, Action)>,
    /// The action of the first rule without argument filters.
    fallback: Option<Action>,
}

/// For whom the profile is compiled: capabilities, architecture, kernel.
struct Target<'a> {
    arch: Arch,
    caps: &'a [String],
    kernel: Option<KernelVersion>,
}

impl Target<'_> {
    fn has_cap(&self, cap: &str) -> bool {
        let want = normalize_cap(cap);
        self.caps.iter().any(|kept| normalize_cap(kept) == want)
    }

    /// Docker's rule selection: excluded if any `excludes` condition holds; included only if all
    /// `includes` conditions hold. An unknown kernel counts as new enough.
    fn selects(&self, rule: &SyscallRule) -> Result<bool, SeccompError> {
        let (inc, exc) = (&rule.includes, &rule.excludes);
        if exc.arches.iter().any(|a| self.arch.is_named(a))
            || exc.caps.iter().any(|c| self.has_cap(c))
        {
            return Ok(false);
        }
        if let Some(min) = &exc.min_kernel {
            let min: KernelVersion = min.parse()?;
            if self.kernel.is_none_or(|k| k >= min) {
                return Ok(false);
            }
        }
        if !inc.arches.is_empty() && !inc.arches.iter().any(|a| self.arch.is_named(a)) {
            return Ok(false);
        }
        if !inc.caps.iter().all(|c| self.has_cap(c)) {
            return Ok(false);
        }
        if let Some(min) = &inc.min_kernel {
            let min: KernelVersion = min.parse()?;
            if self.kernel.is_some_and(|k| k < min) {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// `cap_sys_admin`, `SYS_ADMIN` and `CAP_SYS_ADMIN` are the same capability.
fn normalize_cap(cap: &str) -> String {
    let upper = cap.trim().to_ascii_uppercase();
    if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    }
}

/// A compiled seccomp filter: one classic-BPF program for one architecture.
///
/// Compile it in the parent (pure, no syscalls) and [`apply`](Filter::apply) it in the container
/// process as the last step before `execve`.
///
/// ```
/// use cove_seccomp::{Filter, SeccompProfile, Verdict};
///
/// let profile = SeccompProfile::docker_default();
/// let filter = Filter::compile(&profile, &["CAP_CHOWN".to_owned()]).unwrap();
/// assert!(filter.instructions() > 100);
/// assert_eq!(filter.check("getpid", [0; 6]), Some(Verdict::Allow));
/// assert_eq!(filter.check("mount", [0; 6]), Some(Verdict::Errno(libc::EPERM as u32)));
/// assert_eq!(filter.check("clone3", [0; 6]), Some(Verdict::Errno(libc::ENOSYS as u32)));
/// ```
#[derive(Clone)]
pub struct Filter {
    arch: Arch,
    arches: Vec<Arch>,
    flags: libc::c_ulong,
    program: Vec<libc::sock_filter>,
}

impl fmt::Debug for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Filter")
            .field("arch", &self.arch)
            .field("arches", &self.arches)
            .field("instructions", &self.program.len())
            .field("flags", &self.flags)
            .finish()
    }
}

impl Filter {
    /// A filter from a program compiled ahead of time (e.g. by a build script calling [`Filter::compile`] and
    /// writing out [`Filter::program`], [`Filter::arch`], [`Filter::arches`] and [`Filter::flags`]), so a
    /// runtime can skip the compile on its start path. The parts must come from one compiled filter.
    pub fn from_parts(
        arch: Arch,
        arches: Vec<Arch>,
        flags: libc::c_ulong,
        program: Vec<libc::sock_filter>,
    ) -> Filter {
        Filter {
            arch,
            arches,
            flags,
            program,
        }
    }

    /// The `seccomp(2)` flags the filter is loaded with.
    pub fn flags(&self) -> libc::c_ulong {
        self.flags
    }

    /// Compiles `profile` for the native architecture, keeping the rules whose Docker
    /// `includes`/`excludes` match the kept capabilities `caps` (names like `CAP_SYS_ADMIN`).
    ///
    /// Pure: no syscalls. `minKernel` conditions assume a kernel newer than any the profile names
    /// (use [`compile_for`](Filter::compile_for) with [`KernelVersion::running`] to check them).
    /// Syscall names this architecture does not have are skipped, as libseccomp does; unknown
    /// actions and operators are errors naming the rule.
    pub fn compile(profile: &SeccompProfile, caps: &[String]) -> Result<Self, SeccompError> {
        Self::compile_for(profile, caps, Arch::native()?, None)
    }

    /// Like [`compile`](Filter::compile), for an explicit architecture and kernel version
    /// (`None`: assume new enough).
    pub fn compile_for(
        profile: &SeccompProfile,
        caps: &[String],
        arch: Arch,
        kernel: Option<KernelVersion>,
    ) -> Result<Self, SeccompError> {
        let target = Target { arch, caps, kernel };
        let default = action::parse(
            &profile.default_action,
            profile.default_errno_ret,
            "defaultAction",
        )?;
        let flags = action::flags(&profile.flags)?;
        let arches = covered_arches(profile, arch);
        let sections = arches
            .iter()
            .map(|abi| {
                Ok((
                    *abi,
                    section(*abi, &default, collect(profile, &target, *abi)?),
                ))
            })
            .collect::<Result<Vec<_>, SeccompError>>()?;
        let program = build(sections)?;
        let notify = program.iter().any(|insn| {
            insn.code == BPF_RET | BPF_K
                && insn.k & SECCOMP_RET_ACTION_FULL == libc::SECCOMP_RET_USER_NOTIF
        });
        let flags = if notify {
            flags | libc::SECCOMP_FILTER_FLAG_NEW_LISTENER
        } else {
            flags
        };
        Ok(Self {
            arch,
            arches,
            flags,
            program: program.into_iter().map(to_libc).collect(),
        })
    }

    /// Installs the filter on the calling thread with `seccomp(SECCOMP_SET_MODE_FILTER, flags)`
    /// (`flags` from the profile's OCI `flags`, usually none).
    ///
    /// When the filter [`notifies`](Filter::notifies), it is loaded with
    /// `SECCOMP_FILTER_FLAG_NEW_LISTENER` and the listener fd is returned (close-on-exec): hand it
    /// to a supervisor before the workload makes a notifying syscall, or that syscall waits for
    /// ever (until the listener is closed: then it fails with `ENOSYS`). Otherwise `Ok(None)`.
    ///
    /// The kernel accepts it only if the thread has `no_new_privs` set
    /// (`prctl(PR_SET_NO_NEW_PRIVS, 1)`) or `CAP_SYS_ADMIN` in its user namespace; otherwise this
    /// fails with `EACCES`. The filter is inherited by children and kept across `execve`; it cannot
    /// be removed. Without TSYNC it covers only the calling thread: call it in the single-threaded
    /// container process, right before `execve` (which it allows).
    pub fn apply(&self) -> Result<Option<OwnedFd>, SeccompError> {
        crate::sys::set_mode_filter(&self.program, self.flags)
            .map_err(|source| SeccompError::Apply { source })
    }

    /// Whether the filter has a listener: an `SCMP_ACT_NOTIFY` rule (or default action) or the
    /// `SECCOMP_FILTER_FLAG_NEW_LISTENER` flag.
    pub fn notifies(&self) -> bool {
        self.flags & libc::SECCOMP_FILTER_FLAG_NEW_LISTENER != 0
    }

    /// The number of BPF instructions.
    pub fn instructions(&self) -> usize {
        self.program.len()
    }

    /// The architecture the filter was compiled for.
    pub fn arch(&self) -> Arch {
        self.arch
    }

    /// The BPF program, as the kernel receives it.
    pub fn program(&self) -> &[libc::sock_filter] {
        &self.program
    }

    /// The ABIs the filter lets through to its rules: the native one, plus i386 on x86_64 when the
    /// profile lists `SCMP_ARCH_X86` (Docker's `archMap` does). Syscalls of any other ABI kill
    /// the process.
    pub fn arches(&self) -> &[Arch] {
        &self.arches
    }

    /// Runs the program on a syscall of the filter's native architecture, as the kernel would.
    ///
    /// # Panics
    ///
    /// Never for programs built by this crate (they use only loads, `and`, jumps and returns).
    pub fn evaluate(&self, nr: i64, args: [u64; 6]) -> Verdict {
        self.evaluate_for(self.arch, nr, args)
    }

    /// Runs the program on a syscall made through the ABI of `arch` (e.g. `int 0x80` on x86_64).
    pub fn evaluate_for(&self, arch: Arch, nr: i64, args: [u64; 6]) -> Verdict {
        let data = SeccompData::new(arch.audit_arch(), nr, args);
        Verdict::from_ret(run(&self.program, &data))
    }

    /// [`evaluate`](Filter::evaluate) by syscall name; `None` if the architecture has no such syscall.
    pub fn check(&self, syscall: &str, args: [u64; 6]) -> Option<Verdict> {
        self.check_for(self.arch, syscall, args)
    }

    /// [`evaluate_for`](Filter::evaluate_for) by syscall name; `None` if `arch` has no such syscall.
    pub fn check_for(&self, arch: Arch, syscall: &str, args: [u64; 6]) -> Option<Verdict> {
        let nr = arch.syscall_number(syscall)?;
        Some(self.evaluate_for(arch, nr, args))
    }
}

fn to_libc(insn: sock_filter) -> libc::sock_filter {
    libc::sock_filter {
        code: insn.code,
        jt: insn.jt,
        jf: insn.jf,
        k: insn.k,
    }
}

/// Selects the rules that apply to `target` and groups them by their syscall numbers on `abi`.
///
/// As in Docker, `includes`/`excludes` arches are matched against the native architecture only;
/// an i386 section gets the same rules, resolved with the i386 syscall table.
fn collect(
    profile: &SeccompProfile,
    target: &Target<'_>,
    abi: Arch,
) -> Result<BTreeMap<i64, Entry>, SeccompError> {
    let numbers = abi.number_map();
    let mut entries: BTreeMap<i64, Entry> = BTreeMap::new();
    for (index, rule) in profile.syscalls.iter().enumerate() {
        rule.validate(index)?;
        let label = RuleLabel { index, rule }.to_string();
        let action = action::parse(&rule.action, rule.errno_ret, &label)?;
        let conditions = rule
            .args
            .iter()
            .enumerate()
            .map(|(arg, filter)| action::condition(filter, arg, &label))
            .collect::<Result<Vec<SeccompCondition>, _>>()?;
        if !target.selects(rule)? {
            continue;
        }
        for nr in rule.all_names().filter_map(|name| numbers.get(name)) {
            let entry = entries.entry(*nr).or_default();
            if conditions.is_empty() {
                entry.fallback.get_or_insert_with(|| action.clone());
            } else {
                let compiled = SeccompRule::new(conditions.clone()).map_err(|source| {
                    SeccompError::Backend {
                        rule: label.clone(),
                        source,
                    }
                })?;
                entry.conditional.push((compiled, action.clone()));
            }
        }
    }
    Ok(entries)
}

/// Builds the whole program (layout in the module documentation).
fn build(sections: Vec<(Arch, BpfProgram)>) -> Result<BpfProgram, SeccompError> {
    let count = sections.len();
    let mut program = vec![stmt(BPF_LD | BPF_W | BPF_ABS, DATA_ARCH)];
    // Header: for section i, `jeq AUDIT_ARCH_i ? 0 : +1; ja <section i>`, then `ret KILL_PROCESS`.
    let mut before = 0; // length of the sections before section i
    for (i, (arch, body)) in sections.iter().enumerate() {
        program.push(jump(BPF_JMP | BPF_JEQ | BPF_K, arch.audit_arch(), 0, 1));
        // From the instruction after this `ja` to the end of the header, then past earlier bodies.
        let rest_of_header = 2 * (count - i - 1) + 1;
        let offset =
            u32::try_from(rest_of_header + before).map_err(|_| SeccompError::TooLarge {
                instructions: rest_of_header + before,
            })?;
        program.push(stmt(BPF_JMP | BPF_JA, offset));
        before += body.len();
    }
    program.push(ret(&Action::KILL_PROCESS));
    for (_, body) in sections {
        program.extend(body);
    }
    if program.len() > MAX_INSTRUCTIONS {
        return Err(SeccompError::TooLarge {
            instructions: program.len(),
        });
    }
    Ok(program)
}

/// The part of the program for one architecture: dispatch on the syscall number.
fn section(arch: Arch, default: &Action, entries: BTreeMap<i64, Entry>) -> BpfProgram {
    let mut program = vec![stmt(BPF_LD | BPF_W | BPF_ABS, DATA_NR)];
    if arch == Arch::X86_64 {
        // x32-ABI numbers, except -1 (a tracer skipping the call), which takes the default.
        program.push(jump(BPF_JMP | BPF_JGE | BPF_K, X32_SYSCALL_BIT, 0, 2));
        program.push(jump(BPF_JMP | BPF_JEQ | BPF_K, u32::MAX, 1, 0));
        program.push(ret(&Action::KILL_PROCESS));
    }
    for (nr, entry) in entries {
        append_syscall(&mut program, nr, entry, default);
    }
    program.push(ret(default));
    program
}

/// The architectures a filter for `native` covers: `native`, plus i386 on x86_64 when the
/// profile's `architectures` or its `archMap` entry for `native` lists it (Docker's does).
fn covered_arches(profile: &SeccompProfile, native: Arch) -> Vec<Arch> {
    let mut arches = vec![native];
    if native == Arch::X86_64 {
        let listed = profile.architectures.iter().any(|a| Arch::X86.is_named(a))
            || profile
                .arch_map
                .iter()
                .filter(|m| native.is_named(&m.architecture))
                .flat_map(|m| &m.sub_architectures)
                .any(|a| Arch::X86.is_named(a));
        if listed {
            arches.push(Arch::X86);
        }
    }
    arches
}

/// Appends the block of one syscall number, or nothing when its action is the default one.
fn append_syscall(program: &mut BpfProgram, nr: i64, entry: Entry, default: &Action) {
    let fallback = entry.fallback.unwrap_or_else(|| default.clone());
    // Trailing rules with the fallback's action change nothing (earlier ones may shadow later
    // rules, so they stay).
    let mut conditional = entry.conditional;
    while conditional
        .last()
        .is_some_and(|(_, action)| *action == fallback)
    {
        conditional.pop();
    }
    // Syscall numbers are small non-negative values (the tables hold < 1024).
    let nr = u32::try_from(nr).expect("syscall numbers fit in u32");
    if conditional.is_empty() {
        if fallback != *default {
            program.push(jump(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1));
            program.push(ret(&fallback));
        }
        return;
    }
    let mut body = BpfProgram::new();
    for (rule, action) in conditional {
        body.extend(BpfProgram::from(rule));
        body.push(ret(&action));
    }
    body.push(ret(&fallback));
    program.push(jump(BPF_JMP | BPF_JEQ | BPF_K, nr, 1, 0));
    // A body is at most a few hundred instructions (the whole program is < 4096).
    program.push(stmt(
        BPF_JMP | BPF_JA,
        u32::try_from(body.len()).expect("block length fits in u32"),
    ));
    program.extend(body);
}

/// `struct seccomp_data` as the filter sees it.
struct SeccompData {
    bytes: [u8; 64],
}

impl SeccompData {
    fn new(arch: u32, nr: i64, args: [u64; 6]) -> Self {
        let mut bytes = [0u8; 64];
        // The kernel passes nr as a 32-bit int.
        bytes[0..4].copy_from_slice(&(nr as i32).to_ne_bytes());
        bytes[4..8].copy_from_slice(&arch.to_ne_bytes());
        for (i, arg) in args.iter().enumerate() {
            let at = DATA_ARGS + 8 * i;
            bytes[at..at + 8].copy_from_slice(&arg.to_ne_bytes());
        }
        Self { bytes }
    }

    fn word(&self, offset: u32) -> u32 {
        let at = offset as usize;
        let word: [u8; 4] = self.bytes[at..at + 4]
            .try_into()
            .expect("BPF load inside seccomp_data");
        u32::from_ne_bytes(word)
    }
}

/// A classic-BPF interpreter for the instructions this crate emits.
fn run(program: &[libc::sock_filter], data: &SeccompData) -> u32 {
    let (mut pc, mut acc) = (0usize, 0u32);
    loop {
        let insn = program[pc];
        pc += 1;
        let taken = |jt: u8, jf: u8, cond: bool| usize::from(if cond { jt } else { jf });
        match insn.code {
            c if c == BPF_LD | BPF_W | BPF_ABS => acc = data.word(insn.k),
            c if c == BPF_ALU | BPF_AND | BPF_K => acc &= insn.k,
            c if c == BPF_JMP | BPF_JA => pc += insn.k as usize,
            c if c == BPF_JMP | BPF_JEQ | BPF_K => pc += taken(insn.jt, insn.jf, acc == insn.k),
            c if c == BPF_JMP | BPF_JGT | BPF_K => pc += taken(insn.jt, insn.jf, acc > insn.k),
            c if c == BPF_JMP | BPF_JGE | BPF_K => pc += taken(insn.jt, insn.jf, acc >= insn.k),
            c if c == BPF_JMP | BPF_JSET | BPF_K => {
                pc += taken(insn.jt, insn.jf, acc & insn.k != 0)
            }
            c if c == BPF_RET | BPF_K => return insn.k,
            other => panic!("unsupported BPF instruction {other:#x} at {}", pc - 1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::ArgFilter;

    const EPERM: Verdict = Verdict::Errno(libc::EPERM as u32);
    const ENOSYS: Verdict = Verdict::Errno(libc::ENOSYS as u32);

    fn caps(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    fn docker(list: &[&str]) -> Filter {
        Filter::compile_for(
            &SeccompProfile::docker_default(),
            &caps(list),
            Arch::X86_64,
            None,
        )
        .unwrap()
    }

    fn args0(value: u64) -> [u64; 6] {
        [value, 0, 0, 0, 0, 0]
    }

    fn verdict(filter: &Filter, name: &str, args: [u64; 6]) -> Verdict {
        filter
            .check(name, args)
            .unwrap_or_else(|| panic!("{name} unknown"))
    }

    #[test]
    fn docker_default_compiles_for_both_arches() {
        for arch in [Arch::X86_64, Arch::Aarch64] {
            let filter =
                Filter::compile_for(&SeccompProfile::docker_default(), &[], arch, None).unwrap();
            assert!(
                (300..MAX_INSTRUCTIONS).contains(&filter.instructions()),
                "{arch}: {}",
                filter.instructions()
            );
            assert_eq!(verdict(&filter, "getpid", [0; 6]), Verdict::Allow);
            assert_eq!(verdict(&filter, "mount", [0; 6]), EPERM);
            assert_eq!(verdict(&filter, "clone3", [0; 6]), ENOSYS);
        }
        #[cfg(target_arch = "x86_64")]
        assert_eq!(
            Filter::compile(&SeccompProfile::docker_default(), &[])
                .unwrap()
                .arch(),
            Arch::X86_64
        );
    }

    #[test]
    fn docker_default_without_capabilities() {
        let f = docker(&[]);
        for allowed in [
            "read",
            "write",
            "execve",
            "exit_group",
            "openat",
            "arch_prctl",
            "wait4",
        ] {
            assert_eq!(verdict(&f, allowed, [0; 6]), Verdict::Allow, "{allowed}");
        }
        for denied in [
            "mount",
            "umount2",
            "unshare",
            "setns",
            "keyctl",
            "add_key",
            "request_key",
            "open_by_handle_at",
            "reboot",
            "init_module",
            "finit_module",
            "settimeofday",
            "clock_settime",
            "kcmp",
            "chroot",
            "acct",
            "bpf",
            "io_uring_setup",
            "iopl",
            "name_to_handle_at",
            "vhangup",
            "swapon",
            "kexec_load",
            "userfaultfd",
        ] {
            assert_eq!(verdict(&f, denied, [0; 6]), EPERM, "{denied}");
        }
        assert_eq!(verdict(&f, "clone3", [0; 6]), ENOSYS);
        // ptrace needs kernel >= 4.8, which compile() assumes.
        assert_eq!(verdict(&f, "ptrace", [0; 6]), Verdict::Allow);
        // A syscall number no table knows.
        assert_eq!(f.evaluate(999, [0; 6]), EPERM);
    }

    #[test]
    fn docker_default_argument_filters() {
        let f = docker(&[]);
        for persona in [0, 8, 0x20000, 0x20008, 0xffff_ffff] {
            assert_eq!(verdict(&f, "personality", args0(persona)), Verdict::Allow);
        }
        // ADDR_NO_RANDOMIZE, and -1 as a 64-bit value.
        assert_eq!(verdict(&f, "personality", args0(0x0040000)), EPERM);
        assert_eq!(verdict(&f, "personality", args0(u64::MAX)), EPERM);

        let fork_flags =
            (libc::CLONE_CHILD_SETTID | libc::CLONE_CHILD_CLEARTID) as u64 | libc::SIGCHLD as u64;
        assert_eq!(verdict(&f, "clone", args0(fork_flags)), Verdict::Allow);
        let thread_flags = (libc::CLONE_VM
            | libc::CLONE_FS
            | libc::CLONE_FILES
            | libc::CLONE_SIGHAND
            | libc::CLONE_THREAD
            | libc::CLONE_SYSVSEM
            | libc::CLONE_SETTLS
            | libc::CLONE_PARENT_SETTID
            | libc::CLONE_CHILD_CLEARTID) as u64;
        assert_eq!(verdict(&f, "clone", args0(thread_flags)), Verdict::Allow);
        for ns in [
            libc::CLONE_NEWNS,
            libc::CLONE_NEWUTS,
            libc::CLONE_NEWIPC,
            libc::CLONE_NEWUSER,
            libc::CLONE_NEWPID,
            libc::CLONE_NEWNET,
            libc::CLONE_NEWCGROUP,
        ] {
            let flags = fork_flags | ns as u64;
            assert_eq!(verdict(&f, "clone", args0(flags)), EPERM, "{ns:#x}");
        }

        assert_eq!(
            verdict(&f, "socket", args0(libc::AF_INET as u64)),
            Verdict::Allow
        );
        assert_eq!(
            verdict(&f, "socket", args0(libc::AF_UNIX as u64)),
            Verdict::Allow
        );
        assert_eq!(verdict(&f, "socket", args0(libc::AF_VSOCK as u64)), EPERM);
    }

    #[test]
    fn docker_default_capability_groups() {
        let admin = docker(&["CAP_SYS_ADMIN"]);
        for name in [
            "mount",
            "umount2",
            "unshare",
            "setns",
            "clone3",
            "sethostname",
        ] {
            assert_eq!(verdict(&admin, name, [0; 6]), Verdict::Allow, "{name}");
        }
        let flags = libc::CLONE_NEWUSER as u64 | libc::SIGCHLD as u64;
        assert_eq!(verdict(&admin, "clone", args0(flags)), Verdict::Allow);
        assert_eq!(verdict(&admin, "reboot", [0; 6]), EPERM);

        // Capability names are matched without case and with or without the CAP_ prefix.
        let f = docker(&[
            "sys_boot",
            "CAP_SYS_PTRACE",
            "cap_sys_time",
            "CAP_SYS_MODULE",
        ]);
        for name in [
            "reboot",
            "kcmp",
            "process_vm_readv",
            "pidfd_getfd",
            "settimeofday",
            "clock_settime",
            "init_module",
            "delete_module",
        ] {
            assert_eq!(verdict(&f, name, [0; 6]), Verdict::Allow, "{name}");
        }
        assert_eq!(verdict(&f, "mount", [0; 6]), EPERM);
        assert_eq!(verdict(&f, "clone3", [0; 6]), ENOSYS);
    }

    #[test]
    fn min_kernel_is_checked_when_known() {
        let profile = SeccompProfile::docker_default();
        let old =
            Filter::compile_for(&profile, &[], Arch::X86_64, Some("4.4".parse().unwrap())).unwrap();
        assert_eq!(verdict(&old, "ptrace", [0; 6]), EPERM);
        let new = Filter::compile_for(&profile, &[], Arch::X86_64, Some("6.18".parse().unwrap()))
            .unwrap();
        assert_eq!(verdict(&new, "ptrace", [0; 6]), Verdict::Allow);
    }

    #[test]
    fn foreign_arch_and_x32_are_killed() {
        let f = docker(&[]);
        let getpid = Arch::X86_64.syscall_number("getpid").unwrap();
        assert_eq!(
            f.evaluate_for(Arch::Aarch64, getpid, [0; 6]),
            Verdict::KillProcess
        );
        // i386 is killed unless the profile lists SCMP_ARCH_X86.
        let plain = custom("SCMP_ACT_ALLOW", vec![]);
        assert_eq!(plain.arches(), [Arch::X86_64]);
        assert_eq!(
            plain.check_for(Arch::X86, "getpid", [0; 6]),
            Some(Verdict::KillProcess)
        );
        let x32 = getpid | i64::from(X32_SYSCALL_BIT);
        assert_eq!(f.evaluate(x32, [0; 6]), Verdict::KillProcess);
        // nr -1 (a tracer skipping the call) takes the default action.
        assert_eq!(f.evaluate(-1, [0; 6]), EPERM);
    }

    #[test]
    fn docker_default_covers_i386_on_x86_64() {
        let f = docker(&[]);
        assert_eq!(f.arches(), [Arch::X86_64, Arch::X86]);
        let i386 = |name: &str, args: [u64; 6]| f.check_for(Arch::X86, name, args).unwrap();
        assert_eq!(i386("getpid", [0; 6]), Verdict::Allow);
        assert_eq!(i386("socketcall", [0; 6]), Verdict::Allow);
        assert_eq!(i386("chown32", [0; 6]), Verdict::Allow);
        assert_eq!(i386("mount", [0; 6]), EPERM);
        assert_eq!(i386("unshare", [0; 6]), EPERM);
        assert_eq!(i386("clone3", [0; 6]), ENOSYS);
        assert_eq!(i386("personality", args0(0xffff_ffff)), Verdict::Allow);
        assert_eq!(i386("personality", args0(0x0040000)), EPERM);
        assert_eq!(i386("clone", args0(libc::CLONE_NEWUSER as u64)), EPERM);
        assert_eq!(i386("modify_ldt", [0; 6]), Verdict::Allow);
        // Rules selected by the native arch apply to the i386 numbers too, as in Docker.
        assert_eq!(i386("arch_prctl", [0; 6]), Verdict::Allow);
        assert_eq!(f.check_for(Arch::X86, "newfstatat", [0; 6]), None);
        // A number only the i386 table has a meaning for still gets the default.
        assert_eq!(f.evaluate_for(Arch::X86, 999, [0; 6]), EPERM);
        let admin = docker(&["CAP_SYS_ADMIN"]);
        assert_eq!(
            admin.check_for(Arch::X86, "mount", [0; 6]),
            Some(Verdict::Allow)
        );
        // On aarch64 there is no compat section.
        let arm = Filter::compile_for(&SeccompProfile::docker_default(), &[], Arch::Aarch64, None)
            .unwrap();
        assert_eq!(arm.arches(), [Arch::Aarch64]);
    }

    #[test]
    fn every_syscall_number_reaches_a_return() {
        let f = docker(&["CAP_SYS_ADMIN"]);
        for arch in [Arch::X86_64, Arch::X86, Arch::Aarch64] {
            for nr in 0..1024 {
                for a in [0, 1, 40, u64::MAX] {
                    f.evaluate_for(arch, nr, [a; 6]);
                }
            }
        }
    }

    fn rule(names: &[&str], action: &str, errno: Option<u32>, args: Vec<ArgFilter>) -> SyscallRule {
        SyscallRule {
            names: caps(names),
            action: action.to_owned(),
            errno_ret: errno,
            args,
            ..SyscallRule::default()
        }
    }

    fn arg(index: u32, op: &str, value: u64, value_two: u64) -> ArgFilter {
        ArgFilter {
            index,
            value,
            value_two,
            op: op.to_owned(),
        }
    }

    fn custom(default: &str, syscalls: Vec<SyscallRule>) -> Filter {
        let profile = SeccompProfile {
            default_action: default.to_owned(),
            syscalls,
            ..SeccompProfile::default()
        };
        Filter::compile_for(&profile, &[], Arch::X86_64, None).unwrap()
    }

    #[test]
    fn per_rule_actions_and_rule_order() {
        let f = custom(
            "SCMP_ACT_ALLOW",
            vec![
                rule(&["getppid"], "SCMP_ACT_ERRNO", Some(42), vec![]),
                rule(&["kill"], "SCMP_ACT_KILL_PROCESS", None, vec![]),
                rule(&["tkill"], "SCMP_ACT_TRAP", None, vec![]),
                rule(&["tgkill"], "SCMP_ACT_LOG", None, vec![]),
                rule(&["socket"], "SCMP_ACT_ERRNO", Some(97), vec![]),
                // Rules with arguments win over the unconditional one, whatever their order.
                rule(
                    &["socket"],
                    "SCMP_ACT_ALLOW",
                    None,
                    vec![arg(0, "SCMP_CMP_EQ", 1, 0)],
                ),
                rule(
                    &["no_such_syscall", "getpid"],
                    "SCMP_ACT_ERRNO",
                    Some(5),
                    vec![],
                ),
            ],
        );
        assert_eq!(verdict(&f, "getppid", [0; 6]), Verdict::Errno(42));
        assert_eq!(verdict(&f, "kill", [0; 6]), Verdict::KillProcess);
        assert_eq!(verdict(&f, "tkill", [0; 6]), Verdict::Trap);
        assert_eq!(verdict(&f, "tgkill", [0; 6]), Verdict::Log);
        assert_eq!(verdict(&f, "socket", args0(1)), Verdict::Allow);
        assert_eq!(verdict(&f, "socket", args0(2)), Verdict::Errno(97));
        assert_eq!(verdict(&f, "getpid", [0; 6]), Verdict::Errno(5));
        assert_eq!(verdict(&f, "read", [0; 6]), Verdict::Allow);
    }

    #[test]
    fn conditions_in_a_rule_are_and_rules_are_or() {
        let f = custom(
            "SCMP_ACT_ERRNO",
            vec![
                rule(
                    &["fcntl"],
                    "SCMP_ACT_ALLOW",
                    None,
                    vec![arg(1, "SCMP_CMP_EQ", 2, 0), arg(2, "SCMP_CMP_EQ", 1, 0)],
                ),
                rule(
                    &["fcntl"],
                    "SCMP_ACT_ALLOW",
                    None,
                    vec![arg(1, "SCMP_CMP_EQ", 1, 0)],
                ),
            ],
        );
        assert_eq!(verdict(&f, "fcntl", [3, 2, 1, 0, 0, 0]), Verdict::Allow);
        assert_eq!(verdict(&f, "fcntl", [3, 2, 0, 0, 0, 0]), EPERM);
        assert_eq!(verdict(&f, "fcntl", [3, 1, 7, 0, 0, 0]), Verdict::Allow);
        assert_eq!(verdict(&f, "fcntl", [3, 4, 1, 0, 0, 0]), EPERM);
    }

    #[test]
    fn operators_compare_64_bit_values() {
        let high = 1u64 << 32;
        /// (op, value, valueTwo, arguments that match, arguments that do not)
        type Case<'a> = (&'a str, u64, u64, &'a [u64], &'a [u64]);
        let cases: &[Case] = &[
            (
                "SCMP_CMP_EQ",
                high + 5,
                0,
                &[high + 5],
                &[5, high, high + 6],
            ),
            ("SCMP_CMP_NE", high + 5, 0, &[5, high], &[high + 5]),
            (
                "SCMP_CMP_LT",
                high + 5,
                0,
                &[0, 5, high + 4],
                &[high + 5, 2 * high],
            ),
            (
                "SCMP_CMP_LE",
                high + 5,
                0,
                &[high + 5, 7],
                &[high + 6, u64::MAX],
            ),
            (
                "SCMP_CMP_GT",
                high + 5,
                0,
                &[high + 6, u64::MAX],
                &[high + 5, 9],
            ),
            (
                "SCMP_CMP_GE",
                high + 5,
                0,
                &[high + 5, 2 * high],
                &[high + 4, 5],
            ),
            (
                "SCMP_CMP_MASKED_EQ",
                high | 0xff,
                high | 0x12,
                &[high | 0x312],
                &[0x12, high],
            ),
        ];
        for (op, value, value_two, matching, other) in cases {
            let f = custom(
                "SCMP_ACT_ALLOW",
                vec![rule(
                    &["dup"],
                    "SCMP_ACT_ERRNO",
                    Some(9),
                    vec![arg(0, op, *value, *value_two)],
                )],
            );
            for a in *matching {
                assert_eq!(
                    verdict(&f, "dup", args0(*a)),
                    Verdict::Errno(9),
                    "{op} {a:#x}"
                );
            }
            for a in *other {
                assert_eq!(verdict(&f, "dup", args0(*a)), Verdict::Allow, "{op} {a:#x}");
            }
        }
    }

    #[test]
    fn includes_and_excludes() {
        let mut both = rule(&["mount"], "SCMP_ACT_ALLOW", None, vec![]);
        both.includes.caps = caps(&["CAP_SYS_ADMIN", "CAP_NET_ADMIN"]);
        let mut excluded = rule(&["umount2"], "SCMP_ACT_ALLOW", None, vec![]);
        excluded.excludes.caps = caps(&["CAP_NET_ADMIN", "CAP_SYS_BOOT"]);
        let mut other_arch = rule(&["chroot"], "SCMP_ACT_ALLOW", None, vec![]);
        other_arch.includes.arches = caps(&["arm64"]);
        let mut this_arch = rule(&["acct"], "SCMP_ACT_ALLOW", None, vec![]);
        this_arch.includes.arches = caps(&["amd64"]);
        let mut not_this_arch = rule(&["iopl"], "SCMP_ACT_ALLOW", None, vec![]);
        not_this_arch.excludes.arches = caps(&["SCMP_ARCH_X86_64"]);
        let profile = SeccompProfile {
            default_action: "SCMP_ACT_ERRNO".to_owned(),
            syscalls: vec![both, excluded, other_arch, this_arch, not_this_arch],
            ..SeccompProfile::default()
        };
        let compile =
            |kept: &[&str]| Filter::compile_for(&profile, &caps(kept), Arch::X86_64, None).unwrap();
        let none = compile(&[]);
        let admin = compile(&["CAP_SYS_ADMIN"]);
        let both = compile(&["CAP_SYS_ADMIN", "CAP_NET_ADMIN"]);
        assert_eq!(verdict(&none, "mount", [0; 6]), EPERM);
        assert_eq!(verdict(&admin, "mount", [0; 6]), EPERM);
        assert_eq!(verdict(&both, "mount", [0; 6]), Verdict::Allow);
        assert_eq!(verdict(&none, "umount2", [0; 6]), Verdict::Allow);
        assert_eq!(verdict(&admin, "umount2", [0; 6]), Verdict::Allow);
        assert_eq!(verdict(&both, "umount2", [0; 6]), EPERM);
        assert_eq!(verdict(&none, "chroot", [0; 6]), EPERM);
        assert_eq!(verdict(&none, "acct", [0; 6]), Verdict::Allow);
        assert_eq!(verdict(&none, "iopl", [0; 6]), EPERM);
    }

    #[test]
    fn compile_errors_name_the_rule() {
        let profile = SeccompProfile {
            default_action: "SCMP_ACT_ERRNO".to_owned(),
            syscalls: vec![
                rule(&["read"], "SCMP_ACT_ALLOW", None, vec![]),
                rule(&["bind", "connect"], "SCMP_ACT_NOTIFY", None, vec![]),
            ],
            ..SeccompProfile::default()
        };
        let filter = Filter::compile_for(&profile, &[], Arch::X86_64, None).unwrap();
        assert!(filter.notifies());
        assert_eq!(filter.check("bind", [0; 6]), Some(Verdict::Notify));
        assert_eq!(filter.check("read", [0; 6]), Some(Verdict::Allow));
        let profile = SeccompProfile {
            default_action: "SCMP_ACT_DENY".to_owned(),
            ..SeccompProfile::default()
        };
        let err = Filter::compile_for(&profile, &[], Arch::X86_64, None).unwrap_err();
        assert!(
            matches!(&err, SeccompError::UnknownAction { rule, .. } if rule == "defaultAction"),
            "{err}"
        );
    }

    #[test]
    fn empty_profile_returns_the_default_action() {
        let f = custom("SCMP_ACT_KILL_PROCESS", vec![]);
        assert_eq!(verdict(&f, "read", [0; 6]), Verdict::KillProcess);
        let f = custom("SCMP_ACT_ALLOW", vec![]);
        assert_eq!(verdict(&f, "mount", [0; 6]), Verdict::Allow);
    }
}

/// The compiled program against a direct reading of the profile, on random profiles.
#[cfg(test)]
mod reference {
    use super::*;
    use crate::profile::ArgFilter;

    /// xorshift64*: deterministic, no dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        /// Values that make comparisons interesting: small, around 2^32, extremes.
        fn value(&mut self) -> u64 {
            const EDGES: [u64; 8] = [0, 1, 40, 0xffff_ffff, 1 << 32, (1 << 32) + 40, u64::MAX, 7];
            match self.below(3) {
                0 => EDGES[self.below(8) as usize],
                1 => self.below(64) | (self.below(3) << 32),
                _ => self.next(),
            }
        }
    }

    const NAMES: [&str; 5] = ["read", "write", "ioctl", "fcntl", "prctl"];
    const OPS: [&str; 7] = [
        "SCMP_CMP_EQ",
        "SCMP_CMP_NE",
        "SCMP_CMP_LT",
        "SCMP_CMP_LE",
        "SCMP_CMP_GT",
        "SCMP_CMP_GE",
        "SCMP_CMP_MASKED_EQ",
    ];
    const ACTIONS: [(&str, Option<u32>, Verdict); 4] = [
        ("SCMP_ACT_ALLOW", None, Verdict::Allow),
        ("SCMP_ACT_ERRNO", Some(11), Verdict::Errno(11)),
        ("SCMP_ACT_ERRNO", Some(22), Verdict::Errno(22)),
        ("SCMP_ACT_TRAP", None, Verdict::Trap),
    ];

    fn random_profile(rng: &mut Rng) -> (SeccompProfile, Vec<Verdict>) {
        let default = rng.below(4) as usize;
        let mut verdicts = vec![ACTIONS[default].2];
        let mut syscalls = Vec::new();
        for _ in 0..rng.below(12) {
            let action = rng.below(4) as usize;
            verdicts.push(ACTIONS[action].2);
            // Usually 0–3 conditions; sometimes a long chain (seccompiler's helper jumps).
            let conditions = if rng.below(8) == 0 { 60 } else { rng.below(4) };
            let args = (0..conditions)
                .map(|_| ArgFilter {
                    index: rng.below(6) as u32,
                    value: rng.value(),
                    value_two: rng.value(),
                    op: OPS[rng.below(7) as usize].to_owned(),
                })
                .collect();
            let names = (0..1 + rng.below(2))
                .map(|_| NAMES[rng.below(5) as usize].to_owned())
                .collect();
            syscalls.push(SyscallRule {
                names,
                action: ACTIONS[action].0.to_owned(),
                errno_ret: ACTIONS[action].1,
                args,
                ..SyscallRule::default()
            });
        }
        let profile = SeccompProfile {
            default_action: ACTIONS[default].0.to_owned(),
            default_errno_ret: ACTIONS[default].1,
            syscalls,
            ..SeccompProfile::default()
        };
        (profile, verdicts)
    }

    fn holds(filter: &ArgFilter, args: &[u64; 6]) -> bool {
        let a = args[filter.index as usize];
        let v = filter.value;
        match filter.op.as_str() {
            "SCMP_CMP_EQ" => a == v,
            "SCMP_CMP_NE" => a != v,
            "SCMP_CMP_LT" => a < v,
            "SCMP_CMP_LE" => a <= v,
            "SCMP_CMP_GT" => a > v,
            "SCMP_CMP_GE" => a >= v,
            "SCMP_CMP_MASKED_EQ" => a & v == filter.value_two,
            other => unreachable!("{other}"),
        }
    }

    /// The documented semantics, read straight off the profile.
    fn expected(
        profile: &SeccompProfile,
        verdicts: &[Verdict],
        name: &str,
        args: &[u64; 6],
    ) -> Verdict {
        let rules = || {
            profile
                .syscalls
                .iter()
                .zip(&verdicts[1..])
                .filter(|(rule, _)| rule.all_names().any(|n| n == name))
        };
        rules()
            .find(|(rule, _)| !rule.args.is_empty() && rule.args.iter().all(|f| holds(f, args)))
            .or_else(|| rules().find(|(rule, _)| rule.args.is_empty()))
            .map_or(verdicts[0], |(_, verdict)| *verdict)
    }

    #[test]
    fn program_agrees_with_the_profile() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for round in 0..300 {
            let (mut profile, verdicts) = random_profile(&mut rng);
            let abi = if round % 2 == 0 {
                Arch::X86_64
            } else {
                profile.architectures = vec!["SCMP_ARCH_X86".to_owned()];
                Arch::X86
            };
            let filter = Filter::compile_for(&profile, &[], Arch::X86_64, None).unwrap();
            for _ in 0..200 {
                let name = NAMES[rng.below(5) as usize];
                let mut args = [0u64; 6];
                for arg in &mut args {
                    *arg = rng.value();
                }
                // Make some calls hit a rule's values exactly.
                if let Some(rule) = profile.syscalls.get(rng.below(12) as usize) {
                    for f in &rule.args {
                        if rng.below(2) == 0 {
                            args[f.index as usize] = f.value;
                        }
                    }
                }
                assert_eq!(
                    filter.check_for(abi, name, args),
                    Some(expected(&profile, &verdicts, name, &args)),
                    "round {round} ({abi}): {name}{args:x?}\n{}",
                    profile.to_json()
                );
            }
        }
    }
}
