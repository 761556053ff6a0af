//! What a load run found: the figures, the table people read and the JSON
//! machines read.

use std::fmt::Write as _;
use std::io;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use hdrhistogram::serialization::{Serializer, V2DeflateSerializer};
use serde::{Deserialize, Serialize};

use super::settings::Settings;
use crate::machine::Machine;

/// The kinds of failure a load run counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The target refused the connection.
    ConnectRefused,
    /// The connection was not established within `--connect-timeout`.
    ConnectTimeout,
    /// Closed (or answered wrongly) instead of `hello\n`.
    HandshakeRejected,
    /// No `hello\n` within `--connect-timeout` after connecting.
    HandshakeTimeout,
    /// Reset by the peer during traffic.
    Reset,
    /// Closed by the peer during traffic.
    UnexpectedClose,
    /// The echo differed from what was sent.
    Mismatch,
    /// Anything else (for example, out of local ports).
    Other,
}

/// Error counts by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Errors {
    pub connect_refused: u64,
    pub connect_timeout: u64,
    pub handshake_rejected: u64,
    pub handshake_timeout: u64,
    pub reset: u64,
    pub unexpected_close: u64,
    pub mismatch: u64,
    pub other: u64,
}

impl Errors {
    /// Counts one error.
    pub fn add(&mut self, kind: ErrorKind) {
        *self.counter(kind) += 1;
    }

    fn counter(&mut self, kind: ErrorKind) -> &mut u64 {
        match kind {
            ErrorKind::ConnectRefused => &mut self.connect_refused,
            ErrorKind::ConnectTimeout => &mut self.connect_timeout,
            ErrorKind::HandshakeRejected => &mut self.handshake_rejected,
            ErrorKind::HandshakeTimeout => &mut self.handshake_timeout,
            ErrorKind::Reset => &mut self.reset,
            ErrorKind::UnexpectedClose => &mut self.unexpected_close,
            ErrorKind::Mismatch => &mut self.mismatch,
            ErrorKind::Other => &mut self.other,
        }
    }

    /// Adds another set of counts to these.
    pub fn merge(&mut self, other: &Errors) {
        self.connect_refused += other.connect_refused;
        self.connect_timeout += other.connect_timeout;
        self.handshake_rejected += other.handshake_rejected;
        self.handshake_timeout += other.handshake_timeout;
        self.reset += other.reset;
        self.unexpected_close += other.unexpected_close;
        self.mismatch += other.mismatch;
        self.other += other.other;
    }

    /// Every kind with its count, in a fixed order.
    pub fn by_kind(&self) -> [(&'static str, u64); 8] {
        [
            ("connect_refused", self.connect_refused),
            ("connect_timeout", self.connect_timeout),
            ("handshake_rejected", self.handshake_rejected),
            ("handshake_timeout", self.handshake_timeout),
            ("reset", self.reset),
            ("unexpected_close", self.unexpected_close),
            ("mismatch", self.mismatch),
            ("other", self.other),
        ]
    }

    /// All errors together.
    pub fn total(&self) -> u64 {
        self.by_kind().iter().map(|(_, count)| count).sum()
    }
}

/// A latency distribution, in microseconds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    pub count: u64,
    pub min_us: f64,
    pub mean_us: f64,
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub p99_9_us: f64,
    pub p99_99_us: f64,
    pub max_us: f64,
}

impl Summary {
    /// Summarises a histogram recorded in nanoseconds; `None` if it is empty.
    pub fn of(histogram: &Histogram<u64>) -> Option<Summary> {
        if histogram.is_empty() {
            return None;
        }
        let us = |nanos: u64| nanos as f64 / 1_000.0;
        let at = |q: f64| us(histogram.value_at_quantile(q));
        Some(Summary {
            count: histogram.len(),
            min_us: us(histogram.min()),
            mean_us: histogram.mean() / 1_000.0,
            p50_us: at(0.50),
            p90_us: at(0.90),
            p99_us: at(0.99),
            p99_9_us: at(0.999),
            p99_99_us: at(0.9999),
            max_us: us(histogram.max()),
        })
    }
}

