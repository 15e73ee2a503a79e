//! Just enough ELF64 (little-endian) reading for the VM image: is a binary static, and what a kernel
//! module's `.modinfo` says.

use anyhow::{bail, ensure, Context, Result};

/// Program header type of the dynamic loader request.
const PT_INTERP: u32 = 3;

/// A parsed ELF64 little-endian file header over borrowed bytes.
pub struct Elf<'a> {
    bytes: &'a [u8],
}

impl<'a> Elf<'a> {
    /// Checks the magic, class (64-bit) and byte order (little-endian).
    pub fn parse(bytes: &'a [u8]) -> Result<Self> {
        ensure!(bytes.len() >= 64, "too short for an ELF header");
        ensure!(&bytes[..4] == b"\x7fELF", "no ELF magic");
        ensure!(bytes[4] == 2, "not a 64-bit ELF file");
        ensure!(bytes[5] == 1, "not a little-endian ELF file");
        Ok(Self { bytes })
    }

    /// True when the file asks for no dynamic loader (no `PT_INTERP` program header).
    pub fn is_static(&self) -> Result<bool> {
        let phoff = self.u64_at(0x20)?;
        let phentsize = u64::from(self.u16_at(0x36)?);
        let phnum = u64::from(self.u16_at(0x38)?);
        for i in 0..phnum {
            let at = usize::try_from(phoff + i * phentsize)?;
            if self.u32_at(at)? == PT_INTERP {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The contents of the section called `name`, if the file has one.
    pub fn section(&self, name: &str) -> Result<Option<&'a [u8]>> {
        let shoff = self.u64_at(0x28)?;
        let shentsize = u64::from(self.u16_at(0x3a)?);
        let shnum = u64::from(self.u16_at(0x3c)?);
        let shstrndx = u64::from(self.u16_at(0x3e)?);
        let header = |i: u64| -> Result<usize> { Ok(usize::try_from(shoff + i * shentsize)?) };
        let names = self.section_data(header(shstrndx)?)?;
        for i in 0..shnum {
            let at = header(i)?;
            let name_off = usize::try_from(self.u32_at(at)?)?;
            let Some(rest) = names.get(name_off..) else {
                bail!("section name offset {name_off} out of range");
            };
            let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
            if &rest[..end] == name.as_bytes() {
                return Ok(Some(self.section_data(at)?));
            }
        }
        Ok(None)
    }

    fn section_data(&self, header: usize) -> Result<&'a [u8]> {
        let offset = usize::try_from(self.u64_at(header + 24)?)?;
        let size = usize::try_from(self.u64_at(header + 32)?)?;
        self.bytes
            .get(offset..offset.saturating_add(size))
            .context("section data out of range")
    }

    fn slice(&self, at: usize, len: usize) -> Result<&'a [u8]> {
        self.bytes
            .get(at..at.saturating_add(len))
            .with_context(|| format!("ELF field at {at:#x} out of range"))
    }

    fn u16_at(&self, at: usize) -> Result<u16> {
        Ok(u16::from_le_bytes(self.slice(at, 2)?.try_into()?))
    }

    fn u32_at(&self, at: usize) -> Result<u32> {
        Ok(u32::from_le_bytes(self.slice(at, 4)?.try_into()?))
    }

    fn u64_at(&self, at: usize) -> Result<u64> {
        Ok(u64::from_le_bytes(self.slice(at, 8)?.try_into()?))
    }
}

/// The value of `key` in a `.modinfo` section (NUL-separated `key=value` strings).
pub fn modinfo_value<'a>(modinfo: &'a [u8], key: &str) -> Option<&'a str> {
    modinfo
        .split(|&b| b == 0)
        .filter_map(|entry| std::str::from_utf8(entry).ok())
        .find_map(|entry| entry.strip_prefix(key)?.strip_prefix('='))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modinfo_value_finds_key_exactly() {
        let info = b"license=GPL\0depends=virtio,virtio_ring\0name=virtio_blk\0dependsx=no\0";
        assert_eq!(modinfo_value(info, "depends"), Some("virtio,virtio_ring"));
        assert_eq!(modinfo_value(info, "name"), Some("virtio_blk"));
        assert_eq!(modinfo_value(info, "vermagic"), None);
    }

    #[test]
    fn empty_depends_is_some_empty() {
        assert_eq!(modinfo_value(b"depends=\0", "depends"), Some(""));
    }

    #[test]
    fn rejects_non_elf() {
        assert!(Elf::parse(b"#!/bin/sh\n").is_err());
        assert!(Elf::parse(&[0u8; 128]).is_err());
    }

    #[test]
    fn own_test_binary_parses_and_has_sections() {
        let exe = std::env::current_exe().unwrap();
        let bytes = std::fs::read(exe).unwrap();
        let elf = Elf::parse(&bytes).unwrap();
        // Whether static or not depends on RUSTFLAGS; the call itself must succeed.
        elf.is_static().unwrap();
        assert!(elf.section(".text").unwrap().is_some());
        assert!(elf.section(".no-such-section").unwrap().is_none());
    }
}
