//! One load thread: a mio event loop driving its share of the connections
//! through connect, handshake and echo, and measuring each step.
//!
//! Each connection has at most one message in flight. In the closed loop it
//! sends the next one as soon as the echo is complete. In the open loop
//! each connection has a schedule (the total `--rate` spread evenly), and a
//! message's latency is measured from the time the schedule said to send
//! it, not from when the connection was free to: when the server stalls,
//! the messages that should have gone out meanwhile carry the stall in
//! their latency (wrk2's coordinated-omission correction). The latency
//! from the actual send is recorded too, to show the difference, and so is
//! how late each scheduled send actually went out (the send lag): a load
//! generator that falls behind its own schedule would otherwise charge its
//! lateness to the server.
//!
//! Echoes are timed by the kernel: each read returns when its last byte
//! arrived ([`kernel_timestamps`]), so the thread's own wake-up is not
//! charged to the server, and the open loop does not wake for echoes at
//! all. It sleeps until its next send, then collects every echo that came
//! meanwhile with one non-blocking poll. It waits on the sockets only
//! where something must react to them: the ramp, the closed loop, the
//! drain, messages too large to leave in the socket buffers, and sockets
//! the kernel does not stamp ([`SocketWait`], which ends at the next send
//! to the nanosecond). Each echo's read time is recorded too (the
//! user-space timing), to show the difference.
//!
//! The measured window counts echoes by when they complete: every echo that
//! completes inside it is counted and recorded, whenever it was sent. Echoes
//! of messages sent inside the window that are still out when it ends are
//! awaited during the drain and recorded as drained (not counted in the
//! throughput), or counted as unfinished.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::num::NonZeroU64;
use std::os::fd::AsFd;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use hdrhistogram::Histogram;
use mio::net::TcpStream;
use mio::{Interest, Poll, Token};
use slab::Slab;
use socket2::{Domain, Protocol, Socket, Type};

use super::control::{Control, Phase, Window};
use super::kernel_timestamps;
use super::message;
use super::report::{EchoTiming, ErrorKind, Errors};
use super::send_order::SendOrder;
use super::settings::Settings;
use super::socket_wait::SocketWait;

/// How often a load thread looks at the phase when nothing else wakes it.
const PHASE_CHECK: Duration = Duration::from_millis(20);
/// Connects started per loop turn when the ramp is unlimited, so that the
/// loop keeps answering the connections it already has.
const CONNECTS_PER_TURN: usize = 256;
const EVENTS_PER_POLL: usize = 1024;
/// A thread first wakes this much before a send (or `--burst` before, if
/// that is less), then learns its own lateness and wakes that much ahead
/// ([`WakeAhead`]): a send that goes out late counts its lateness as
/// latency, while one early, within the burst, is timed from when it went.
const WAKE_AHEAD: Duration = Duration::from_micros(25);
/// The largest message whose echo may wait in the socket for the thread's
/// next wake: one that fits in the smallest send and receive buffers Linux
/// allows (`tcp_wmem`/`tcp_rmem` minimum, 4 KiB), so neither side's write
/// can block on it.
const WAKELESS_MAX_SIZE: usize = 4096;
/// Per-second histogram pairs a thread allocates before the window.
const PREALLOCATED_SECONDS: u64 = 300;

