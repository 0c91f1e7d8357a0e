//! SIGINT/SIGTERM handling: the first signal asks the training loop to finish its current step,
//! write a checkpoint and exit with code 130; a second one exits at once.

use set_train::StopFlag;
use std::sync::OnceLock;

static STOP: OnceLock<StopFlag> = OnceLock::new();

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
