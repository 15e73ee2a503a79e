//! cove-seccomp: seccomp filters for containers.