/// What one load thread measured.
#[derive(Debug)]
pub(crate) struct ThreadReport {
    pub(crate) connect: Histogram<u64>,
    pub(crate) handshake: Histogram<u64>,
    /// Echo latency to the kernel's arrival stamp (the read time where the
    /// kernel gave none), corrected and uncorrected.
    pub(crate) echo: Histogram<u64>,
    pub(crate) echo_uncorrected: Histogram<u64>,
    /// Echo latency to when the thread read it, corrected: the user-space timing.
    pub(crate) echo_user: Histogram<u64>,
    /// How many recorded echoes a kernel stamp timed, and how many their read time.
    pub(crate) echo_timing: EchoTiming,
    /// Open loop: how late each send inside the window went out.
    pub(crate) send_lag: Histogram<u64>,
    /// Open loop: how late each wait for a send inside the window ended (a
    /// sleep, or a wait on the sockets that no socket cut short).
    pub(crate) wake_lateness: Histogram<u64>,
    /// Open loop: sends inside the window.
    pub(crate) sends: u64,
    /// Per second of the window (by completion time), the corrected and the
    /// uncorrected echo latency: the interval log.
    pub(crate) intervals: Vec<[Histogram<u64>; 2]>,
    /// Echoes completed inside the window.
    pub(crate) messages: u64,
    /// Echoes of messages sent inside the window that completed during the drain.
    pub(crate) drained: u64,
    /// Messages sent inside the window whose echo never completed in time.
    pub(crate) unfinished: u64,
    /// Messages counted per connection that was ever ready for traffic.
    pub(crate) per_connection: Vec<u64>,
    pub(crate) errors: Errors,
    pub(crate) connected: usize,
    pub(crate) ready: usize,
    pub(crate) first_connect: Option<Instant>,
    pub(crate) last_ready: Option<Instant>,
}

/// A latency histogram in nanoseconds, from 1 ns to an hour, 3 significant digits.
pub(crate) fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("valid histogram bounds")
}

#[derive(Debug)]
enum State {
    Connecting,
    /// `hello\n` sent; this many bytes of the reply have arrived.
    Handshaking(usize),
    /// Ready, no message in flight.
    Idle,
    /// A message is out: `sent` bytes written, `received` bytes echoed.
    InFlight {
        sent: usize,
        received: usize,
    },
}

#[derive(Debug)]
struct Conn {
    id: u32,
    stream: TcpStream,
    state: State,
    started: Instant,
    /// When the current step times out (connect or handshake).
    deadline: Option<Instant>,
    /// Open loop: sends that fell due while the last echo was out, the
    /// first of them at `owed_since`, the others an interval apart each.
    owed: u32,
    owed_since: Instant,
    seq: u64,
    /// The message in flight, which is also what the echo must equal.
    message: Vec<u8>,
    intended: Instant,
    sent_at: Instant,
    counted: u64,
}

pub(crate) struct Worker<'a> {
    settings: &'a Settings,
    control: &'a Control,
    poll: Poll,
    conns: Slab<Conn>,
    /// Connection ids this thread still has to open, in ramp order.
    to_open: VecDeque<u32>,
    ramp_start: Instant,
    /// Connect and handshake deadlines: (when, slab key, connection id),
    /// validated against the connection when due.
    deadlines: BinaryHeap<Reverse<(Instant, usize, u32)>>,
    /// Open loop: which connection sends next, and when.
    send_order: Option<SendOrder>,
    /// Waits for the sockets until the first timer, to the nanosecond.
    wait: SocketWait,
    /// The last echo read came with a kernel stamp: echoes may wait for
    /// the next wake without losing their time.
    stamped: bool,
    wake_ahead: WakeAhead,
    /// Counted here and added to the shared figures once per loop turn, so
    /// that the hot path touches no shared cache line.
    unpublished_messages: u64,
    unpublished_in_flight: isize,
    scratch: Vec<u8>,
    report: ThreadReport,
    /// Connections still connecting or handshaking.
    pending: usize,
    /// Connections owing sends that wait for their echo.
    overdue: usize,
    ramp_reported: bool,
    traffic_started: bool,
}