/// The latency distributions of a run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Latencies {
    /// From `connect` to established.
    pub connect: Option<Summary>,
    /// From `connect` to `hello\n` received.
    pub handshake: Option<Summary>,
    /// Echo round trip, to the arrival of its last byte as
    /// [`Results::echo_timing`] says; in the open loop, from the scheduled
    /// send time.
    pub echo: Option<Summary>,
    /// Echo round trip from the actual send time (differs from `echo` only in the open loop).
    pub echo_uncorrected: Option<Summary>,
    /// `echo` timed instead by when the load thread read the echo: the
    /// user-space timing, which carries the thread's own wake-up (and, in
    /// the open loop, the wait for its next send). Absent from records
    /// made before kernel timestamps, whose `echo` was this.
    #[serde(default)]
    pub echo_user: Option<Summary>,
}

/// How the echoes of `latency.echo` were timed: how many to the kernel's
/// receive timestamp of their last byte (`SO_TIMESTAMPING`, software), and
/// how many to when the load read them, because the kernel gave no stamp
/// or one from before the send. Records made before the load read stamps
/// have neither count: they were all timed when read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EchoTiming {
    pub kernel: u64,
    pub read: u64,
}

impl std::iter::Sum for EchoTiming {
    /// Several threads' or agents' echoes together.
    fn sum<I: Iterator<Item = EchoTiming>>(timings: I) -> EchoTiming {
        timings.fold(EchoTiming::default(), |sum, t| EchoTiming {
            kernel: sum.kernel + t.kernel,
            read: sum.read + t.read,
        })
    }
}

impl EchoTiming {
    /// What the table says about it.
    pub fn describe(self) -> String {
        match (self.kernel, self.read) {
            (0, 0) => "echo latency to when the load read it (recorded before the load read the kernel's receive timestamps)".into(),
            (0, _) => "echo latency to when the load read it: the kernel gave no receive timestamps".into(),
            (_, 0) => "echo latency to the kernel's receive timestamp".into(),
            (kernel, read) => format!(
                "echo latency to the kernel's receive timestamp; {read} of {} echoes had none usable and are timed when read",
                kernel + read
            ),
        }
    }
}

/// How evenly the connections were served.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Fairness {
    /// Jain's index over messages per connection: 1 is perfectly even, 1/n is one connection served.
    pub jain_index: Option<f64>,
    /// Messages per second of the least-served connection.
    pub slowest_connection_msgs_per_s: Option<f64>,
    /// The sums Jain's index is made of, which agents' records add exactly.
    #[serde(default)]
    pub per_connection: Option<PerConnection>,
}

/// Messages per connection as the sums Jain's index needs: what the records
/// of several agents add up to the index of all their connections.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct PerConnection {
    pub connections: u64,
    pub messages: u64,
    pub messages_squared: u128,
}

impl PerConnection {
    pub fn of(counts: &[u64]) -> PerConnection {
        PerConnection {
            connections: counts.len() as u64,
            messages: counts.iter().sum(),
            messages_squared: counts.iter().map(|&x| u128::from(x) * u128::from(x)).sum(),
        }
    }

    pub fn add(&mut self, other: &PerConnection) {
        self.connections += other.connections;
        self.messages += other.messages;
        self.messages_squared += other.messages_squared;
    }

    /// Jain's fairness index: `(sum x)^2 / (n * sum x^2)`.
    pub fn jain_index(&self) -> Option<f64> {
        let sum = self.messages as f64;
        (self.messages_squared > 0)
            .then(|| sum * sum / (self.connections as f64 * self.messages_squared as f64))
    }
}

