//! The agents of one run made into one report: what `c10k merge` does with
//! the `--json` records (and `--hlog` interval logs) of
//! `c10k load --segment K/N --start-at TIME`.
//!
//! Histograms are added exactly (HdrHistogram's own addition, after
//! checking that every agent recorded with the same range and precision):
//! latencies and, in the open loop, the send lag. Counts and errors are
//! summed, and so are the per-connection sums Jain's index is made of;
//! rates are summed over windows that began together. A set that is not one whole run is refused with one line: a
//! file made without `--start-at`, files of different runs (their start
//! time is the run's id), settings that differ, a segment missing or given
//! twice.

use hdrhistogram::Histogram;
use serde::Deserialize;

use crate::machine::{self, Machine};
use crate::report::{
    EncodedHistograms, Errors, Fairness, IntervalLog, Latencies, PerConnection, Report, Results,
    Schedule, Summary, littles_law, per_message,
};
use crate::settings::{Segment, Settings};

/// One agent's `--json` record, as far as merging needs it.
#[derive(Debug, Clone, Deserialize)]
pub struct AgentRecord {
    pub machine: Machine,
    pub settings: Settings,
    pub results: Results,
    pub histograms: EncodedHistograms,
}

/// How far apart the agents' windows may begin and still be added second
/// by second: what `--start-at` gives on hosts whose clocks agree.
const START_SPREAD: std::time::Duration = std::time::Duration::from_millis(50);

/// Merges the records of every agent of one run into the report one agent
/// would have made, with, when every agent's interval log is given (in the
/// same order), the per-second series added second by second from the
/// common start. `Err` is one line saying why the set is not one run.
pub fn merge(agents: &[AgentRecord], logs: Option<Vec<IntervalLog>>) -> Result<Report, String> {
    let first = agents.first().ok_or("no agent files to merge")?;
    let start = first
        .settings
        .start_at
        .ok_or("an agent file was made without --start-at: its window cannot be aligned")?;
    for agent in agents {
        if agent.settings.start_at != Some(start) {
            return Err("the files are of different runs: their --start-at differ".into());
        }
        first.settings.same_run_as(&agent.settings)?;
    }
    check_segments(agents)?;
    let histograms = add_histograms(agents)?;
    let settings = Settings {
        segment: Segment::WHOLE,
        threads: agents.iter().map(|agent| agent.settings.threads).sum(),
        ..first.settings.clone()
    };
    let mut results = merged_results(&settings, agents, &histograms);
    let [connect, handshake, echo, echo_uncorrected] = &histograms.latency;
    let intervals = match logs {
        Some(logs) => add_intervals(logs)?,
        None => IntervalLog::new(start + settings.warmup),
    };
    results.p99_by_second_us = intervals.p99_by_second_us();
    Ok(Report {
        c10k_version: machine::VERSION,
        git_revision: machine::GIT_REVISION,
        machine: first.machine.clone(),
        settings,
        results,
        histograms: EncodedHistograms::encode(
            [connect, handshake, echo, echo_uncorrected],
            histograms.echo_user.as_ref(),
            histograms.send_lag.as_ref(),
        )
        .with_wake_lateness(histograms.wake_lateness.as_ref()),
        clock: None,
        intervals,
    })
}

/// The agents' interval logs added second by second, from the earliest
/// start; refused if the windows began further apart than [`START_SPREAD`].
fn add_intervals(logs: Vec<IntervalLog>) -> Result<IntervalLog, String> {
    let starts = logs.iter().map(|log| log.start);
    let (Some(first), Some(last)) = (starts.clone().min(), starts.max()) else {
        return Err("no interval logs to merge".into());
    };
    let spread = last.duration_since(first).unwrap_or_default();
    if spread > START_SPREAD {
        return Err(format!(
            "the agents' windows began {:.0} ms apart (at most {} ms): not one window",
            spread.as_secs_f64() * 1e3,
            START_SPREAD.as_millis()
        ));
    }
    let mut merged = IntervalLog::new(first);
    for log in logs {
        for (second, pair) in log.seconds.into_iter().enumerate() {
            match merged.seconds.get_mut(second) {
                Some(sums) => {
                    for (sum, part) in sums.iter_mut().zip(&pair) {
                        add_exactly(sum, part)?;
                    }
                }
                None => merged.seconds.push(pair),
            }
        }
    }
    Ok(merged)
}

/// Every segment K/N of one N, each exactly once.
fn check_segments(agents: &[AgentRecord]) -> Result<(), String> {
    let count = agents[0].settings.segment.count;
    let mut seen = vec![false; count];
    for agent in agents {
        let segment = agent.settings.segment;
        if segment.count != count {
            return Err(format!(
                "the agents split the run differently: {} and {}",
                agents[0].settings.segment, segment
            ));
        }
        if std::mem::replace(&mut seen[segment.index], true) {
            return Err(format!("segment {segment} is given twice"));
        }
    }
    match seen.iter().position(|seen| !seen) {
        Some(missing) => Err(format!("segment {missing}/{count} is missing")),
        None => Ok(()),
    }
}

