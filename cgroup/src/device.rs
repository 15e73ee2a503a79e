//! Block device numbers.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use crate::error::{CgroupError, Result};

/// The `(major, minor)` numbers of the block device node at `path` (e.g. `/dev/vda`), for
/// [`IoDeviceLimit`](crate::IoDeviceLimit). Fails when `path` is not a block device.
///
/// ```no_run
/// let (major, minor) = cove_cgroup::device_numbers("/dev/vda").unwrap();
/// ```
pub fn device_numbers(path: impl AsRef<Path>) -> Result<(u32, u32)> {
    let path = path.as_ref();
    let meta = std::fs::metadata(path).map_err(|source| CgroupError::DeviceStat {
        path: path.to_owned(),
        source,
    })?;
    if !meta.file_type().is_block_device() {
        return Err(CgroupError::NotBlockDevice {
            path: path.to_owned(),
        });
    }
    let rdev = meta.rdev();
    Ok((
        nix::sys::stat::major(rdev) as u32,
        nix::sys::stat::minor(rdev) as u32,
    ))
}

/// Why a device cannot take io limits, or `None` when it can: it must be listed in the sysfs
/// block directory (`/sys/dev/block/MAJ:MIN`) and be a whole disk, not a partition (the kernel
/// refuses io limits on partitions).
pub(crate) fn unusable_reason(
    block_devices: &Path,
    major: u32,
    minor: u32,
) -> Option<&'static str> {
    let entry = block_devices.join(format!("{major}:{minor}"));
    if !entry.exists() {
        Some("no such block device")
    } else if entry.join("partition").exists() {
        Some("is a partition; io limits apply to whole disks")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_null_is_not_a_block_device() {
        let err = device_numbers("/dev/null").unwrap_err();
        assert!(matches!(err, CgroupError::NotBlockDevice { .. }), "{err}");
        assert!(matches!(
            device_numbers("/nonexistent"),
            Err(CgroupError::DeviceStat { .. })
        ));
    }

    #[test]
    fn a_listed_block_device_has_its_numbers() {
        // Any block device node in /dev matches its sysfs entry.
        let Some(dev) = std::fs::read_dir("/sys/block")
            .ok()
            .and_then(|mut d| d.next())
        else {
            panic!("this host has no block devices in /sys/block");
        };
        let name = dev.unwrap().file_name();
        let numbers =
            std::fs::read_to_string(Path::new("/sys/block").join(&name).join("dev")).unwrap();
        let node = Path::new("/dev").join(&name);
        if node.exists() {
            let (ma, mi) = device_numbers(&node).unwrap();
            assert_eq!(format!("{ma}:{mi}"), numbers.trim());
        }
        let (ma, mi) = numbers.trim().split_once(':').unwrap();
        assert_eq!(
            unusable_reason(
                Path::new("/sys/dev/block"),
                ma.parse().unwrap(),
                mi.parse().unwrap()
            ),
            None
        );
    }

    #[test]
    fn fake_sysfs() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("8:0")).unwrap();
        std::fs::create_dir_all(dir.path().join("8:1")).unwrap();
        std::fs::write(dir.path().join("8:1/partition"), "1\n").unwrap();
        assert_eq!(unusable_reason(dir.path(), 8, 0), None);
        assert!(unusable_reason(dir.path(), 8, 1)
            .unwrap()
            .contains("partition"));
        assert!(unusable_reason(dir.path(), 9, 9).is_some());
    }
}
