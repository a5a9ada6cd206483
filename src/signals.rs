//! Stopping on SIGINT, SIGTERM and SIGHUP while waiting.
//!
//! pgwait may be PID 1 in a container, where the kernel drops SIGTERM unless a handler is
//! installed, and `docker stop` would hang for its grace period. The handler (ctrlc, with
//! its `termination` feature) wakes the wait at once; the caller drops everything in flight.
//! Exec restores default dispositions, so the command handles its own signals.

use tokio::sync::watch;

pub struct StopSignal {
    receiver: watch::Receiver<bool>,
    // Kept so that a StopSignal without a handler still has a live channel.
    _sender: Option<watch::Sender<bool>>,
}

impl StopSignal {
    /// Installs the handler. On failure the returned signal never fires, and the error
    /// says why.
    pub fn install() -> (StopSignal, Option<ctrlc::Error>) {
        let (sender, receiver) = watch::channel(false);
        let keep = sender.clone();
        match ctrlc::set_handler(move || {
            let _ = sender.send(true);
        }) {
            Ok(()) => (
                StopSignal {
                    receiver,
                    _sender: None,
                },
                None,
            ),
            Err(e) => (
                StopSignal {
                    receiver,
                    _sender: Some(keep),
                },
                Some(e),
            ),
        }
    }

    /// Resolves when a stop signal has arrived.
    pub async fn wait(&mut self) {
        // An error means every sender is gone, so no signal can arrive any more.
        if self.receiver.wait_for(|stopped| *stopped).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    pub fn arrived(&self) -> bool {
        *self.receiver.borrow()
    }
}
