//! cove: the `cove` binary's library — the commands that drive the engine ([`cove_container`]) from its two front
//! ends, the TOML manifest ([`cove_manifest`]) and the OCI bundle ([`oci`]), and their rendering.
#![deny(missing_docs)]

pub mod check;
pub mod doctor;
pub mod oci;
pub mod report;
pub mod setid;
