//! The `set-lstm` command-line tool as a library: the subcommands, flags and configuration
//! files, the run directory, printing, plots, sweeps, signals and exit codes. Training,
//! evaluation and the file formats are `set-train`'s; `src/main.rs` only calls [`main`].
//!
//! The library exists so that integration tests, the reliability suite and the cargo-fuzz
//! targets (`fuzz/`) exercise exactly the code the binary runs; it is not a stable API (use
//! `set-train` from programs).

// Doc comments of the clap argument structs are the `--help` text, shown verbatim: `<pad>` and
// `runs/<dataset>-...` there are meant literally, not as HTML.
#![allow(rustdoc::invalid_html_tags)]

pub mod bench;
pub mod cli;
pub mod config;
pub mod data_cmd;
pub mod eval;
pub mod exit;
pub mod export;
pub mod floor;
#[doc(hidden)]
pub mod fuzzing;
pub mod info;
pub mod match_params;
pub mod modelfile;
pub mod out;
pub mod plots;
pub mod predict;
pub mod report;
pub mod rundir;
pub mod signal;
pub mod sweep;
pub mod sysinfo;
#[doc(hidden)]
pub mod testing;
pub mod train;
pub mod ui;

pub use set_train::dist;

use clap::Parser;
use cli::{Cli, Command};
use train::Outcome;

fn init_tracing(filter: Option<&str>, quiet: bool, verbose: u8) {
    let level = match (quiet, verbose) {
        (true, _) => Some("error"),
        (false, 0) => None,
        (false, 1) => Some("debug"),
        (false, _) => Some("trace"),
    };
    let filter = match (filter, level) {
        (Some(f), _) => tracing_subscriber::EnvFilter::new(f),
        (None, Some(l)) => tracing_subscriber::EnvFilter::new(l),
        (None, None) => tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,set_lstm=info")),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}

/// The exit code of an outcome, printing what it means unless `quiet` (ranks other than 0).
fn outcome_code(o: Outcome, quiet: bool) -> i32 {
    if quiet {
        return match o {
            Outcome::Interrupted { .. } => exit::INTERRUPTED,
            _ => exit::OK,
        };
    }
    match o {
        Outcome::Finished | Outcome::AlreadyFinished => exit::OK,
        Outcome::Stopped {
            global_step,
            run_dir,
        } => {
            out::progress!(
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

/// Lets a closed stdout end the process quietly, as it does any Unix filter
/// (`set-lstm sweep --dry-run | head`), instead of an error (see [`out`]). Rust ignores
/// SIGPIPE by default.
fn restore_sigpipe() {
    // SAFETY: called first thing in `main`, before any other thread exists; SIG_DFL is a valid
    // disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Parses the process arguments, runs the subcommand, prints any error, and returns the exit
/// code (see [`exit`]).
///
/// Built with the `mpi` feature, `train`, `resume` and `bench` run on all ranks of the MPI
/// job (one rank when not started by `mpirun`); an error on any rank prints it and aborts the
/// whole job with the error's exit code.
pub fn main() -> i32 {
    restore_sigpipe();
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some(msg) = cli::old_bool_spelling(&args) {
        eprintln!("error: {msg}");
        return exit::USAGE;
    }
    let cli = Cli::parse_from(args);
    ui::set_quiet(cli.quiet);
    init_tracing(cli.log.as_deref(), cli.quiet, cli.verbose);
    let world = match &cli.command {
        Command::Train(_) | Command::Resume(_) | Command::Bench(_) => dist::World::init(),
        _ => Ok(dist::World::local()),
    };
    let world = match world {
        Ok(w) => w,
        Err(e) => {
            eprintln!("error: {e:#}");
            return exit::FAILURE;
        }
    };
    let comm = world.comm();
    let quiet = !comm.is_root();
    let result = match cli.command {
        Command::Train(args) => {
            train::train_with(*args, comm.clone()).map(|o| outcome_code(o, quiet))
        }
        Command::Resume(args) => {
            train::resume_with(args, comm.clone()).map(|o| outcome_code(o, quiet))
        }
        Command::Eval(args) => eval::run(&args).map(|()| exit::OK),
        Command::Predict(args) => predict::run(&args).map(|()| exit::OK),
        Command::Info(args) => info::run(&args).map(|()| exit::OK),
        Command::Export(args) => export::run(&args).map(|()| exit::OK),
        Command::Bench(args) => bench::run_with(&args, &*comm).map(|()| exit::OK),
        Command::Sweep(args) => sweep::run(&args),
        Command::Data(args) => data_cmd::run(&args).map(|()| exit::OK),
        Command::Completions(args) => {
            use clap::CommandFactory;
            let mut cmd = Cli::command();
            let mut script = Vec::new();
            clap_complete::generate(args.shell, &mut cmd, "set-lstm", &mut script);
            out::write(&String::from_utf8_lossy(&script)).map(|()| exit::OK)
        }
        #[cfg(feature = "test-hooks")]
        Command::TestWriteLoop(args) => testing::write_loop(&args).map(|()| exit::OK),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            let code = exit::exit_code(&e);
            if comm.size() > 1 {
                eprintln!("error on rank {}: {e:#}", comm.rank());
                comm.abort(code);
            }
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
