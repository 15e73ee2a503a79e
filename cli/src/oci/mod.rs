//! The OCI runtime interface: bundles (`config.json`) lowered into the same [`Plan`](crate::plan::Plan) as the
//! TOML manifest, container state under `--root`, and the lifecycle commands runc defines (create, start,
//! state, kill, delete, exec, …), so that podman, Docker and containerd can drive `cove`.

pub mod cli;
pub mod config;
pub mod console;
pub mod events;
pub mod exec;
pub mod features;
pub mod hooks;
pub mod lifecycle;
pub mod resources;
pub mod spec_default;
pub mod state;
pub mod update;
