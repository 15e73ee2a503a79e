//! The guest kernel: Debian bookworm's `linux-image-amd64` kernel, fetched with `apt-get download`,
//! unpacked with `dpkg-deb -x`, cached under `target/vm-assets/kernel/<package>/` together with the
//! modules the guest loads (and their dependencies, resolved from each module's `.modinfo`).

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, ensure, Context, Result};

use super::elf::{modinfo_value, Elf};
use super::run_checked;

/// The metapackage whose dependency names the current kernel package.
const META_PACKAGE: &str = "linux-image-amd64";

/// Modules the guest loads at boot (dependencies are added automatically).
pub const WANTED_MODULES: &[&str] = &[
    "virtio_pci",
    "virtio_blk",
    "9pnet_virtio",
    "9p",
    "overlay",
    "veth",
    "bridge",
    "loop",
];

/// Name of the manifest file in a cache directory; written last, so its presence marks a complete cache.
const MANIFEST: &str = "manifest";

/// A kernel ready to boot, with the modules to load in order.
#[derive(Debug, Clone)]
pub struct Kernel {
    /// The image to pass to `qemu -kernel`: the uncompressed ELF `vmlinux` when extraction worked
    /// (boots about twice as fast under TCG), else the original `vmlinuz`.
    pub image: PathBuf,
    /// The kernel release (`uname -r`), e.g. `6.1.0-48-amd64`.
    pub release: String,
    /// Modules in load order (every module after its dependencies).
    pub modules: Vec<Module>,
}

/// One kernel module copied into the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    /// Path below `/lib/modules/<release>/`, e.g. `kernel/fs/9p/9p.ko`.
    pub rel_path: String,
    /// The cached file on the host.
    pub file: PathBuf,
    /// `rel_path`s of the modules this one needs.
    pub deps: Vec<String>,
}

/// Returns the cached kernel for the current `linux-image-amd64`, downloading and unpacking it first if
/// needed. Works offline when any complete cached kernel exists.
pub fn ensure_kernel(assets: &Path) -> Result<Kernel> {
    let cache_root = assets.join("kernel");
    fs::create_dir_all(&cache_root).with_context(|| format!("create {}", cache_root.display()))?;
    let package = match current_package() {
        Ok(p) => p,
        Err(e) => {
            let cached = newest_cached(&cache_root)?.with_context(|| {
                format!(
                    "find the kernel package ({e:#}); no cached kernel in {} either. \
                     Run `apt-get update` (Debian bookworm sources are needed)",
                    cache_root.display()
                )
            })?;
            eprintln!("vm-test: {e:#}; using cached kernel {}", cached.display());
            return load_manifest(&cached);
        }
    };
    let dir = cache_root.join(&package);
    if let Ok(kernel) = load_manifest(&dir) {
        return Ok(kernel);
    }
    match fetch(assets, &cache_root, &package) {
        Ok(kernel) => Ok(kernel),
        Err(e) => {
            // A newer kernel is announced but cannot be fetched (offline?): an older cache still works.
            let Some(cached) = newest_cached(&cache_root)? else {
                return Err(e);
            };
            eprintln!(
                "vm-test: warning: {e:#}; using cached kernel {}",
                cached.display()
            );
            load_manifest(&cached)
        }
    }
}

/// Downloads (unless cached), unpacks and loads `package`.
fn fetch(assets: &Path, cache_root: &Path, package: &str) -> Result<Kernel> {
    let deb = download(assets, package)?;
    unpack(&deb, cache_root, package)?;
    let kernel = load_manifest(&cache_root.join(package))?;
    remove_other_debs(assets, &deb)?;
    Ok(kernel)
}

/// Drops the `.deb`s of superseded kernels (70 MB each); their unpacked caches stay for offline use.
fn remove_other_debs(assets: &Path, keep: &Path) -> Result<()> {
    for entry in fs::read_dir(assets)? {
        let path = entry?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if name.starts_with("linux-image-") && name.ends_with(".deb") && path != keep {
            fs::remove_file(&path).with_context(|| format!("remove {}", path.display()))?;
        }
    }
    Ok(())
}

