//! Attacks on cove's state (root): a run taking over another container's state dir or cgroup, symlinks
//! planted in a state dir or at a `--pid-file`, and a setuid-installed `cove`. Each test plays the attacker,
//! asserts the specific denial, checks that the victim and the host are unchanged, and cleans up in a
//! guard's `Drop` even when it fails.
#![cfg(feature = "privileged")]

mod common;

use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::oci::{hierarchies, Oci, DEFAULT_ROOT};
use common::{busybox_manifest, COVE};

/// A bundle under test with the id `cve-<test>-<pid>` (see [`Oci::with_id`]).
fn oci(test: &str, script: &str, cgroup: Option<&str>, own_root: bool) -> Oci {
    Oci::with_id(
        format!("cve-{test}-{}", std::process::id()),
        script,
        cgroup,
        own_root,
    )
}

/// A manifest run's files, and the `cove run` processes started from it (killed and reaped on drop).
struct ManifestRun {
    dir: tempfile::TempDir,
    name: String,
    children: Vec<std::process::Child>,
}

impl ManifestRun {
    /// A manifest named `name` whose process runs `script`.
    fn new(name: &str, script: &str) -> ManifestRun {
        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let text = format!("name = \"{name}\"\n{}", busybox_manifest(script, ""));
        fs::write(dir.path().join("c.toml"), text).unwrap();
        ManifestRun {
            dir,
            name: name.to_owned(),
            children: Vec::new(),
        }
    }

    fn command(&self) -> Command {
        let mut c = Command::new(COVE);
        c.arg("run")
            .arg(self.dir.path().join("c.toml"))
            .stdin(Stdio::null());
        c
    }

    /// Runs to completion.
    fn run(&self) -> Output {
        self.command().output().unwrap()
    }

    /// Starts one more `cove run` in the background (stdout and stderr piped); returns its index.
    fn spawn(&mut self) -> usize {
        let child = self
            .command()
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        self.children.push(child);
        self.children.len() - 1
    }

    /// Waits for every background run.
    fn wait_all(&mut self) -> Vec<Output> {
        self.children
            .drain(..)
            .map(|c| c.wait_with_output().unwrap())
            .collect()
    }

    fn state_dir(&self) -> PathBuf {
        Path::new(DEFAULT_ROOT).join(&self.name)
    }
}

impl Drop for ManifestRun {
    fn drop(&mut self) {
        // Only the `cove run` processes this test started; cove kills its container when it gets SIGTERM.
        for child in &mut self.children {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let _ = child.wait();
        }
        // A state dir the run left behind (never an OCI container's, which has a state.json): its entries are
        // unlinked, symlinks included, without following them.
        let dir = self.state_dir();
        if dir.is_dir() && !dir.join("state.json").exists() {
            for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
                let path = entry.path();
                match fs::symlink_metadata(&path) {
                    Ok(m) if m.is_dir() => drop(fs::remove_dir(&path)),
                    _ => drop(fs::remove_file(&path)),
                }
            }
            let _ = fs::remove_dir(&dir);
        }
    }
}

/// The directories of cgroup `path` that exist now (cove creates it only in the hierarchies it manages).
fn cgroup_dirs(path: &str) -> Vec<PathBuf> {
    hierarchies()
        .into_iter()
        .map(|h| h.join(path))
        .filter(|d| d.is_dir())
        .collect()
}

