//! cove-cgroup
