//! What a load run does, decided before it starts.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Everything that shapes a load run. Recorded in the JSON report as given,
/// and read back from it by `c10k merge`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Settings {
    /// Where the traffic goes; nowhere else.
    pub target: SocketAddr,
    /// Send `hello\n` and expect it back before echoing (PROTOCOL.md), or not (plain echo).
    pub handshake: bool,
    /// Connections to open.
    pub connections: usize,
    /// New connections per second during the ramp; `None`: all at once.
    pub connect_rate: Option<f64>,
    /// Limit on connecting, and then on the handshake, per connection.
    #[serde(serialize_with = "seconds", deserialize_with = "from_seconds")]
    pub connect_timeout: Duration,
    /// Traffic before measuring, not counted.
    #[serde(serialize_with = "seconds", deserialize_with = "from_seconds")]
    pub warmup: Duration,
    /// The measured period.
    #[serde(serialize_with = "seconds", deserialize_with = "from_seconds")]
    pub duration: Duration,
    /// After measuring, how long to wait at most for the echoes still in
    /// flight (the drain); those that do not come back are "unfinished".
    #[serde(
        serialize_with = "seconds",
        deserialize_with = "from_seconds",
        default = "default_drain"
    )]
    pub drain: Duration,
    /// After measuring, how long to keep the connections open and idle
    /// (to measure what idle connections cost the server).
    #[serde(serialize_with = "seconds", deserialize_with = "from_seconds")]
    pub hold: Duration,
    /// Bytes per message.
    pub size: usize,
    /// Load threads, each with its own event loop and share of connections.
    pub threads: usize,
    /// Open loop: messages per second in total, on a schedule. `None`:
    /// closed loop, each connection sends its next message when the
    /// previous one is back.
    pub rate: Option<f64>,
    /// Open loop: the sends that fall due within this long after the one
    /// the thread woke for go out with it, each timed from when it actually
    /// went (`--burst`; zero: every send waits for its own time).
    #[serde(
        serialize_with = "seconds",
        deserialize_with = "from_seconds",
        default = "default_burst"
    )]
    pub burst: Duration,
    /// Local addresses to connect from, round-robin; empty: the kernel picks.
    pub source_addrs: Vec<IpAddr>,
    /// This agent's share of a run spread over several (`--segment K/N`).
    /// `connections`, `rate` and `connect_rate` stay the whole run's.
    #[serde(
        serialize_with = "display",
        deserialize_with = "from_text",
        default = "whole"
    )]
    pub segment: Segment,
    /// When warm-up starts, by the wall clock (`--start-at`), so that agents
    /// started apart measure the same window; `None`: once ready.
    #[serde(
        serialize_with = "unix_seconds",
        deserialize_with = "from_unix_seconds",
        default
    )]
    pub start_at: Option<SystemTime>,
}

/// One agent's share of a run (`--segment K/N`, K from 0): the connections
/// whose id is K modulo N, and with them their sends of the open-loop
/// schedule. Each connection keeps the id, and so the place in the ramp and
/// the schedule, it has in the whole run, so the N segments together make
/// exactly the run one agent would make (the way k6's execution segments
/// split a test).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// K: which share, from 0.
    pub index: usize,
    /// N: how many shares.
    pub count: usize,
}

impl Segment {
    /// The whole run, on one agent.
    pub const WHOLE: Segment = Segment { index: 0, count: 1 };

    /// The ids, out of `0..connections`, of this segment's connections.
    pub fn ids(self, connections: usize) -> impl Iterator<Item = usize> {
        (self.index..connections).step_by(self.count)
    }

    /// How many connections this segment has, out of `connections`.
    pub fn share(self, connections: usize) -> usize {
        connections.saturating_sub(self.index).div_ceil(self.count)
    }
}

impl std::fmt::Display for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl std::str::FromStr for Segment {
    type Err = String;

