//! What a load run does, decided before it starts.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// Everything that shapes a load run. Recorded in the JSON report as given.
#[derive(Debug, Clone, serde::Serialize)]
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
    #[serde(serialize_with = "seconds")]
    pub connect_timeout: Duration,
    /// Traffic before measuring, not counted.
    #[serde(serialize_with = "seconds")]
    pub warmup: Duration,
    /// The measured period.
    #[serde(serialize_with = "seconds")]
    pub duration: Duration,
    /// After measuring, how long to keep the connections open and idle
    /// (to measure what idle connections cost the server).
    #[serde(serialize_with = "seconds")]
    pub hold: Duration,
    /// Bytes per message.
    pub size: usize,
    /// Load threads, each with its own event loop and share of connections.
    pub threads: usize,
    /// Open loop: messages per second in total, on a schedule. `None`:
    /// closed loop, each connection sends its next message when the
    /// previous one is back.
    pub rate: Option<f64>,
    /// Local addresses to connect from, round-robin; empty: the kernel picks.
    pub source_addrs: Vec<IpAddr>,
}

fn seconds<S: serde::Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(value.as_secs_f64())
}

impl Settings {
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
mod tests {
    use super::*;

    #[test]
    fn source_ranges_and_lists() {
        let range = parse_source_addrs("127.0.0.1-127.0.0.8").unwrap();
        assert_eq!(range.len(), 8);
        assert_eq!(range[7], "127.0.0.8".parse::<IpAddr>().unwrap());
        assert_eq!(parse_source_addrs("127.0.0.1,::1").unwrap().len(), 2);
        assert!(parse_source_addrs("127.0.0.9-127.0.0.1").is_err());
        assert!(parse_source_addrs("nope").is_err());
    }
}
