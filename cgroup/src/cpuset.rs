//! The kernel's list format for CPU and memory-node sets (`0-3,6,8-9`).

use std::collections::BTreeSet;

use crate::error::{CgroupError, Result};

/// The largest CPU or node number accepted (the kernel's `NR_CPUS` tops out at 8192).
const MAX_INDEX: u32 = 65_535;

/// Parses a cpuset list such as `"0-3,6"` into the set of its numbers. An empty (or
/// all-whitespace) string is the empty set, as the kernel writes it for an empty cpuset.
///
/// ```
/// let set = cove_cgroup::parse_cpuset("0-2,5\n").unwrap();
/// assert_eq!(set.into_iter().collect::<Vec<_>>(), [0, 1, 2, 5]);
/// assert!(cove_cgroup::parse_cpuset("3-1").is_err());
/// ```
pub fn parse_cpuset(list: &str) -> Result<BTreeSet<u32>> {
    parse_list(list).map_err(|reason| CgroupError::InvalidResource {
        field: "cpuset",
        value: list.to_owned(),
        reason: reason.to_owned(),
    })
}

/// Like [`parse_cpuset`], with a plain reason as the error.
pub(crate) fn parse_list(list: &str) -> std::result::Result<BTreeSet<u32>, &'static str> {
    let mut set = BTreeSet::new();
    let list = list.trim();
    if list.is_empty() {
        return Ok(set);
    }
    for item in list.split(',') {
        let (lo, hi) = match item.split_once('-') {
            Some((lo, hi)) => (number(lo)?, number(hi)?),
            None => (number(item)?, number(item)?),
        };
        if lo > hi {
            return Err("range end is below its start");
        }
        set.extend(lo..=hi);
    }
    Ok(set)
}

fn number(s: &str) -> std::result::Result<u32, &'static str> {
    let n: u32 = s
        .trim()
        .parse()
        .map_err(|_| "not a list of numbers and ranges")?;
    if n > MAX_INDEX {
        return Err("number too large");
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lists() {
        assert_eq!(parse_list("0").unwrap(), BTreeSet::from([0]));
        assert_eq!(parse_list("0-1\n").unwrap(), BTreeSet::from([0, 1]));
        assert_eq!(parse_list("0,2-3,7").unwrap(), BTreeSet::from([0, 2, 3, 7]));
        assert!(parse_list("").unwrap().is_empty());
        assert!(parse_list("\n").unwrap().is_empty());
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse_list("a").is_err());
        assert!(parse_list("1-").is_err());
        assert!(parse_list("2-1").is_err());
        assert!(parse_list("0,,1").is_err());
        assert!(parse_list("99999999").is_err());
        let err = parse_cpuset("x").unwrap_err();
        assert!(err.to_string().contains("cpuset"), "{err}");
    }
}
