//! The architectures cove builds filters for.

use std::collections::HashMap;
use std::fmt;

use crate::{table, SeccompError};

/// A CPU architecture (an `AUDIT_ARCH_*` value and its syscall table).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Arch {
    /// x86-64 (64-bit ABI; x32 and i386 syscalls are refused, see the crate docs).
    X86_64,
    /// 64-bit ARM.
    Aarch64,
    /// 32-bit x86 (i386), as the compat ABI of x86_64 (`int 0x80`, 32-bit binaries).
    X86,
}

/// `AUDIT_ARCH_X86_64` (EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE).
const AUDIT_ARCH_X86_64: u32 = 62 | 0x8000_0000 | 0x4000_0000;
/// `AUDIT_ARCH_AARCH64` (EM_AARCH64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE).
const AUDIT_ARCH_AARCH64: u32 = 183 | 0x8000_0000 | 0x4000_0000;
/// `AUDIT_ARCH_I386` (EM_386 | __AUDIT_ARCH_LE).
const AUDIT_ARCH_I386: u32 = 3 | 0x4000_0000;

impl Arch {
    /// The architecture this program runs on.
    pub fn native() -> Result<Self, SeccompError> {
        match std::env::consts::ARCH {
            "x86_64" => Ok(Self::X86_64),
            "aarch64" => Ok(Self::Aarch64),
            other => Err(SeccompError::UnsupportedArch { arch: other }),
        }
    }

    /// The `AUDIT_ARCH_*` value the kernel reports in `seccomp_data.arch`.
    pub fn audit_arch(self) -> u32 {
        match self {
            Self::X86_64 => AUDIT_ARCH_X86_64,
            Self::Aarch64 => AUDIT_ARCH_AARCH64,
            Self::X86 => AUDIT_ARCH_I386,
        }
    }

    /// The syscall number of `name` on this architecture, if it has that syscall.
    ///
    /// ```
    /// use cove_seccomp::Arch;
    ///
    /// assert_eq!(Arch::X86_64.syscall_number("getpid"), Some(39));
    /// assert_eq!(Arch::Aarch64.syscall_number("open"), None); // only openat there
    /// ```
    pub fn syscall_number(self, name: &str) -> Option<i64> {
        self.table()
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, nr)| *nr)
    }

    pub(crate) fn table(self) -> &'static [(&'static str, i64)] {
        match self {
            Self::X86_64 => table::X86_64,
            Self::Aarch64 => table::AARCH64,
            Self::X86 => table::I386,
        }
    }

    pub(crate) fn number_map(self) -> HashMap<&'static str, i64> {
        self.table().iter().copied().collect()
    }

    /// True when a profile's architecture name (Go's `amd64`, libseccomp's `SCMP_ARCH_X86_64`
    /// or the kernel's `x86_64`) denotes this architecture.
    pub fn is_named(self, name: &str) -> bool {
        let name = name.to_ascii_lowercase();
        let name = name.strip_prefix("scmp_arch_").unwrap_or(&name);
        match self {
            Self::X86_64 => matches!(name, "amd64" | "x86_64"),
            Self::Aarch64 => matches!(name, "arm64" | "aarch64"),
            Self::X86 => matches!(name, "x86" | "386" | "i386"),
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::X86_64 => "x86_64",
            Self::Aarch64 => "aarch64",
            Self::X86 => "i386",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert!(Arch::X86_64.is_named("amd64"));
        assert!(Arch::X86_64.is_named("SCMP_ARCH_X86_64"));
        assert!(!Arch::X86_64.is_named("x32"));
        assert!(Arch::Aarch64.is_named("arm64"));
        assert_eq!(Arch::X86_64.syscall_number("clone3"), Some(435));
        assert_eq!(Arch::X86_64.syscall_number("mount"), Some(165));
        assert_eq!(Arch::Aarch64.syscall_number("mount"), Some(40));
        assert_eq!(Arch::X86.syscall_number("mount"), Some(21));
        assert_eq!(Arch::X86.syscall_number("socketcall"), Some(102));
        assert!(Arch::X86.is_named("SCMP_ARCH_X86"));
        assert!(!Arch::X86.is_named("SCMP_ARCH_X86_64"));
        assert_eq!(Arch::X86_64.syscall_number("no_such_call"), None);
        #[cfg(target_arch = "x86_64")]
        {
            assert_eq!(Arch::native().unwrap(), Arch::X86_64);
            assert_eq!(
                Arch::X86_64.syscall_number("getppid"),
                Some(libc::SYS_getppid)
            );
            assert_eq!(
                Arch::X86_64.syscall_number("keyctl"),
                Some(libc::SYS_keyctl)
            );
        }
    }

    #[test]
    fn tables_have_unique_names() {
        for arch in [Arch::X86_64, Arch::Aarch64, Arch::X86] {
            assert_eq!(arch.number_map().len(), arch.table().len(), "{arch}");
        }
    }
}
