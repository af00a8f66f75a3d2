//! Ctrl-C and SIGTERM: the first signal asks the running job to stop at its next checkpoint,
//! which unwinds normally so every temporary file and shared segment is removed by its owner's
//! destructor; a second signal exits at once.

use crate::error::{Error, Result};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Installs the signal handler (once per process; later calls do nothing).
pub fn install_handler() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let _ = ctrlc::set_handler(|| {
            if INTERRUPTED.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
            eprintln!("\nmedimpute: interrupted, cleaning up (press Ctrl-C again to exit now)");
        });
    });
}

/// Whether a stop was requested.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::Relaxed)
}

/// A checkpoint: `Err(Interrupted)` once a stop was requested.
pub fn check() -> Result<()> {
    if interrupted() {
        Err(Error::Interrupted)
    } else {
        Ok(())
    }
}
