//! SIGINT and SIGTERM: the first starts a graceful shutdown, the second ends
//! the process at once (for the operator who does not want to wait out the
//! grace period).

use std::io;

use crate::output::errln;
use model::Shutdown;
use signal_hook::consts::signal::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// Starts a thread that triggers `shutdown` on the first SIGINT or SIGTERM
/// and exits the process on the second.
pub(crate) fn trigger_on_signals(shutdown: Shutdown) -> io::Result<()> {
    let mut signals = Signals::new([SIGINT, SIGTERM])?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let mut received = signals.forever();
            if received.next().is_some() {
                shutdown.trigger();
            }
            if let Some(signal) = received.next() {
                errln!("c10k: second signal, exiting without waiting for connections");
                // The shell convention for "killed by signal N".
                std::process::exit(128 + signal);
            }
        })?;
    Ok(())
}
