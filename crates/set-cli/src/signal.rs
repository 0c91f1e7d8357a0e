//! SIGINT/SIGTERM handling: the first signal asks the training loop to finish its current step,
//! write a checkpoint and exit with code 130; a second one exits at once.

use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);
static INSTALL: Once = Once::new();

/// Installs the handler (once per process). Failure to install is logged, not fatal.
pub fn install() {
    INSTALL.call_once(|| {
        let r = ctrlc::set_handler(|| {
            if STOP.swap(true, Ordering::SeqCst) {
                eprintln!("second interrupt: exiting without a checkpoint");
                std::process::exit(crate::exit::INTERRUPTED);
            }
            eprintln!("interrupt received: finishing the current step and writing a checkpoint");
        });
        if let Err(e) = r {
            tracing::warn!("cannot install the SIGINT/SIGTERM handler: {e}");
        }
    });
}

/// Whether a stop was requested.
pub fn requested() -> bool {
    STOP.load(Ordering::SeqCst)
}
