//! User namespace id maps (`/proc/<pid>/uid_map`, `gid_map`).

use std::fmt::Write as _;

use nix::unistd::Pid;

use crate::NsError;

/// The most lines the kernel accepts in one id map (since Linux 4.15).
pub const MAX_ID_MAP_LINES: usize = 340;

/// One line of an id map: `count` ids starting at `inside` in the namespace are `outside` onwards in the parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IdMap {
    /// First id inside the user namespace.
    pub inside: u32,
    /// First id in the parent user namespace.
    pub outside: u32,
    /// Number of ids mapped (at least 1).
    pub count: u32,
}

impl IdMap {
    /// A map of `count` ids from `inside` to `outside`.
    pub const fn new(inside: u32, outside: u32, count: u32) -> Self {
        IdMap {
            inside,
            outside,
            count,
        }
    }

    /// Maps the single id `outside` to `inside` (e.g. the caller's uid to root: `IdMap::single(0, uid)`).
    pub const fn single(inside: u32, outside: u32) -> Self {
        IdMap {
            inside,
            outside,
            count: 1,
        }
    }

    /// The id inside the namespace that `outside` maps to, if any.
    pub fn to_inside(&self, outside: u32) -> Option<u32> {
        let offset = outside.checked_sub(self.outside)?;
        (offset < self.count).then(|| self.inside + offset)
    }

    fn end(start: u32, count: u32) -> Option<u64> {
        let end = u64::from(start) + u64::from(count);
        (end <= u64::from(u32::MAX) + 1).then_some(end)
    }
}

/// Why an id map was refused before it reached the kernel (the kernel would refuse it with EINVAL).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdMapProblem {
    /// No line at all.
    #[error("the map is empty")]
    Empty,
    /// More lines than the kernel accepts.
    #[error("{lines} lines, the kernel accepts at most {MAX_ID_MAP_LINES}")]
    TooManyLines {
        /// The number of lines given.
        lines: usize,
    },
    /// A line maps no id.
    #[error("line {line}: the count is 0")]
    ZeroCount {
        /// The line number, from 1.
        line: usize,
    },
    /// A range runs past the last 32-bit id.
    #[error("line {line}: the range passes 4294967295")]
    Overflow {
        /// The line number, from 1.
        line: usize,
    },
    /// Two lines overlap inside or outside the namespace.
    #[error("lines {first} and {second} overlap {side} the namespace")]
    Overlap {
        /// The first line number, from 1.
        first: usize,
        /// The second line number, from 1.
        second: usize,
        /// `inside` or `outside`.
        side: &'static str,
    },
}

/// Checks an id map as the kernel would: 1 to [`MAX_ID_MAP_LINES`] lines, no empty, overflowing or overlapping
/// range.
pub fn validate_id_maps(maps: &[IdMap]) -> Result<(), IdMapProblem> {
    if maps.is_empty() {
        return Err(IdMapProblem::Empty);
    }
    if maps.len() > MAX_ID_MAP_LINES {
        return Err(IdMapProblem::TooManyLines { lines: maps.len() });
    }
    for (i, map) in maps.iter().enumerate() {
        check_line(i + 1, map)?;
    }
    check_overlaps(maps)
}

fn check_line(line: usize, map: &IdMap) -> Result<(), IdMapProblem> {
    if map.count == 0 {
        return Err(IdMapProblem::ZeroCount { line });
    }
    if IdMap::end(map.inside, map.count).is_none() || IdMap::end(map.outside, map.count).is_none() {
        return Err(IdMapProblem::Overflow { line });
    }
    Ok(())
}

fn check_overlaps(maps: &[IdMap]) -> Result<(), IdMapProblem> {
    let overlap = |a: u32, b: u32, count_a: u32, count_b: u32| {
        let (a, b) = (u64::from(a), u64::from(b));
        a < b + u64::from(count_b) && b < a + u64::from(count_a)
    };
    for (i, a) in maps.iter().enumerate() {
        for (j, b) in maps.iter().enumerate().skip(i + 1) {
            let (first, second) = (i + 1, j + 1);
            if overlap(a.inside, b.inside, a.count, b.count) {
                return Err(IdMapProblem::Overlap {
                    first,
                    second,
                    side: "inside",
                });
            }
            if overlap(a.outside, b.outside, a.count, b.count) {
                return Err(IdMapProblem::Overlap {
                    first,
                    second,
                    side: "outside",
                });
            }
        }
    }
    Ok(())
}

/// The text written to `uid_map`/`gid_map`: one `inside outside count` line per map.
///
/// ```
/// use cove_ns::{format_id_maps, IdMap};
/// assert_eq!(format_id_maps(&[IdMap::new(0, 1000, 1), IdMap::new(1, 100000, 65536)]),
///            "0 1000 1\n1 100000 65536\n");
/// ```
pub fn format_id_maps(maps: &[IdMap]) -> String {
    let mut text = String::with_capacity(maps.len() * 24);
    for map in maps {
        // Writing to a String cannot fail.
        let _ = writeln!(text, "{} {} {}", map.inside, map.outside, map.count);
    }
    text
}

