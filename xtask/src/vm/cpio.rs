//! A minimal writer for the `newc` cpio format the kernel unpacks as initramfs.
//!
//! Only what an initramfs needs: directories, regular files, symlinks and character devices, all owned by
//! root. Written by hand so the build needs no `cpio` binary and no root (device nodes are just headers).

use std::collections::BTreeSet;

/// Mode bits of the file types the writer emits.
const S_IFDIR: u32 = 0o040_000;
const S_IFREG: u32 = 0o100_000;
const S_IFLNK: u32 = 0o120_000;
const S_IFCHR: u32 = 0o020_000;
const S_IFMT: u32 = 0o170_000;

/// An in-memory `newc` archive under construction.
///
/// Parent directories are created on demand, so `file("lib/modules/x.ko", ..)` is enough.
#[derive(Debug, Default)]
pub struct Archive {
    buf: Vec<u8>,
    next_ino: u32,
    dirs: BTreeSet<String>,
}

impl Archive {
    /// Creates an empty archive.
    pub fn new() -> Self {
        Self {
            next_ino: 1,
            ..Self::default()
        }
    }

    /// Adds a directory (and its parents) with mode 0755.
    pub fn dir(&mut self, path: &str) {
        self.dir_mode(path, 0o755);
    }

    /// Adds a directory (and its parents) with the given permission bits.
    pub fn dir_mode(&mut self, path: &str, perm: u32) {
        let path = normalize(path);
        if path.is_empty() || self.dirs.contains(&path) {
            return;
        }
        self.parents(&path);
        self.dirs.insert(path.clone());
        self.entry(&path, S_IFDIR | perm, 0, &[]);
    }

    /// Adds a regular file with the given permission bits.
    pub fn file(&mut self, path: &str, perm: u32, data: &[u8]) {
        let path = normalize(path);
        self.parents(&path);
        self.entry(&path, S_IFREG | perm, 0, data);
    }

    /// Adds a symbolic link `path` -> `target`.
    pub fn symlink(&mut self, path: &str, target: &str) {
        let path = normalize(path);
        self.parents(&path);
        self.entry(&path, S_IFLNK | 0o777, 0, target.as_bytes());
    }

    /// Adds a character device node.
    pub fn char_dev(&mut self, path: &str, perm: u32, major: u32, minor: u32) {
        let path = normalize(path);
        self.parents(&path);
        self.entry(&path, S_IFCHR | perm, (major << 8) | minor, &[]);
    }

    /// Terminates the archive and returns its bytes.
    pub fn finish(mut self) -> Vec<u8> {
        self.entry("TRAILER!!!", 0, 0, &[]);
        self.buf
    }

    fn parents(&mut self, path: &str) {
        if let Some((parent, _)) = path.rsplit_once('/') {
            self.dir(parent);
        }
    }

    /// Appends one header, name and data, each padded to 4 bytes. `rdev` packs major<<8|minor.
    fn entry(&mut self, name: &str, mode: u32, rdev: u32, data: &[u8]) {
        let ino = if name == "TRAILER!!!" {
            0
        } else {
            self.next_ino
        };
        self.next_ino += 1;
        let nlink = if mode & S_IFMT == S_IFDIR { 2 } else { 1 };
        let fields = [
            ino,
            mode,
            0, // uid
            0, // gid
            if name == "TRAILER!!!" { 1 } else { nlink },
            0, // mtime
            u32::try_from(data.len()).expect("initramfs member larger than 4 GiB"),
            0, // devmajor
            0, // devminor
            rdev >> 8,
            rdev & 0xff,
            u32::try_from(name.len() + 1).expect("name length fits u32"),
            0, // check
        ];
        self.buf.extend_from_slice(b"070701");
        for f in fields {
            self.buf.extend_from_slice(format!("{f:08x}").as_bytes());
        }
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.push(0);
        self.pad();
        self.buf.extend_from_slice(data);
        self.pad();
    }

