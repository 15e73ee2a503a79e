//! (being written this session: see oci/mod.rs)
