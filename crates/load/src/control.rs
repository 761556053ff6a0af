//! The run's timeline, shared by the coordinating thread and the load
//! threads: ramp, warm-up, measurement, stop. Plus the live figures the
//! progress bar shows. Atomics only; the load threads never block on it.

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
    /// No new messages; the connections stay open and idle (`--hold`).
    Hold = 3,
    /// Close everything.
    Stop = 4,
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
    /// Errors so far, of every kind.
    pub(crate) errors: AtomicU64,
}

impl Control {
    pub(crate) fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Acquire) {
            0 => Phase::Ramp,
            1 => Phase::Warmup,
            2 => Phase::Measure,
            3 => Phase::Hold,
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
            Phase::Hold | Phase::Stop => Some(&self.measure_end),
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

    /// Whether a message meant to go out at `intended` and back at `done`
    /// falls in the measured window.
    pub(crate) fn counts(&self, intended: Instant, done: Instant) -> bool {
        match (self.measure_start.get(), self.measure_end.get()) {
            (Some(start), None) => intended >= *start,
            (Some(start), Some(end)) => intended >= *start && done <= *end,
            _ => false,
        }
    }
}