    /// Parses `K/N`, with K from 0 to N - 1.
    fn from_str(text: &str) -> Result<Segment, String> {
        let (index, count) = text
            .split_once('/')
            .and_then(|(k, n)| Some((k.trim().parse().ok()?, n.trim().parse().ok()?)))
            .ok_or_else(|| format!("'{text}' is not K/N (agent K of N, K from 0)"))?;
        if count == 0 || index >= count {
            return Err(format!("'{text}': K must be below N (K from 0)"));
        }
        Ok(Segment { index, count })
    }
}

fn display<S: serde::Serializer>(
    value: &impl std::fmt::Display,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

fn unix_seconds<S: serde::Serializer>(
    value: &Option<SystemTime>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let seconds = value
        .and_then(|at| at.duration_since(UNIX_EPOCH).ok())
        .map(|since| since.as_secs_f64());
    match seconds {
        Some(seconds) => serializer.serialize_f64(seconds),
        None => serializer.serialize_none(),
    }
}

fn seconds<S: serde::Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(value.as_secs_f64())
}

fn from_seconds<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let seconds: f64 = serde::Deserialize::deserialize(deserializer)?;
    Duration::try_from_secs_f64(seconds).map_err(serde::de::Error::custom)
}

/// `--drain`'s default, and what a record made before the flag waited.
pub const DEFAULT_DRAIN: Duration = Duration::from_secs(2);

fn default_drain() -> Duration {
    DEFAULT_DRAIN
}

/// `--burst`'s default, and what a record made before the flag used. At
/// 6,000-50,000 msg/s, 50 µs cost the load 20-30 CPU µs per message (a
/// wake-up for almost every send) and 200 µs 15-26, at the same latency;
/// whole milliseconds, all an `epoll_wait` sleep resolves, tripled the p50
/// (the echoes of a burst's first sends wait for its last). Against exact
/// spacing (`--burst 0`), see `scripts/burst-cost.sh` and docs/load.md.
pub const DEFAULT_BURST: Duration = Duration::from_micros(200);

/// The longest `--burst`: a connection's send never goes out earlier than
/// this before its time, so a longer burst would blur the schedule into
/// whole seconds.
pub const MAX_BURST: Duration = Duration::from_secs(1);

fn default_burst() -> Duration {
    DEFAULT_BURST
}

fn from_text<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Segment, D::Error> {
    let text: String = serde::Deserialize::deserialize(deserializer)?;
    text.parse().map_err(serde::de::Error::custom)
}

fn whole() -> Segment {
    Segment::WHOLE
}

fn from_unix_seconds<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<SystemTime>, D::Error> {
    let seconds: Option<f64> = serde::Deserialize::deserialize(deserializer)?;
    seconds
        .map(|seconds| {
            // `UNIX_EPOCH + since` panics past what the clock holds.
            Duration::try_from_secs_f64(seconds)
                .ok()
                .and_then(|since| UNIX_EPOCH.checked_add(since))
                .ok_or_else(|| serde::de::Error::custom("start_at is past what the clock holds"))
        })
        .transpose()
}

impl Settings {
    /// Whether `other` is another agent of the same run: every setting the
    /// same except the agent's own (`segment`, `threads`, `source_addrs`).
    /// `Err` names the first that differs.
    pub fn same_run_as(&self, other: &Settings) -> Result<(), String> {
        let own = |settings: &Settings| Settings {
            segment: Segment::WHOLE,
            threads: 0,
            source_addrs: Vec::new(),
            ..settings.clone()
        };
        let (mine, theirs) = (own(self), own(other));
        if mine == theirs {
            return Ok(());
        }
        let differs = [
            ("target", mine.target != theirs.target),
            ("handshake", mine.handshake != theirs.handshake),
            ("connections", mine.connections != theirs.connections),
            ("connect_rate", mine.connect_rate != theirs.connect_rate),
            (
                "connect_timeout",
                mine.connect_timeout != theirs.connect_timeout,
            ),
            ("warmup", mine.warmup != theirs.warmup),
            ("duration", mine.duration != theirs.duration),
            ("hold", mine.hold != theirs.hold),
            ("size", mine.size != theirs.size),
            ("rate", mine.rate != theirs.rate),
            ("burst", mine.burst != theirs.burst),
            ("start_at", mine.start_at != theirs.start_at),
        ];
        let field = differs
            .iter()
            .find(|(_, differs)| *differs)
            .map_or("settings", |(field, _)| field);
        Err(format!("the agents' {field} differs"))
    }

