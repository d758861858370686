//! SIGTERM and SIGINT in a Slurm worker: `scancel`, a time limit or preemption send SIGTERM
//! (then SIGKILL after the cluster's `KillWait`); the worker turns it into a cancel of the
//! running stage, which keeps its last checkpoint, and reports `cancelled`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::stage::CancelToken;

static SIGNALLED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    SIGNALLED.store(true, Ordering::SeqCst);
}

/// Cancel `token` when this process receives SIGTERM or SIGINT (a watcher thread polls the
/// flag the handler sets every 20 ms).
pub fn cancel_on_term(token: CancelToken) {
    let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGTERM, handler);
        libc::signal(libc::SIGINT, handler);
    }
    std::thread::spawn(move || loop {
        if SIGNALLED.load(Ordering::SeqCst) {
            tracing::warn!("signalled: stopping the stage (its checkpoint is kept)");
            token.cancel();
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    });
}

/// Whether a signal arrived.
pub fn signalled() -> bool {
    SIGNALLED.load(Ordering::SeqCst)
}
