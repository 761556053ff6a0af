//! The run's timeline, shared by the coordinating thread and the load
//! threads: ramp, warm-up, measurement, drain, hold, stop. Plus the live
//! figures the progress bar shows. Atomics only; the load threads never
//! block on it.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

/// Where the run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Opening connections; no traffic yet.
    Ramp = 0,
    /// Traffic flows, not counted.
    Warmup = 1,
    /// Traffic flows and is counted.
    Measure = 2,
    /// No new messages; the echoes of messages sent while measuring are
    /// still awaited (for a bounded time) and recorded, so that the
    /// slowest are not cut from the tail.
    Drain = 3,
    /// No new messages; the connections stay open and idle (`--hold`).
    Hold = 4,
    /// Close everything.
    Stop = 5,
}

#[derive(Debug, Default)]
pub(crate) struct Control {
    phase: AtomicU8,
    traffic_start: OnceLock<Instant>,
    measure_start: OnceLock<Instant>,
    measure_end: OnceLock<Instant>,
    /// Load threads that have no connection left to open or handshake.
    pub(crate) ramped: AtomicUsize,
    /// Connections open and ready for traffic right now.
    pub(crate) ready: AtomicUsize,
    /// Messages counted so far.
    pub(crate) messages: AtomicU64,
    /// Messages sent and not yet echoed, on every connection.
    pub(crate) in_flight: AtomicUsize,
    /// Errors so far, of every kind.
    pub(crate) errors: AtomicU64,
}

impl Control {
    pub(crate) fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Acquire) {
            0 => Phase::Ramp,
            1 => Phase::Warmup,
            2 => Phase::Measure,
            3 => Phase::Drain,
            4 => Phase::Hold,
            _ => Phase::Stop,
        }
    }

    /// Moves the run to `phase` at `now` (the timestamps are set before the
    /// phase, so a thread that sees the phase sees its start time).
    pub(crate) fn enter(&self, phase: Phase, now: Instant) {
        let stamp = match phase {
            Phase::Ramp => None,
            Phase::Warmup => Some(&self.traffic_start),
            Phase::Measure => Some(&self.measure_start),
            // Whichever comes first ends the measurement.
            Phase::Drain | Phase::Hold | Phase::Stop => Some(&self.measure_end),
        };
        if let Some(stamp) = stamp {
            let _ = stamp.set(now);
        }
        self.phase.store(phase as u8, Ordering::Release);
    }

    /// When traffic started (the end of the ramp).
    pub(crate) fn traffic_start(&self) -> Option<Instant> {
        self.traffic_start.get().copied()
    }

    /// When the measured window began.
    pub(crate) fn measure_start(&self) -> Option<Instant> {
        self.measure_start.get().copied()
    }

    /// Where `at` falls against the measured window.
    pub(crate) fn window(&self, at: Instant) -> Window {
        match (self.measure_start.get(), self.measure_end.get()) {
            (Some(start), _) if at < *start => Window::Before,
            (Some(_), None) => Window::Inside,
            (Some(_), Some(end)) if at <= *end => Window::Inside,
            (Some(_), Some(_)) => Window::After,
            (None, _) => Window::Before,
        }
    }
}

/// Where an instant falls against the measured window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Window {
    Before,
    Inside,
    After,
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_window_runs_from_measure_to_drain() {
        let control = Control::default();
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        assert_eq!(control.window(at(0)), Window::Before);
        control.enter(Phase::Warmup, at(0));
        control.enter(Phase::Measure, at(10));
        assert_eq!(control.window(at(5)), Window::Before);
        assert_eq!(control.window(at(50)), Window::Inside);
        control.enter(Phase::Drain, at(100));
        assert_eq!(control.window(at(100)), Window::Inside);
        assert_eq!(control.window(at(101)), Window::After);
        // Hold after the drain does not move the end of the window.
        control.enter(Phase::Hold, at(200));
        assert_eq!(control.window(at(150)), Window::After);
        assert_eq!(control.phase(), Phase::Hold);
    }
}
