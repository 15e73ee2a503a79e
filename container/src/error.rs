//! The engine's typed error.

/// An operation of the engine failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ContainerError {
    /// The container id is not 1–128 of `[A-Za-z0-9._-]`, or starts with `.`.
    #[error("`{id}` is not a valid container id")]
    InvalidId {
        /// The refused id.
        id: String,
    },
    /// A container with this id already exists in the state root.
    #[error("container `{id}` already exists")]
    Exists {
        /// The id.
        id: String,
    },
    /// No container with this id exists in the state root.
    #[error("container `{id}` does not exist")]
    NotFound {
        /// The id.
        id: String,
    },
    /// Spawning the container process failed (in the runtime or in the child before exec).
    #[error("starting the container")]
    Spawn(#[source] cove_spawn::SpawnError),
}

impl ContainerError {
    /// The exit code the `cove` binary uses for this error: 127 when the program does not exist, 126 when
    /// it cannot be executed, else 125 (cove's own failure, as Docker and podman do).
    pub fn exit_code(&self) -> i32 {
        match self {
            ContainerError::Spawn(cove_spawn::SpawnError::Child(child))
                if child.stage == "exec" =>
            {
                match child.errno {
                    Some(libc::ENOENT) => 127,
                    _ => 126,
                }
            }
            _ => crate::run::RUNTIME_FAILURE,
        }
    }
}