impl<'a> Worker<'a> {
    /// A load thread for every `threads`-th connection of the segment, from
    /// its `index`-th on.
    pub(crate) fn new(
        index: usize,
        settings: &'a Settings,
        control: &'a Control,
        ramp_start: Instant,
    ) -> io::Result<Worker<'a>> {
        let to_open: VecDeque<u32> = settings
            .segment
            .ids(settings.connections)
            .skip(index)
            .step_by(settings.threads)
            .map(|id| id as u32)
            .collect();
        let send_order = SendOrder::new(settings, to_open.iter().copied());
        let poll = Poll::new()?;
        let wait = SocketWait::new(&poll, EVENTS_PER_POLL, settings.rate.is_some())?;
        // Every second the window and drain can have, allocated before
        // the window rather than on its hot path; a longer run (a soak)
        // adds a pair a second after these, rather than zeroing a quarter
        // megabyte per second of it before it starts.
        let seconds =
            (settings.duration.as_secs() + settings.drain.as_secs() + 2).min(PREALLOCATED_SECONDS);
        let intervals = (0..seconds)
            .map(|_| [latency_histogram(), latency_histogram()])
            .collect();
        Ok(Worker {
            settings,
            control,
            poll,
            wait,
            stamped: true,
            wake_ahead: WakeAhead::new(settings.burst),
            unpublished_messages: 0,
            unpublished_in_flight: 0,
            conns: Slab::new(),
            to_open,
            ramp_start,
            deadlines: BinaryHeap::new(),
            send_order,
            scratch: vec![0; settings.size.max(64 * 1024)],
            report: ThreadReport {
                connect: latency_histogram(),
                handshake: latency_histogram(),
                echo: latency_histogram(),
                echo_uncorrected: latency_histogram(),
                echo_user: latency_histogram(),
                echo_timing: EchoTiming::default(),
                send_lag: latency_histogram(),
                wake_lateness: latency_histogram(),
                sends: 0,
                intervals,
                messages: 0,
                drained: 0,
                unfinished: 0,
                per_connection: Vec::new(),
                errors: Errors::default(),
                connected: 0,
                ready: 0,
                first_connect: None,
                last_ready: None,
            },
            pending: 0,
            overdue: 0,
            ramp_reported: false,
            traffic_started: false,
        })
    }

    /// Runs until the stop phase; returns what was measured.
    pub(crate) fn run(mut self) -> io::Result<ThreadReport> {
        let mut ready = Vec::with_capacity(EVENTS_PER_POLL);
        // A sleep ends when asked, not up to 50 us later (the default
        // slack), which every send after it would carry as lateness.
        let _ = rustix::thread::set_current_timer_slack(NonZeroU64::new(1));
        loop {
            let now = Instant::now();
            let phase = self.control.phase();
            if phase == Phase::Stop {
                break;
            }
            self.open_due(now);
            if phase >= Phase::Warmup && !self.traffic_started {
                self.start_traffic(now);
            }
            self.report_ramp_done();
            let (wake, coarse) = if self.echoes_can_wait(phase) {
                self.sleep_to_next_send(now, phase);
                (None, Duration::ZERO)
            } else {
                self.wake_at(now, phase)
            };
            match self
                .wait
                .wait(&mut self.poll, now, wake, coarse, &mut ready)
            {
                Err(err) if err.kind() != io::ErrorKind::Interrupted => return Err(err),
                _ => {}
            }
            // A wait that was to sleep and that no socket ended: timed.
            if let Some(wake) = wake.filter(|&wake| wake > now && ready.is_empty()) {
                self.woke(wake, Instant::now());
            }
            for &token in &ready {
                self.on_ready(token.0);
            }
            self.fire_timers(Instant::now());
            self.publish();
        }
        while self
            .report
            .intervals
            .last()
            .is_some_and(|[with, _]| with.is_empty())
        {
            self.report.intervals.pop();
        }
        for conn in self.conns.drain() {
            if let State::InFlight { .. } = conn.state
                && self.control.window(conn.sent_at) == Window::Inside
            {
                self.report.unfinished += 1;
            }
            if !matches!(conn.state, State::Connecting | State::Handshaking(_)) {
                self.report.per_connection.push(conn.counted);
            }
        }
        Ok(self.report)
    }

    /// Whether this turn may sleep through echoes and collect them after:
    /// only in the open loop's traffic, with every connection ready, no
    /// send waiting for an echo, stamps from the kernel, and messages that
    /// fit in the socket buffers.
    fn echoes_can_wait(&self, phase: Phase) -> bool {
        self.settings.rate.is_some()
            && self.overdue == 0
            && self.stamped
            && self.settings.size <= WAKELESS_MAX_SIZE
            && self.traffic_started
            && phase < Phase::Drain
            && self.pending == 0
            && self.to_open.is_empty()
    }

    /// Sleeps until the first timer falls due, less the wake-ahead, or at
    /// most until the next look at the phase.
    fn sleep_to_next_send(&mut self, now: Instant, phase: Phase) {
        let wake = self
            .first_due(phase)
            .map_or(now + PHASE_CHECK, |at| self.ahead_of(at))
            .min(now + PHASE_CHECK);
        if wake > now {
            std::thread::sleep(wake - now);
            self.woke(wake, Instant::now());
        }
    }

    /// When to wake for something due `at`: the wake-ahead before it.
    fn ahead_of(&self, at: Instant) -> Instant {
        at.checked_sub(self.wake_ahead.get()).unwrap_or(at)
    }

    /// A sleep meant to end at `wake` ended at `now`, not cut short by a
    /// socket: learns how late it was, and records it in the window.
    fn woke(&mut self, wake: Instant, now: Instant) {
        // Ended before its time: by the look at the phase, not the timer.
        let Some(late) = now.checked_duration_since(wake) else {
            return;
        };
        self.wake_ahead.observe(late);
        if self.settings.rate.is_some() && self.control.window(wake) == Window::Inside {
            self.report.wake_lateness.saturating_record(nanos(late));
        }
    }

    /// Adds what this thread counted since the last turn to the shared figures.
    fn publish(&mut self) {
        let messages = std::mem::take(&mut self.unpublished_messages);
        if messages > 0 {
            self.control.messages.fetch_add(messages, Ordering::Relaxed);
        }
        let in_flight = std::mem::take(&mut self.unpublished_in_flight);
        if in_flight > 0 {
            self.control
                .in_flight
                .fetch_add(in_flight.unsigned_abs(), Ordering::Relaxed);
        } else if in_flight < 0 {
            self.control
                .in_flight
                .fetch_sub(in_flight.unsigned_abs(), Ordering::Relaxed);
        }
    }

    /// The first deadline or (before the drain) send that falls due.
    fn first_due(&self, phase: Phase) -> Option<Instant> {
        let deadline = self.deadlines.peek().map(|Reverse((at, ..))| *at);
        let send = self
            .send_order
            .as_ref()
            .filter(|_| phase < Phase::Drain)
            .and_then(SendOrder::next_due);
        deadline.into_iter().chain(send).min()
    }

    /// When a wait on the sockets must end: at the first timer less the
    /// wake-ahead, to the nanosecond; and within the returned duration,
    /// for the next connect of the ramp and the next look at the phase.
    fn wake_at(&self, now: Instant, phase: Phase) -> (Option<Instant>, Duration) {
        let next_open = match (self.to_open.front(), self.settings.connect_rate) {
            (Some(_), None) => Some(Duration::ZERO),
            (Some(&id), Some(rate)) => {
                Some(self.open_time(id, rate).saturating_duration_since(now))
            }
            (None, _) => None,
        };
        let wake = self.first_due(phase).map(|at| self.ahead_of(at));
        let coarse = next_open.map_or(PHASE_CHECK, |open| open.min(PHASE_CHECK));
        (wake, coarse)
    }

    fn open_time(&self, id: u32, rate: f64) -> Instant {
        self.ramp_start + Duration::from_secs_f64(f64::from(id) / rate)
    }

    /// Starts the connects whose ramp time has come.
    fn open_due(&mut self, now: Instant) {
        for _ in 0..CONNECTS_PER_TURN {
            let Some(&id) = self.to_open.front() else {
                return;
            };
            if let Some(rate) = self.settings.connect_rate
                && self.open_time(id, rate) > now
            {
                return;
            }
            self.to_open.pop_front();
            self.connect(id, now);
        }
    }

    fn connect(&mut self, id: u32, now: Instant) {
        self.report.first_connect.get_or_insert(now);
        let source = match self.settings.source_addrs.as_slice() {
            [] => None,
            addrs => Some(addrs[id as usize % addrs.len()]),
        };
        let stream = match start_connect(self.settings.target, source) {
            Ok(stream) => stream,
            Err(err) => {
                self.error(connect_error_kind(&err));
                return;
            }
        };
        if kernel_timestamps::enable(stream.as_fd()).is_err() {
            self.stamped = false;
        }
        let entry = self.conns.vacant_entry();
        let key = entry.key();
        // The connection's message is made once; each send only stamps its number.
        let mut message = vec![0; self.settings.size];
        message::fill(&mut message, id, 0);
        let mut conn = Conn {
            id,
            stream,
            state: State::Connecting,
            started: now,
            deadline: Some(now + self.settings.connect_timeout),
            owed: 0,
            owed_since: now,
            seq: 0,
            message,
            intended: now,
            sent_at: now,
            counted: 0,
        };
        if let Err(err) = self.poll.registry().register(
            &mut conn.stream,
            Token(key),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            self.error(connect_error_kind(&err));
            return;
        }
        let deadline = conn.deadline;
        entry.insert(conn);
        self.pending += 1;
        if let Some(at) = deadline {
            self.deadlines.push(Reverse((at, key, id)));
        }
    }

    /// Tells the coordinator once this thread has nothing left to open or handshake.
    fn report_ramp_done(&mut self) {
        if !self.ramp_reported && self.to_open.is_empty() && self.pending == 0 {
            self.ramp_reported = true;
            self.control.ramped.fetch_add(1, Ordering::Release);
        }
    }

    /// The warm-up began: every ready connection starts its traffic.
    fn start_traffic(&mut self, now: Instant) {
        self.traffic_started = true;
        let idle: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, conn)| matches!(conn.state, State::Idle))
            .map(|(key, _)| key)
            .collect();
        for key in idle {
            self.begin_traffic(key, now);
        }
    }

    /// A connection became ready for traffic (or the traffic started).
    fn begin_traffic(&mut self, key: usize, now: Instant) {
        if !self.traffic_started {
            return;
        }
        match &mut self.send_order {
            None => self.send_next(key, now, now),
            Some(order) => {
                order.start(self.control.traffic_start().unwrap_or(now));
                order.join(self.conns[key].id, key);
            }
        }
    }

    fn fire_timers(&mut self, now: Instant) {
        while let Some(Reverse((at, key, id))) = self.deadlines.peek().copied() {
            if at > now {
                break;
            }
            self.deadlines.pop();
            let Some(conn) = self.conns.get(key).filter(|conn| conn.id == id) else {
                continue;
            };
            if conn.deadline == Some(at) {
                let kind = match conn.state {
                    State::Connecting => ErrorKind::ConnectTimeout,
                    _ => ErrorKind::HandshakeTimeout,
                };
                self.close(key, Some(kind));
            }
        }
        if self.control.phase() >= Phase::Drain {
            return;
        }
        let until = now + self.settings.burst;
        while let Some((at, id, key)) = self.send_order.as_mut().and_then(|o| o.pop_due(until)) {
            let Some(key) = key.filter(|&key| self.conns.get(key).is_some_and(|c| c.id == id))
            else {
                continue;
            };
            let conn = &mut self.conns[key];
            match conn.state {
                // Its own clock: sends that fall due together go out one
                // after another, and each echo is timed from its send.
                State::Idle => self.send_next(key, at, Instant::now()),
                // Due while its last echo is out: it goes as soon as that
                // echo is read, which must not wait for a sleep.
                State::InFlight { .. } => {
                    if conn.owed == 0 {
                        conn.owed_since = at;
                        self.overdue += 1;
                    }
                    conn.owed += 1;
                }
                State::Connecting | State::Handshaking(_) => {}
            }
        }
    }

    fn on_ready(&mut self, key: usize) {
        let Some(conn) = self.conns.get(key) else {
            return;
        };
        let outcome = match conn.state {
            State::Connecting => self.on_connecting(key),
            State::Handshaking(_) => self.on_handshaking(key),
            State::Idle | State::InFlight { .. } => self.on_traffic(key),
        };
        if let Err(kind) = outcome {
            self.close(key, Some(kind));
        }
    }

    fn on_connecting(&mut self, key: usize) -> Result<(), ErrorKind> {
        let now = Instant::now();
        let conn = &mut self.conns[key];
        match conn.stream.take_error() {
            Ok(None) => {}
            Ok(Some(err)) | Err(err) => return Err(connect_error_kind(&err)),
        }
        match conn.stream.peer_addr() {
            Ok(_) => {}
            // Not connected yet: a spurious wake-up.
            Err(err) if err.kind() == io::ErrorKind::NotConnected => return Ok(()),
            Err(err) => return Err(connect_error_kind(&err)),
        }
        let _ = conn.stream.set_nodelay(true);
        self.report
            .connect
            .saturating_record(nanos(now - conn.started));
        self.report.connected += 1;
        if !self.settings.handshake {
            return self.ready(key, now);
        }
        conn.state = State::Handshaking(0);
        conn.deadline = Some(now + self.settings.connect_timeout);
        let (deadline, id) = (conn.deadline, conn.id);
        write_all_now(&conn.stream, protocol::HELLO_LINE).map_err(|e| io_error_kind(&e))?;
        if let Some(at) = deadline {
            self.deadlines.push(Reverse((at, key, id)));
        }
        // The reply may be there already (edge-triggered: read now).
        self.on_handshaking(key)
    }

    fn on_handshaking(&mut self, key: usize) -> Result<(), ErrorKind> {
        let conn = &mut self.conns[key];
        let State::Handshaking(mut got) = conn.state else {
            return Ok(());
        };
        let expected = protocol::REPLY;
        loop {
            let n = match (&conn.stream).read(&mut self.scratch[..expected.len() - got]) {
                Ok(0) => return Err(ErrorKind::HandshakeRejected),
                Ok(n) => n,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    conn.state = State::Handshaking(got);
                    return Ok(());
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) if is_reset(&err) => return Err(ErrorKind::HandshakeRejected),
                Err(err) => return Err(io_error_kind(&err)),
            };
            if self.scratch[..n] != expected[got..got + n] {
                return Err(ErrorKind::HandshakeRejected);
            }
            got += n;
            if got == expected.len() {
                return self.ready(key, Instant::now());
            }
        }
    }

    /// Connected (and handshaken): count it, and start traffic if it is time.
    fn ready(&mut self, key: usize, now: Instant) -> Result<(), ErrorKind> {
        let conn = &mut self.conns[key];
        conn.state = State::Idle;
        conn.deadline = None;
        if self.settings.handshake {
            self.report
                .handshake
                .saturating_record(nanos(now - conn.started));
        }
        self.report.ready += 1;
        self.report.last_ready = Some(now);
        self.pending -= 1;
        self.control.ready.fetch_add(1, Ordering::Relaxed);
        self.begin_traffic(key, now);
        Ok(())
    }

    /// Sends the connection's next message, meant to go out at `intended`.
    fn send_next(&mut self, key: usize, intended: Instant, now: Instant) {
        let conn = &mut self.conns[key];
        conn.seq += 1;
        message::stamp(&mut conn.message, conn.seq);
        conn.intended = intended;
        conn.sent_at = now;
        conn.state = State::InFlight {
            sent: 0,
            received: 0,
        };
        self.unpublished_in_flight += 1;
        if self.settings.rate.is_some() && self.control.window(now) == Window::Inside {
            // Sent early (within `--burst`) is on time.
            self.report
                .send_lag
                .saturating_record(nanos(now.saturating_duration_since(intended)));
            self.report.sends += 1;
        }
        if let Err(kind) = self.on_traffic(key) {
            self.close(key, Some(kind));
        }
    }

    /// Writes what is left of the message and reads what came back.
    fn on_traffic(&mut self, key: usize) -> Result<(), ErrorKind> {
        let size = self.settings.size;
        let conn = &mut self.conns[key];
        let State::InFlight {
            mut sent,
            mut received,
        } = conn.state
        else {
            // Idle: the server has nothing to say; anything it does say is wrong.
            return match (&conn.stream).read(&mut self.scratch) {
                Ok(0) => Err(ErrorKind::UnexpectedClose),
                Ok(_) => Err(ErrorKind::Mismatch),
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => Ok(()),
                Err(err) => Err(io_error_kind(&err)),
            };
        };
        let just_sent = sent == 0;
        while sent < size {
            match (&conn.stream).write(&conn.message[sent..]) {
                Ok(n) => sent += n,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(io_error_kind(&err)),
            }
        }
        // System calls are the cost that matters here: a load generator that
        // spends more per message than the server measures itself. The echo
        // of what was just written cannot be back yet, and its arrival will
        // raise a readiness edge, so reading now would only return
        // `WouldBlock`; a complete message or a short read likewise means
        // the socket is drained, and new bytes will raise a new edge.
        let mut drained = just_sent && sent == size && received == 0;
        let mut arrived = None;
        while !drained {
            let n = match kernel_timestamps::recv(conn.stream.as_fd(), &mut self.scratch) {
                Ok((0, _)) => return Err(ErrorKind::UnexpectedClose),
                Ok((n, stamp)) => {
                    arrived = stamp;
                    n
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(io_error_kind(&err)),
            };
            drained = n < self.scratch.len() || received + n >= size;
            // More than was sent, or other bytes than were sent: the echo is wrong.
            if received + n > sent || self.scratch[..n] != conn.message[received..received + n] {
                return Err(ErrorKind::Mismatch);
            }
            received += n;
        }
        conn.state = State::InFlight { sent, received };
        if received == size {
            self.complete(key, arrived);
        }
        Ok(())
    }

    /// The echo of the message in flight is complete; its last byte
    /// arrived at `stamp` by the kernel's clock, if the kernel said.
    fn complete(&mut self, key: usize, stamp: Option<SystemTime>) {
        let now = Instant::now();
        self.stamped = stamp.is_some();
        let conn = &mut self.conns[key];
        conn.state = State::Idle;
        self.unpublished_in_flight -= 1;
        // A stamp from before the send belongs to other bytes (seen about
        // once in 100,000 echoes): the read time bounds the arrival instead.
        let stamp = stamp
            .map(|stamp| kernel_timestamps::to_instant(stamp, now))
            .filter(|&at| at >= conn.sent_at);
        let arrived = stamp.map_or(now, |at| at.min(now));
        // From the scheduled time, or the actual one if it went out early.
        let since = conn.intended.min(conn.sent_at);
        let corrected = nanos(arrived - since);
        let uncorrected = nanos(arrived - conn.sent_at);
        let phase = self.control.phase();
        let record = match self.control.window(arrived) {
            Window::Inside => {
                self.report.messages += 1;
                conn.counted += 1;
                self.unpublished_messages += 1;
                true
            }
            Window::After if self.control.window(conn.sent_at) == Window::Inside => {
                if phase == Phase::Drain {
                    self.report.drained += 1;
                } else {
                    self.report.unfinished += 1;
                }
                phase == Phase::Drain
            }
            _ => false,
        };
        if record {
            self.report.echo.saturating_record(corrected);
            self.report.echo_uncorrected.saturating_record(uncorrected);
            self.report.echo_user.saturating_record(nanos(now - since));
            match stamp {
                Some(_) => self.report.echo_timing.kernel += 1,
                None => self.report.echo_timing.read += 1,
            }
            if let Some(start) = self.control.measure_start() {
                let second = arrived.saturating_duration_since(start).as_secs() as usize;
                while self.report.intervals.len() <= second {
                    self.report
                        .intervals
                        .push([latency_histogram(), latency_histogram()]);
                }
                let [with, without] = &mut self.report.intervals[second];
                with.saturating_record(corrected);
                without.saturating_record(uncorrected);
            }
        }
        if phase >= Phase::Drain {
            return;
        }
        match &self.send_order {
            None => self.send_next(key, now, now),
            // Behind schedule: its next send fell due while this echo was
            // out (or, within the burst, just before it was read): it goes
            // at once, and the latency shows it.
            Some(order) if conn.owed > 0 => {
                let at = conn.owed_since;
                conn.owed -= 1;
                conn.owed_since = at + order.interval();
                if conn.owed == 0 {
                    self.overdue -= 1;
                }
                self.send_next(key, at, now);
            }
            Some(_) => {}
        }
    }

    fn close(&mut self, key: usize, error: Option<ErrorKind>) {
        let Some(mut conn) = self.conns.try_remove(key) else {
            return;
        };
        let _ = self.poll.registry().deregister(&mut conn.stream);
        if conn.owed > 0 {
            self.overdue -= 1;
        }
        if let State::InFlight { .. } = conn.state {
            self.unpublished_in_flight -= 1;
            if self.control.window(conn.sent_at) == Window::Inside {
                self.report.unfinished += 1;
            }
        }
        match conn.state {
            State::Connecting | State::Handshaking(_) => self.pending -= 1,
            _ => {
                self.report.per_connection.push(conn.counted);
                self.control.ready.fetch_sub(1, Ordering::Relaxed);
            }
        }
        if let Some(kind) = error {
            self.error(kind);
        }
    }

    fn error(&mut self, kind: ErrorKind) {
        self.report.errors.add(kind);
        self.control.errors.fetch_add(1, Ordering::Relaxed);
    }
}

