//! Running the guest under qemu: the command line, the console stream, the result marker and the timeout.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// After the result marker, how long qemu gets to power off before it is killed.
const POWEROFF_GRACE: Duration = Duration::from_secs(20);

/// What to boot and how.
#[derive(Debug, Clone)]
pub struct QemuConfig {
    /// The `qemu-system-x86_64` binary.
    pub qemu: PathBuf,
    /// Kernel image (`vmlinux` ELF or `vmlinuz` bzImage).
    pub kernel: PathBuf,
    /// The initramfs.
    pub initrd: PathBuf,
    /// Host directory shared read-only over 9p.
    pub share: PathBuf,
    /// Its 9p mount tag.
    pub tag: String,
    /// Guest memory in MiB.
    pub memory_mib: u32,
    /// Guest CPUs.
    pub cpus: u32,
    /// Use KVM (else TCG).
    pub kvm: bool,
    /// Full kernel log on the console instead of `quiet`.
    pub verbose: bool,
}

/// Kernel command line: serial console, quiet, reboot (= qemu exit with `-no-reboot`) on panic, and only
/// the cgroup v2 hierarchy.
pub const KERNEL_CMDLINE: &str = "console=ttyS0 quiet panic=-1 cgroup_no_v1=all";

/// With `verbose`, the kernel logs its whole boot to the console (for a guest that hangs before /init).
pub fn kernel_cmdline(verbose: bool) -> String {
    if verbose {
        KERNEL_CMDLINE.replace("quiet", "loglevel=7")
    } else {
        KERNEL_CMDLINE.to_owned()
    }
}

impl QemuConfig {
    /// The qemu command for this configuration.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(&self.qemu);
        // Like -nographic, minus the firmware's terminal escapes on the console.
        cmd.args(["-M", "pc", "-no-reboot", "-display", "none", "-vga", "none"]);
        cmd.args([
            "-serial",
            "stdio",
            "-monitor",
            "none",
            "-parallel",
            "none",
            "-nic",
            "none",
        ]);
        if self.kvm {
            cmd.args(["-accel", "kvm", "-cpu", "host"]);
        } else {
            cmd.args(["-accel", "tcg,thread=multi", "-cpu", "max"]);
        }
        cmd.args([
            "-smp",
            &self.cpus.to_string(),
            "-m",
            &format!("{}M", self.memory_mib),
        ]);
        cmd.arg("-kernel").arg(&self.kernel);
        cmd.arg("-initrd").arg(&self.initrd);
        cmd.arg("-append").arg(kernel_cmdline(self.verbose));
        cmd.arg("-virtfs").arg(format!(
            "local,path={},mount_tag={},security_model=none,readonly=on,multidevs=remap,id={}",
            // qemu option values escape a comma by doubling it.
            self.share.display().to_string().replace(',', ",,"),
            self.tag,
            self.tag
        ));
        // A 64 MiB virtio-blk disk that reads zeros, for io controller tests (/dev/vda in the guest).
        cmd.args([
            "-blockdev",
            "driver=null-co,node-name=null0,size=67108864,read-zeroes=on",
            "-device",
            "virtio-blk-pci,drive=null0",
        ]);
        cmd
    }
}

/// True when KVM can really be used: the CPU advertises vmx/svm (a paravirtual /dev/kvm without them
/// crawls and then fails on emulation) and `/dev/kvm` opens read-write.
pub fn kvm_usable() -> bool {
    let flags = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    cpu_has_virt(&flags)
        && std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/kvm")
            .is_ok()
}

fn cpu_has_virt(cpuinfo: &str) -> bool {
    cpuinfo
        .lines()
        .filter(|l| l.starts_with("flags"))
        .any(|l| l.split_whitespace().any(|f| f == "vmx" || f == "svm"))
}

