//! Terminal output settings of this process: `-q` hides progress bars and per-epoch lines;
//! progress bars are drawn on stderr only when it is a terminal.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

static QUIET: AtomicBool = AtomicBool::new(false);

/// Records `-q` (once, at start-up).
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

/// Whether `-q` was given.
pub fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// Whether progress bars are drawn: stderr is a terminal and `-q` was not given.
pub fn bars_shown() -> bool {
    !quiet() && std::io::stderr().is_terminal()
}

/// A progress bar of `len` steps on stderr with `template` (indicatif's syntax), or a hidden
/// one when [`bars_shown`] is false.
pub fn bar(len: usize, template: &str) -> ProgressBar {
    if !bars_shown() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len as u64);
    if let Ok(style) = ProgressStyle::with_template(template) {
        pb.set_style(style.progress_chars("=> "));
    }
    pb
}

/// The bar of an evaluation over `len` batches; `what` names it (e.g. `dev`).
pub fn eval_bar(len: usize, what: &str) -> ProgressBar {
    let pb = bar(
        len,
        "evaluating {msg} [{bar:30}] {pos}/{len} batches {elapsed} (eta {eta})",
    );
    pb.set_message(what.to_string());
    pb
}
