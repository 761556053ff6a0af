//! `cargo bench`: microbenchmarks of one path through each model, with the
//! server out of process.
//!
//! Each model runs as a `c10k serve` child, started once per workload and
//! stopped after it, pinned to CPU 0 while this client runs pinned to CPU 1
//! (on a machine with two or more CPUs), so that the numbers are about the
//! model's path and not about where two threads sharing a process happened
//! to be scheduled. One criterion group per workload, with the models as
//! its parameter: the HTML report (`target/criterion/report/index.html`)
//! puts them side by side, and `cargo bench -- tokio` still runs one model.
//!
//! | workload | what it isolates |
//! | --- | --- |
//! | `ping-pong-64B`, `ping-pong-4KiB` | one round trip on one connection: the wake-up path from the socket to the code that answers, and back |
//! | `connect-echo-close` | accept, handshake, one echo and teardown, until the server's FIN says it has closed the socket |
//! | `pipelined-burst` | 100 open connections, 10 messages each sent without waiting, read back by one non-blocking client thread: throughput with no thread creation in the loop |
//! | `wake-1000-idle` | one message to each of 1,000 idle connections in turn: the cost of waking a connection that was asleep |
//!
//! After a measurement the bench prints the server's context switches and
//! CPU time per round trip (or per connection), read from `/proc` over 2,000
//! more (500 connections): the measurement that explains an ordering.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use bench_harness::models::MODELS;
use criterion::{
    BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group,
    criterion_main, measurement::WallTime,
};
use model::{Config, Model};
use server_process::ServerProcess;

/// The server's binary, built by cargo for this bench.
const C10K: &str = env!("CARGO_BIN_EXE_c10k");
/// Where the server and this client run, when the machine has two CPUs;
/// `C10K_BENCH_CPUS=SERVER,CLIENT` (say `0,0`) places them elsewhere.
const SERVER_CPU: usize = 0;
const CLIENT_CPU: usize = 1;
/// The connections of `pipelined-burst`, and the messages each sends at once.
const BURST_CONNECTIONS: usize = 100;
const BURST_MESSAGES: usize = 10;
/// The idle connections `wake-1000-idle` wakes in turn.
const IDLE_CONNECTIONS: usize = 1000;
/// Units (round trips, or a quarter as many connections) of the `/proc`
/// reading after a measurement.
const PROBE_UNITS: usize = 2000;

/// One criterion group: how long it measures, and how it samples.
fn configure(group: &mut BenchmarkGroup<'_, WallTime>, slow: bool) {
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    if slow {
        // Iterations of tens of milliseconds: as many per sample, few samples.
        group.sampling_mode(SamplingMode::Flat);
        group.sample_size(10);
    } else {
        group.sample_size(30);
    }
}

/// The CPUs of the server and of this client: `C10K_BENCH_CPUS`, or the
/// defaults; `None` on a machine with one CPU.
fn placement() -> Option<(usize, usize)> {
    static PLACEMENT: std::sync::OnceLock<Option<(usize, usize)>> = std::sync::OnceLock::new();
    *PLACEMENT.get_or_init(|| {
        // Read before any pinning: the count std reports follows affinity.
        let cores = load::machine::cores();
        let chosen = std::env::var("C10K_BENCH_CPUS").ok().map(|text| {
            let cpus: Vec<usize> = text
                .split(',')
                .filter_map(|cpu| cpu.trim().parse().ok())
                .collect();
            match cpus[..] {
                [server, client] if server < cores && client < cores => (server, client),
                _ => panic!(
                    "C10K_BENCH_CPUS={text:?}: expected SERVER,CLIENT, two CPUs below {cores}"
                ),
            }
        });
        chosen.or((cores >= 2).then_some((SERVER_CPU, CLIENT_CPU)))
    })
}

/// Starts a model's server for one group: by the first benchmark of it that
/// criterion's filter lets run, so that `cargo bench -- tokio` starts only
/// tokio's.
fn start(model: &Model) -> ServerProcess {
    // The child inherits this thread's affinity: pin it to the server's CPU
    // for the spawn, then move back to the client's.
    let cpus = placement();
    if let Some((server, _)) = cpus {
        server_process::pin_to(&[server]).expect("pin the server");
    }
    let server = ServerProcess::start_binary(Path::new(C10K), model.name, &[])
        .unwrap_or_else(|why| panic!("{}: {why}", model.name));
    if let Some((_, client)) = cpus {
        server_process::pin_to(&[client]).expect("pin the client");
    }
    server
}

/// Stops a group's server, once its clients have left, through SIGTERM.
fn stop(model: &Model, server: Option<ServerProcess>) {
    if let Some(server) = server {
        match server.stop(Duration::from_secs(5)) {
            server_process::Stopped::Cleanly(_) => {}
            other => println!("{}: the server did not stop cleanly: {other:?}", model.name),
        }
    }
}

fn handshaken(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    stream.write_all(b"hello\n").expect("send hello");
    let mut reply = [0u8; 6];
    stream.read_exact(&mut reply).expect("hello reply");
    stream
}

