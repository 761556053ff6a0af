//! Command-line values with units: `16KiB`, `10k`, `500ms`.
//!
//! Sizes use binary multiples (`K`, `KiB` = 1024) because buffers are sized
//! in pages; counts use decimal ones (`10k` = 10,000) because people count
//! connections that way. Durations without a unit are seconds, as
//! PROTOCOL.md writes `SECS`, and may be fractional.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

/// Parses a byte size: `16384`, `16K`, `16KiB`, `4M`, `1MiB`, `1G`.
pub fn parse_bytes(text: &str) -> Result<usize, String> {
    let (number, unit) = split_unit(text);
    let multiplier: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        _ => {
            return Err(format!(
                "unknown size unit '{unit}' (use B, KiB, MiB or GiB)"
            ));
        }
    };
    let value: u64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a size in bytes"))?;
    value
        .checked_mul(multiplier)
        .and_then(|v| usize::try_from(v).ok())
        .ok_or_else(|| format!("'{text}' is too large"))
}

/// Parses a count: `100`, `10k`, `1m`.
pub fn parse_count(text: &str) -> Result<usize, String> {
    let (number, unit) = split_unit(text);
    let multiplier: u64 = match unit.to_ascii_lowercase().as_str() {
        "" => 1,
        "k" => 1_000,
        "m" => 1_000_000,
        _ => return Err(format!("unknown count unit '{unit}' (use k or m)")),
    };
    let value: u64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a whole number"))?;
    value
        .checked_mul(multiplier)
        .and_then(|v| usize::try_from(v).ok())
        .ok_or_else(|| format!("'{text}' is too large"))
}

/// Parses a duration: `5` or `5s`, `1.5`, `500ms`, `2m`; at most a day, so
/// that no deadline computed from it can overflow.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = split_unit(text);
    let seconds_per_unit = match unit {
        "" | "s" => 1.0,
        "ms" => 1e-3,
        "us" => 1e-6,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => {
            return Err(format!(
                "unknown time unit '{unit}' (use us, ms, s, m or h)"
            ));
        }
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a duration"))?;
    let duration = Duration::try_from_secs_f64(value * seconds_per_unit)
        .map_err(|_| format!("'{text}' is not a duration of zero or more"))?;
    if duration > model::config::MAX_WAIT {
        return Err(format!(
            "'{text}' is longer than a day, the most any wait may be"
        ));
    }
    Ok(duration)
}

/// A wall-clock time: RFC 3339 (`2026-11-27T20:00:00Z`) or Unix seconds
/// (`1795809600`, what `date +%s` prints).
pub fn parse_time(text: &str) -> Result<std::time::SystemTime, String> {
    use std::time::{Duration, UNIX_EPOCH};
    if let Ok(seconds) = text.trim().parse::<f64>() {
        // `UNIX_EPOCH + since` panics past what the clock holds (found by
        // the unit parsers' fuzz target: `10000000000000000004`).
        return Duration::try_from_secs_f64(seconds)
            .ok()
            .and_then(|since| UNIX_EPOCH.checked_add(since))
            .ok_or_else(|| format!("'{text}' is not a time after 1970 that this clock can hold"));
    }
    let at =
        time::OffsetDateTime::parse(text.trim(), &time::format_description::well_known::Rfc3339)
            .map_err(|e| format!("'{text}' is neither RFC 3339 nor Unix seconds: {e}"))?;
    let nanos =
        u64::try_from(at.unix_timestamp_nanos()).map_err(|_| format!("'{text}' is before 1970"))?;
    Ok(UNIX_EPOCH + Duration::from_nanos(nanos))
}

/// `time` as RFC 3339 in UTC, to the millisecond: what [`parse_time`] reads.
pub fn format_time(time: std::time::SystemTime) -> String {
    use time::format_description::well_known::Rfc3339;
    let at = time::OffsetDateTime::from(time);
    let at = at
        .replace_nanosecond(u32::from(at.millisecond()) * 1_000_000)
        .unwrap_or(at);
    at.format(&Rfc3339).unwrap_or_else(|_| format!("{at}"))
}