/// Starts a non-blocking connect, from `source` if given.
fn start_connect(target: SocketAddr, source: Option<std::net::IpAddr>) -> io::Result<TcpStream> {
    let socket = Socket::new(
        Domain::for_address(target),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    socket.set_nonblocking(true)?;
    if let Some(source) = source {
        socket.bind(&SocketAddr::new(source, 0).into())?;
    }
    match socket.connect(&target.into()) {
        Ok(()) => {}
        Err(err) if err.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(err) => return Err(err),
    }
    Ok(TcpStream::from_std(socket.into()))
}

/// Writes a few bytes that fit in any fresh socket buffer.
fn write_all_now(mut stream: &TcpStream, bytes: &[u8]) -> io::Result<()> {
    let n = stream.write(bytes)?;
    if n == bytes.len() {
        Ok(())
    } else {
        Err(io::ErrorKind::WriteZero.into())
    }
}

fn connect_error_kind(err: &io::Error) -> ErrorKind {
    match err.kind() {
        io::ErrorKind::ConnectionRefused => ErrorKind::ConnectRefused,
        io::ErrorKind::TimedOut => ErrorKind::ConnectTimeout,
        _ => ErrorKind::Other,
    }
}

fn io_error_kind(err: &io::Error) -> ErrorKind {
    if is_reset(err) {
        ErrorKind::Reset
    } else {
        ErrorKind::Other
    }
}

fn is_reset(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
    )
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// How far ahead of a send a thread asks to wake: the lateness of
/// its recent wake-ups (a maximum that loses 1/64 per wake, so one stall is
/// forgotten within a few hundred wakes), never more than the burst, within
/// which a send may go out early.
#[derive(Debug)]
struct WakeAhead {
    lateness: Duration,
    burst: Duration,
}

impl WakeAhead {
    fn new(burst: Duration) -> WakeAhead {
        WakeAhead {
            lateness: WAKE_AHEAD,
            burst,
        }
    }

    fn get(&self) -> Duration {
        self.lateness.min(self.burst)
    }

    /// A wake-up came `late` after it was asked for.
    fn observe(&mut self, late: Duration) {
        self.lateness = late.max(self.lateness - self.lateness / 64);
    }
}