    /// The connections this agent opens: its segment's share.
    pub fn own_connections(&self) -> usize {
        self.segment.share(self.connections)
    }

    /// The open-loop schedule of connection `id`: its first send, from the
    /// start of traffic, and the interval between its sends. Connections
    /// are spread evenly over one interval, each sending at `--rate` /
    /// `-c`. It depends on the id and the whole run's settings only, never
    /// on the segment: N agents' schedules together are one agent's.
    /// `None` in a closed loop.
    pub fn schedule_of(&self, id: u32) -> Option<(Duration, Duration)> {
        let rate = self.rate?;
        let connections = self.connections.max(1) as f64;
        let interval = connections / rate;
        let offset = interval * f64::from(id) / connections;
        Some((
            Duration::from_secs_f64(offset),
            Duration::from_secs_f64(interval),
        ))
    }

    /// "closed loop" or "open loop at R msg/s", for people.
    pub fn mode(&self) -> String {
        match self.rate {
            None => "closed loop".into(),
            Some(rate) => format!("open loop at {rate} msg/s"),
        }
    }
}

/// Parses `127.0.0.1-127.0.0.8` (an IPv4 range) or `a,b,c` (a list).
pub fn parse_source_addrs(text: &str) -> Result<Vec<IpAddr>, String> {
    if let Some((first, last)) = text.split_once('-') {
        let first: std::net::Ipv4Addr = first
            .trim()
            .parse()
            .map_err(|_| format!("'{first}' is not an IPv4 address"))?;
        let last: std::net::Ipv4Addr = last
            .trim()
            .parse()
            .map_err(|_| format!("'{last}' is not an IPv4 address"))?;
        let (first, last) = (u32::from(first), u32::from(last));
        if last < first || last - first >= 1024 {
            return Err("a source range must go up, by at most 1024 addresses".into());
        }
        return Ok((first..=last)
            .map(|ip| IpAddr::from(std::net::Ipv4Addr::from(ip)))
            .collect());
    }
    text.split(',')
        .map(|part| {
            part.trim()
                .parse()
                .map_err(|_| format!("'{part}' is not an IP address"))
        })
        .collect()
}

