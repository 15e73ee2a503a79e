//! The `cove` command line: TOML-manifest commands (`run FILE.toml`, `check`, `doctor`) and runc's OCI runtime
//! commands (`create`, `start`, `state`, `kill`, `delete`, `run`, `exec`, `ps`, `list`, `pause`, `resume`,
//! `update`, `events`, `features`, `spec`), so engines can use cove in place of runc.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use cove::oci::cli::{self as oci, Global, LogFormat};
use cove::oci::exec::ExecOptions;
use cove::oci::lifecycle::CreateOptions;
use cove::oci::update::UpdateArgs;
use cove::report::StatsFormat;
use cove_container::plan::Plan;
use cove_container::run::{exec_failure_code, RunOptions, RUNTIME_FAILURE};

/// cove: a fast, small Linux container runtime.
///
/// Run a container from a TOML manifest (`cove run examples/hello.toml`), or drive it like runc through an OCI
/// bundle (`cove create --bundle DIR ID`, `cove start ID`, …) — podman, Docker and containerd do the latter.
#[derive(Debug, Parser)]
#[command(name = "cove", version, about)]
struct Cli {
    /// Directory for container state (default /run/cove; $XDG_RUNTIME_DIR/cove rootless).
    #[arg(long, global = true, value_name = "DIR")]
    root: Option<PathBuf>,
    /// Also write errors to this file.
    #[arg(long, global = true, value_name = "FILE")]
    log: Option<PathBuf>,
    /// Format of the --log file.
    #[arg(long = "log-format", global = true, value_enum, default_value = "text")]
    log_format: LogFormat,
    /// Print what cove does (the state root it uses) to stderr.
    #[arg(long, global = true)]
    debug: bool,
    /// Accepted for runc compatibility: `linux.cgroupsPath` in `slice:prefix:name` form is always understood
    /// and placed on the cgroup file system directly.
    #[arg(long = "systemd-cgroup", global = true)]
    systemd_cgroup: bool,
    #[command(subcommand)]
    command: Commands,
}

/// runc's `create`/`run` flags.
#[derive(Debug, clap::Args)]
struct BundleFlags {
    /// The bundle: a directory with config.json (default: the current directory).
    #[arg(short, long, value_name = "DIR")]
    bundle: Option<PathBuf>,
    /// Write the container process's pid to this file.
    #[arg(long = "pid-file", value_name = "FILE")]
    pid_file: Option<PathBuf>,
    /// AF_UNIX socket that receives the pty master when process.terminal is true.
    #[arg(long = "console-socket", value_name = "PATH")]
    console_socket: Option<PathBuf>,
    /// Pass file descriptors 3..3+N to the container's process.
    #[arg(long = "preserve-fds", value_name = "N", default_value_t = 0)]
    preserve_fds: u32,
    /// Accepted for runc compatibility: cove uses pivot_root, and chroot only where pivot_root is impossible.
    #[arg(long = "no-pivot")]
    no_pivot: bool,
    /// Accepted for runc compatibility: cove never creates a session keyring.
    #[arg(long = "no-new-keyring")]
    no_new_keyring: bool,
}

impl BundleFlags {
    fn options(&self) -> CreateOptions {
        CreateOptions {
            bundle: self.bundle.clone().unwrap_or_else(|| PathBuf::from(".")),
            pid_file: self.pid_file.clone(),
            console_socket: self.console_socket.clone(),
            preserve_fds: self.preserve_fds,
        }
    }
}

