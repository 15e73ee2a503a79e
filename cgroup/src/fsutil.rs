//! Reading and writing control files, with errors that name the file and controller.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::error::{CgroupError, Result};
use crate::resources::UNLIMITED;

/// v1 reports "no limit" as a huge number (`PAGE_COUNTER_MAX` rounded to pages): anything at or
/// above this is unlimited.
const V1_UNLIMITED_THRESHOLD: u64 = 1 << 62;

/// Writes `value` to the existing control file `dir/file` in a single `write`.
///
/// The file is never created: a missing control file means the kernel does not offer it.
pub(crate) fn write(dir: &Path, file: &str, controller: &'static str, value: &str) -> Result<()> {
    let path = dir.join(file);
    write_path(&path, value).map_err(|source| CgroupError::Write {
        controller,
        file: path,
        value: value.to_owned(),
        source,
    })
}

fn write_path(path: &Path, value: &str) -> io::Result<()> {
    let mut f = OpenOptions::new().write(true).truncate(true).open(path)?;
    f.write_all(value.as_bytes())
}

/// Reads the whole control file `dir/file`.
pub(crate) fn read(dir: &Path, file: &str, controller: &'static str) -> Result<String> {
    let path = dir.join(file);
    fs::read_to_string(&path).map_err(|source| CgroupError::Read {
        controller,
        file: path,
        source,
    })
}

/// Reads `dir/file`, or `None` when the kernel does not offer that file.
pub(crate) fn read_opt(dir: &Path, file: &str, controller: &'static str) -> Result<Option<String>> {
    let path = dir.join(file);
    match fs::read_to_string(&path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CgroupError::Read {
            controller,
            file: path,
            source,
        }),
    }
}

/// Whether the control file `dir/file` exists.
pub(crate) fn exists(dir: &Path, file: &str) -> bool {
    dir.join(file).exists()
}

/// Parses a single-number file; `max` (v2) and v1's huge "unlimited" value become [`UNLIMITED`].
pub(crate) fn parse_limit(file: PathBuf, text: &str) -> Result<u64> {
    let t = text.trim();
    if t == "max" || t == "-1" {
        return Ok(UNLIMITED);
    }
    let n: u64 = t.parse().map_err(|_| CgroupError::Parse {
        file,
        reason: "not a number or max",
        text: t.to_owned(),
    })?;
    Ok(if n >= V1_UNLIMITED_THRESHOLD {
        UNLIMITED
    } else {
        n
    })
}

/// Reads a single-number file with [`parse_limit`]; `None` when it does not exist.
pub(crate) fn read_limit(dir: &Path, file: &str, controller: &'static str) -> Result<Option<u64>> {
    read_opt(dir, file, controller)?
        .map(|t| parse_limit(dir.join(file), &t))
        .transpose()
}

/// A limit as v2 writes it: a number or `max`.
pub(crate) fn v2_limit(n: u64) -> String {
    if n == UNLIMITED {
        "max".to_owned()
    } else {
        n.to_string()
    }
}

/// A limit as v1 writes it: a number or `-1`.
pub(crate) fn v1_limit(n: u64) -> String {
    if n == UNLIMITED {
        "-1".to_owned()
    } else {
        n.to_string()
    }
}

/// Reads the pids in a `cgroup.procs` file.
pub(crate) fn read_pids(dir: &Path) -> Result<Vec<i32>> {
    let file = dir.join("cgroup.procs");
    let text = read(dir, "cgroup.procs", "cgroup")?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            l.trim().parse().map_err(|_| CgroupError::Parse {
                file: file.clone(),
                reason: "not a pid",
                text: l.to_owned(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits() {
        let p = PathBuf::from("x");
        assert_eq!(parse_limit(p.clone(), "max\n").unwrap(), UNLIMITED);
        assert_eq!(
            parse_limit(p.clone(), "9223372036854771712\n").unwrap(),
            UNLIMITED
        );
        assert_eq!(parse_limit(p.clone(), "4096\n").unwrap(), 4096);
        assert!(parse_limit(p, "lots").is_err());
        assert_eq!(v2_limit(UNLIMITED), "max");
        assert_eq!(v1_limit(UNLIMITED), "-1");
        assert_eq!(v1_limit(7), "7");
    }

    #[test]
    fn write_needs_an_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        let err = write(dir.path(), "memory.max", "memory", "1").unwrap_err();
        assert!(
            matches!(
                err,
                CgroupError::Write {
                    controller: "memory",
                    ..
                }
            ),
            "{err}"
        );
        fs::write(dir.path().join("memory.max"), "max\n").unwrap();
        write(dir.path(), "memory.max", "memory", "1").unwrap();
        assert_eq!(read(dir.path(), "memory.max", "memory").unwrap(), "1");
        assert_eq!(read_opt(dir.path(), "nope", "memory").unwrap(), None);
    }
}
