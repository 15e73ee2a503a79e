//! Errors in a manifest, each pointing at a file, line, column and key.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One problem found in a manifest, with the place it was found.
///
/// Displayed as `FILE:LINE:COL: key `KEY`: MESSAGE` followed by a `help:` line when a fix is obvious.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError {
    /// The manifest file.
    pub file: PathBuf,
    /// 1-based line, 0 when the problem has no single place (e.g. the file could not be read).
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// The key the problem is about (dotted path where known, e.g. `process.args`).
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
    /// How to fix it, when that is obvious.
    pub help: Option<String>,
}

impl ManifestError {
    /// A problem at a byte span of `source`.
    pub fn at(
        file: &Path,
        source: &str,
        span: Option<Range<usize>>,
        key: Option<String>,
        message: impl Into<String>,
    ) -> Self {
        let (line, column) = span.map_or((0, 0), |s| line_column(source, s.start));
        ManifestError {
            file: file.to_path_buf(),
            line,
            column,
            key,
            message: message.into(),
            help: None,
        }
    }

    /// Adds a hint on how to fix the problem.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        write!(f, ": ")?;
        if let Some(key) = &self.key {
            write!(f, "`{key}`: ")?;
        }
        write!(f, "{}", self.message)?;
        if let Some(help) = &self.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ManifestError {}

/// 1-based line and column (in characters) of byte `offset` in `source`.
pub fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// The closest candidate to `word` by edit distance, when it is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, c)| *d <= (c.len().max(word.len()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Edit distance between two short strings, counting a swap of two neighbours as one edit
/// (optimal string alignment), so `tmfps` is one edit from `tmpfs`.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

/// Collects every problem found while validating, each with its place.
pub(crate) struct Checker<'a> {
    pub(crate) file: &'a Path,
    pub(crate) source: &'a str,
    pub(crate) errors: Vec<ManifestError>,
}

impl Checker<'_> {
    /// Records a problem at `span` about `key`.
    pub(crate) fn error(
        &mut self,
        span: Range<usize>,
        key: &str,
        message: impl Into<String>,
    ) -> &mut ManifestError {
        let e = ManifestError::at(
            self.file,
            self.source,
            Some(span),
            Some(key.to_string()),
            message,
        );
        self.errors.push(e);
        self.errors.last_mut().expect("just pushed")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_column_counts_from_one() {
        let src = "a = 1\nbc = 2\n";
        assert_eq!(line_column(src, 0), (1, 1));
        assert_eq!(line_column(src, 6), (2, 1));
        assert_eq!(line_column(src, 9), (2, 4));
    }

    #[test]
    fn suggests_close_keys_only() {
        let keys = ["hostname", "name", "process", "rootfs"];
        assert_eq!(did_you_mean("hostnme", keys), Some("hostname"));
        assert_eq!(did_you_mean("proces", keys), Some("process"));
        assert_eq!(did_you_mean("zzzzzz", keys), None);
        assert_eq!(
            did_you_mean("tmfps", ["bind", "tmpfs", "proc"]),
            Some("tmpfs")
        );
    }

    #[test]
    fn display_has_place_key_and_help() {
        let e = ManifestError::at(
            Path::new("m.toml"),
            "x = 1\n",
            Some(0..1),
            Some("x".into()),
            "unknown key",
        )
        .with_help("did you mean `y`?");
        assert_eq!(
            e.to_string(),
            "m.toml:1:1: `x`: unknown key\n  help: did you mean `y`?"
        );
    }
}
