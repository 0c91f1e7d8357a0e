//! Test hooks, compiled only with the `test-hooks` cargo feature (which only the tests turn on):
//! a delay after every training step and a planted panic (`SET_LSTM_TEST_PANIC=RANK:STEP`) for
//! the signal and MPI tests, the `__test-write-loop` subcommand of the SIGKILL tests, and a
//! fault-injecting writer for the full-disk tests. Without the feature, [`Hooks`] does nothing.

use crate::cli::RunControlArgs;
#[cfg(feature = "test-hooks")]
use crate::cli::TestWriteLoopArgs;
#[cfg(feature = "test-hooks")]
use crate::rundir::RunDir;
#[cfg(feature = "test-hooks")]
use anyhow::Context;
use anyhow::Result;
#[cfg(feature = "test-hooks")]
use std::fs::File;
#[cfg(feature = "test-hooks")]
use std::io::Write;
#[cfg(feature = "test-hooks")]
use std::time::{Duration, Instant};

/// The test hooks of one training process.
#[derive(Debug, Clone, Default)]
pub struct Hooks {
    #[cfg(feature = "test-hooks")]
    step_delay_ms: u64,
    #[cfg(feature = "test-hooks")]
    panic_at: Option<u64>,
}

impl Hooks {
    /// The hooks of `args` for the process of rank `rank`.
    #[cfg_attr(not(feature = "test-hooks"), allow(unused_variables))]
    pub fn new(args: &RunControlArgs, rank: usize) -> Self {
        #[cfg(feature = "test-hooks")]
        {
            let panic_at = std::env::var("SET_LSTM_TEST_PANIC").ok().and_then(|v| {
                let (r, s) = v.split_once(':')?;
                (r.parse() == Ok(rank)).then(|| s.parse().ok())?
            });
            Hooks {
                step_delay_ms: args.step_delay_ms,
                panic_at,
            }
        }
        #[cfg(not(feature = "test-hooks"))]
        Hooks {}
    }

    /// Before optimizer step `step` (1-based): the planted panic.
    ///
    /// # Errors
    /// Never; the signature lets a hook fail a run.
    #[cfg_attr(not(feature = "test-hooks"), allow(unused_variables))]
    pub fn before_step(&self, step: u64) -> Result<()> {
        #[cfg(feature = "test-hooks")]
        if self.panic_at == Some(step) {
            panic!("planted panic (SET_LSTM_TEST_PANIC) at step {step}");
        }
        Ok(())
    }

    /// After each optimizer step: the delay.
    pub fn after_step(&self) {
        #[cfg(feature = "test-hooks")]
        if self.step_delay_ms > 0 {
            std::thread::sleep(Duration::from_millis(self.step_delay_ms));
        }
    }
}

#[cfg(feature = "test-hooks")]
/// Line printed on stdout once the loop is about to start writing.
pub const READY: &str = "write loop ready";

#[cfg(feature = "test-hooks")]
/// `set-lstm __test-write-loop`: writes `versions[1]`, `versions[0]`, `versions[1]`, ... over
/// `checkpoints/latest.safetensors` of the run directory, through the same
/// [`RunDir::rotate_and_write_checkpoint`] as training (or a bare `std::fs::write` with
/// `--plain`), until killed or `--max-seconds` pass.
///
/// # Errors
/// Unreadable version files, write errors.
pub fn write_loop(args: &TestWriteLoopArgs) -> Result<()> {
    let run = RunDir::new(&args.run_dir);
    let versions = args
        .versions
        .iter()
        .map(|p| std::fs::read(p).with_context(|| format!("reading {}", p.display())))
        .collect::<Result<Vec<_>>>()?;
    let latest = run.latest();
    let deadline = Instant::now() + Duration::from_secs(args.max_seconds);
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{READY}")?;
        out.flush()?;
    }
    let mut i = 1;
    while Instant::now() < deadline {
        let bytes = &versions[i % versions.len()];
        if args.plain {
            std::fs::write(&latest, bytes)
                .with_context(|| format!("writing {}", latest.display()))?;
        } else {
            run.rotate_and_write_checkpoint(bytes, true)?;
        }
        i += 1;
    }
    Ok(())
}

#[cfg(feature = "test-hooks")]
/// A checkpoint byte writer for [`RunDir::write_checkpoint_with`] that writes the first `limit`
/// bytes and then fails like a full disk (`ENOSPC`, "No space left on device").
pub fn fail_after(limit: usize) -> impl FnOnce(&mut File, &[u8]) -> std::io::Result<()> {
    move |f, bytes| {
        f.write_all(&bytes[..limit.min(bytes.len())])?;
        Err(std::io::Error::from_raw_os_error(28))
    }
}