/// The figures of a run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Results {
    pub connections_requested: usize,
    pub connections_established: usize,
    pub connections_ready: usize,
    /// Seconds from the first connect to the last connection ready for traffic.
    pub ramp_s: Option<f64>,
    pub measured_s: f64,
    /// Echoes completed inside the measured window, whenever they were sent.
    pub messages: u64,
    /// `messages` over the window: throughput.
    pub messages_per_s: f64,
    /// Echoes of messages sent inside the window that completed in the
    /// drain after it: in the latency figures, not in the throughput.
    #[serde(default)]
    pub drained: u64,
    /// Messages sent inside the window whose echo did not complete within
    /// the drain (the tail the latency figures cannot show).
    #[serde(default)]
    pub unfinished: u64,
    /// Closed loop: messages/s x mean echo latency / ready connections,
    /// which Little's law says is 1 (every connection always has one
    /// message out). A value far from 1 means the window was miscounted.
    #[serde(default)]
    pub littles_law: Option<f64>,
    /// Open loop: whether the load kept its own schedule.
    #[serde(default)]
    pub schedule: Option<Schedule>,
    /// Which clock timed `latency.echo`.
    #[serde(default)]
    pub echo_timing: EchoTiming,
    /// The corrected echo p99 of each second of the window, for plots over time.
    #[serde(default)]
    pub p99_by_second_us: Vec<f64>,
    /// CPU seconds the load generator itself used while measuring (user + system).
    pub load_cpu_s: Option<f64>,
    /// The load generator's CPU microseconds per message: compare with the
    /// server's, to know whether the numbers describe the server or the tool.
    pub load_cpu_us_per_message: Option<f64>,
    /// Times the load generator's threads went to sleep while measuring
    /// (voluntary context switches, every thread): its wake-ups.
    #[serde(default)]
    pub load_voluntary_switches: Option<u64>,
    /// `load_voluntary_switches` per message.
    #[serde(default)]
    pub load_voluntary_switches_per_message: Option<f64>,
    /// Echoed payload, one direction, in 10^6 bytes per second.
    pub megabytes_per_s: f64,
    pub latency: Latencies,
    pub fairness: Fairness,
    pub errors: Errors,
}

/// Histograms in HdrHistogram's compressed V2 encoding, base64: the same
/// encoding an interval log (`--hlog`) holds per line, which HdrHistogram's
/// libraries decode and add exactly.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct EncodedHistograms {
    pub unit: String,
    pub connect: String,
    pub handshake: String,
    pub echo: String,
    pub echo_uncorrected: String,
    /// The user-space timing of `echo` (absent from older records).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub echo_user: String,
    /// Open loop: how late the sends went out (empty in the closed loop).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub send_lag: String,
    /// Open loop: how late the load's sleeps ended (empty in the closed
    /// loop and in older records).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub wake_lateness: String,
}

impl EncodedHistograms {
    pub(crate) fn encode(
        histograms: [&Histogram<u64>; 4],
        echo_user: Option<&Histogram<u64>>,
        send_lag: Option<&Histogram<u64>>,
    ) -> EncodedHistograms {
        let [connect, handshake, echo, echo_uncorrected] = histograms.map(encode);
        EncodedHistograms {
            unit: "nanoseconds".into(),
            connect,
            handshake,
            echo,
            echo_uncorrected,
            echo_user: echo_user.map(encode).unwrap_or_default(),
            send_lag: send_lag.map(encode).unwrap_or_default(),
            wake_lateness: String::new(),
        }
    }

    /// With the open loop's wake lateness, when there is one.
    pub(crate) fn with_wake_lateness(self, wake_lateness: Option<&Histogram<u64>>) -> Self {
        EncodedHistograms {
            wake_lateness: wake_lateness.map(encode).unwrap_or_default(),
            ..self
        }
    }
}

impl EncodedHistograms {
    /// Decodes one of the encoded histograms.
    pub fn decode(text: &str) -> Result<Histogram<u64>, String> {
        use hdrhistogram::serialization::Deserializer;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|err| format!("a histogram is not base64: {err}"))?;
        Deserializer::new()
            .deserialize(&mut bytes.as_slice())
            .map_err(|err| format!("a histogram does not decode: {err:?}"))
    }
}

fn encode(histogram: &Histogram<u64>) -> String {
    let mut bytes = Vec::new();
    match V2DeflateSerializer::new().serialize(histogram, &mut bytes) {
        Ok(_) => base64::engine::general_purpose::STANDARD.encode(bytes),
        Err(_) => String::new(),
    }
}

