//! The `set-lstm` command-line tool as a library: every subcommand, the run directory, the
//! checkpoint and model-file codecs, and the configuration. `src/main.rs` only calls [`main`].
//!
//! The library exists so that integration tests, the reliability suite and the cargo-fuzz
//! targets (`fuzz/`) exercise exactly the code the binary runs; it is not a stable API.

// Doc comments of the clap argument structs are the `--help` text, shown verbatim: `<pad>` and
// `runs/<dataset>-...` there are meant literally, not as HTML.
#![allow(rustdoc::invalid_html_tags)]

pub mod bench;
pub mod checkpoint;
pub mod cli;
pub mod config;
pub mod data;
pub mod eval;
pub mod evolution;
pub mod exit;
pub mod export;
#[doc(hidden)]
pub mod fuzzing;
pub mod info;
pub mod modelfile;
pub mod plots;
pub mod predict;
pub mod rng;
pub mod rundir;
pub mod signal;
pub mod sysinfo;
#[doc(hidden)]
pub mod testing;
pub mod train;

use clap::Parser;
use cli::{Cli, Command};
use train::Outcome;

fn init_tracing(filter: Option<&str>) {
    let filter = match filter {
        Some(f) => tracing_subscriber::EnvFilter::new(f),
        None => tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,set_lstm=info")),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}

fn outcome_code(o: Outcome) -> i32 {
    match o {
        Outcome::Finished | Outcome::AlreadyFinished => exit::OK,
        Outcome::Stopped {
            global_step,
            run_dir,
        } => {
            println!(
                "stopped at step {global_step} (--max-steps); continue with `set-lstm resume {}`",
                run_dir.display()
            );
            exit::OK
        }
        Outcome::Interrupted {
            global_step,
            run_dir,
        } => {
            eprintln!(
                "interrupted at step {global_step}; checkpoint written; continue with `set-lstm resume {}`",
                run_dir.display()
            );
            exit::INTERRUPTED
        }
    }
}

/// Parses the process arguments, runs the subcommand, prints any error, and returns the exit
/// code (see [`exit`]).
pub fn main() -> i32 {
    let cli = Cli::parse();
    init_tracing(cli.log.as_deref());
    let result = match cli.command {
        Command::Train(args) => train::train(*args).map(outcome_code),
        Command::Resume(args) => train::resume(args).map(outcome_code),
        Command::Eval(args) => eval::run(&args).map(|()| exit::OK),
        Command::Predict(args) => predict::run(&args).map(|()| exit::OK),
        Command::Info(args) => info::run(&args).map(|()| exit::OK),
        Command::Export(args) => export::run(&args).map(|()| exit::OK),
        Command::Bench(args) => bench::run(&args).map(|()| exit::OK),
        Command::TestWriteLoop(args) => testing::write_loop(&args).map(|()| exit::OK),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            let code = exit::exit_code(&e);
            eprintln!("error: {e:#}");
            if code == exit::NON_FINITE {
                eprintln!(
                    "the last good checkpoint is kept unchanged in the run directory's checkpoints/"
                );
            }
            code
        }
    }
}