/// Output format of `list` and `ps`.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
enum Commands {
    /// Run a container: from a TOML manifest in the foreground (`cove run FILE.toml [-- ARGS]`), or from an
    /// OCI bundle like runc (`cove run [--bundle DIR] [--detach] ID`).
    Run {
        /// Print a resource report when the container exits (`--stats` or `--stats=json`; manifests only).
        #[arg(long, value_name = "FORMAT", num_args = 0..=1, require_equals = true, default_missing_value = "text")]
        stats: Option<StatsFormat>,
        #[command(flatten)]
        bundle: BundleFlags,
        /// Bundle runs: return once the container runs.
        #[arg(short, long)]
        detach: bool,
        /// Bundle runs: keep the container's state after it exits.
        #[arg(long)]
        keep: bool,
        /// Manifests: give the container a terminal of its own and relay the caller's terminal to it (an
        /// interactive shell: `cove run -t FILE.toml -- /bin/sh`); same as `process.terminal = true`.
        #[arg(short, long)]
        tty: bool,
        /// A manifest file, or the id of a container to run from the bundle.
        target: String,
        /// Manifests: arguments that replace the manifest's args after the program.
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Validate a manifest and print the resolved plan.
    Check {
        /// The manifest.
        manifest: PathBuf,
    },
    /// Report what this host supports (cgroups, user namespaces, seccomp, Landlock, …) and how to fix what
    /// is missing; exits non-zero when something cove needs fails.
    Doctor {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Create a container from a bundle; its process waits for `start`.
    Create {
        #[command(flatten)]
        bundle: BundleFlags,
        /// Container id.
        id: String,
    },
    /// Start a created container's process.
    Start {
        /// Container id.
        id: String,
    },
    /// Print a container's OCI state as JSON.
    State {
        /// Container id.
        id: String,
    },
    /// Send a signal (default SIGTERM) to a container's process.
    Kill {
        /// Send it to every process of the container.
        #[arg(short, long)]
        all: bool,
        /// Container id.
        id: String,
        /// Signal: a name with or without SIG (`TERM`, `SIGKILL`) or a number.
        #[arg(default_value = "SIGTERM")]
        signal: String,
    },
    /// Delete a stopped container (its state and cgroup).
    Delete {
        /// Kill a running container first; an unknown id is then not an error.
        #[arg(short, long)]
        force: bool,
        /// Container id.
        id: String,
    },
    /// List the containers.
    #[command(alias = "ls")]
    List {
        /// Output format.
        #[arg(short, long, value_enum, default_value = "table")]
        format: Format,
        /// Print only the ids.
        #[arg(short, long)]
        quiet: bool,
    },
    /// List the processes of a container.
    Ps {
        /// Output format (json: the pids).
        #[arg(short, long, value_enum, default_value = "table")]
        format: Format,
        /// Container id.
        id: String,
        /// Options for ps(1) (default -ef).
        #[arg(last = true)]
        ps_args: Vec<String>,
    },
    /// Run another process in a running container.
    Exec {
        /// A process.json describing the process.
        #[arg(short, long, value_name = "FILE")]
        process: Option<PathBuf>,
        /// Allocate a pseudo-terminal (sent over --console-socket).
        #[arg(short, long)]
        tty: bool,
        /// Return once the process runs.
        #[arg(short, long)]
        detach: bool,
        /// Write the process's pid to this file.
        #[arg(long = "pid-file", value_name = "FILE")]
        pid_file: Option<PathBuf>,
        /// AF_UNIX socket that receives the pty master.
        #[arg(long = "console-socket", value_name = "PATH")]
        console_socket: Option<PathBuf>,
        /// Working directory inside the container.
        #[arg(long, value_name = "DIR")]
        cwd: Option<PathBuf>,
        /// Extra environment variable KEY=VALUE (repeatable).
        #[arg(short, long, value_name = "KEY=VALUE")]
        env: Vec<String>,
        /// UID[:GID] to run as.
        #[arg(short, long, value_name = "UID[:GID]")]
        user: Option<String>,
        /// Supplementary group (repeatable).
        #[arg(short = 'g', long = "additional-gids", value_name = "GID")]
        additional_gids: Vec<u32>,
        /// Add a capability (repeatable).
        #[arg(short, long = "cap", value_name = "CAP")]
        cap: Vec<String>,
        /// Set no_new_privileges.
        #[arg(long = "no-new-privs")]
        no_new_privs: bool,
        /// Pass file descriptors 3..3+N.
        #[arg(long = "preserve-fds", value_name = "N", default_value_t = 0)]
        preserve_fds: u32,
        /// Start the process in a paused container too (it runs once the container is resumed), as runc 1.2.
        #[arg(long = "ignore-paused")]
        ignore_paused: bool,
        /// Container id.
        id: String,
        /// The command and its arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Freeze every process of a container.
    Pause {
        /// Container id.
        id: String,
    },
    /// Thaw a paused container.
    Resume {
        /// Container id.
        id: String,
    },
    /// Change a running container's resource limits.
    Update {
        #[command(flatten)]
        args: UpdateArgs,
        /// Container id.
        id: String,
    },
    /// Print a container's resource statistics as JSON events (runc's format).
    Events {
        /// Print one stats event and exit.
        #[arg(long)]
        stats: bool,
        /// Time between stats events (e.g. 5s, 500ms).
        #[arg(long, default_value = "5s")]
        interval: String,
        /// Container id.
        id: String,
    },
    /// Print what this runtime supports, as OCI features JSON.
    Features,
    /// Write a default config.json into the bundle directory.
    Spec {
        /// The bundle directory (default: the current directory).
        #[arg(short, long, value_name = "DIR")]
        bundle: Option<PathBuf>,
        /// A config for a non-root user (user namespace, no network namespace).
        #[arg(long)]
        rootless: bool,
    },
}

fn main() -> ExitCode {
    // Before anything else, arguments included: a set-id cove must not act for its caller.
    if let Err(e) = cove::setid::check_not_setid() {
        eprintln!("cove: error: {e:#}");
        return ExitCode::from(RUNTIME_FAILURE as u8);
    }
    let cli = Cli::parse();
    let global = Global {
        root: cli.root.clone(),
        log: cli.log.clone(),
        log_format: cli.log_format,
        debug: cli.debug,
    };
    let _ = cli.systemd_cgroup;
    let code = dispatch(&global, cli.command);
    ExitCode::from(u8::try_from(code).unwrap_or(u8::MAX))
}

fn dispatch(global: &Global, command: Commands) -> i32 {
    match command {
        Commands::Run {
            stats,
            bundle,
            detach,
            keep,
            tty,
            target,
            args,
        } => {
            if bundle.bundle.is_none() && Path::new(&target).is_file() {
                let options = RunOptions {
                    args,
                    stats: stats.is_some(),
                    tty,
                    state_root: Some(global.state_root().path().to_path_buf()),
                    config: None,
                };
                return run_manifest(Path::new(&target), options, stats);
            }
            if tty {
                eprintln!("cove: error: --tty is for manifests; a bundle sets process.terminal");
                return RUNTIME_FAILURE;
            }
            global.finish(oci::run(global, &target, &bundle.options(), detach, keep))
        }
        Commands::Check { manifest } => check(&manifest),
        Commands::Doctor { json } => doctor(json),
        Commands::Create { bundle, id } => {
            global.finish(oci::create(global, &id, &bundle.options()))
        }
        Commands::Start { id } => global.finish(oci::start(global, &id)),
        Commands::State { id } => global.finish(oci::state(global, &id)),
        Commands::Kill { all, id, signal } => global.finish(oci::kill(global, &id, &signal, all)),
        Commands::Delete { force, id } => global.finish(oci::delete(global, &id, force)),
        Commands::List { format, quiet } => {
            global.finish(oci::list(global, matches!(format, Format::Json), quiet))
        }
        Commands::Ps {
            format,
            id,
            ps_args,
        } => global.finish(oci::ps(
            global,
            &id,
            matches!(format, Format::Json),
            &ps_args,
        )),
        Commands::Exec {
            process,
            tty,
            detach,
            pid_file,
            console_socket,
            cwd,
            env,
            user,
            additional_gids,
            cap,
            no_new_privs,
            preserve_fds,
            ignore_paused,
            id,
            command,
        } => {
            let options = ExecOptions {
                process,
                args: command,
                tty,
                detach,
                pid_file,
                console_socket,
                cwd,
                env,
                user,
                additional_gids,
                caps: cap,
                no_new_privs,
                preserve_fds,
                ignore_paused,
            };
            global.finish(oci::exec(global, &id, &options))
        }
        Commands::Pause { id } => global.finish(oci::pause(global, &id)),
        Commands::Resume { id } => global.finish(oci::resume(global, &id)),
        Commands::Update { args, id } => global.finish(oci::update(global, &id, &args)),
        Commands::Events {
            stats,
            interval,
            id,
        } => global.finish(oci::events(global, &id, stats, &interval)),
        Commands::Features => global.finish(oci::features()),
        Commands::Spec { bundle, rootless } => global.finish(oci::spec(bundle, rootless)),
    }
}

/// Loads and validates a manifest, printing every problem found.
fn load_plan(manifest: &Path) -> Option<Plan> {
    let euid = nix::unistd::geteuid().as_raw();
    match cove_manifest::load_plan(manifest, euid) {
        Ok(plan) => Some(plan),
        Err(errors) => {
            for e in &errors {
                eprintln!("cove: error: {e}");
            }
            None
        }
    }
}

fn run_manifest(manifest: &Path, mut options: RunOptions, stats: Option<StatsFormat>) -> i32 {
    let euid = nix::unistd::geteuid().as_raw();
    let (plan, saved) = match cove_manifest::saved::load_plan_and_source(manifest, euid) {
        Ok(loaded) => loaded,
        Err(errors) => {
            for e in &errors {
                eprintln!("cove: error: {e}");
            }
            return RUNTIME_FAILURE;
        }
    };
    options.config = Some(saved.to_config());
    let report = |usage: &_, elapsed, status| {
        if let Some(format) = stats {
            let report = cove::report::Report::new(&plan.id, usage, elapsed, status);
            eprintln!("{}", report.render(format));
        }
    };
    match cove_container::run::run_reporting(&plan, &options, report) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("cove: error: {e:#}");
            exec_failure_code(&e)
        }
    }
}

fn check(manifest: &Path) -> i32 {
    let Some(plan) = load_plan(manifest) else {
        return RUNTIME_FAILURE;
    };
    match cove::check::describe(&plan) {
        Ok(text) => {
            print!("{text}");
            0
        }
        Err(e) => {
            eprintln!("cove: error: {e:#}");
            RUNTIME_FAILURE
        }
    }
}

fn doctor(json: bool) -> i32 {
    let report = cove::doctor::diagnose();
    if json {
        println!("{}", report.render_json());
    } else {
        print!("{}", report.render_text());
    }
    if report.ok() {
        0
    } else {
        1
    }
}