/// Whether `pid` is listed in every one of `dirs`.
fn in_cgroup(dirs: &[PathBuf], pid: i32) -> bool {
    dirs.iter().all(|dir| {
        fs::read_to_string(dir.join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
            .any(|l| l == pid.to_string())
    })
}

/// Whether `pid` is a live process (not a zombie).
fn alive(pid: i32) -> bool {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    !stat.is_empty() && !stat.contains(") Z ") && !stat.contains(") X ")
}

/// Waits (up to 10 s) until `path` exists.
fn wait_for_path(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// What a created victim looks like, recorded before the attack.
struct Before {
    state_json: Vec<u8>,
    cgroups: Vec<PathBuf>,
    pid: i32,
}

impl Before {
    fn record(victim: &Oci, cgroup: &str) -> Before {
        let pid = victim.pid();
        let cgroups = cgroup_dirs(cgroup);
        assert!(!cgroups.is_empty(), "the victim has no cgroup {cgroup}");
        assert!(in_cgroup(&cgroups, pid));
        Before {
            state_json: fs::read(victim.state_dir().join("state.json")).unwrap(),
            cgroups,
            pid,
        }
    }
}

/// Checks the victim is exactly as `create` left it, then that it still starts and runs in its cgroup.
fn assert_victim_intact(victim: &Oci, before: &Before) {
    assert_eq!(
        fs::read(victim.state_dir().join("state.json")).unwrap(),
        before.state_json,
        "the victim's state.json changed"
    );
    for dir in &before.cgroups {
        assert!(
            dir.is_dir(),
            "the victim's cgroup {} is gone",
            dir.display()
        );
    }
    let pid = before.pid;
    assert_eq!(victim.status(), "created");
    assert_eq!(victim.pid(), pid);
    assert!(alive(pid), "the victim's process {pid} died");
    assert!(
        in_cgroup(&before.cgroups, pid),
        "the victim left its cgroup"
    );
    victim.ok(&["start", &victim.id]);
    victim.wait_for_status("running");
    assert!(alive(pid), "the victim's process {pid} died after start");
    assert!(
        in_cgroup(&before.cgroups, pid),
        "the victim left its cgroup"
    );
    victim.ok(&["delete", "--force", &victim.id]);
    assert!(!victim.state_dir().exists(), "delete left the state dir");
}

/// (a) `cove create victim`, then `cove run m.toml` with `name = "victim"`: the run is refused (125) before it
/// touches anything, and the created container still starts, runs in its cgroup and deletes.
#[test]
fn a_manifest_run_cannot_take_over_a_created_container() {
    let victim = oci("victim", "exec sleep 100", None, false);
    let out = victim.create_with(&[]);
    assert!(out.status.success(), "create: {}", common::stderr(&out));
    let cgroup = format!("cove/{}", victim.id);
    let before = Before::record(&victim, &cgroup);

    let attacker = ManifestRun::new(&victim.id, "echo took over");
    let out = attacker.run();
    assert_eq!(out.status.code(), Some(125), "{}", common::stderr(&out));
    assert!(
        common::stderr(&out).contains(&format!("a container named `{}` already exists", victim.id)),
        "{}",
        common::stderr(&out)
    );
    assert!(!common::stdout(&out).contains("took over"));
    assert_victim_intact(&victim, &before);
}

/// (a, other state root) The victim lives under another `--root`, so the run's state dir is free; its cgroup
/// `cove/<id>` is not: the run must not adopt (and on exit kill) a cgroup that has processes.
#[test]
fn a_manifest_run_cannot_adopt_a_cgroup_that_has_processes() {
    let victim = oci("cgvictim", "exec sleep 100", None, true);
    let out = victim.create_with(&[]);
    assert!(out.status.success(), "create: {}", common::stderr(&out));
    let cgroup = format!("cove/{}", victim.id);
    let before = Before::record(&victim, &cgroup);

    let attacker = ManifestRun::new(&victim.id, "echo took over");
    let out = attacker.run();
    assert_eq!(out.status.code(), Some(125), "{}", common::stderr(&out));
    let err = common::stderr(&out);
    assert!(
        err.contains(&format!("the cgroup {cgroup} already exists")) && err.contains("process"),
        "{err}"
    );
    assert!(!common::stdout(&out).contains("took over"));
    assert!(
        !attacker.state_dir().exists(),
        "the refused run left its state dir"
    );
    assert_victim_intact(&victim, &before);
}

/// (a, OCI) Two OCI containers naming the same `linux.cgroupsPath`: the second is refused, the first keeps
/// its cgroup and process.
#[test]
fn an_oci_create_cannot_join_another_containers_cgroup() {
    let cgroup = format!("cove-test/cve-shared-{}", std::process::id());
    let victim = oci("sharevictim", "exec sleep 100", Some(&cgroup), true);
    assert!(victim.create_with(&[]).status.success());
    let before = Before::record(&victim, &cgroup);

    let attacker = oci("shareattacker", "exec sleep 100", Some(&cgroup), true);
    let out = attacker.create_with(&[]);
    assert!(!out.status.success(), "the second create succeeded");
    let err = common::stderr(&out);
    assert!(
        err.contains(&format!("the cgroup {cgroup} already exists")),
        "{err}"
    );
    assert!(
        !attacker.state_dir().exists(),
        "the refused create left state"
    );
    assert_victim_intact(&victim, &before);
}

/// (a, the other way round) An OCI `create` of the id a foreground `cove run` holds is refused, and the run
/// finishes normally.
#[test]
fn an_oci_create_cannot_take_over_a_running_manifest_run() {
    let name = format!("cve-fg-{}", std::process::id());
    let mut run = ManifestRun::new(&name, "echo up; sleep 2; echo done");
    let index = run.spawn();
    let stdout = run.children[index].stdout.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    assert_eq!(lines.next().unwrap().unwrap(), "up");

    let attacker = Oci::with_id(name.clone(), "exec sleep 100", None, false);
    let out = attacker.create_with(&[]);
    assert!(!out.status.success(), "create took over a running id");
    assert!(
        common::stderr(&out).contains(&format!("container `{name}` already exists")),
        "{}",
        common::stderr(&out)
    );
    assert_eq!(lines.next().unwrap().unwrap(), "done");
    let outputs = run.wait_all();
    assert!(
        outputs[0].status.success(),
        "{}",
        common::stderr(&outputs[0])
    );
    assert!(!run.state_dir().exists(), "the run left its state dir");
}

/// (b) Several `cove run` of one name at once: exactly one runs, the others are refused with 125.
#[test]
fn concurrent_manifest_runs_of_one_name_exactly_one_runs() {
    let name = format!("cve-twice-{}", std::process::id());
    let mut run = ManifestRun::new(&name, "echo ran; sleep 1");
    for _ in 0..3 {
        run.spawn();
    }
    let outputs = run.wait_all();
    let ran: Vec<&Output> = outputs.iter().filter(|o| o.status.success()).collect();
    let report: Vec<String> = outputs.iter().map(common::stderr).collect();
    assert_eq!(ran.len(), 1, "{report:?}");
    assert_eq!(common::stdout(ran[0]), "ran\n");
    for out in outputs.iter().filter(|o| !o.status.success()) {
        assert_eq!(out.status.code(), Some(125), "{report:?}");
        assert!(
            common::stderr(out).contains(&format!("a container named `{name}` already exists")),
            "{report:?}"
        );
        assert!(common::stdout(out).is_empty());
    }
    assert!(!run.state_dir().exists(), "the state dir was left behind");
}

/// Files outside every state dir that planted symlinks point at; they must survive unchanged.
struct Outside {
    dir: tempfile::TempDir,
}

impl Outside {
    fn new() -> Outside {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("precious"), "precious").unwrap();
        fs::create_dir(dir.path().join("dir")).unwrap();
        fs::write(dir.path().join("dir/keep"), "keep").unwrap();
        Outside { dir }
    }

    fn file(&self) -> PathBuf {
        self.dir.path().join("precious")
    }

    fn plant(&self, state_dir: &Path) {
        symlink(self.file(), state_dir.join("planted")).unwrap();
        symlink(self.dir.path().join("dir"), state_dir.join("planted-dir")).unwrap();
        // The temporary name state.json was written through (`state.tmp`).
        symlink(self.file(), state_dir.join("state.tmp")).unwrap();
    }

    fn assert_unchanged(&self) {
        assert_eq!(fs::read_to_string(self.file()).unwrap(), "precious");
        assert_eq!(
            fs::read_to_string(self.dir.path().join("dir/keep")).unwrap(),
            "keep"
        );
    }
}

/// (c, OCI) Symlinks planted in a created container's state dir are never written through by `start`, and
/// `delete` unlinks them (never their targets) and removes the state dir.
#[test]
fn symlinks_planted_in_an_oci_state_dir_are_unlinked_not_followed() {
    let outside = Outside::new();
    let oci = oci("plant", "exec sleep 100", None, true);
    assert!(oci.create_with(&[]).status.success());
    outside.plant(&oci.state_dir());
    oci.ok(&["start", &oci.id]);
    oci.ok(&["delete", "--force", &oci.id]);
    outside.assert_unchanged();
    assert!(!oci.state_dir().exists(), "delete left the state dir");
}

/// (c, manifest run) Symlinks planted in a running `cove run`'s state dir are unlinked when it exits.
#[test]
fn symlinks_planted_in_a_run_state_dir_are_unlinked_not_followed() {
    let outside = Outside::new();
    let name = format!("cve-runplant-{}", std::process::id());
    let mut run = ManifestRun::new(&name, "echo up; sleep 1");
    let index = run.spawn();
    let stdout = run.children[index].stdout.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    assert_eq!(lines.next().unwrap().unwrap(), "up");
    wait_for_path(&run.state_dir());
    outside.plant(&run.state_dir());
    let outputs = run.wait_all();
    assert!(
        outputs[0].status.success(),
        "{}",
        common::stderr(&outputs[0])
    );
    outside.assert_unchanged();
    assert!(!run.state_dir().exists(), "the run left its state dir");
}

/// (d) `--pid-file` at a planted symlink (and symlinks at the temporary names a writer might use): the
/// symlinks' targets are unchanged and the pid file is a regular file with the pid.
#[test]
fn pid_file_symlinks_are_replaced_not_followed() {
    let outside = Outside::new();
    let oci = oci("pidfile", "exec sleep 100", None, true);
    let pids = tempfile::tempdir().unwrap();
    let pid_file = pids.path().join("init.pid");
    symlink(outside.file(), &pid_file).unwrap();
    for tmp in ["init.tmp", ".init.pid", "init.pid.tmp"] {
        symlink(outside.file(), pids.path().join(tmp)).unwrap();
    }
    let out = oci.create_with(&["--pid-file", pid_file.to_str().unwrap()]);
    assert!(out.status.success(), "create: {}", common::stderr(&out));
    outside.assert_unchanged();
    let meta = fs::symlink_metadata(&pid_file).unwrap();
    assert!(
        meta.file_type().is_file(),
        "the pid file is not a regular file"
    );
    assert_eq!(
        meta.mode() & 0o022,
        0,
        "the pid file is group/world-writable"
    );
    assert_eq!(
        fs::read_to_string(&pid_file).unwrap().trim(),
        oci.pid().to_string()
    );
}

/// A copy of the cove binary in its own temp dir, with `mode`.
fn cove_copy(mode: u32) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let copy = dir.path().join("cove");
    fs::copy(COVE, &copy).unwrap();
    fs::set_permissions(&copy, fs::Permissions::from_mode(mode)).unwrap();
    (dir, copy)
}

