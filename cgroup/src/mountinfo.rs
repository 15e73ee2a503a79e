//! A pure parser for `/proc/<pid>/mountinfo` (see proc(5)).

use std::path::PathBuf;

use crate::error::{CgroupError, Result};

/// One line of a mountinfo file: the fields this crate needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    /// Path of the mount's root inside its file system (field 4), unescaped.
    pub root: String,
    /// Mount point (field 5), unescaped.
    pub mount_point: PathBuf,
    /// File system type (first field after ` - `), e.g. `cgroup2`.
    pub fs_type: String,
    /// Super block options (last field), e.g. `rw,cpu,cpuacct`.
    pub super_options: String,
}

/// Parses a whole mountinfo text; empty lines are skipped.
pub fn parse(text: &str) -> Result<Vec<MountEntry>> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| parse_line(i + 1, l))
        .collect()
}

fn parse_line(line: usize, text: &str) -> Result<MountEntry> {
    let bad = |reason| CgroupError::ParseMountinfo {
        line,
        reason,
        text: text.to_owned(),
    };
    let (head, tail) = text
        .split_once(" - ")
        .ok_or_else(|| bad("no ' - ' separator"))?;
    let head: Vec<&str> = head.split(' ').collect();
    if head.len() < 6 {
        return Err(bad("fewer than 6 fields before the separator"));
    }
    let tail: Vec<&str> = tail.split(' ').collect();
    if tail.len() < 3 {
        return Err(bad("fewer than 3 fields after the separator"));
    }
    Ok(MountEntry {
        root: unescape(head[3]),
        mount_point: PathBuf::from(unescape(head[4])),
        fs_type: tail[0].to_owned(),
        super_options: tail[2].to_owned(),
    })
}

/// Undoes the kernel's octal escapes (`\040` for space, `\011`, `\012`, `\134`).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 3 < bytes.len() && is_octal3(&bytes[i + 1..i + 4]) {
            out.push(
                (bytes[i + 1] - b'0') * 64 + (bytes[i + 2] - b'0') * 8 + (bytes[i + 3] - b'0'),
            );
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn is_octal3(b: &[u8]) -> bool {
    b.len() == 3 && b[0] <= b'3' && b.iter().all(|c| (b'0'..=b'7').contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fields_and_optional_fields() {
        let text = "41 31 0:38 / /sys/fs/cgroup/unified rw,nosuid shared:9 master:2 - cgroup2 cgroup2 rw,nsdelegate\n";
        let e = &parse(text).unwrap()[0];
        assert_eq!(e.root, "/");
        assert_eq!(e.mount_point, PathBuf::from("/sys/fs/cgroup/unified"));
        assert_eq!(e.fs_type, "cgroup2");
        assert_eq!(e.super_options, "rw,nsdelegate");
    }

    #[test]
    fn unescapes_octal() {
        assert_eq!(unescape(r"/mnt/a\040b\134c"), "/mnt/a b\\c");
        assert_eq!(unescape(r"/trailing\04"), r"/trailing\04");
    }

    #[test]
    fn rejects_malformed_lines() {
        let err = parse("1 2 3\n").unwrap_err();
        assert!(
            matches!(err, CgroupError::ParseMountinfo { line: 1, .. }),
            "{err}"
        );
        let err = parse("\n1 2 0:1 / /x rw - cgroup\n").unwrap_err();
        assert!(
            matches!(err, CgroupError::ParseMountinfo { line: 2, .. }),
            "{err}"
        );
    }
}