/// The open loop's check on itself: did the load send on schedule?
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Schedule {
    /// `--rate`.
    pub requested_msgs_per_s: f64,
    /// What the schedules of the connections that were ready add up to
    /// (`--rate` x ready / requested connections).
    #[serde(default)]
    pub scheduled_msgs_per_s: f64,
    /// Sends inside the window, per second.
    pub achieved_msgs_per_s: f64,
    /// How late sends went out against their scheduled time.
    pub send_lag: Option<Summary>,
    /// How late the load's sleeps ended against the time each asked to
    /// wake at, inside the window. Lateness the load did not cause: a sleep
    /// of 50 us that ends milliseconds late is the machine's timer (on the
    /// 2-core VM the project runs on, timer interrupts of the load's CPU
    /// sometimes come on the next 4 ms tick), and every send due meanwhile
    /// goes out that late. Absent from older records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wake_lateness: Option<Summary>,
    /// The load fell behind its schedule: its p99 send lag exceeded
    /// [`Schedule::MAX_LAG_P99`], or it sent under [`Schedule::MIN_ACHIEVED`]
    /// of the scheduled rate. Its latency figures then describe the load
    /// generator as much as the server.
    pub fell_behind: bool,
}

impl Schedule {
    /// The p99 send lag beyond which the load is behind its schedule.
    pub const MAX_LAG_P99: Duration = Duration::from_millis(1);
    /// The share of the requested rate below which the load is behind its schedule.
    pub const MIN_ACHIEVED: f64 = 0.95;

    /// Judges a run that asked for `requested` msg/s, had connections ready
    /// for `scheduled` of them, and sent `achieved`, with `send_lag` in nanoseconds.
    pub fn check(
        requested: f64,
        scheduled: f64,
        achieved: f64,
        send_lag: &Histogram<u64>,
    ) -> Schedule {
        let lag = Summary::of(send_lag);
        let late = lag
            .as_ref()
            .is_some_and(|lag| lag.p99_us > Self::MAX_LAG_P99.as_secs_f64() * 1e6);
        Schedule {
            requested_msgs_per_s: requested,
            scheduled_msgs_per_s: scheduled,
            achieved_msgs_per_s: achieved,
            send_lag: lag,
            wake_lateness: None,
            fell_behind: late || achieved < Self::MIN_ACHIEVED * scheduled,
        }
    }

    /// With how late the load's sleeps ended (nanoseconds), if it slept.
    pub(crate) fn with_wake_lateness(self, wake_lateness: Option<&Histogram<u64>>) -> Schedule {
        Schedule {
            wake_lateness: wake_lateness.and_then(Summary::of),
            ..self
        }
    }
}

/// One histogram per second of the measured window (by completion time),
/// of the corrected and the uncorrected echo latency: what `--hlog` writes
/// as an HdrHistogram interval log.
#[derive(Debug, Clone)]
pub struct IntervalLog {
    /// When the window began, by the wall clock.
    pub start: SystemTime,
    /// `[corrected, uncorrected]` per second, in nanoseconds.
    pub seconds: Vec<[Histogram<u64>; 2]>,
}