/// (e) A setuid or setgid `cove` refuses to run at all (checked by the executable's mode: as root the real
/// and effective ids match).
#[test]
fn a_setuid_or_setgid_cove_refuses_to_run() {
    for mode in [0o4755, 0o2755] {
        let (_dir, copy) = cove_copy(mode);
        let out = Command::new(&copy)
            .arg("features")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(125), "mode {mode:o}");
        assert!(
            common::stderr(&out).contains("setuid or setgid"),
            "mode {mode:o}: {}",
            common::stderr(&out)
        );
        assert!(out.stdout.is_empty(), "mode {mode:o}: it ran");
    }
    // The same binary without the bits runs.
    let (_dir, copy) = cove_copy(0o755);
    let out = Command::new(&copy).arg("features").output().unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
}

/// A directory left behind by a `cove run` that died (its lock free, no state.json) is not reclaimed
/// silently: the next run is refused with a hint, `delete --force` removes it (not while a run holds it),
/// and then the name runs again.
#[test]
fn a_left_behind_run_directory_is_refused_until_deleted() {
    let name = format!("cve-stale-{}", std::process::id());
    let run = ManifestRun::new(&name, "echo ran");
    fs::create_dir_all(run.state_dir()).unwrap();
    fs::write(run.state_dir().join("lock"), "").unwrap();
    let out = run.run();
    assert_eq!(out.status.code(), Some(125), "{}", common::stderr(&out));
    let err = common::stderr(&out);
    assert!(
        err.contains(&format!("a container named `{name}` already exists"))
            && err.contains(&format!("`cove delete --force {name}` removes it")),
        "{err}"
    );
    assert!(
        run.state_dir().join("lock").exists(),
        "the refused run changed the dir"
    );

    let delete = |id: &str| {
        Command::new(COVE)
            .args(["delete", "--force", id])
            .output()
            .unwrap()
    };
    let out = delete(&name);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert!(!run.state_dir().exists());
    let out = run.run();
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert_eq!(common::stdout(&out), "ran\n");

    // While a run holds the name, `delete --force` refuses and the run is unaffected.
    let mut busy = ManifestRun::new(&name, "echo up; sleep 1; echo done");
    let index = busy.spawn();
    let stdout = busy.children[index].stdout.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    assert_eq!(lines.next().unwrap().unwrap(), "up");
    let out = delete(&name);
    assert!(
        !out.status.success(),
        "delete --force removed a running run's dir"
    );
    assert!(common::stderr(&out).contains("in use by another cove process"));
    assert!(busy.state_dir().join("lock").exists());
    assert_eq!(lines.next().unwrap().unwrap(), "done");
    assert!(busy.wait_all()[0].status.success());
    assert!(!busy.state_dir().exists());
}

