//! The `bpf(2)` system call, for the cgroup v2 device filter: the only `unsafe` code in this
//! crate.
//!
//! Neither `nix` nor `libc` wraps `bpf(2)`, and cgroup v2 has no file interface for device
//! rules: the kernel only accepts a `BPF_PROG_TYPE_CGROUP_DEVICE` program attached to the cgroup
//! directory. So this module is a justified exception to "cgroup needs no unsafe": it builds the
//! `union bpf_attr` layouts of the five commands used, calls `syscall(SYS_bpf, …)`, and wraps
//! the file descriptors it returns. Every call passes a pointer to a live, fully initialised
//! attribute struct with its exact size; the kernel copies it in (and, for queries, writes
//! back at most `prog_cnt` ids to a buffer of that many).

use std::ffi::c_void;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// `BPF_PROG_LOAD`.
const CMD_PROG_LOAD: libc::c_long = 5;
/// `BPF_PROG_ATTACH`.
const CMD_PROG_ATTACH: libc::c_long = 8;
/// `BPF_PROG_DETACH`.
const CMD_PROG_DETACH: libc::c_long = 9;
/// `BPF_PROG_GET_FD_BY_ID`.
const CMD_PROG_GET_FD_BY_ID: libc::c_long = 13;
/// `BPF_PROG_QUERY`.
const CMD_PROG_QUERY: libc::c_long = 16;
/// `BPF_PROG_TYPE_CGROUP_DEVICE`.
const PROG_TYPE_CGROUP_DEVICE: u32 = 15;

/// The license the program is loaded under (the kernel wants a known string).
const LICENSE: &[u8] = b"Apache-2.0\0";
/// Size of the verifier log buffer used to explain a refused program.
const LOG_SIZE: usize = 64 * 1024;

/// `union bpf_attr` for `BPF_PROG_LOAD`, up to `expected_attach_type`.
#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// `union bpf_attr` for `BPF_PROG_ATTACH` / `BPF_PROG_DETACH`.
#[repr(C)]
#[derive(Default)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

/// `union bpf_attr` for `BPF_PROG_QUERY`.
#[repr(C)]
#[derive(Default)]
struct QueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    _pad: u32,
}

/// `union bpf_attr` for `BPF_PROG_GET_FD_BY_ID`.
#[repr(C)]
#[derive(Default)]
struct GetFdByIdAttr {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
}

/// Calls `bpf(cmd, attr, sizeof *attr)`; the result or the OS error.
fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> io::Result<libc::c_long> {
    let size = std::mem::size_of::<T>() as libc::c_uint;
    // SAFETY: `attr` is a live, exclusively borrowed `#[repr(C)]` bpf_attr layout of `size`
    // bytes, fully initialised (Default zeroes every field, the kernel requires unused bytes to
    // be zero); any pointers inside it are set by the callers to buffers that outlive the call.
    let ret = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr as *mut T as *mut c_void, size) };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Wraps a file descriptor the kernel just returned.
fn own_fd(ret: libc::c_long) -> OwnedFd {
    // SAFETY: `ret` is a new file descriptor returned by a successful bpf(2) call (PROG_LOAD or
    // GET_FD_BY_ID), owned by nobody else; the kernel opens it close-on-exec.
    unsafe { OwnedFd::from_raw_fd(ret as libc::c_int) }
}

/// A refused `BPF_PROG_LOAD`, with the verifier's explanation when it gave one.
#[derive(Debug)]
pub(crate) struct LoadError {
    /// The OS error.
    pub source: io::Error,
    /// The verifier log (empty when the kernel wrote none).
    pub log: String,
}

/// Loads a `BPF_PROG_TYPE_CGROUP_DEVICE` program from encoded instructions. When the kernel
/// refuses it, loads it once more with a verifier log to say why.
pub(crate) fn prog_load_cgroup_device(insns: &[[u8; 8]]) -> Result<OwnedFd, LoadError> {
    match prog_load(insns, None) {
        Ok(fd) => Ok(fd),
        Err(source) => {
            let mut log = vec![0u8; LOG_SIZE];
            let _ = prog_load(insns, Some(&mut log));
            let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
            let log = String::from_utf8_lossy(&log[..end]).trim_end().to_owned();
            Err(LoadError { source, log })
        }
    }
}

fn prog_load(insns: &[[u8; 8]], log: Option<&mut [u8]>) -> io::Result<OwnedFd> {
    let mut name = [0u8; 16];
    name[..12].copy_from_slice(b"cove_devices");
    let mut attr = ProgLoadAttr {
        prog_type: PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: insns.len() as u32,
        insns: insns.as_ptr() as u64,
        license: LICENSE.as_ptr() as u64,
        prog_name: name,
        ..Default::default()
    };
    if let Some(log) = log {
        attr.log_level = 1;
        attr.log_size = log.len() as u32;
        attr.log_buf = log.as_mut_ptr() as u64;
    }
    bpf(CMD_PROG_LOAD, &mut attr).map(own_fd)
}

/// Attaches `prog` to the cgroup directory `cgroup` with `flags`.
pub(crate) fn prog_attach(
    cgroup: BorrowedFd<'_>,
    prog: BorrowedFd<'_>,
    attach_type: u32,
    flags: u32,
) -> io::Result<()> {
    let mut attr = AttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type,
        attach_flags: flags,
        ..Default::default()
    };
    bpf(CMD_PROG_ATTACH, &mut attr).map(drop)
}

/// Detaches `prog` from the cgroup directory `cgroup`.
pub(crate) fn prog_detach(
    cgroup: BorrowedFd<'_>,
    prog: BorrowedFd<'_>,
    attach_type: u32,
) -> io::Result<()> {
    let mut attr = AttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type,
        ..Default::default()
    };
    bpf(CMD_PROG_DETACH, &mut attr).map(drop)
}

/// The ids of the programs of `attach_type` attached directly to `cgroup` (not its ancestors').
pub(crate) fn prog_query(cgroup: BorrowedFd<'_>, attach_type: u32) -> io::Result<Vec<u32>> {
    // BPF_CGROUP_MAX_PROGS is 64.
    let mut ids = vec![0u32; 64];
    let mut attr = QueryAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_type,
        prog_ids: ids.as_mut_ptr() as u64,
        prog_cnt: ids.len() as u32,
        ..Default::default()
    };
    bpf(CMD_PROG_QUERY, &mut attr)?;
    ids.truncate((attr.prog_cnt as usize).min(64));
    Ok(ids)
}

/// Opens the program with id `id`.
pub(crate) fn prog_get_fd_by_id(id: u32) -> io::Result<OwnedFd> {
    let mut attr = GetFdByIdAttr {
        prog_id: id,
        ..Default::default()
    };
    bpf(CMD_PROG_GET_FD_BY_ID, &mut attr).map(own_fd)
}