impl IntervalLog {
    /// The interval tags, in the order of each second's pair.
    pub const TAGS: [&'static str; 2] = ["corrected", "uncorrected"];

    /// Reads an interval log as [`IntervalLog::write`] writes it (what
    /// `--hlog` holds): its StartTime and each second's tagged pair.
    pub fn read(log: &[u8]) -> Result<IntervalLog, String> {
        use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
        let mut start = None;
        let mut seconds: Vec<[Option<Histogram<u64>>; 2]> = Vec::new();
        for entry in IntervalLogIterator::new(log) {
            match entry.map_err(|err| format!("not an interval log: {err:?}"))? {
                LogEntry::StartTime(since) => start = Some(std::time::UNIX_EPOCH + since),
                LogEntry::BaseTime(_) => {}
                LogEntry::Interval(interval) => {
                    let tag = interval.tag().map(|tag| tag.as_str().to_string());
                    let slot = Self::TAGS
                        .iter()
                        .position(|known| tag.as_deref() == Some(*known))
                        .ok_or_else(|| format!("an interval with tag {tag:?}"))?;
                    let second = interval.start_timestamp().as_secs_f64().round() as usize;
                    if seconds.len() <= second {
                        seconds.resize_with(second + 1, || [None, None]);
                    }
                    let histogram = EncodedHistograms::decode(interval.encoded_histogram())?;
                    seconds[second][slot] = Some(histogram);
                }
            }
        }
        let start = start.ok_or("an interval log without a StartTime")?;
        let seconds = seconds
            .into_iter()
            .map(|[with, without]| {
                let missing = || "a second without both of its intervals".to_string();
                Ok([with.ok_or_else(missing)?, without.ok_or_else(missing)?])
            })
            .collect::<Result<_, String>>()?;
        Ok(IntervalLog { start, seconds })
    }

    pub(crate) fn new(start: SystemTime) -> IntervalLog {
        IntervalLog {
            start,
            seconds: Vec::new(),
        }
    }

    /// Adds one load thread's intervals, second by second.
    pub(crate) fn add(&mut self, seconds: Vec<[Histogram<u64>; 2]>) {
        for (i, pair) in seconds.into_iter().enumerate() {
            match self.seconds.get_mut(i) {
                // Same bounds everywhere, so adding cannot fail.
                Some([with, without]) => {
                    let _ = with.add(&pair[0]);
                    let _ = without.add(&pair[1]);
                }
                None => self.seconds.push(pair),
            }
        }
    }

    /// The corrected p99 of each second, in microseconds (0 for a second with no echo).
    pub fn p99_by_second_us(&self) -> Vec<f64> {
        self.seconds
            .iter()
            .map(|[with, _]| with.value_at_quantile(0.99) as f64 / 1e3)
            .collect()
    }

    /// The per-second series people read: each second's echoes and their
    /// corrected p50, p99 and max, by completion time from the window's
    /// start. Seconds from the end of the `measured_s` window on hold its
    /// last fraction of a second and the echoes awaited after it.
    pub fn table(&self, measured_s: f64) -> String {
        let window = measured_s.floor() as usize;
        let mut out = format!(
            "{:<12}{:>10}{:>10}{:>10}{:>10}\n",
            "seconds", "echoes", "p50 us", "p99 us", "max us"
        );
        for (i, [with, _]) in self.seconds.iter().enumerate() {
            let second = if i < window {
                format!("{i}-{}", i + 1)
            } else {
                format!("{i}- (after)")
            };
            let us = |nanos: u64| nanos as f64 / 1e3;
            let _ = writeln!(
                out,
                "{second:<12}{:>10}{:>10.1}{:>10.1}{:>10.1}",
                with.len(),
                us(with.value_at_quantile(0.5)),
                us(with.value_at_quantile(0.99)),
                us(with.max())
            );
        }
        out
    }

    /// Writes the HdrHistogram interval log: a StartTime header, then one
    /// V2-compressed histogram per second and tag, with timestamps relative
    /// to the start and maxima in milliseconds.
    pub fn write(&self, out: &mut impl io::Write) -> io::Result<()> {
        let mut serializer = V2DeflateSerializer::new();
        let mut log = IntervalLogWriterBuilder::new()
            .add_comment("[Histogram log format version 1.3]")
            .add_comment("c10k load: echo latency in nanoseconds, one interval per second")
            .with_start_time(self.start)
            .with_base_time(self.start)
            .with_max_value_divisor(1e6)
            .begin_log_with(out, &mut serializer)?;
        for (second, pair) in self.seconds.iter().enumerate() {
            for (histogram, tag) in pair.iter().zip(Self::TAGS) {
                log.write_histogram(
                    histogram,
                    Duration::from_secs(second as u64),
                    Duration::from_secs(1),
                    Tag::new(tag),
                )
                .map_err(|err| io::Error::other(format!("{err:?}")))?;
            }
        }
        Ok(())
    }
}

/// Everything a run records, as written by `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub c10k_version: &'static str,
    pub git_revision: &'static str,
    pub machine: Machine,
    pub settings: Settings,
    pub results: Results,
    pub histograms: EncodedHistograms,
    /// The clock `--start-at` was read from; only with `--start-at`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clock: Option<crate::machine::Clock>,
    /// Written separately, with `--hlog`.
    #[serde(skip)]
    pub intervals: IntervalLog,
}

