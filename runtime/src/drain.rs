//! Graceful shutdown of one connection: stop taking new work, let the work
//! under way finish within a grace period, then close with 1001.

use crate::error::{Error, ErrorKind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;

/// Counts the work under way on a connection (calls waiting for their
/// answer or still receiving a streamed body, requests being served) and
/// refuses new work once draining has started.
#[derive(Debug, Default)]
pub(crate) struct Drain {
    draining: AtomicBool,
    under_way: AtomicUsize,
    idle: Notify,
}

/// One piece of work under way; dropping it ends it.
#[derive(Debug)]
pub(crate) struct Work(Arc<Drain>);

impl Drop for Work {
    fn drop(&mut self) {
        if self.0.under_way.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl Drain {
    /// Counts a new piece of work, or `None` once draining has started.
    ///
    /// The count goes up before the flag is read and [`start`](Drain::start)
    /// sets the flag before [`idle`](Drain::idle) reads the count, so either
    /// the work is refused or the drain waits for it.
    pub(crate) fn enter(self: &Arc<Self>) -> Option<Work> {
        let work = Work(self.clone());
        self.under_way.fetch_add(1, Ordering::SeqCst);
        if self.draining.load(Ordering::SeqCst) {
            return None;
        }
        Some(work)
    }

    /// Refuses new work from now on. True the first time.
    pub(crate) fn start(&self) -> bool {
        !self.draining.swap(true, Ordering::SeqCst)
    }

    pub(crate) fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Resolves once no work is under way.
    pub(crate) async fn idle(&self) {
        loop {
            let notified = self.idle.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if self.under_way.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// The error of a call refused because its connection is shutting down.
pub(crate) fn refused() -> Error {
    Error::new(
        ErrorKind::Closed,
        "the connection is shutting down: it takes no new calls",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn idle_waits_for_work_and_draining_refuses_more() {
        let drain = Arc::new(Drain::default());
        let work = drain.enter().expect("not draining yet");
        assert!(drain.start());
        assert!(!drain.start());
        assert!(drain.enter().is_none(), "draining refuses new work");
        let waiting = tokio::time::timeout(Duration::from_millis(50), drain.idle()).await;
        assert!(waiting.is_err(), "idle while work is under way");
        drop(work);
        tokio::time::timeout(Duration::from_secs(5), drain.idle())
            .await
            .expect("idle once the work is done");
    }
}