/// The arguments of `newuidmap`/`newgidmap` for `pid` and `maps`: `PID inside outside count …`.
///
/// ```
/// use cove_ns::{id_map_helper_args, IdMap, Pid};
/// let args = id_map_helper_args(Pid::from_raw(42), &[IdMap::new(0, 1000, 1), IdMap::new(1, 100000, 65536)]);
/// assert_eq!(args, ["42", "0", "1000", "1", "1", "100000", "65536"]);
/// ```
pub fn id_map_helper_args(pid: Pid, maps: &[IdMap]) -> Vec<String> {
    let mut args = vec![pid.to_string()];
    for m in maps {
        args.extend([
            m.inside.to_string(),
            m.outside.to_string(),
            m.count.to_string(),
        ]);
    }
    args
}

/// Writes the uid and gid maps of `pid`'s user namespace through the setuid helpers `newuidmap` and
/// `newgidmap` (Debian's `uidmap` package), which check the ranges against `/etc/subuid` and `/etc/subgid`.
/// This is how an unprivileged caller maps more than its own uid.
pub fn write_id_maps_with_helpers(
    pid: Pid,
    uid_maps: &[IdMap],
    gid_maps: &[IdMap],
) -> Result<(), NsError> {
    validate_id_maps(uid_maps).map_err(|source| NsError::InvalidIdMap {
        file: "uid_map",
        source,
    })?;
    validate_id_maps(gid_maps).map_err(|source| NsError::InvalidIdMap {
        file: "gid_map",
        source,
    })?;
    run_id_map_helper("newuidmap", pid, uid_maps)?;
    run_id_map_helper("newgidmap", pid, gid_maps)
}

fn run_id_map_helper(program: &'static str, pid: Pid, maps: &[IdMap]) -> Result<(), NsError> {
    let args = id_map_helper_args(pid, maps);
    let output = std::process::Command::new(program)
        .args(&args)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|source| NsError::StartIdMapHelper {
            program,
            pid,
            source,
        })?;
    if output.status.success() {
        return Ok(());
    }
    Err(NsError::IdMapHelperFailed {
        program,
        args: args.join(" "),
        status: output.status,
        stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_one_line_per_map() {
        assert_eq!(format_id_maps(&[IdMap::single(0, 65534)]), "0 65534 1\n");
        assert_eq!(format_id_maps(&[]), "");
    }

    #[test]
    fn accepts_a_typical_map() {
        let maps = [IdMap::new(0, 1000, 1), IdMap::new(1, 100_000, 65_536)];
        assert_eq!(validate_id_maps(&maps), Ok(()));
        assert_eq!(validate_id_maps(&[IdMap::new(0, 0, u32::MAX)]), Ok(()));
        assert_eq!(validate_id_maps(&[IdMap::new(1, 0, u32::MAX)]), Ok(()));
    }

    #[test]
    fn refuses_empty_zero_and_too_many() {
        assert_eq!(validate_id_maps(&[]), Err(IdMapProblem::Empty));
        assert_eq!(
            validate_id_maps(&[IdMap::new(0, 0, 1), IdMap::new(5, 5, 0)]),
            Err(IdMapProblem::ZeroCount { line: 2 })
        );
        let many: Vec<_> = (0..341).map(|i| IdMap::single(i, i)).collect();
        assert_eq!(
            validate_id_maps(&many),
            Err(IdMapProblem::TooManyLines { lines: 341 })
        );
        assert_eq!(validate_id_maps(&many[..340]), Ok(()));
    }

    #[test]
    fn refuses_overflow() {
        assert_eq!(
            validate_id_maps(&[IdMap::new(2, 0, u32::MAX)]),
            Err(IdMapProblem::Overflow { line: 1 })
        );
        assert_eq!(
            validate_id_maps(&[IdMap::new(0, u32::MAX, 2)]),
            Err(IdMapProblem::Overflow { line: 1 })
        );
    }

    #[test]
    fn refuses_overlaps_on_either_side() {
        let inside = [IdMap::new(0, 1000, 10), IdMap::new(9, 2000, 1)];
        assert_eq!(
            validate_id_maps(&inside),
            Err(IdMapProblem::Overlap {
                first: 1,
                second: 2,
                side: "inside"
            })
        );
        let outside = [IdMap::new(0, 1000, 10), IdMap::new(10, 1005, 1)];
        assert_eq!(
            validate_id_maps(&outside),
            Err(IdMapProblem::Overlap {
                first: 1,
                second: 2,
                side: "outside"
            })
        );
        let adjacent = [IdMap::new(0, 1000, 10), IdMap::new(10, 1010, 10)];
        assert_eq!(validate_id_maps(&adjacent), Ok(()));
    }

    #[test]
    fn to_inside_maps_ids() {
        let map = IdMap::new(0, 100_000, 65_536);
        assert_eq!(map.to_inside(100_000), Some(0));
        assert_eq!(map.to_inside(165_535), Some(65_535));
        assert_eq!(map.to_inside(165_536), None);
        assert_eq!(map.to_inside(99_999), None);
    }
}