impl Report {
    /// The table people read.
    pub fn table(&self) -> String {
        let s = &self.settings;
        let r = &self.results;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "target {}  {}  {} B messages  {} threads  {:.1} s measured{}",
            s.target,
            s.mode(),
            s.size,
            s.threads,
            r.measured_s,
            if s.segment == crate::settings::Segment::WHOLE {
                String::new()
            } else {
                format!(
                    "  agent {} of {} (of -c {} in all)",
                    s.segment.index, s.segment.count, s.connections
                )
            }
        );
        let ramp = r
            .ramp_s
            .map_or(String::new(), |secs| format!(" in {secs:.3} s"));
        let _ = writeln!(
            out,
            "connections {} requested, {} established, {} ready{ramp}",
            r.connections_requested, r.connections_established, r.connections_ready
        );
        let switches = r
            .load_voluntary_switches_per_message
            .map_or(String::new(), |per| format!(" and {per:.2} sleeps/msg"));
        let cpu = r.load_cpu_us_per_message.map_or(String::new(), |us| {
            format!(", load generator {us:.2} CPU us/msg{switches}")
        });
        let _ = writeln!(
            out,
            "messages {}  ({:.0} msg/s, {:.2} MB/s{cpu})",
            r.messages, r.messages_per_s, r.megabytes_per_s
        );
        if r.drained > 0 || r.unfinished > 0 {
            let _ = writeln!(
                out,
                "after the window: {} echoes drained (in the latency figures), {} unfinished",
                r.drained, r.unfinished
            );
        }
        if let Some(schedule) = &r.schedule {
            let lag = schedule.send_lag.as_ref().map_or(String::new(), |lag| {
                format!(", send lag p99 {:.1} us", lag.p99_us)
            });
            let lag = match &schedule.wake_lateness {
                Some(wake) if schedule.fell_behind => format!(
                    "{lag} (its sleeps ended up to {:.1} ms late, p99 {:.1} us)",
                    wake.max_us / 1e3,
                    wake.p99_us
                ),
                _ => lag,
            };
            let _ = writeln!(
                out,
                "schedule: {:.0} of {:.0} msg/s sent (the ready connections' share of --rate {:.0}){lag}{}",
                schedule.achieved_msgs_per_s,
                schedule.scheduled_msgs_per_s,
                schedule.requested_msgs_per_s,
                if schedule.fell_behind {
                    " - the load fell behind its schedule: these figures describe the load generator too"
                } else {
                    ""
                }
            );
        }
        let _ = writeln!(
            out,
            "{:<18}{:>10}{:>10}{:>10}{:>10}{:>10}{:>10}{:>10}",
            "latency (us)", "min", "p50", "p90", "p99", "p99.9", "p99.99", "max"
        );
        let rows = [
            ("connect", &r.latency.connect),
            ("handshake", &r.latency.handshake),
            ("echo", &r.latency.echo),
            ("echo, uncorrected", &r.latency.echo_uncorrected),
            ("echo, when read", &r.latency.echo_user),
        ];
        for (name, summary) in rows {
            if (name == "echo, uncorrected" && s.rate.is_none())
                || (name == "echo, when read" && r.echo_timing.kernel == 0)
            {
                continue;
            }
            if let Some(q) = summary {
                let _ = writeln!(
                    out,
                    "{name:<18}{:>10.1}{:>10.1}{:>10.1}{:>10.1}{:>10.1}{:>10.1}{:>10.1}",
                    q.min_us, q.p50_us, q.p90_us, q.p99_us, q.p99_9_us, q.p99_99_us, q.max_us
                );
            }
        }
        if r.latency.echo.is_some() {
            let _ = writeln!(out, "{}", r.echo_timing.describe());
        }
        if let (Some(jain), Some(slowest)) = (
            r.fairness.jain_index,
            r.fairness.slowest_connection_msgs_per_s,
        ) {
            let _ = writeln!(
                out,
                "fairness: Jain's index {jain:.3}, slowest connection {slowest:.1} msg/s"
            );
        }
        let errors: Vec<String> = r
            .errors
            .by_kind()
            .iter()
            .filter(|(_, count)| *count > 0)
            .map(|(name, count)| format!("{name}={count}"))
            .collect();
        let _ = writeln!(
            out,
            "errors: {}",
            if errors.is_empty() {
                "none".to_string()
            } else {
                errors.join(" ")
            }
        );
        out
    }
}