/// The open loop's burst (`--burst`): a duration of at most
/// [`load::settings::MAX_BURST`]; `0` sends each message at its own time.
pub fn burst(text: &str) -> Result<std::time::Duration, String> {
    let burst = parse_duration(text)?;
    if burst > load::settings::MAX_BURST {
        return Err(format!(
            "'{text}' is longer than {} s, the longest burst",
            load::settings::MAX_BURST.as_secs()
        ));
    }
    Ok(burst)
}

/// A rate in messages or connections per second: `500`, `2.5k`.
pub fn positive_rate(text: &str) -> Result<f64, String> {
    let (number, multiplier) = match text.strip_suffix(['k', 'K']) {
        Some(number) => (number, 1e3),
        None => (text, 1.0),
    };
    match number.parse::<f64>() {
        Ok(rate) if rate > 0.0 && rate.is_finite() => Ok(rate * multiplier),
        _ => Err(format!("'{text}' is not a positive rate")),
    }
}

/// A count of at least one: `100`, `10k`.
pub fn positive_count(text: &str) -> Result<usize, String> {
    match parse_count(text)? {
        0 => Err("must be at least 1".into()),
        n => Ok(n),
    }
}

/// A size of at least one byte: `64`, `4KiB`.
pub fn positive_bytes(text: &str) -> Result<usize, String> {
    match parse_bytes(text)? {
        0 => Err("must be at least 1 byte".into()),
        n => Ok(n),
    }
}

/// The one address `HOST:PORT` names (the first, if it names several).
pub fn resolve(text: &str) -> Result<SocketAddr, String> {
    text.to_socket_addrs()
        .map_err(|err| format!("cannot resolve {text}: {err}"))?
        .next()
        .ok_or_else(|| format!("{text} resolves to no address"))
}

/// A set of CPUs, sorted, each once. One value of its own to clap: an
/// `Option<Vec<usize>>` field would be read as many values, not one list.
#[derive(Debug, Clone, PartialEq)]
pub struct CpuList(pub Vec<usize>);

/// The most CPUs Linux supports (its largest `NR_CPUS`): a CPU number at or
/// past it is a typo, and a range up to it would be a list of billions.
pub const MAX_CPUS: usize = 8192;

/// Parses a CPU list as taskset writes it: `0`, `0-3`, `0,2,4-5`.
pub fn parse_cpus(text: &str) -> Result<CpuList, String> {
    let mut cpus = Vec::new();
    for part in text.split(',') {
        let cpu = |t: &str| match t.trim().parse::<usize>() {
            Ok(cpu) if cpu < MAX_CPUS => Ok(cpu),
            Ok(_) => Err(format!("'{t}' is past the {MAX_CPUS} CPUs Linux supports")),
            Err(_) => Err(format!("'{t}' is not a CPU number")),
        };
        match part.split_once('-') {
            Some((first, last)) => {
                let (first, last) = (cpu(first)?, cpu(last)?);
                if last < first {
                    return Err(format!("'{part}' is not a CPU range"));
                }
                cpus.extend(first..=last);
            }
            None => cpus.push(cpu(part)?),
        }
    }
    cpus.sort_unstable();
    cpus.dedup();
    Ok(CpuList(cpus))
}

