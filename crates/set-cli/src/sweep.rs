//! `set-lstm sweep`: expand a grid file of train settings into runs, then train them one
//! after another here, or write a Slurm array job that trains one run per task.
//!
//! - [`grid`]: the grid file (`[base]` and `[grid]`), expansion order and run names;
//! - [`plan`]: resolving and validating every run, the output folder, `configs/` and `runs.txt`;
//! - [`local`]: in-process execution (skip finished runs, resume interrupted ones);
//! - [`slurm`]: the batch script.
//!
//! Every check (the grid, every run's settings, existing run directories) happens before
//! anything is written or trained; a problem is a usage error (exit code 2).

pub mod grid;
pub mod local;
pub mod plan;
pub mod slurm;

use crate::cli::SweepArgs;
use crate::exit;
use anyhow::{Context, Result};

fn print_list(plan: &plan::Plan) -> Result<()> {
    crate::out::say!(
        "sweep of {}: {} runs into {}",
        plan.grid_path.display(),
        plan.runs.len(),
        plan.out.display()
    )?;
    let width = plan
        .runs
        .iter()
        .map(|r| r.point.name.len())
        .max()
        .unwrap_or(0);
    for (i, run) in plan.runs.iter().enumerate() {
        let values: Vec<String> = run
            .point
            .values
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        crate::out::say!(
            "{:>4}  {:<width$}  {:<10}  {}",
            i + 1,
            run.point.name,
            plan::run_state(&plan.run_dir(run)).as_str(),
            values.join(" ")
        )?;
    }
    Ok(())
}

/// `set-lstm sweep`: returns the exit code (0, 1 if a run failed, 130 after a signal).
///
/// # Errors
/// Usage errors (bad grid, invalid settings, a reused run directory with another
/// configuration) before anything is written; I/O errors writing the configs or the script.
pub fn run(args: &SweepArgs) -> Result<i32> {
    crate::config::check_threads(args.threads)?;
    if args.slurm.is_some() && !(1..=1024).contains(&args.cpus_per_task) {
        return Err(exit::usage(format!(
            "invalid value {} for --cpus-per-task: expected an integer in 1..=1024",
            args.cpus_per_task
        )));
    }
    let grid = grid::Grid::read(&args.grid)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| plan::default_out(&args.grid));
    let plan = plan::Plan::new(&grid, &out)?;
    plan.check_existing()?;
    let script = match &args.slurm {
        Some(_) => {
            let bin = match &args.bin {
                Some(b) => std::path::absolute(b)
                    .with_context(|| format!("resolving --bin {}", b.display()))?,
                None => std::env::current_exe().context("locating the set-lstm executable")?,
            };
            let opts = slurm::ScriptOptions {
                bin,
                cpus_per_task: args.cpus_per_task,
                job_name: slurm::job_name(&args.grid),
                extra: args.sbatch_arg.clone(),
            };
            Some(slurm::script(&plan, &opts)?)
        }
        None => None,
    };
    if args.dry_run {
        print_list(&plan)?;
        crate::out::say!("dry run: nothing written")?;
        return Ok(exit::OK);
    }
    plan.write()?;
    match (&args.slurm, script) {
        (Some(file), Some(text)) => {
            let logs = plan.out.join(plan::LOGS);
            std::fs::create_dir_all(&logs)
                .with_context(|| format!("creating {}", logs.display()))?;
            crate::rundir::write_atomic(file, text.as_bytes())?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o755))
                    .with_context(|| format!("making {} executable", file.display()))?;
            }
            crate::out::say!(
                "wrote {} run configs to {}, {} and the Slurm script {}; submit with: sbatch {}",
                plan.runs.len(),
                plan.out.join(plan::CONFIGS).display(),
                plan.out.join(plan::RUNS_TXT).display(),
                file.display(),
                file.display()
            )?;
            Ok(exit::OK)
        }
        _ => {
            let tally = local::run_all(
                &plan,
                local::LocalOptions {
                    threads: args.threads,
                    run: crate::cli::RunControlArgs {
                        #[cfg(feature = "test-hooks")]
                        step_delay_ms: args.step_delay_ms,
                        ..Default::default()
                    },
                },
            );
            Ok(tally.exit_code())
        }
    }
}