/// The agents' histograms, each added over the agents: connect, handshake,
/// echo and uncorrected echo; the echo's user-space timing and, in the open
/// loop, the send lag (each `None` when any agent's record lacks it).
struct Histograms {
    latency: [Histogram<u64>; 4],
    echo_user: Option<Histogram<u64>>,
    send_lag: Option<Histogram<u64>>,
    wake_lateness: Option<Histogram<u64>>,
}

fn add_histograms(agents: &[AgentRecord]) -> Result<Histograms, String> {
    let mut sums: Option<Histograms> = None;
    for agent in agents {
        let encoded = &agent.histograms;
        let [connect, handshake, echo, uncorrected] = [
            &encoded.connect,
            &encoded.handshake,
            &encoded.echo,
            &encoded.echo_uncorrected,
        ]
        .map(|text| EncodedHistograms::decode(text));
        let latency = [connect?, handshake?, echo?, uncorrected?];
        let optional = |text: &str| match text {
            "" => Ok(None),
            text => EncodedHistograms::decode(text).map(Some),
        };
        let echo_user = optional(&encoded.echo_user)?;
        let send_lag = optional(&encoded.send_lag)?;
        let wake_lateness = optional(&encoded.wake_lateness)?;
        match &mut sums {
            None => {
                sums = Some(Histograms {
                    latency,
                    echo_user,
                    send_lag,
                    wake_lateness,
                });
            }
            Some(sums) => {
                for (sum, part) in sums.latency.iter_mut().zip(&latency) {
                    add_exactly(sum, part)?;
                }
                sums.echo_user = add_if_both(sums.echo_user.take(), echo_user)?;
                sums.send_lag = add_if_both(sums.send_lag.take(), send_lag)?;
                sums.wake_lateness = add_if_both(sums.wake_lateness.take(), wake_lateness)?;
            }
        }
    }
    sums.ok_or_else(|| "no agent files to merge".into())
}

/// The sum of a histogram that some records may lack: none if one does.
fn add_if_both(
    sum: Option<Histogram<u64>>,
    part: Option<Histogram<u64>>,
) -> Result<Option<Histogram<u64>>, String> {
    match (sum, part) {
        (Some(mut sum), Some(part)) => {
            add_exactly(&mut sum, &part)?;
            Ok(Some(sum))
        }
        _ => Ok(None),
    }
}

/// `sum += part`, refused unless both have the same range and precision,
/// so that the sum is exactly the histogram of all the values.
fn add_exactly(sum: &mut Histogram<u64>, part: &Histogram<u64>) -> Result<(), String> {
    let shape = |h: &Histogram<u64>| (h.low(), h.high(), h.sigfig());
    if shape(sum) != shape(part) {
        return Err(format!(
            "the agents' histograms differ in range or precision: {:?} and {:?}",
            shape(sum),
            shape(part)
        ));
    }
    sum.add(part)
        .map_err(|err| format!("adding histograms: {err:?}"))
}

