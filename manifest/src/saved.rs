//! The manifest as saved with a running container's state, so that later commands (`cove exec`) lower the
//! same text again: the container's process, user, capabilities, rlimits and seccomp filter.

use std::path::{Path, PathBuf};

use cove_container::run_state::SavedConfig;
use cove_container::Plan;
use serde::{Deserialize, Serialize};

use crate::diagnostic::ManifestError;

/// The name of this format in a container's state (`config_format`).
pub const FORMAT: &str = "manifest";

/// A manifest's path (absolute, so relative paths in it resolve as they did) and text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedManifest {
    /// Where the manifest was read from.
    pub path: PathBuf,
    /// Its text when the container started.
    pub source: String,
}

impl SavedManifest {
    /// The manifest at `path` (made absolute) with its text.
    pub fn new(path: &Path, source: String) -> SavedManifest {
        let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        SavedManifest { path, source }
    }

    /// As a front end's config for the state store.
    pub fn to_config(&self) -> SavedConfig {
        SavedConfig {
            format: FORMAT.to_owned(),
            config: serde_json::to_value(self).expect("a path and a string encode"),
        }
    }

    /// Parses and validates the saved text again, for a caller with effective uid `euid`.
    pub fn plan(&self, euid: u32) -> Result<Plan, Vec<ManifestError>> {
        let manifest = crate::manifest::parse(&self.path, &self.source).map_err(|e| vec![e])?;
        crate::plan::from_manifest(&self.path, &self.source, manifest, euid)
    }
}

/// Reads, parses and validates a manifest like [`load_plan`](crate::load_plan), also returning what to
/// save with the container's state.
pub fn load_plan_and_source(
    path: &Path,
    euid: u32,
) -> Result<(Plan, SavedManifest), Vec<ManifestError>> {
    let (manifest, source) = crate::manifest::load(path).map_err(|e| vec![e])?;
    let plan = crate::plan::from_manifest(path, &source, manifest, euid)?;
    Ok((plan, SavedManifest::new(path, source)))
}
