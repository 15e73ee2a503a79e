//! cove: the `cove` binary's library — the TOML manifest, its validated plan, and the wiring of the
//! cove crates into a running container.
#![deny(missing_docs)]

use std::path::Path;

pub mod cgroups;
pub mod check;
pub mod diagnostic;
pub mod doctor;
pub mod idmap_mounts;
pub mod landlock;
pub mod manifest;
pub mod oci;
pub mod plan;
pub mod report;
pub mod resources;
pub mod run;
pub mod security;
pub mod setid;
pub mod statedir;
pub mod terminal;
pub mod units;

/// Reads, parses and validates a manifest for a caller with effective uid `euid`.
///
/// Every problem is returned, each naming the file, line, column and key.
pub fn load_plan(path: &Path, euid: u32) -> Result<plan::Plan, Vec<diagnostic::ManifestError>> {
    let (manifest, source) = manifest::load(path).map_err(|e| vec![e])?;
    plan::Plan::from_manifest(path, &source, manifest, euid)
}