/// What the guest reported on its console.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The `rc` of the `COVE-VM-RESULT` marker, if seen.
    pub rc: Option<i32>,
    /// `(rc, executable)` of every finished test binary.
    pub binaries: Vec<(i32, String)>,
    /// The test binary started last (the one running when a timeout hits).
    pub last_started: Option<String>,
    /// Setup errors the guest reported (`COVE-VM-ERROR`).
    pub errors: Vec<String>,
    /// The enabled controllers the guest reported.
    pub controllers: Option<String>,
    /// Time from qemu start until the guest was ready to run tests.
    pub ready_after: Option<Duration>,
    /// A kernel panic was seen.
    pub panicked: bool,
    /// qemu was killed at the timeout.
    pub timed_out: bool,
    /// qemu's exit status, when it exited by itself.
    pub qemu_status: Option<ExitStatus>,
    /// Time from qemu start until it exited or was killed.
    pub elapsed: Duration,
}

impl Outcome {
    /// Records what one console line says.
    pub fn observe(&mut self, line: &str, since_start: Duration) {
        let line = line.trim_end();
        if let Some(rest) = find_after(line, "COVE-VM-RESULT rc=") {
            self.rc = rest.split_whitespace().next().and_then(|n| n.parse().ok());
        } else if let Some(rest) = find_after(line, "COVE-VM-BIN rc=") {
            if let Some((rc, exe)) = rest.split_once(' ') {
                if let Ok(rc) = rc.parse() {
                    self.binaries.push((rc, exe.to_owned()));
                }
            }
        } else if let Some(rest) = find_after(line, "COVE-VM-RUN ") {
            self.last_started = Some(rest.to_owned());
        } else if let Some(rest) = find_after(line, "COVE-VM-ERROR ") {
            self.errors.push(rest.to_owned());
        } else if let Some(rest) = find_after(line, "COVE-VM-CGROUP controllers=") {
            self.controllers = Some(rest.to_owned());
        } else if line.contains("COVE-VM-READY ") {
            self.ready_after = Some(since_start);
        } else if line.contains("Kernel panic") {
            self.panicked = true;
        }
    }
}

/// Markers are matched at the start of the line only, so test output quoting them cannot fake them.
fn find_after<'a>(line: &'a str, marker: &str) -> Option<&'a str> {
    line.strip_prefix(marker)
}

enum Event {
    Stdout(String),
    Stderr(String),
}

/// Runs qemu, echoing the guest console to stdout (and qemu's stderr to stderr) line by line as it
/// arrives, and kills it after `timeout` or shortly after the result marker if it does not power off.
pub fn run(mut cmd: Command, timeout: Duration) -> Result<Outcome> {
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("start qemu")?;
    let (tx, rx) = mpsc::channel();
    let readers = [
        spawn_reader(
            child.stdout.take().expect("piped stdout"),
            tx.clone(),
            Event::Stdout,
        ),
        spawn_reader(
            child.stderr.take().expect("piped stderr"),
            tx,
            Event::Stderr,
        ),
    ];
    let mut outcome = Outcome::default();
    let mut deadline = start + timeout;
    pump(&rx, &mut outcome, start, &mut deadline);
    if Instant::now() >= deadline {
        outcome.timed_out = outcome.rc.is_none();
        let _ = child.kill();
    }
    let status = wait(&mut child)?;
    outcome.qemu_status = (!outcome.timed_out).then_some(status);
    outcome.elapsed = start.elapsed();
    for r in readers {
        let _ = r.join();
    }
    // Drain lines that arrived after the loop stopped.
    while let Ok(ev) = rx.try_recv() {
        show(&ev, &mut outcome, start);
    }
    Ok(outcome)
}

/// Forwards events until both pipes close or the deadline passes.
fn pump(rx: &Receiver<Event>, outcome: &mut Outcome, start: Instant, deadline: &mut Instant) {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(ev) => {
                let had_rc = outcome.rc.is_some();
                show(&ev, outcome, start);
                if !had_rc && outcome.rc.is_some() {
                    *deadline = (*deadline).min(Instant::now() + POWEROFF_GRACE);
                }
            }
            Err(RecvTimeoutError::Timeout) => return,
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

fn show(ev: &Event, outcome: &mut Outcome, start: Instant) {
    match ev {
        Event::Stdout(line) => {
            outcome.observe(line, start.elapsed());
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
        Event::Stderr(line) => eprintln!("qemu: {line}"),
    }
}

fn spawn_reader<R: Read + Send + 'static>(
    pipe: R,
    tx: Sender<Event>,
    wrap: fn(String) -> Event,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => return,
                Ok(_) => {
                    let text = String::from_utf8_lossy(&buf);
                    let line = text.trim_end_matches(['\n', '\r']).replace('\r', "");
                    if tx.send(wrap(line)).is_err() {
                        return;
                    }
                }
            }
        }
    })
}