    fn pad(&mut self) {
        while self.buf.len() & 3 != 0 {
            self.buf.push(0);
        }
    }
}

/// Strips leading `/` and `./` so every member name is relative, as the kernel expects.
fn normalize(path: &str) -> String {
    path.trim_start_matches("./")
        .trim_start_matches('/')
        .trim_end_matches('/')
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header_field(entry: &[u8], index: usize) -> u32 {
        let start = 6 + index * 8;
        let hex = std::str::from_utf8(&entry[start..start + 8]).unwrap();
        u32::from_str_radix(hex, 16).unwrap()
    }

    #[test]
    fn file_creates_parents_then_file_then_trailer() {
        let mut a = Archive::new();
        a.file("/a/b/c.txt", 0o644, b"hello");
        let bytes = a.finish();
        let text = String::from_utf8_lossy(&bytes);
        let a_pos = text.find("a\0").unwrap();
        let ab_pos = text.find("a/b\0").unwrap();
        let file_pos = text.find("a/b/c.txt\0").unwrap();
        assert!(a_pos < ab_pos && ab_pos < file_pos);
        assert!(text.contains("hello"));
        assert!(text.ends_with('\0'));
        assert!(text.contains("TRAILER!!!\0"));
        assert_eq!(bytes.len() % 4, 0);
    }

    #[test]
    fn header_fields_are_newc() {
        let mut a = Archive::new();
        a.file("x", 0o755, b"abc");
        let bytes = a.finish();
        assert_eq!(&bytes[..6], b"070701");
        assert_eq!(header_field(&bytes, 1), S_IFREG | 0o755);
        assert_eq!(header_field(&bytes, 6), 3); // filesize
        assert_eq!(header_field(&bytes, 11), 2); // namesize incl. NUL
                                                 // header (110) + "x\0" padded to 112, then data at 112.
        assert_eq!(&bytes[112..115], b"abc");
    }

    #[test]
    fn char_dev_carries_rdev() {
        let mut a = Archive::new();
        a.char_dev("dev/console", 0o600, 5, 1);
        let bytes = a.finish();
        // The first entry is the "dev" directory; find the console header.
        let pos = bytes
            .windows(12)
            .position(|w| w == b"dev/console\0")
            .unwrap();
        let header = &bytes[pos - 110..];
        assert_eq!(header_field(header, 1), S_IFCHR | 0o600);
        assert_eq!(header_field(header, 9), 5);
        assert_eq!(header_field(header, 10), 1);
    }

    /// Parses the archive back into (name, mode, data) triples.
    fn parse(bytes: &[u8]) -> Vec<(String, u32, Vec<u8>)> {
        let mut out = Vec::new();
        let mut pos = 0;
        loop {
            let h = &bytes[pos..];
            assert_eq!(&h[..6], b"070701");
            let namesize = header_field(h, 11) as usize;
            let filesize = header_field(h, 6) as usize;
            let name = String::from_utf8(h[110..110 + namesize - 1].to_vec()).unwrap();
            let data_start = (pos + 110 + namesize).next_multiple_of(4);
            let data = bytes[data_start..data_start + filesize].to_vec();
            pos = (data_start + filesize).next_multiple_of(4);
            if name == "TRAILER!!!" {
                assert_eq!(pos, bytes.len());
                return out;
            }
            out.push((name, header_field(h, 1), data));
        }
    }

    #[test]
    fn directories_are_emitted_once_and_round_trip() {
        let mut a = Archive::new();
        a.file("d/1", 0o644, b"one");
        a.file("/d/2", 0o600, b"two!!");
        a.dir("d");
        a.symlink("d/l", "1");
        let entries = parse(&a.finish());
        let names: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(names, ["d", "d/1", "d/2", "d/l"]);
        assert_eq!(entries[0].1, S_IFDIR | 0o755);
        assert_eq!(entries[2].2, b"two!!");
        assert_eq!(entries[3].1, S_IFLNK | 0o777);
        assert_eq!(entries[3].2, b"1");
    }
}
