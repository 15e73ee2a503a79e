//! cove-manifest: cove's TOML manifest, checked and lowered into the engine's [`Plan`](cove_container::Plan).
//!
//! Every problem is a [`ManifestError`](diagnostic::ManifestError) with its place (file, line, column, key)
//! and, where a fix is obvious, a `help:` (e.g. "did you mean `tmpfs`?"); all problems are reported at once.
//! Lowering is pure apart from looking at the file system (does the root exist, is the program there, does a
//! seccomp profile parse).
//!
//! ```
//! use std::path::Path;
//!
//! let source = "[process]\nargs = [\"/bin/true\"]\n[rootfs]\nhots = true\n";
//! let err = cove_manifest::manifest::parse(Path::new("m.toml"), source).unwrap_err();
//! assert_eq!((err.line, err.column), (4, 1));
//! assert!(err.to_string().contains("did you mean `host`?"), "{err}");
//! ```
#![deny(missing_docs)]

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

use std::path::Path;

pub mod diagnostic;
pub mod manifest;
pub mod plan;
pub mod resources;
pub mod saved;
pub mod security;
pub mod units;

pub use diagnostic::ManifestError;

/// Reads, parses and validates a manifest for a caller with effective uid `euid`.
///
/// Every problem is returned, each naming the file, line, column and key.
pub fn load_plan(path: &Path, euid: u32) -> Result<cove_container::Plan, Vec<ManifestError>> {
    let (manifest, source) = manifest::load(path).map_err(|e| vec![e])?;
    plan::from_manifest(path, &source, manifest, euid)
}