/// Asks apt which `linux-image-6.1.0-NN-amd64` the metapackage currently depends on.
fn current_package() -> Result<String> {
    let out = Command::new("apt-cache")
        .args(["depends", META_PACKAGE])
        .output()
        .context("run `apt-cache depends linux-image-amd64` (is this Debian?)")?;
    ensure!(
        out.status.success(),
        "`apt-cache depends {META_PACKAGE}` failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    parse_depends(&String::from_utf8_lossy(&out.stdout))
        .with_context(|| format!("no linux-image dependency in `apt-cache depends {META_PACKAGE}`"))
}

/// Extracts the versioned image package from `apt-cache depends` output.
fn parse_depends(text: &str) -> Option<String> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("Depends:"))
        .map(str::trim)
        .find(|p| p.starts_with("linux-image-") && p.ends_with("-amd64") && *p != META_PACKAGE)
        .map(str::to_owned)
}

/// The most recently written complete cache directory, if any.
fn newest_cached(cache_root: &Path) -> Result<Option<PathBuf>> {
    let mut best: Option<(std::time::SystemTime, PathBuf)> = None;
    for entry in fs::read_dir(cache_root)? {
        let path = entry?.path();
        let Ok(meta) = fs::metadata(path.join(MANIFEST)) else {
            continue;
        };
        let mtime = meta.modified()?;
        let newer = match &best {
            Some((t, _)) => mtime > *t,
            None => true,
        };
        if newer {
            best = Some((mtime, path));
        }
    }
    Ok(best.map(|(_, p)| p))
}

/// Returns the cached `.deb` of `package`, downloading it with `apt-get download` when absent.
fn download(assets: &Path, package: &str) -> Result<PathBuf> {
    if let Some(deb) = find_deb(assets, package)? {
        return Ok(deb);
    }
    eprintln!("vm-test: downloading {package} with apt-get download");
    let mut cmd = Command::new("apt-get");
    cmd.args(["download", "-q", "-o", "APT::Sandbox::User=root", package])
        .current_dir(assets);
    run_checked(&mut cmd)?;
    find_deb(assets, package)?.with_context(|| {
        format!(
            "apt-get download {package} left no .deb in {}",
            assets.display()
        )
    })
}

fn find_deb(assets: &Path, package: &str) -> Result<Option<PathBuf>> {
    let prefix = format!("{package}_");
    for entry in fs::read_dir(assets)? {
        let path = entry?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if name.starts_with(&prefix) && name.ends_with(".deb") {
            return Ok(Some(path));
        }
    }
    Ok(None)
}

/// Unpacks the package into a scratch dir, copies the kernel and modules into `<cache_root>/<package>`,
/// then removes the scratch dir. The manifest is written last.
fn unpack(deb: &Path, cache_root: &Path, package: &str) -> Result<()> {
    let scratch = cache_root.join(format!("{package}.unpack"));
    let partial = cache_root.join(format!("{package}.partial"));
    let dir = cache_root.join(package);
    for d in [&scratch, &partial, &dir] {
        remove_dir_if_exists(d)?;
    }
    eprintln!("vm-test: unpacking {}", deb.display());
    run_checked(Command::new("dpkg-deb").arg("-x").arg(deb).arg(&scratch))?;
    let result = build_cache(&scratch, &partial);
    remove_dir_if_exists(&scratch)?;
    result?;
    fs::rename(&partial, &dir)
        .with_context(|| format!("rename {} to {}", partial.display(), dir.display()))
}

fn remove_dir_if_exists(dir: &Path) -> Result<()> {
    match fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("remove {}", dir.display()))
        }
        _ => Ok(()),
    }
}

/// Fills `out` from the unpacked package tree `root`.
fn build_cache(root: &Path, out: &Path) -> Result<()> {
    fs::create_dir_all(out)?;
    let (vmlinuz, release) = find_vmlinuz(root)?;
    let image_name = match uncompress_kernel(&vmlinuz, &out.join("vmlinux")) {
        Ok(()) => "vmlinux",
        Err(e) => {
            eprintln!("vm-test: warning: cannot extract an uncompressed kernel ({e:#}); booting vmlinuz (slower)");
            "vmlinuz"
        }
    };
    fs::copy(&vmlinuz, out.join("vmlinuz"))?;
    let module_root = root.join("lib/modules").join(&release);
    let modules = resolve_modules(&module_root, WANTED_MODULES)?;
    for m in &modules {
        let dest = out.join("modules").join(&m.rel_path);
        fs::create_dir_all(dest.parent().expect("module path has a parent"))?;
        fs::copy(&m.file, &dest).with_context(|| format!("copy {}", m.file.display()))?;
    }
    fs::write(
        out.join(MANIFEST),
        render_manifest(image_name, &release, &modules),
    )
    .context("write kernel cache manifest")
}

