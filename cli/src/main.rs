//! The `cove` command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use cove::plan::Plan;
use cove::report::StatsFormat;
use cove::run::{exec_failure_code, RunOptions, RUNTIME_FAILURE};

/// cove: a fast, small Linux container runtime.
#[derive(Debug, Parser)]
#[command(name = "cove", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Debug, Subcommand)]
enum Commands {
    /// Run a container from a TOML manifest in the foreground; exits with the container's status.
    Run {
        /// Print a resource report when the container exits (`--stats` or `--stats=json`).
        #[arg(long, value_name = "FORMAT", num_args = 0..=1, require_equals = true, default_missing_value = "text")]
        stats: Option<StatsFormat>,
        /// The manifest.
        manifest: PathBuf,
        /// Arguments that replace the manifest's args after the program.
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Commands::Run {
            stats,
            manifest,
            args,
        } => run(&manifest, RunOptions { args, stats }),
        Commands::Check { manifest } => check(&manifest),
        Commands::Doctor { json } => doctor(json),
    };
    ExitCode::from(u8::try_from(code).unwrap_or(u8::MAX))
}

/// Loads and validates a manifest, printing every problem found.
fn load_plan(manifest: &Path) -> Option<Plan> {
    let euid = nix::unistd::geteuid().as_raw();
    match cove::load_plan(manifest, euid) {
        Ok(plan) => Some(plan),
        Err(errors) => {
            for e in &errors {
                eprintln!("cove: error: {e}");
            }
            None
        }
    }
}

fn run(manifest: &Path, options: RunOptions) -> i32 {
    let Some(plan) = load_plan(manifest) else {
        return RUNTIME_FAILURE;
    };
    match cove::run::run(&plan, &options) {
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
