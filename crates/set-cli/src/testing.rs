//! Test-only helpers (hidden from the documentation): the `__test-write-loop` subcommand used by
//! the SIGKILL tests, and a fault-injecting writer for the full-disk tests. Nothing here runs in
//! a normal `train`, `resume`, `eval`, `predict`, `info`, `export` or `bench`.

use crate::cli::TestWriteLoopArgs;
use crate::rundir::RunDir;
use anyhow::{Context, Result};
use std::fs::File;
use std::io::Write;
use std::time::{Duration, Instant};

/// Line printed on stdout once the loop is about to start writing.
pub const READY: &str = "write loop ready";

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

/// A checkpoint byte writer for [`RunDir::write_checkpoint_with`] that writes the first `limit`
/// bytes and then fails like a full disk (`ENOSPC`, "No space left on device").
pub fn fail_after(limit: usize) -> impl FnOnce(&mut File, &[u8]) -> std::io::Result<()> {
    move |f, bytes| {
        f.write_all(&bytes[..limit.min(bytes.len())])?;
        Err(std::io::Error::from_raw_os_error(28))
    }
}
