//! A one-way "stop now" signal that blocking threads, event loops and async
//! tasks can all wait on.
//!
//! Triggering is idempotent. Code that blocks in a system call cannot poll a
//! flag, so besides [`Shutdown::is_triggered`] and [`Shutdown::wait_timeout`]
//! a model can register a hook with [`Shutdown::on_trigger`] that wakes its
//! blocked thread (shuts the listener down, wakes a poller, notifies a task).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

type Hook = Box<dyn FnOnce() + Send>;

/// A cloneable handle; every clone sees the same trigger.
#[derive(Clone, Default)]
pub struct Shutdown {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    triggered: AtomicBool,
    hooks: Mutex<Vec<Hook>>,
    changed: Condvar,
}

impl std::fmt::Debug for Shutdown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shutdown")
            .field("triggered", &self.is_triggered())
            .finish()
    }
}

impl Shutdown {
    /// A handle that has not been triggered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts the shutdown: runs every registered hook (once) and wakes waiters.
    pub fn trigger(&self) {
        let hooks = {
            let mut hooks = self.lock_hooks();
            if self.inner.triggered.swap(true, Ordering::SeqCst) {
                return;
            }
            std::mem::take(&mut *hooks)
        };
        self.inner.changed.notify_all();
        for hook in hooks {
            hook();
        }
    }

    /// True once [`trigger`](Self::trigger) was called on any clone.
    pub fn is_triggered(&self) -> bool {
        self.inner.triggered.load(Ordering::SeqCst)
    }

    /// Runs `hook` when the shutdown is triggered, or right away if it already was.
    pub fn on_trigger(&self, hook: impl FnOnce() + Send + 'static) {
        {
            let mut hooks = self.lock_hooks();
            if !self.is_triggered() {
                hooks.push(Box::new(hook));
                return;
            }
        }
        hook();
    }

    /// Blocks until triggered.
    pub fn wait(&self) {
        let mut hooks = self.lock_hooks();
        while !self.is_triggered() {
            hooks = self
                .inner
                .changed
                .wait(hooks)
                .unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Blocks until triggered or `timeout` has passed; returns whether it was triggered.
    /// A sleep that a shutdown cuts short, for back-off loops.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let deadline = crate::config::deadline(Instant::now(), timeout);
        let mut hooks = self.lock_hooks();
        while !self.is_triggered() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            hooks = self
                .inner
                .changed
                .wait_timeout(hooks, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }

    fn lock_hooks(&self) -> MutexGuard<'_, Vec<Hook>> {
        // A hook that panicked must not make shutdown impossible.
        self.inner.hooks.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn hooks_run_once_and_late_hooks_run_at_once() {
        let shutdown = Shutdown::new();
        let runs = Arc::new(AtomicUsize::new(0));
        let counter = runs.clone();
        shutdown.on_trigger(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!(runs.load(Ordering::SeqCst), 0);
        shutdown.trigger();
        shutdown.clone().trigger();
        assert_eq!(runs.load(Ordering::SeqCst), 1);

        let counter = runs.clone();
        shutdown.on_trigger(move || {
            counter.fetch_add(10, Ordering::SeqCst);
        });
        assert_eq!(runs.load(Ordering::SeqCst), 11);
    }

    #[test]
    fn wait_timeout_returns_early_on_trigger() {
        let shutdown = Shutdown::new();
        assert!(!shutdown.wait_timeout(Duration::from_millis(10)));
        let remote = shutdown.clone();
        let waiter = std::thread::spawn(move || remote.wait_timeout(Duration::from_secs(30)));
        std::thread::sleep(Duration::from_millis(20));
        shutdown.trigger();
        assert!(waiter.join().unwrap());
        shutdown.wait();
    }
}
