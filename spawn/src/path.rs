//! Finding the program: `execvp`'s PATH search, done in the child after its setup (inside the new root), over
//! candidate paths computed in the parent.

use std::ffi::CStr;

use nix::errno::Errno;

/// The PATH searched when the container's environment has none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The paths to try for `program`: itself when it contains a `/`, else `dir/program` for each entry of `path`
/// (`DEFAULT_PATH` when `None`); an empty entry means the working directory, as in `execvp`.
pub(crate) fn candidates(program: &str, path: Option<&str>) -> Vec<String> {
    if program.contains('/') {
        return vec![program.to_owned()];
    }
    path.unwrap_or(DEFAULT_PATH)
        .split(':')
        .map(|dir| match dir {
            "" => program.to_owned(),
            dir => format!("{}/{program}", dir.trim_end_matches('/')),
        })
        .collect()
}

/// Errors after which `execvp` goes on to the next candidate.
fn try_next(errno: Errno) -> bool {
    matches!(
        errno,
        Errno::ENOENT
            | Errno::ENOTDIR
            | Errno::ESTALE
            | Errno::ENODEV
            | Errno::ETIMEDOUT
            | Errno::EACCES
    )
}

/// Tries `exec` on each candidate in turn, as `execvp` does: returns only when every attempt failed, with the
/// error to report and the candidate it belongs to. Not found everywhere gives ENOENT (for the first candidate);
/// EACCES anywhere wins over ENOENT; any other error stops the search.
pub(crate) fn search<C: AsRef<CStr>>(
    candidates: &[C],
    mut exec: impl FnMut(&CStr) -> Errno,
) -> (Errno, Option<&CStr>) {
    let mut denied = None;
    for candidate in candidates {
        let candidate = candidate.as_ref();
        let errno = exec(candidate);
        if !try_next(errno) {
            return (errno, Some(candidate));
        }
        if errno == Errno::EACCES && denied.is_none() {
            denied = Some(candidate);
        }
    }
    match denied {
        Some(candidate) => (Errno::EACCES, Some(candidate)),
        None => (Errno::ENOENT, candidates.first().map(AsRef::as_ref)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;

    fn cstrings(v: &[&str]) -> Vec<CString> {
        v.iter().map(|s| CString::new(*s).unwrap()).collect()
    }

    #[test]
    fn a_path_with_a_slash_is_used_as_is() {
        assert_eq!(candidates("/bin/sh", Some("/usr/bin")), ["/bin/sh"]);
        assert_eq!(candidates("./run", None), ["./run"]);
    }

    #[test]
    fn a_bare_name_is_searched_in_path() {
        assert_eq!(
            candidates("sh", Some("/usr/bin:/bin/")),
            ["/usr/bin/sh", "/bin/sh"]
        );
        assert_eq!(candidates("sh", Some("/a::/b")), ["/a/sh", "sh", "/b/sh"]);
        assert_eq!(
            candidates("sh", None).len(),
            DEFAULT_PATH.split(':').count()
        );
        assert_eq!(candidates("sh", None)[0], "/usr/local/sbin/sh");
    }

    #[test]
    fn search_stops_at_the_first_success_or_hard_error() {
        let c = cstrings(&["/a/x", "/b/x", "/c/x"]);
        let mut tried = vec![];
        let result = search(&c, |p| {
            tried.push(p.to_owned());
            if p.to_bytes() == b"/b/x" {
                Errno::ENOEXEC
            } else {
                Errno::ENOENT
            }
        });
        assert_eq!(result, (Errno::ENOEXEC, Some(c[1].as_c_str())));
        assert_eq!(tried.len(), 2);
    }

    #[test]
    fn not_found_anywhere_is_enoent_and_eacces_wins() {
        let c = cstrings(&["/a/x", "/b/x", "/c/x"]);
        assert_eq!(
            search(&c, |_| Errno::ENOENT),
            (Errno::ENOENT, Some(c[0].as_c_str()))
        );
        let result = search(&c, |p| {
            if p.to_bytes() == b"/c/x" {
                Errno::EACCES
            } else {
                Errno::ENOTDIR
            }
        });
        assert_eq!(result, (Errno::EACCES, Some(c[2].as_c_str())));
        let none: [CString; 0] = [];
        assert_eq!(search(&none, |_| Errno::ENOENT), (Errno::ENOENT, None));
    }
}
