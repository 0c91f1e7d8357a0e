//! SIGINT/SIGTERM handling: the first signal asks the training loop to finish its current step,
//! write a checkpoint and exit with code 130; a second one exits at once.

use set_train::StopFlag;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

static STOP: OnceLock<StopFlag> = OnceLock::new();
static AT_ONCE: AtomicBool = AtomicBool::new(false);

/// While `true` (data loading, before a run directory exists) the first signal exits at once:
/// there is nothing to checkpoint. Returns whether a signal already asked to stop.
pub fn exit_at_once(yes: bool) -> bool {
    AT_ONCE.store(yes, Ordering::SeqCst);
    flag().is_requested()
}

/// The process's stop flag, set by the first SIGINT/SIGTERM once [`install`] ran.
pub fn flag() -> StopFlag {
    STOP.get_or_init(StopFlag::default).clone()
}

/// Installs the handler (once per process). Failure to install is logged, not fatal.
pub fn install() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        let stop = flag();
        let r = ctrlc::set_handler(move || {
            if AT_ONCE.load(Ordering::SeqCst) {
                eprintln!("interrupted before the run directory was created: nothing written");
                std::process::exit(crate::exit::INTERRUPTED);
            }
            if stop.is_requested() {
                eprintln!("second interrupt: exiting without a checkpoint");
                std::process::exit(crate::exit::INTERRUPTED);
            }
            stop.request();
            eprintln!("interrupt received: finishing the current step and writing a checkpoint");
        });
        if let Err(e) = r {
            tracing::warn!("cannot install the SIGINT/SIGTERM handler: {e}");
        }
    });
}
