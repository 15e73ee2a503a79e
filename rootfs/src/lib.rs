//! cove-rootfs