fn find_vmlinuz(root: &Path) -> Result<(PathBuf, String)> {
    for entry in fs::read_dir(root.join("boot")).context("read boot/ of the kernel package")? {
        let path = entry?.path();
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if let Some(release) = name.strip_prefix("vmlinuz-") {
            return Ok((path.clone(), release.to_owned()));
        }
    }
    bail!("no boot/vmlinuz-* in the kernel package")
}

/// Writes the uncompressed ELF kernel hidden in a bzImage: the payload is one xz stream starting at
/// the xz magic; `xz --single-stream` ignores what follows it.
pub fn uncompress_kernel(vmlinuz: &Path, out: &Path) -> Result<()> {
    const XZ_MAGIC: &[u8] = b"\xfd7zXZ\x00";
    let bytes = fs::read(vmlinuz).with_context(|| format!("read {}", vmlinuz.display()))?;
    let start = bytes
        .windows(XZ_MAGIC.len())
        .position(|w| w == XZ_MAGIC)
        .context("no xz stream in vmlinuz")?;
    let mut child = Command::new("xz")
        .args(["-dc", "--single-stream"])
        .stdin(std::process::Stdio::piped())
        .stdout(fs::File::create(out)?)
        .spawn()
        .context("run xz (apt-get install xz-utils)")?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    let payload = bytes[start..].to_vec();
    let writer = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &payload));
    let status = child.wait()?;
    // xz stops reading after the stream ends, so a broken pipe here is expected.
    let _ = writer.join();
    ensure!(status.success(), "xz -d failed with {status}");
    let head = fs::read(out)?;
    ensure!(
        head.starts_with(b"\x7fELF"),
        "decompressed kernel is not an ELF file"
    );
    Ok(())
}

/// Finds `wanted` modules under `module_root` and returns them with all dependencies, in load order.
pub fn resolve_modules(module_root: &Path, wanted: &[&str]) -> Result<Vec<Module>> {
    let mut by_name = BTreeMap::new();
    index_modules(module_root, module_root, &mut by_name)?;
    let mut order = Vec::new();
    let mut done = HashSet::new();
    for name in wanted {
        visit(
            name,
            &by_name,
            module_root,
            &mut done,
            &mut Vec::new(),
            &mut order,
        )?;
    }
    Ok(order)
}

/// Maps module name (dashes as underscores) to path relative to `module_root`.
fn index_modules(module_root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) -> Result<()> {
    for entry in fs::read_dir(dir).with_context(|| format!("read {}", dir.display()))? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            index_modules(module_root, &path, out)?;
        } else if let Some(stem) = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .strip_suffix(".ko")
        {
            let rel = path
                .strip_prefix(module_root)?
                .to_string_lossy()
                .into_owned();
            out.insert(module_name(stem), rel);
        }
    }
    Ok(())
}

fn module_name(s: &str) -> String {
    s.replace('-', "_")
}

/// Depth-first post-order walk: dependencies land in `order` before their dependents.
fn visit(
    name: &str,
    by_name: &BTreeMap<String, String>,
    module_root: &Path,
    done: &mut HashSet<String>,
    stack: &mut Vec<String>,
    order: &mut Vec<Module>,
) -> Result<()> {
    let name = module_name(name);
    if done.contains(&name) {
        return Ok(());
    }
    ensure!(
        !stack.contains(&name),
        "module dependency cycle: {} -> {name}",
        stack.join(" -> ")
    );
    let rel = by_name.get(&name).with_context(|| {
        format!(
            "kernel module {name} not found under {}",
            module_root.display()
        )
    })?;
    let file = module_root.join(rel);
    let deps = module_depends(&file)?;
    stack.push(name.clone());
    for dep in &deps {
        visit(dep, by_name, module_root, done, stack, order)?;
    }
    stack.pop();
    done.insert(name);
    let deps = deps
        .iter()
        .map(|d| by_name[&module_name(d)].clone())
        .collect();
    order.push(Module {
        rel_path: rel.clone(),
        file,
        deps,
    });
    Ok(())
}

