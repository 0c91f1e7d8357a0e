//! Standard output without panics: every subcommand writes its results through [`write()`] (or
//! the `say!` macro), which returns the write error instead of panicking as `println!` does.
//! A full disk (`> /dev/full`) is then an error (exit code 1) naming stdout; a closed pipe ends
//! the process quietly through the default SIGPIPE disposition, as any Unix filter does.
//! Training's progress lines go through [`write_progress`]: a run that loses its stdout keeps
//! training and writes its files, and says so once on stderr.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

/// Writes `text` to stdout and flushes it.
///
/// # Errors
/// The write error, with the context "writing to stdout".
pub fn write(text: &str) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| anyhow::Error::new(e).context("writing to stdout"))
}

/// Writes a progress line of a training run; a failure is reported once on stderr and
/// otherwise ignored, so that training continues and writes its run directory.
pub fn write_progress(line: &str) {
    static WARNED: AtomicBool = AtomicBool::new(false);
    if let Err(e) = write(&format!("{line}\n"))
        && !WARNED.swap(true, Ordering::Relaxed)
    {
        let _ = writeln!(
            io::stderr(),
            "warning: {e:#}; training continues without its progress lines (the run directory keeps metrics.csv and events.jsonl)"
        );
    }
}

/// `println!` that returns an error instead of panicking: `say!("{x}")?`.
macro_rules! say {
    () => {
        $crate::out::write("\n")
    };
    ($($arg:tt)*) => {
        $crate::out::write(&format!("{}\n", format_args!($($arg)*)))
    };
}
pub(crate) use say;

/// `println!` for training's progress lines: see [`write_progress`].
macro_rules! progress {
    ($($arg:tt)*) => {
        $crate::out::write_progress(&format!($($arg)*))
    };
}
pub(crate) use progress;
