//! The error of the bench helpers.

use std::path::PathBuf;

/// What can go wrong while preparing or timing a step.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    /// The busybox test root is missing.
    #[error("the busybox test root {path} is missing: run `cargo xtask rootfs` first")]
    NoRootfs {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// Writing the benchmark's manifest failed.
    #[error("writing the benchmark manifest {path}")]
    WriteManifest {
        /// The manifest.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The benchmark's manifest did not validate.
    #[error("the benchmark manifest {path} is invalid: {problems}")]
    InvalidManifest {
        /// The manifest.
        path: PathBuf,
        /// Every problem, one a line.
        problems: String,
    },
    /// Creating the pipe to the child failed.
    #[error("creating the pipe to the timing child")]
    Pipe(#[source] nix::Error),
    /// Forking the timing child failed.
    #[error("forking the timing child")]
    Fork(#[source] nix::Error),
    /// Waiting for the timing child failed.
    #[error("waiting for the timing child")]
    Wait(#[source] nix::Error),
    /// The step failed inside the child.
    #[error("the step failed in the child: {message}")]
    Step {
        /// What the child reported.
        message: String,
    },
    /// The child died without reporting (or with a malformed report).
    #[error("the timing child ended without a report (wait status {status})")]
    NoReport {
        /// Its wait status, as text.
        status: String,
    },
}