/// The `depends=` list from a module's `.modinfo` section.
fn module_depends(file: &Path) -> Result<Vec<String>> {
    let bytes = fs::read(file).with_context(|| format!("read {}", file.display()))?;
    let elf = Elf::parse(&bytes).with_context(|| format!("parse {}", file.display()))?;
    let info = elf.section(".modinfo")?.with_context(|| {
        format!(
            "{} has no .modinfo section (compressed module?)",
            file.display()
        )
    })?;
    Ok(modinfo_value(info, "depends")
        .unwrap_or("")
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect())
}

/// Manifest format: `image NAME`, `release R`, then one `module REL [DEP...]` line per module in load order.
fn render_manifest(image: &str, release: &str, modules: &[Module]) -> String {
    let mut s = format!(
        "wanted {}\nimage {image}\nrelease {release}\n",
        WANTED_MODULES.join(",")
    );
    for m in modules {
        s.push_str("module ");
        s.push_str(&m.rel_path);
        for d in &m.deps {
            s.push(' ');
            s.push_str(d);
        }
        s.push('\n');
    }
    s
}

/// Loads a cache directory; fails when it is incomplete or was built for another module list.
fn load_manifest(dir: &Path) -> Result<Kernel> {
    let text = fs::read_to_string(dir.join(MANIFEST))
        .with_context(|| format!("read {}", dir.join(MANIFEST).display()))?;
    let (mut image, mut release, mut wanted, mut modules) = (None, None, None, Vec::new());
    for line in text.lines() {
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some("wanted"), Some(w)) => wanted = Some(w.to_owned()),
            (Some("image"), Some(i)) => image = Some(dir.join(i)),
            (Some("release"), Some(r)) => release = Some(r.to_owned()),
            (Some("module"), Some(rel)) => modules.push(Module {
                rel_path: rel.to_owned(),
                file: dir.join("modules").join(rel),
                deps: words.map(str::to_owned).collect(),
            }),
            _ => bail!("bad line in {}: {line:?}", dir.join(MANIFEST).display()),
        }
    }
    ensure!(
        wanted.as_deref() == Some(&*WANTED_MODULES.join(",")),
        "kernel cache {} was built for another module list",
        dir.display()
    );
    let image = image.context("manifest lacks `image`")?;
    ensure!(image.is_file(), "{} is missing", image.display());
    Ok(Kernel {
        image,
        release: release.context("manifest lacks `release`")?,
        modules,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_depends_picks_versioned_image() {
        let out = "linux-image-amd64\n  Depends: linux-image-6.1.0-48-amd64\n";
        assert_eq!(
            parse_depends(out).as_deref(),
            Some("linux-image-6.1.0-48-amd64")
        );
        assert_eq!(parse_depends("linux-image-amd64\n"), None);
    }

    #[test]
    fn manifest_round_trips() {
        let dir = std::env::temp_dir().join(format!("xtask-vm-manifest-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("vmlinux"), b"\x7fELF").unwrap();
        let modules = vec![
            Module {
                rel_path: "kernel/a.ko".into(),
                file: dir.join("modules/kernel/a.ko"),
                deps: vec![],
            },
            Module {
                rel_path: "kernel/b.ko".into(),
                file: dir.join("modules/kernel/b.ko"),
                deps: vec!["kernel/a.ko".into()],
            },
        ];
        fs::write(
            dir.join(MANIFEST),
            render_manifest("vmlinux", "6.1.0-1-amd64", &modules),
        )
        .unwrap();
        let k = load_manifest(&dir).unwrap();
        assert_eq!(k.release, "6.1.0-1-amd64");
        assert_eq!(k.image, dir.join("vmlinux"));
        assert_eq!(k.modules, modules);
        fs::write(
            dir.join(MANIFEST),
            "wanted other\nimage vmlinux\nrelease r\n",
        )
        .unwrap();
        assert!(load_manifest(&dir).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn module_names_use_underscores() {
        assert_eq!(module_name("nf-conntrack"), "nf_conntrack");
    }
}
