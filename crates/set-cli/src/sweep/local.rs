//! Running a sweep's runs one after another in this process, through the same
//! [`crate::train::train`] and [`crate::train::resume`] as `set-lstm train --config
//! configs/<name>.toml --out <out>/<name>` and `set-lstm resume <out>/<name>`.
//!
//! Per run, by what its directory holds ([`RunState`]): finished runs (`summary.json`) are
//! skipped; runs with a checkpoint are resumed (checked against `configs/<name>.toml`); a run
//! directory without a checkpoint (`train` stopped before its first checkpoint, so nothing is
//! lost) is deleted and trained again; a directory that is not a run directory is a failure and
//! left alone. A failed run does not stop the sweep; a SIGINT/SIGTERM does, after
//! the current run's checkpoint.

use super::plan::{Plan, PlannedRun, RunState, run_state};
use crate::cli::{ResumeArgs, TrainArgs, Which};
use crate::config::Settings;
use crate::exit;
use crate::rundir::RunLock;
use crate::train::Outcome;
use anyhow::{Context, Result, anyhow};

/// Options of local execution.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalOptions {
    /// `--threads` for every run (overrides the configs' `threads`).
    pub threads: Option<usize>,
    /// Run control of every run (test hooks only; sweeps set no step limits).
    pub run: crate::cli::RunControlArgs,
}

/// Counts of a local sweep.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Runs trained or resumed to the end by this invocation.
    pub finished: usize,
    /// Runs skipped because they had finished before.
    pub skipped: usize,
    /// Names of the runs that failed.
    pub failed: Vec<String>,
    /// The run a signal interrupted (after its checkpoint), if any.
    pub interrupted: Option<String>,
    /// Runs not started because of the signal.
    pub not_started: usize,
}

impl Tally {
    /// The exit code: 130 after a signal, 1 if any run failed, else 0.
    pub fn exit_code(&self) -> i32 {
        if self.interrupted.is_some() {
            exit::INTERRUPTED
        } else if !self.failed.is_empty() {
            exit::FAILURE
        } else {
            exit::OK
        }
    }

    /// The one-line summary printed at the end.
    pub fn line(&self, total: usize) -> String {
        let mut s = format!(
            "sweep: {total} runs: {} finished, {} skipped, {} failed",
            self.finished,
            self.skipped,
            self.failed.len()
        );
        if let Some(name) = &self.interrupted {
            s.push_str(&format!(
                ", 1 interrupted (`{name}`, checkpoint written), {} not started",
                self.not_started
            ));
        }
        s
    }
}

fn train_run(plan: &Plan, run: &PlannedRun, opts: LocalOptions) -> Result<Outcome> {
    crate::train::train(TrainArgs {
        config: Some(plan.config_path(run)),
        settings: Settings {
            threads: opts.threads,
            ..Settings::default()
        },
        out: Some(plan.run_dir(run)),
        run: opts.run,
    })
}

/// Starts, resumes or restarts one run according to its directory's state; `Ok(None)` when
/// it had already finished.
fn run_one(plan: &Plan, run: &PlannedRun, opts: LocalOptions) -> Result<Option<Outcome>> {
    let dir = plan.run_dir(run);
    match run_state(&dir) {
        RunState::Finished => Ok(None),
        RunState::New => train_run(plan, run, opts).map(Some),
        RunState::Resumable => crate::train::resume(ResumeArgs {
            run_dir: dir,
            config: Some(plan.config_path(run)),
            from: Which::Latest,
            threads: opts.threads,
            data_dir: None,
            run: opts.run,
        })
        .map(Some),
        RunState::Incomplete => {
            // Refuses while a live process holds the directory; takes over a stale lock.
            let lock = RunLock::acquire(&dir)?;
            std::fs::remove_dir_all(&dir)
                .with_context(|| format!("removing the incomplete run {}", dir.display()))?;
            drop(lock);
            train_run(plan, run, opts).map(Some)
        }
        RunState::Foreign => Err(anyhow!(
            "{} exists but is not a run directory (no config.toml, no checkpoints/): move it away",
            dir.display()
        )),
    }
}

/// Runs every planned run in order and prints one line per run and a summary line.
pub fn run_all(plan: &Plan, opts: LocalOptions) -> Tally {
    crate::signal::install();
    let total = plan.runs.len();
    let mut tally = Tally::default();
    for (i, run) in plan.runs.iter().enumerate() {
        let name = &run.point.name;
        if crate::signal::flag().is_requested() {
            tally.not_started = total - i;
            break;
        }
        let state = run_state(&plan.run_dir(run));
        let action = match state {
            RunState::New => "training",
            RunState::Finished => "skipped (summary.json exists)",
            RunState::Resumable => "resuming from its checkpoint",
            RunState::Incomplete => "restarting (no checkpoint was written)",
            RunState::Foreign => "not a run directory",
        };
        crate::out::progress!("[{}/{total}] {name}: {action}", i + 1);
        match run_one(plan, run, opts) {
            Ok(None) => tally.skipped += 1,
            Ok(Some(Outcome::Finished)) => tally.finished += 1,
            Ok(Some(Outcome::Interrupted { .. })) => {
                tally.interrupted = Some(name.clone());
                tally.not_started = total - i - 1;
                break;
            }
            Ok(Some(Outcome::AlreadyFinished)) => {
                eprintln!(
                    "run `{name}` failed: its model is written but summary.json is missing; delete {} and rerun to write the final outputs again",
                    plan.run_dir(run)
                        .join(crate::rundir::names::MODEL)
                        .display()
                );
                tally.failed.push(name.clone());
            }
            Ok(Some(Outcome::Stopped { global_step, .. })) => {
                eprintln!("run `{name}` failed: stopped at step {global_step} without finishing");
                tally.failed.push(name.clone());
            }
            Err(e) => {
                eprintln!("run `{name}` failed: {e:#}");
                tally.failed.push(name.clone());
            }
        }
    }
    crate::out::progress!("{}", tally.line(total));
    if let Some(name) = &tally.interrupted {
        eprintln!(
            "interrupted during `{name}`; run the same `set-lstm sweep` command again to continue"
        );
    }
    if !tally.failed.is_empty() {
        eprintln!("failed runs: {}", tally.failed.join(", "));
    }
    tally
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_line_and_exit_code() {
        let mut t = Tally {
            finished: 2,
            skipped: 1,
            ..Tally::default()
        };
        assert_eq!(t.line(3), "sweep: 3 runs: 2 finished, 1 skipped, 0 failed");
        assert_eq!(t.exit_code(), exit::OK);
        t.failed.push("seed-1".into());
        assert_eq!(t.exit_code(), exit::FAILURE);
        t.interrupted = Some("seed-2".into());
        t.not_started = 4;
        assert_eq!(t.exit_code(), exit::INTERRUPTED);
        assert!(
            t.line(8)
                .ends_with("1 failed, 1 interrupted (`seed-2`, checkpoint written), 4 not started")
        );
    }
}