/// `total` (CPU microseconds, sleeps) per message, where any was counted.
pub(crate) fn per_message(total: Option<f64>, messages: u64) -> Option<f64> {
    total
        .filter(|_| messages > 0)
        .map(|total| total / messages as f64)
}

/// Closed loop: messages/s x mean time a message is out (`out`, in
/// nanoseconds) / ready connections, which Little's law says is 1: every
/// connection always has one message out. `None` in the open loop.
pub(crate) fn littles_law(
    settings: &Settings,
    messages_per_s: f64,
    out: &Histogram<u64>,
    ready: usize,
) -> Option<f64> {
    (settings.rate.is_none() && ready > 0 && !out.is_empty())
        .then(|| messages_per_s * out.mean() / 1e9 / ready as f64)
}

/// Jain's fairness index of `counts`: `(sum x)^2 / (n * sum x^2)`.
pub fn jain_index(counts: &[u64]) -> Option<f64> {
    PerConnection::of(counts).jain_index()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_echo_timing_line_tells_old_records_no_stamps_and_a_mix_apart() {
        let timing = |kernel, read| EchoTiming { kernel, read }.describe();
        assert!(timing(0, 0).contains("recorded before"), "{}", timing(0, 0));
        assert!(timing(0, 5).contains("gave no receive timestamps"));
        assert_eq!(
            timing(5, 0),
            "echo latency to the kernel's receive timestamp"
        );
        assert!(
            timing(98, 2).contains("2 of 100 echoes"),
            "{}",
            timing(98, 2)
        );
        let sum: EchoTiming = [
            EchoTiming { kernel: 1, read: 2 },
            EchoTiming {
                kernel: 10,
                read: 20,
            },
        ]
        .into_iter()
        .sum();
        assert_eq!(
            sum,
            EchoTiming {
                kernel: 11,
                read: 22
            }
        );
    }

    #[test]
    fn the_series_counts_seconds_from_the_window_and_marks_what_came_after() {
        let mut log = IntervalLog::new(SystemTime::UNIX_EPOCH);
        let second = |micros: &[u64]| {
            let mut with = crate::engine::latency_histogram();
            for &us in micros {
                with.record(us * 1_000).unwrap();
            }
            [with, crate::engine::latency_histogram()]
        };
        log.add(vec![second(&[10, 20, 30]), second(&[40]), second(&[5_000])]);
        let table = log.table(2.004);
        let rows: Vec<Vec<&str>> = table
            .lines()
            .skip(1)
            .map(|line| line.split_whitespace().collect())
            .collect();
        assert_eq!(rows.len(), 3, "{table}");
        assert_eq!(rows[0][..2], ["0-1", "3"], "{table}");
        assert_eq!(rows[1][..2], ["1-2", "1"], "{table}");
        // From the window's end on: its last 4 ms and the drain.
        assert_eq!(rows[2][..3], ["2-", "(after)", "1"], "{table}");
        let max: f64 = rows[2][5].parse().unwrap();
        assert!(
            (max - 5_000.0).abs() <= 5.0,
            "3 significant digits: {table}"
        );
    }

    #[test]
    fn jain_index_spans_even_to_one_served() {
        assert_eq!(jain_index(&[5, 5, 5, 5]), Some(1.0));
        assert_eq!(jain_index(&[8, 0, 0, 0]), Some(0.25));
        assert_eq!(jain_index(&[0, 0]), None);
        assert_eq!(jain_index(&[]), None);
    }

    #[test]
    fn per_connection_sums_of_parts_give_the_index_of_the_whole() {
        let counts: Vec<u64> = (0..1_000u64).map(|i| (i * 7_919) % 300).collect();
        for k in [2, 3, 7] {
            let mut sum = PerConnection::default();
            for part in 0..k {
                let share: Vec<u64> = counts.iter().copied().skip(part).step_by(k).collect();
                sum.add(&PerConnection::of(&share));
            }
            assert_eq!(sum, PerConnection::of(&counts), "split over {k}");
            assert_eq!(sum.jain_index(), jain_index(&counts));
        }
    }

    #[test]
    fn errors_merge_and_total() {
        let mut a = Errors::default();
        a.add(ErrorKind::Reset);
        let mut b = Errors::default();
        b.add(ErrorKind::Reset);
        b.add(ErrorKind::Mismatch);
        a.merge(&b);
        assert_eq!((a.reset, a.mismatch, a.total()), (2, 1, 3));
    }

    #[test]
    fn the_schedule_check_flags_lag_and_shortfall() {
        let mut on_time = crate::engine::latency_histogram();
        on_time.record(50_000).unwrap(); // 50 us late
        assert!(!Schedule::check(1000.0, 1000.0, 990.0, &on_time).fell_behind);
        // Under 95% of what the ready connections were scheduled to send.
        assert!(Schedule::check(1000.0, 1000.0, 900.0, &on_time).fell_behind);
        // Half the connections ready: half the rate is on schedule.
        assert!(!Schedule::check(1000.0, 500.0, 499.0, &on_time).fell_behind);
        let mut late = crate::engine::latency_histogram();
        for _ in 0..100 {
            late.record(5_000_000).unwrap(); // 5 ms late
        }
        assert!(Schedule::check(1000.0, 1000.0, 1000.0, &late).fell_behind);
    }

    #[test]
    fn an_interval_log_reads_back_and_its_intervals_add_up_to_the_total() {
        use hdrhistogram::serialization::Deserializer;
        use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};

        let mut log = IntervalLog::new(SystemTime::now());
        let mut total = crate::engine::latency_histogram();
        // Two load threads: one saw three seconds, the other two.
        for (thread, seconds) in [(0u64, 3u64), (1, 2)] {
            let pairs = (0..seconds)
                .map(|second| {
                    let mut pair = [
                        crate::engine::latency_histogram(),
                        crate::engine::latency_histogram(),
                    ];
                    for i in 0..100 * (second + 1) {
                        let value = 10_000 + i * 997 + second * 1_000_000 + thread * 333;
                        pair[0].record(value).unwrap();
                        pair[1].record(value / 2).unwrap();
                        total.record(value).unwrap();
                    }
                    pair
                })
                .collect();
            log.add(pairs);
        }
        assert_eq!(log.seconds.len(), 3);
        let mut text = Vec::new();
        log.write(&mut text).unwrap();
        let mut sum = crate::engine::latency_histogram();
        let mut intervals = 0;
        for entry in IntervalLogIterator::new(&text) {
            if let LogEntry::Interval(interval) = entry.unwrap()
                && interval.tag().map(|t| t.as_str()) == Some("corrected")
            {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(interval.encoded_histogram())
                    .unwrap();
                let histogram: Histogram<u64> = Deserializer::new()
                    .deserialize(&mut bytes.as_slice())
                    .unwrap();
                sum.add(&histogram).unwrap();
                intervals += 1;
            }
        }
        assert_eq!(intervals, log.seconds.len());
        assert_eq!(sum, total);
        assert!(String::from_utf8(text).unwrap().contains("#[StartTime: "));
    }

    #[test]
    fn histograms_encode_to_a_form_that_decodes() {
        let mut histogram = crate::engine::latency_histogram();
        histogram.record(42_000).unwrap();
        let encoded = encode(&histogram);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap();
        let decoded: Histogram<u64> = hdrhistogram::serialization::Deserializer::new()
            .deserialize(&mut bytes.as_slice())
            .unwrap();
        assert_eq!(decoded.len(), 1);
        assert!(decoded.equivalent(42_000, histogram.max()));
    }
}