/// Opens and handshakes `n` connections the first time a group's routine
/// runs (criterion calls it once per sample); true when it just did.
fn open_once(streams: &mut Vec<TcpStream>, addr: SocketAddr, n: usize) -> bool {
    if !streams.is_empty() {
        return false;
    }
    *streams = (0..n).map(|_| handshaken(addr)).collect();
    true
}

fn echo(stream: &mut TcpStream, message: &[u8], scratch: &mut [u8]) {
    stream.write_all(message).expect("send");
    stream
        .read_exact(&mut scratch[..message.len()])
        .expect("echo");
}

/// The models that can hold `connections` at once; the others are named
/// with their declared bound, never skipped silently.
fn models_holding(workload: &str, connections: usize) -> Vec<&'static Model> {
    let config = Config::default();
    MODELS
        .iter()
        .filter(|model| match model.concurrency.bound(&config) {
            Some((limit, why)) if limit < connections => {
                println!(
                    "{workload}/{}: not run, by design: serves {limit} at a time ({why})",
                    model.name
                );
                false
            }
            _ => (model.available)().is_ok(),
        })
        .collect()
}

fn ping_pong(c: &mut Criterion, size: usize, name: &str) {
    let message = vec![b'p'; size];
    let mut group = c.benchmark_group(name);
    configure(&mut group, false);
    group.throughput(Throughput::Elements(1));
    for model in models_holding(name, 1) {
        let mut served: Option<ServerProcess> = None;
        let mut stream: Option<TcpStream> = None;
        group.bench_function(BenchmarkId::from_parameter(model.name), |b| {
            let served = served.get_or_insert_with(|| start(model));
            let stream = stream.get_or_insert_with(|| handshaken(served.addr));
            let mut scratch = vec![0u8; size];
            b.iter(|| echo(stream, &message, &mut scratch));
        });
        if let (Some(served), Some(stream)) = (&served, &mut stream) {
            let mut scratch = vec![0u8; size];
            explain(name, model, served, PROBE_UNITS, || {
                echo(stream, &message, &mut scratch);
            });
        }
        drop(stream);
        stop(model, served);
    }
    group.finish();
}

/// What one unit of a workload (a round trip, a connection) costs the
/// server, from `/proc`, over `units` more of them after the measurement:
/// context switches (wake-ups) and CPU time, the figures behind an ordering
/// that looks surprising.
fn explain(
    workload: &str,
    model: &Model,
    server: &ServerProcess,
    units: usize,
    mut work: impl FnMut(),
) {
    let pid = server.pid();
    let read = || process_stats::context_switches(pid).zip(process_stats::cpu_run_seconds(pid));
    let before = read();
    let started = Instant::now();
    for _ in 0..units {
        work();
    }
    let took = started.elapsed();
    if let (Some(((v0, i0), cpu0)), Some(((v1, i1), cpu1))) = (before, read()) {
        let n = units as f64;
        println!(
            "{workload}/{}: server {:.2} context switches ({:.2} involuntary) and {:.1} us CPU per unit; {:.1} us wall ({units} units)",
            model.name,
            (v1 + i1).saturating_sub(v0 + i0) as f64 / n,
            i1.saturating_sub(i0) as f64 / n,
            (cpu1 - cpu0) * 1e6 / n,
            took.as_secs_f64() * 1e6 / n,
        );
    }
}

fn connect_echo_close(c: &mut Criterion) {
    const NAME: &str = "connect-echo-close";
    let request = [&b"hello\n"[..], &[b'c'; 64]].concat();
    let mut group = c.benchmark_group(NAME);
    configure(&mut group, false);
    group.throughput(Throughput::Elements(1));
    for model in models_holding(NAME, 1) {
        let mut served: Option<ServerProcess> = None;
        group.bench_function(BenchmarkId::from_parameter(model.name), |b| {
            let addr = served.get_or_insert_with(|| start(model)).addr;
            b.iter(|| connect_echo_close_once(addr, &request));
        });
        if let Some(served) = &served {
            explain(NAME, model, served, PROBE_UNITS / 4, || {
                connect_echo_close_once(served.addr, &request);
            });
        }
        stop(model, served);
    }
    group.finish();
}

/// Connects, sends the handshake and a message, half-closes, and reads the
/// echo to end-of-stream, which arrives when the server has closed its
/// socket: the connection is released, not just answered.
fn connect_echo_close_once(addr: SocketAddr, request: &[u8]) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    stream.write_all(request).expect("send");
    stream
        .shutdown(std::net::Shutdown::Write)
        .expect("half-close");
    let mut reply = Vec::with_capacity(request.len());
    stream.read_to_end(&mut reply).expect("echo and close");
    assert_eq!(reply, request);
}