/// Splits `"16KiB"` into `("16", "KiB")`.
fn split_unit(text: &str) -> (&str, &str) {
    let text = text.trim();
    let end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    (&text[..end], text[end..].trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("16384"), Ok(16384));
        assert_eq!(parse_bytes("16KiB"), Ok(16384));
        assert_eq!(parse_bytes("16k"), Ok(16384));
        assert_eq!(parse_bytes("1MiB"), Ok(1 << 20));
        assert_eq!(parse_bytes("4kb"), Ok(4000));
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("-1").is_err());
        assert!(parse_bytes("16 parsecs").is_err());
        assert!(parse_bytes("99999999999999999999G").is_err());
    }

    #[test]
    fn counts() {
        assert_eq!(parse_count("10k"), Ok(10_000));
        assert_eq!(parse_count("250"), Ok(250));
        assert!(parse_count("1.5k").is_err());
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpus("0"), Ok(CpuList(vec![0])));
        assert_eq!(parse_cpus("0-2,5"), Ok(CpuList(vec![0, 1, 2, 5])));
        assert_eq!(parse_cpus("3,1,1"), Ok(CpuList(vec![1, 3])));
        assert!(parse_cpus("2-1").is_err());
        assert!(parse_cpus("x").is_err());
        // Found while writing the unit parsers' fuzz target: the range was
        // collected whole, so this asked for 2^64 list entries.
        assert!(parse_cpus("0-18446744073709551615").is_err());
        assert!(parse_cpus("8192").is_err());
    }

    #[test]
    fn times_past_the_clock_are_refused_not_panicked_on() {
        // Found by the fuzz target `units`: 10^19 s after 1970 overflowed
        // the addition to the epoch.
        assert!(parse_time("10000000000000000004").is_err());
        assert!(parse_time("1e300").is_err());
        assert!(parse_time("-1").is_err());
        assert!(parse_time("1764892800").is_ok());
        assert_eq!(parse_cpus("8191").map(|l| l.0.len()), Ok(1));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("soon").is_err());
        assert_eq!(parse_duration("24h"), Ok(model::config::MAX_WAIT));
        assert!(parse_duration("24.001h").is_err());
        assert!(parse_duration("10000000000000000000").is_err());
    }

    #[test]
    fn a_burst_is_a_duration_of_at_most_a_second() {
        assert_eq!(burst("200us"), Ok(Duration::from_micros(200)));
        assert_eq!(burst("0"), Ok(Duration::ZERO));
        assert_eq!(burst("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(
            burst("2s"),
            Err("'2s' is longer than 1 s, the longest burst".into())
        );
        assert!(burst("fast").is_err());
    }

    mod property {
        use super::super::*;
        use proptest::prelude::*;

        /// Text near the shapes the parsers take: digits, units, separators.
        fn near_units() -> impl Strategy<Value = String> {
            "[0-9.,kKmMgGiIbBsShH -]{0,24}"
        }

        proptest! {
            #[test]
            fn no_text_makes_a_parser_panic(text in any::<String>(), near in near_units()) {
                for text in [&text, &near] {
                    let _ = parse_bytes(text);
                    let _ = parse_count(text);
                    let _ = parse_duration(text);
                    let _ = burst(text);
                    let _ = parse_time(text);
                    let _ = positive_rate(text);
                    if let Ok(cpus) = parse_cpus(text) {
                        prop_assert!(cpus.0.len() <= MAX_CPUS);
                    }
                }
            }

            #[test]
            fn written_values_read_back(n in 0u32..1_000_000) {
                let n = n as usize;
                prop_assert_eq!(parse_bytes(&format!("{n}KiB")), Ok(n << 10));
                prop_assert_eq!(parse_bytes(&format!(" {n} ")), Ok(n));
                prop_assert_eq!(parse_count(&format!("{n}k")), Ok(n * 1000));
                let millis = (n % 86_400_000) as u64;
                prop_assert_eq!(parse_duration(&format!("{millis}ms")), Ok(Duration::from_millis(millis)));
            }

            #[test]
            fn cpu_lists_read_back_sorted_and_once(cpus in proptest::collection::vec(0usize..MAX_CPUS, 1..20)) {
                let text = cpus.iter().map(usize::to_string).collect::<Vec<_>>().join(",");
                let mut expected = cpus.clone();
                expected.sort_unstable();
                expected.dedup();
                prop_assert_eq!(parse_cpus(&text), Ok(CpuList(expected)));
            }
        }
    }
}