fn wait(child: &mut Child) -> Result<ExitStatus> {
    child.wait().context("wait for qemu")
}

/// Finds `qemu-system-x86_64`: `$COVE_QEMU` if set, else on `PATH`.
pub fn find_qemu() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("COVE_QEMU") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("qemu-system-x86_64"))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observe_parses_markers() {
        let mut o = Outcome::default();
        let t = Duration::from_secs(3);
        o.observe("COVE-VM-CGROUP controllers=cpuset cpu io memory pids", t);
        o.observe("COVE-VM-READY kernel=6.1.0-48-amd64 tests=2", t);
        o.observe("COVE-VM-RUN /ws/target/a", t);
        o.observe("COVE-VM-BIN rc=0 /ws/target/a", t);
        o.observe("COVE-VM-RUN /ws/target/b", t);
        o.observe("COVE-VM-BIN rc=101 /ws/target/b", t);
        o.observe("test foo ... printed COVE-VM-RESULT rc=0", t);
        assert_eq!(o.rc, None, "a marker inside other output must not count");
        o.observe("COVE-VM-RESULT rc=1\r", t);
        assert_eq!(o.rc, Some(1));
        assert_eq!(
            o.binaries,
            vec![(0, "/ws/target/a".into()), (101, "/ws/target/b".into())]
        );
        assert_eq!(o.last_started.as_deref(), Some("/ws/target/b"));
        assert_eq!(o.controllers.as_deref(), Some("cpuset cpu io memory pids"));
        assert_eq!(o.ready_after, Some(t));
        assert!(!o.panicked);
        o.observe(
            "[    1.2] Kernel panic - not syncing: Attempted to kill init!",
            t,
        );
        assert!(o.panicked);
    }

    #[test]
    fn observe_records_errors() {
        let mut o = Outcome::default();
        o.observe("COVE-VM-ERROR mount the 9p share ws", Duration::ZERO);
        assert_eq!(o.errors, vec!["mount the 9p share ws".to_owned()]);
    }

    #[test]
    fn verbose_drops_quiet() {
        assert!(kernel_cmdline(false).contains(" quiet "));
        let verbose = kernel_cmdline(true);
        assert!(
            !verbose.contains("quiet") && verbose.contains("loglevel=7"),
            "{verbose}"
        );
        assert!(verbose.contains("cgroup_no_v1=all"));
    }

    #[test]
    fn virt_flags_are_whole_words() {
        assert!(cpu_has_virt("flags\t\t: fpu vme vmx sse\n"));
        assert!(cpu_has_virt("flags\t\t: fpu svm\n"));
        assert!(!cpu_has_virt("flags\t\t: fpu vmxx hypervisor\n"));
        assert!(!cpu_has_virt("model name\t: vmx\n"));
    }

    #[test]
    fn run_streams_and_times_out() {
        // `sh` stands in for qemu: prints a marker, then hangs until killed.
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo COVE-VM-RUN /x; echo oops >&2; exec sleep 30"]);
        let o = run(cmd, Duration::from_millis(500)).unwrap();
        assert!(o.timed_out);
        assert_eq!(o.last_started.as_deref(), Some("/x"));
        assert!(o.elapsed < Duration::from_secs(10));
    }

    #[test]
    fn run_reads_result_of_exited_process() {
        let mut cmd = Command::new("sh");
        cmd.args([
            "-c",
            "printf 'COVE-VM-BIN rc=0 /a\\r\\nCOVE-VM-RESULT rc=0\\r\\n'",
        ]);
        let o = run(cmd, Duration::from_secs(30)).unwrap();
        assert!(!o.timed_out);
        assert_eq!(o.rc, Some(0));
        assert_eq!(o.binaries, vec![(0, "/a".into())]);
        assert!(o.qemu_status.unwrap().success());
    }
}
