//! `set-lstm`: train, resume, evaluate, inspect, export and benchmark truly sparse LSTM
//! sentiment classifiers (SET-LSTM). Each subcommand lives in its own module.

mod bench;
mod checkpoint;
mod cli;
mod config;
mod data;
mod eval;
mod evolution;
mod exit;
mod export;
mod info;
mod modelfile;
mod plots;
mod predict;
mod rng;
mod rundir;
mod signal;
mod sysinfo;
mod train;

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

fn main() {
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
    };
    let code = match result {
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
    };
    std::process::exit(code);
}
