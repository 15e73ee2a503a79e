//! The OCI runtime interface: bundles (`config.json`) lowered into the same [`Plan`](cove_container::plan::Plan) as the
//! TOML manifest, container state under `--root`, and the lifecycle commands runc defines (create, start,
//! state, kill, delete, exec, …), so that podman, Docker and containerd can drive `cove`.

pub mod cli;
pub mod exec;
pub mod lifecycle;
pub mod update;
