//! [`ConfigError`]: what is wrong with a bundle's `config.json`, naming the file and the field.

use std::fmt;
use std::path::{Path, PathBuf};

/// A problem with an OCI bundle's `config.json` (or a `process.json` / `resources.json` lowered
/// on its own).
///
/// Every variant names the file (when known) and the field, as a path such as
/// `linux.resources.memory.swap` or `mounts[3].options`:
/// `/b/config.json: linux.intelRdt: not supported by cove`,
/// `/b/config.json:12:5: invalid type: string "x", expected u32`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The bundle directory cannot be resolved.
    #[error("bundle {}: cannot open the directory", dir.display())]
    Bundle {
        /// The directory given.
        dir: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file cannot be read.
    #[error("{}: cannot read the file", file.display())]
    Read {
        /// The file.
        file: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The JSON is malformed or does not have the shape of an OCI configuration.
    #[error("{}:{line}:{column}: {message}", file.display())]
    Json {
        /// The file.
        file: PathBuf,
        /// 1-based line (0 when unknown).
        line: usize,
        /// 1-based column.
        column: usize,
        /// What serde_json found, without its position.
        message: String,
    },
    /// `ociVersion` is missing or outside 1.0.0–1.3.x.
    #[error(
        "{}ociVersion: `{version}` is not supported (cove reads OCI runtime spec 1.0.0 to 1.3.x)",
        Prefix(file)
    )]
    Version {
        /// The file.
        file: PathBuf,
        /// The version found (empty when missing).
        version: String,
    },
    /// A field cove does not implement: it is refused rather than ignored.
    #[error("{}{field}: not supported by cove{}", Prefix(file), Reason(reason))]
    Unsupported {
        /// The file.
        file: PathBuf,
        /// The field's path, e.g. `linux.intelRdt`.
        field: String,
        /// Why or what to do instead (may be empty).
        reason: String,
    },
    /// A field with a value cove cannot use.
    #[error("{}{field}: {message}", Prefix(file))]
    Invalid {
        /// The file.
        file: PathBuf,
        /// The field's path, e.g. `process.cwd`.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// `linux.seccomp` is not a valid seccomp profile.
    #[error("{}{field}: invalid seccomp profile", Prefix(file))]
    Seccomp {
        /// The file.
        file: PathBuf,
        /// The field, `linux.seccomp`.
        field: String,
        /// What cove-seccomp found.
        #[source]
        source: cove_seccomp::SeccompError,
    },
    /// The host's cgroup layout (needed to expand a `cgroup` mount) cannot be detected.
    #[error("{}{field}: cannot detect the host's cgroup layout", Prefix(file))]
    CgroupLayout {
        /// The file.
        file: PathBuf,
        /// The mount, e.g. `mounts[6]`.
        field: String,
        /// What cove-cgroup found.
        #[source]
        source: cove_cgroup::CgroupError,
    },
}

impl ConfigError {
    /// Names `file` as the file the error is about, unless one is already named (for
    /// errors of [`lower_resources`](crate::resources::lower_resources) and
    /// [`lower_process`](crate::config::lower_process), which see only part of a file).
    pub fn with_file(mut self, path: &Path) -> Self {
        if let Some(file) = self.file_mut() {
            if file.as_os_str().is_empty() {
                *file = path.to_path_buf();
            }
        }
        self
    }

    /// The field the error is about (`linux.resources.memory.kernel`), when it is about one.
    pub fn field(&self) -> Option<&str> {
        match self {
            ConfigError::Unsupported { field, .. }
            | ConfigError::Invalid { field, .. }
            | ConfigError::Seccomp { field, .. }
            | ConfigError::CgroupLayout { field, .. } => Some(field),
            ConfigError::Version { .. } => Some("ociVersion"),
            ConfigError::Bundle { .. } | ConfigError::Read { .. } | ConfigError::Json { .. } => {
                None
            }
        }
    }

    fn file_mut(&mut self) -> Option<&mut PathBuf> {
        match self {
            ConfigError::Bundle { .. } => None,
            ConfigError::Read { file, .. }
            | ConfigError::Json { file, .. }
            | ConfigError::Version { file, .. }
            | ConfigError::Unsupported { file, .. }
            | ConfigError::Invalid { file, .. }
            | ConfigError::Seccomp { file, .. }
            | ConfigError::CgroupLayout { file, .. } => Some(file),
        }
    }

    /// A refused field (no file yet: see [`with_file`](Self::with_file)).
    pub(crate) fn unsupported(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ConfigError::Unsupported {
            file: PathBuf::new(),
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// A bad value (no file yet: see [`with_file`](Self::with_file)).
    pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            file: PathBuf::new(),
            field: field.into(),
            message: message.into(),
        }
    }

    /// A JSON error of `file`, with serde_json's position moved to the front.
    pub(crate) fn json(file: &Path, err: &serde_json::Error) -> Self {
        let text = err.to_string();
        let suffix = format!(" at line {} column {}", err.line(), err.column());
        let message = text.strip_suffix(&suffix).unwrap_or(&text).to_string();
        ConfigError::Json {
            file: file.to_path_buf(),
            line: err.line(),
            column: err.column(),
            message,
        }
    }
}

/// `"<file>: "`, or nothing when the file is not known.
struct Prefix<'a>(&'a PathBuf);

impl fmt::Display for Prefix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.as_os_str().is_empty() {
            Ok(())
        } else {
            write!(f, "{}: ", self.0.display())
        }
    }
}

/// `": <reason>"`, or nothing.
struct Reason<'a>(&'a str);

impl fmt::Display for Reason<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            Ok(())
        } else {
            write!(f, ": {}", self.0)
        }
    }
}

/// Result of a lowering step.
pub(crate) type Result<T, E = ConfigError> = std::result::Result<T, E>;