/// (f, end to end) Rootless without `$XDG_RUNTIME_DIR` the state root is `$TMPDIR/cove-<uid>`, a name any
/// user can create first. As uid 65534: a squatted root (another owner, world-writable, a symlink) is
/// refused by every command; the user's own private root is used.
#[test]
fn a_squatted_rootless_state_root_is_refused() {
    use std::os::unix::process::CommandExt;
    const NOBODY: u32 = 65534;
    let tmp = tempfile::tempdir().unwrap();
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let root = tmp.path().join(format!("cove-{NOBODY}"));
    let nobody = |args: &[&str]| {
        Command::new(COVE)
            .args(args)
            .env_remove("XDG_RUNTIME_DIR")
            .env("TMPDIR", tmp.path())
            .stdin(Stdio::null())
            .uid(NOBODY)
            .gid(NOBODY)
            .output()
            .unwrap()
    };
    let refused = |why: &str| {
        for args in [
            &["list"][..],
            &["state", "c1"][..],
            &["delete", "--force", "c1"][..],
        ] {
            let out = nobody(args);
            let err = common::stderr(&out);
            assert!(!out.status.success(), "{args:?} ran on a squatted root");
            assert!(
                err.contains(&format!("refusing the state root {}", root.display()))
                    && err.contains(why),
                "{args:?}: {err}"
            );
        }
    };

    // Another user's (root's) directory.
    fs::create_dir(&root).unwrap();
    fs::set_permissions(&root, fs::Permissions::from_mode(0o700)).unwrap();
    refused("owned by uid 0");
    // The user's, but world-writable.
    std::os::unix::fs::chown(&root, Some(NOBODY), Some(NOBODY)).unwrap();
    fs::set_permissions(&root, fs::Permissions::from_mode(0o777)).unwrap();
    refused("group- or world-writable");
    // A symlink to a directory of the user's.
    let real = tmp.path().join("real");
    fs::rename(&root, &real).unwrap();
    fs::set_permissions(&real, fs::Permissions::from_mode(0o700)).unwrap();
    symlink(&real, &root).unwrap();
    refused("it is a symlink");
    // The user's own private directory is fine.
    fs::remove_file(&root).unwrap();
    fs::rename(&real, &root).unwrap();
    let out = nobody(&["list", "--quiet"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
}