#[cfg(test)]
impl Settings {
    /// Settings for unit tests: `connections` at `rate` (or closed loop), nowhere.
    pub(crate) fn for_tests(connections: usize, rate: Option<f64>, segment: Segment) -> Settings {
        Settings {
            target: "127.0.0.1:1".parse().unwrap(),
            handshake: true,
            connections,
            connect_rate: None,
            connect_timeout: Duration::from_secs(1),
            warmup: Duration::ZERO,
            duration: Duration::from_secs(1),
            drain: DEFAULT_DRAIN,
            hold: Duration::ZERO,
            size: 64,
            threads: 1,
            rate,
            burst: DEFAULT_BURST,
            source_addrs: Vec::new(),
            segment,
            start_at: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(connections: usize, rate: Option<f64>, segment: Segment) -> Settings {
        Settings::for_tests(connections, rate, segment)
    }

    #[test]
    fn segments_split_the_connections_exactly() {
        for connections in [1, 7, 1000, 1001] {
            for count in 1..=7 {
                let mut seen = vec![0u32; connections];
                let mut shares = 0;
                for index in 0..count {
                    let segment = Segment { index, count };
                    let ids: Vec<usize> = segment.ids(connections).collect();
                    assert_eq!(ids.len(), segment.share(connections));
                    shares += ids.len();
                    for id in ids {
                        seen[id] += 1;
                    }
                }
                assert_eq!(shares, connections);
                assert!(
                    seen.iter().all(|&times| times == 1),
                    "{connections} in {count}"
                );
            }
        }
    }

    /// Every send of the first three intervals, as (time from the start of
    /// traffic in ns, connection id), for the agent `segment` is.
    fn sends(settings: &Settings) -> Vec<(u128, usize)> {
        let mut sends = Vec::new();
        for id in settings.segment.ids(settings.connections) {
            let (first, interval) = settings.schedule_of(id as u32).unwrap();
            for k in 0..3 {
                sends.push(((first + interval * k).as_nanos(), id));
            }
        }
        sends.sort_unstable();
        sends
    }

    #[test]
    fn the_agents_schedules_together_are_the_single_agent_schedule() {
        let whole = sends(&settings(1000, Some(20_000.0), Segment::WHOLE));
        assert_eq!(whole.len(), 3000);
        for count in [2, 3, 6] {
            let mut union: Vec<(u128, usize)> = (0..count)
                .flat_map(|index| sends(&settings(1000, Some(20_000.0), Segment { index, count })))
                .collect();
            union.sort_unstable();
            assert_eq!(union, whole, "{count} agents");
        }
    }

    #[test]
    fn segments_parse_as_k_of_n_from_zero() {
        assert_eq!("2/3".parse(), Ok(Segment { index: 2, count: 3 }));
        assert_eq!(Segment { index: 2, count: 3 }.to_string(), "2/3");
        for bad in ["3/3", "1/0", "1", "a/b", "-1/2"] {
            assert!(bad.parse::<Segment>().is_err(), "{bad}");
        }
        assert_eq!(
            settings(10, None, Segment { index: 1, count: 4 }).own_connections(),
            3
        );
    }

    #[test]
    fn source_ranges_and_lists() {
        let range = parse_source_addrs("127.0.0.1-127.0.0.8").unwrap();
        assert_eq!(range.len(), 8);
        assert_eq!(range[7], "127.0.0.8".parse::<IpAddr>().unwrap());
        assert_eq!(parse_source_addrs("127.0.0.1,::1").unwrap().len(), 2);
        assert!(parse_source_addrs("127.0.0.9-127.0.0.1").is_err());
        assert!(parse_source_addrs("nope").is_err());
    }

    #[test]
    fn a_record_from_before_drain_and_burst_reads_with_what_the_load_did_then() {
        let mut made = settings(10, Some(1000.0), Segment::WHOLE);
        made.drain = Duration::from_secs(7);
        made.burst = Duration::ZERO;
        let mut json = serde_json::to_value(&made).unwrap();
        assert_eq!(json["burst"], 0.0);
        json.as_object_mut().unwrap().remove("drain");
        json.as_object_mut().unwrap().remove("burst");
        let read: Settings = serde_json::from_value(json).unwrap();
        assert_eq!(read.drain, DEFAULT_DRAIN);
        assert_eq!(read.burst, DEFAULT_BURST);
    }

    #[test]
    fn agents_with_different_bursts_are_not_one_run() {
        let one = settings(10, Some(1000.0), Segment { index: 0, count: 2 });
        let mut other = settings(10, Some(1000.0), Segment { index: 1, count: 2 });
        assert_eq!(one.same_run_as(&other), Ok(()));
        other.burst = Duration::from_millis(1);
        assert_eq!(
            one.same_run_as(&other),
            Err("the agents' burst differs".into())
        );
    }

    #[test]
    fn a_start_past_the_clock_is_refused_not_panicked_on() {
        let mut json = serde_json::to_value(settings(10, None, Segment::WHOLE)).unwrap();
        json["start_at"] = serde_json::json!(1.0e19);
        assert!(serde_json::from_value::<Settings>(json).is_err());
    }
}