fn merged_results(settings: &Settings, agents: &[AgentRecord], histograms: &Histograms) -> Results {
    let [connect, handshake, echo, echo_uncorrected] = &histograms.latency;
    let each = || agents.iter().map(|agent| &agent.results);
    let ready: usize = each().map(|r| r.connections_ready).sum();
    let messages: u64 = each().map(|r| r.messages).sum();
    let messages_per_s: f64 = each().map(|r| r.messages_per_s).sum();
    let load_cpu_s: Option<f64> = each().map(|r| r.load_cpu_s).sum();
    let load_switches: Option<u64> = each().map(|r| r.load_voluntary_switches).sum();
    let mut errors = Errors::default();
    for results in each() {
        errors.merge(&results.errors);
    }
    let schedules: Vec<&Schedule> = each().filter_map(|r| r.schedule.as_ref()).collect();
    let schedule = settings.rate.map(|requested| {
        let scheduled = schedules.iter().map(|s| s.scheduled_msgs_per_s).sum();
        let achieved = schedules.iter().map(|s| s.achieved_msgs_per_s).sum();
        let any_behind = schedules.iter().any(|s| s.fell_behind);
        match &histograms.send_lag {
            Some(lag) => {
                let mut whole = Schedule::check(requested, scheduled, achieved, lag)
                    .with_wake_lateness(histograms.wake_lateness.as_ref());
                // One agent behind its share makes the run's figures suspect.
                whole.fell_behind |= any_behind;
                whole
            }
            // Records written before the send lag was recorded.
            None => Schedule {
                requested_msgs_per_s: requested,
                scheduled_msgs_per_s: scheduled,
                achieved_msgs_per_s: achieved,
                send_lag: None,
                wake_lateness: None,
                fell_behind: any_behind,
            },
        }
    });
    let mut per_connection = Some(PerConnection::default());
    for results in each() {
        per_connection = per_connection
            .zip(results.fairness.per_connection.as_ref())
            .map(|(mut sum, part)| {
                sum.add(part);
                sum
            });
    }
    Results {
        connections_requested: each().map(|r| r.connections_requested).sum(),
        connections_established: each().map(|r| r.connections_established).sum(),
        connections_ready: ready,
        ramp_s: each().filter_map(|r| r.ramp_s).reduce(f64::max),
        measured_s: each().map(|r| r.measured_s).fold(0.0, f64::max),
        messages,
        messages_per_s,
        drained: each().map(|r| r.drained).sum(),
        unfinished: each().map(|r| r.unfinished).sum(),
        // Each message is out until the thread reads its echo: the read
        // time, which older records' `echo` was.
        littles_law: littles_law(
            settings,
            messages_per_s,
            histograms.echo_user.as_ref().unwrap_or(echo),
            ready,
        ),
        schedule,
        echo_timing: each().map(|r| r.echo_timing).sum(),
        // Per second, the agents' histograms are in their interval logs.
        p99_by_second_us: Vec::new(),
        load_cpu_s,
        load_cpu_us_per_message: per_message(load_cpu_s.map(|cpu| cpu * 1e6), messages),
        load_voluntary_switches: load_switches,
        load_voluntary_switches_per_message: per_message(
            load_switches.map(|switches| switches as f64),
            messages,
        ),
        megabytes_per_s: each().map(|r| r.megabytes_per_s).sum(),
        latency: Latencies {
            connect: Summary::of(connect),
            handshake: Summary::of(handshake),
            echo: Summary::of(echo),
            echo_uncorrected: Summary::of(echo_uncorrected),
            echo_user: histograms.echo_user.as_ref().and_then(Summary::of),
        },
        fairness: Fairness {
            jain_index: per_connection.and_then(|sums| sums.jain_index()),
            slowest_connection_msgs_per_s: each()
                .filter_map(|r| r.fairness.slowest_connection_msgs_per_s)
                .reduce(f64::min),
            per_connection,
        },
        errors,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::latency_histogram;

    /// Splitting a set of values over k histograms and adding them back
    /// gives exactly the histogram of the whole set, through the encoding
    /// the records carry.
    #[test]
    fn split_and_added_back_is_the_whole() {
        let values: Vec<u64> = (0..10_000u64)
            .map(|i| 1_000 + (i * 7_919) % 5_000_000)
            .collect();
        let mut whole = latency_histogram();
        for &value in &values {
            whole.record(value).unwrap();
        }
        for k in [2, 3, 7] {
            let mut parts: Vec<Histogram<u64>> = (0..k).map(|_| latency_histogram()).collect();
            for (i, &value) in values.iter().enumerate() {
                parts[i % k].record(value).unwrap();
            }
            let mut sum = latency_histogram();
            for part in &parts {
                let encoded = EncodedHistograms::encode([part, part, part, part], None, None);
                let decoded = EncodedHistograms::decode(&encoded.echo).unwrap();
                add_exactly(&mut sum, &decoded).unwrap();
            }
            assert_eq!(sum, whole, "split over {k}");
            assert_eq!(sum.value_at_quantile(0.99), whole.value_at_quantile(0.99));
        }
    }

    #[test]
    fn interval_logs_add_second_by_second_only_from_one_start() {
        let start = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000);
        let log = |start, values: &[u64]| {
            let mut log = IntervalLog::new(start);
            for &value in values {
                let mut pair = [latency_histogram(), latency_histogram()];
                pair[0].record(value).unwrap();
                pair[1].record(value).unwrap();
                log.seconds.push(pair);
            }
            log
        };
        let near = start + std::time::Duration::from_millis(20);
        let merged = add_intervals(vec![log(start, &[1_000, 2_000]), log(near, &[3_000])]).unwrap();
        let counts: Vec<u64> = merged.seconds.iter().map(|[with, _]| with.len()).collect();
        assert_eq!((merged.start, counts), (start, vec![2, 1]));
        let far = start + std::time::Duration::from_millis(100);
        let refused = add_intervals(vec![log(start, &[1_000]), log(far, &[1_000])]);
        assert!(refused.unwrap_err().contains("apart"));
    }

    #[test]
    fn histograms_of_another_shape_are_refused() {
        let mut sum = latency_histogram();
        let other = Histogram::<u64>::new_with_bounds(1, 1_000, 2).unwrap();
        assert!(add_exactly(&mut sum, &other).is_err());
    }
}