fn pipelined_burst(c: &mut Criterion) {
    const NAME: &str = "pipelined-burst";
    let burst = vec![b'b'; 64 * BURST_MESSAGES];
    let mut group = c.benchmark_group(NAME);
    configure(&mut group, true);
    group.throughput(Throughput::Elements(
        (BURST_CONNECTIONS * BURST_MESSAGES) as u64,
    ));
    for model in models_holding(NAME, BURST_CONNECTIONS) {
        let mut served: Option<ServerProcess> = None;
        let mut streams: Vec<TcpStream> = Vec::new();
        group.bench_function(BenchmarkId::from_parameter(model.name), |b| {
            let addr = served.get_or_insert_with(|| start(model)).addr;
            if open_once(&mut streams, addr, BURST_CONNECTIONS) {
                for stream in &streams {
                    stream.set_nonblocking(true).expect("non-blocking");
                }
            }
            let mut scratch = vec![0u8; burst.len()];
            b.iter(|| burst_round(&streams, &burst, &mut scratch));
        });
        drop(streams);
        stop(model, served);
    }
    group.finish();
}

/// Every connection sends its burst, then one thread reads every echo back,
/// waiting in `poll` for whichever connection has bytes.
fn burst_round(streams: &[TcpStream], burst: &[u8], scratch: &mut [u8]) {
    let mut unsent: Vec<&[u8]> = vec![burst; streams.len()];
    let mut unread: Vec<usize> = vec![burst.len(); streams.len()];
    let deadline = Instant::now() + Duration::from_secs(10);
    while unread.iter().any(|&left| left > 0) {
        assert!(Instant::now() < deadline, "a burst took over 10 s");
        for (i, mut stream) in streams.iter().enumerate() {
            while !unsent[i].is_empty() {
                match stream.write(unsent[i]) {
                    Ok(n) => unsent[i] = &unsent[i][n..],
                    Err(err) if err.kind() == ErrorKind::WouldBlock => break,
                    Err(err) => panic!("send: {err}"),
                }
            }
            while unread[i] > 0 {
                match stream.read(&mut scratch[..unread[i]]) {
                    Ok(0) => panic!("the server closed a burst connection"),
                    Ok(n) => unread[i] -= n,
                    Err(err) if err.kind() == ErrorKind::WouldBlock => break,
                    Err(err) => panic!("receive: {err}"),
                }
            }
        }
        wait_for_any(streams, &unsent, &unread);
    }
}

/// Blocks until a connection that still owes bytes has some to read, or
/// one with bytes left to send can take them.
fn wait_for_any(streams: &[TcpStream], unsent: &[&[u8]], unread: &[usize]) {
    use rustix::event::{PollFd, PollFlags, poll};
    let mut fds: Vec<PollFd<'_>> = Vec::new();
    for (i, stream) in streams.iter().enumerate() {
        let mut flags = PollFlags::empty();
        if unread[i] > 0 {
            flags |= PollFlags::IN;
        }
        if !unsent[i].is_empty() {
            flags |= PollFlags::OUT;
        }
        if !flags.is_empty() {
            fds.push(PollFd::new(stream, flags));
        }
    }
    if !fds.is_empty() {
        let timeout = rustix::time::Timespec {
            tv_sec: 0,
            tv_nsec: 10_000_000,
        };
        let _ = poll(&mut fds, Some(&timeout));
    }
}

fn wake_idle(c: &mut Criterion) {
    const NAME: &str = "wake-1000-idle";
    let message = [b'w'; 64];
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let mut group = c.benchmark_group(NAME);
    configure(&mut group, true);
    group.throughput(Throughput::Elements(IDLE_CONNECTIONS as u64));
    for model in models_holding(NAME, IDLE_CONNECTIONS) {
        let mut served: Option<ServerProcess> = None;
        let mut streams: Vec<TcpStream> = Vec::new();
        group.bench_function(BenchmarkId::from_parameter(model.name), |b| {
            let addr = served.get_or_insert_with(|| start(model)).addr;
            open_once(&mut streams, addr, IDLE_CONNECTIONS);
            let mut scratch = [0u8; 64];
            b.iter(|| {
                for stream in &mut streams {
                    echo(stream, &message, &mut scratch);
                }
            });
        });
        if let Some(served) = &served {
            let mut scratch = [0u8; 64];
            let mut next = 0;
            explain(NAME, model, served, PROBE_UNITS, || {
                echo(
                    &mut streams[next % IDLE_CONNECTIONS],
                    &message,
                    &mut scratch,
                );
                next += 1;
            });
        }
        drop(streams);
        stop(model, served);
    }
    group.finish();
}

fn models(c: &mut Criterion) {
    let machine = load::machine::describe();
    let placement = match placement() {
        Some((server, client)) => format!("server pinned to CPU {server}, client to CPU {client}"),
        None => "one CPU: server and client share it, unpinned".to_string(),
    };
    println!(
        "c10k cargo bench: each model a `c10k serve` child; {placement}; {} ({} cores), Linux {}, {}",
        machine.cpu, machine.cores, machine.kernel, machine.rustc
    );
    ping_pong(c, 64, "ping-pong-64B");
    ping_pong(c, 4096, "ping-pong-4KiB");
    connect_echo_close(c);
    pipelined_burst(c);
    wake_idle(c);
    server_process::unpin(machine.cores);
}

criterion_group!(benches, models);
criterion_main!(benches);
