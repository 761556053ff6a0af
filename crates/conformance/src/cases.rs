//! The cases, one function each, in the order PROTOCOL.md introduces what they check.

use std::thread;
use std::time::{Duration, Instant};

use model::{Config, Model};

use crate::client::Client;
use crate::server::Server;
use crate::{Case, Check};

macro_rules! ensure {
    ($cond:expr, $($why:tt)+) => {
        if !$cond {
            return Err(format!($($why)+));
        }
    };
}

/// Every case, in the order the generated tests list them.
pub static CASES: &[Case] = &[
    case(
        "basic_echo",
        "hello, then bytes come back in order",
        basic_echo,
    ),
    case(
        "handshake_whitespace",
        "`hello\\r\\n`, ` hello \\n` and tabs are accepted",
        handshake_whitespace,
    ),
    case(
        "handshake_split_byte_by_byte",
        "a handshake arriving one byte per segment",
        handshake_split_byte_by_byte,
    ),
    case(
        "pipelined_data",
        "bytes after the handshake line in the same segment are echoed",
        pipelined_data,
    ),
    case(
        "bad_handshake_closed_silently",
        "wrong, wrong-case, garbage and 1 MiB-without-newline handshakes: closed, nothing written",
        bad_handshake_closed_silently,
    ),
    case(
        "handshake_line_limit",
        "a 64-byte line is accepted, 65 bytes or 64 without newline are rejected at once",
        handshake_line_limit,
    ),
    case(
        "eof_before_handshake",
        "end-of-stream before the line is complete: closed, nothing written",
        eof_before_handshake,
    ),
    case(
        "large_echo_half_close",
        "1 MiB echoed while sending, every byte returned after half-close",
        large_echo_half_close,
    ),
    case(
        "binary_bytes",
        "all 256 byte values, and `hello\\n` as data, echoed unmodified",
        binary_bytes,
    ),
    case(
        "sequential_connections",
        "1,000 connections one after another",
        sequential_connections,
    ),
    case(
        "client_resets",
        "resets before, during and after the handshake cost only their own connection",
        client_resets,
    ),
    case(
        "concurrent_connections",
        "1,000 connections handshaken and echoing at the same time",
        concurrent_connections,
    ),
    case(
        "handshake_timeout",
        "silent and byte-dripping clients are closed at an absolute deadline",
        handshake_timeout,
    ),
    case(
        "slowloris",
        "200 stalled handshakes are closed at the deadline; a good client is served meanwhile",
        slowloris,
    ),
    case(
        "idle_timeout",
        "an idle connection is closed, an active one is not",
        idle_timeout,
    ),
    case(
        "max_conns",
        "a connection over --max-conns is closed at once; serving recovers",
        max_conns,
    ),
    case(
        "graceful_shutdown",
        "after shutdown an open connection finishes; stragglers are cut at the grace period",
        graceful_shutdown,
    ),
    case(
        "never_reading_client",
        "a client that sends and never reads is held back and costs only itself",
        never_reading_client,
    ),
    case(
        "two_workers",
        "with --workers 2, 200 connections at once are all served and stop together",
        two_workers,
    ),
    case(
        "descriptors_return_to_baseline",
        "after connections in every state and a shutdown, no descriptor is left open",
        descriptors_return_to_baseline,
    ),
];

const fn case(name: &'static str, checks: &'static str, run: fn(&Model) -> Check) -> Case {
    Case { name, checks, run }
}

/// The configuration cases start from: defaults, with a short grace period.
fn config() -> Config {
    Config {
        grace: Duration::from_secs(1),
        ..Config::default()
    }
}

/// How long a client waits to be sure the server is holding it back.
const HELD_BACK: Duration = Duration::from_millis(300);

fn basic_echo(model: &Model) -> Check {
    let server = Server::start(model, config())?;
    let mut client = Client::handshaken(server.addr())?;
    client.echo(b"ping\n")?;
    client.echo(b"a second, longer line with spaces\r\n")?;
    client.half_close()?;
    client.expect_closed()?;
    drop(client);
    let (stats, _) = server.stop()?;
    ensure!(
        stats.accepted == 1 && stats.completed == 1,
        "expected 1 accepted and 1 completed connection, counted {stats}"
    );
    Ok(())
}

fn handshake_whitespace(model: &Model) -> Check {
    let server = Server::start(model, config())?;
    for line in [
        &b"hello\r\n"[..],
        b" hello \n",
        b"\thello\t\r\n",
        b"hello \t \n",
    ] {
        let mut client = Client::connect(server.addr())?;
        client.send(line)?;
        client
            .expect_reply()
            .map_err(|e| format!("line {:?}: {e}", line.escape_ascii().to_string()))?;
        client.echo(b"x")?;
    }
    server.stop().map(drop)
}

fn handshake_split_byte_by_byte(model: &Model) -> Check {
    let server = Server::start(model, config())?;
    let mut client = Client::connect(server.addr())?;
    for byte in b" hello\r\n" {
        client.send(&[*byte])?;
        // Nagle is off on the client, so each byte leaves as its own segment.
        thread::sleep(Duration::from_millis(5));
    }
    client.expect_reply()?;
    client.echo(b"split")?;
    drop(client);
    server.stop().map(drop)
}

fn pipelined_data(model: &Model) -> Check {
    let server = Server::start(model, config())?;
    let mut client = Client::connect(server.addr())?;
    client.send(b"hello\nfirst bytes")?;
    client.expect(b"hello\nfirst bytes")?;
    // Closed before the next, so that one-at-a-time models get to it.
    drop(client);

    let mut client = Client::connect(server.addr())?;
    let payload = pattern(10 * 1024, 7);
    client.send(&[&b"hello\r\n"[..], &payload].concat())?;
    client.expect_reply()?;
    client.expect(&payload)?;
    drop(client);
    server.stop().map(drop)
}

fn bad_handshake_closed_silently(model: &Model) -> Check {
    let server = Server::start(model, config())?;
    let bad: [&[u8]; 8] = [
        b"helo\n",
        b"HELLO\n",
        b"Hello\n",
        b"hello world\n",
        b"\0\0\0\0\n",
        b"\xff\xfe\xfd\n",
        b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
    ];
    for line in bad {
        let mut client = Client::connect(server.addr())?;
        client.send(line)?;
        client
            .expect_closed()
            .map_err(|e| format!("after {:?}: {e}", line.escape_ascii().to_string()))?;
    }

    // 1 MiB without a newline: the server must give up after 64 bytes, not
    // buffer the megabyte. The writer may see a reset; that is fine.
    let mut flood = Client::connect(server.addr())?;
    let mut writer = flood.stream().try_clone().map_err(|e| e.to_string())?;
    let pushing = thread::spawn(move || {
        let _ = std::io::Write::write_all(&mut writer, &vec![b'a'; 1 << 20]);
    });
    flood
        .expect_closed()
        .map_err(|e| format!("after 1 MiB without newline: {e}"))?;
    drop(flood);
    let _ = pushing.join();

    let mut good = Client::handshaken(server.addr())?;
    good.echo(b"still serving")?;
    drop(good);
    let (stats, _) = server.stop()?;
    ensure!(
        stats.rejected == bad.len() as u64 + 1,
        "expected {} rejected handshakes, counted {stats}",
        bad.len() + 1
    );
    Ok(())
}

fn handshake_line_limit(model: &Model) -> Check {
    // A long timeout, so that a close can only be the line limit's doing.
    let server = Server::start(
        model,
        Config {
            handshake_timeout: Duration::from_secs(60),
            ..config()
        },
    )?;
    let longest = [vec![b' '; protocol::MAX_LINE - 6], b"hello\n".to_vec()].concat();
    let mut client = Client::connect(server.addr())?;
    client.send(&longest)?;
    client
        .expect_reply()
        .map_err(|e| format!("a {}-byte line: {e}", longest.len()))?;
    drop(client);

    let too_long = [vec![b' '; protocol::MAX_LINE - 5], b"hello\n".to_vec()].concat();
    let mut client = Client::connect(server.addr())?;
    client.send(&too_long)?;
    client
        .expect_closed()
        .map_err(|e| format!("a {}-byte line: {e}", too_long.len()))?;

    let mut client = Client::connect(server.addr())?;
    client.send(&[b' '; protocol::MAX_LINE])?;
    client
        .expect_closed()
        .map_err(|e| format!("{} bytes without newline: {e}", protocol::MAX_LINE))?;
    drop(client);
    server.stop().map(drop)
}

fn eof_before_handshake(model: &Model) -> Check {
    let server = Server::start(
        model,
        Config {
            handshake_timeout: Duration::from_secs(60),
            ..config()
        },
    )?;
    for partial in [&b""[..], b"hel", b"hello", b"hello \r"] {
        let mut client = Client::connect(server.addr())?;
        client.send(partial)?;
        client.half_close()?;
        client
            .expect_closed()
            .map_err(|e| format!("EOF after {:?}: {e}", partial.escape_ascii().to_string()))?;
    }
    server.stop().map(drop)
}

fn large_echo_half_close(model: &Model) -> Check {
    let server = Server::start(model, config())?;
    let mut client = Client::handshaken(server.addr())?;
    let payload = pattern(1 << 20, 1);
    let mut writer = client.stream().try_clone().map_err(|e| e.to_string())?;
    let sending = payload.clone();
    // Send and receive at once: a server with backpressure stops reading
    // while its echo is unread, so a client that sent everything first
    // would deadlock against it.
    let pushing = thread::spawn(move || -> std::io::Result<()> {
        std::io::Write::write_all(&mut writer, &sending)?;
        writer.shutdown(std::net::Shutdown::Write)
    });
    client.expect(&payload)?;
    client
        .expect_closed()
        .map_err(|e| format!("after the echo of 1 MiB: {e}"))?;
    pushing
        .join()
        .map_err(|_| "the writer panicked".to_string())?
        .map_err(|e| format!("sending 1 MiB: {e}"))?;
    drop(client);
    let (stats, _) = server.stop()?;
    ensure!(
        stats.completed == 1,
        "expected 1 completed, counted {stats}"
    );
    Ok(())
}

fn binary_bytes(model: &Model) -> Check {
    let server = Server::start(model, config())?;
    let mut client = Client::handshaken(server.addr())?;
    let every_byte: Vec<u8> = (0..=255u8).cycle().take(4 * 256).collect();
    client.echo(&every_byte)?;
    // After the handshake, `hello\n` is data like any other.
    client.echo(b"hello\n")?;
    client.echo(b"\0\r\n\xff")?;
    drop(client);
    server.stop().map(drop)
}

fn sequential_connections(model: &Model) -> Check {
    const N: usize = 1000;
    let server = Server::start(model, config())?;
    for i in 0..N {
        let mut client = Client::handshaken(server.addr()).map_err(|e| format!("#{i}: {e}"))?;
        client
            .echo(format!("connection {i}").as_bytes())
            .map_err(|e| format!("#{i}: {e}"))?;
        client.half_close()?;
        client.expect_closed().map_err(|e| format!("#{i}: {e}"))?;
    }
    let (stats, _) = server.stop()?;
    ensure!(
        stats.accepted == N as u64 && stats.completed == N as u64,
        "expected {N} accepted and completed, counted {stats}"
    );
    Ok(())
}

fn client_resets(model: &Model) -> Check {
    const EACH: usize = 50;
    let server = Server::start(model, config())?;
    for _ in 0..EACH {
        Client::connect(server.addr())?.reset();
    }
    served_promptly(&server, "after resets before the handshake")?;
    for _ in 0..EACH {
        let mut client = Client::connect(server.addr())?;
        client.send(b"hel")?;
        client.reset();
    }
    served_promptly(&server, "after resets mid-handshake")?;
    for _ in 0..EACH {
        let mut client = Client::handshaken(server.addr())?;
        // Unread echo in flight when the reset lands.
        client.send(&pattern(64 * 1024, 3))?;
        client.reset();
    }
    served_promptly(&server, "after resets mid-echo")?;
    let (stats, _) = server.stop()?;
    ensure!(stats.open == 0, "connections still counted open: {stats}");
    Ok(())
}

fn concurrent_connections(model: &Model) -> Check {
    const N: usize = 1000;
    let config = config();
    if let Some(limit) = bounded_below(model, &config, N) {
        return served_in_turn(model, config, limit, N);
    }
    let server = Server::start(model, config)?;
    let mut clients = Vec::with_capacity(N);
    for i in 0..N {
        let mut client = Client::connect(server.addr()).map_err(|e| format!("#{i}: {e}"))?;
        client.send(b"hello\n")?;
        clients.push(client);
    }
    for (i, client) in clients.iter_mut().enumerate() {
        client.expect_reply().map_err(|e| format!("#{i}: {e}"))?;
    }
    let open = server.stats().open;
    ensure!(
        open == N as u64,
        "{N} clients handshaken, but the server counts {open} open"
    );
    for (i, client) in clients.iter_mut().enumerate() {
        client
            .echo(format!("client {i} of {N}").as_bytes())
            .map_err(|e| format!("#{i}: {e}"))?;
    }
    for (i, client) in clients.iter_mut().enumerate() {
        client.half_close()?;
        client.expect_closed().map_err(|e| format!("#{i}: {e}"))?;
    }
    drop(clients);
    let (stats, _) = server.stop()?;
    ensure!(
        stats.completed == N as u64,
        "expected {N} completed, counted {stats}"
    );
    Ok(())
}

fn handshake_timeout(model: &Model) -> Check {
    let timeout = Duration::from_millis(400);
    let server = Server::start(
        model,
        Config {
            handshake_timeout: timeout,
            ..config()
        },
    )?;
    let mut silent = Client::connect(server.addr())?;
    closed_not_before(&mut silent, timeout, "a silent client", "handshake timeout")?;

    // One byte of leading whitespace every 100 ms never completes the line;
    // an absolute deadline cuts it at 400 ms, a per-read timer never would.
    let mut dripping = Client::connect(server.addr())?;
    let started = Instant::now();
    let mut writer = dripping.stream().try_clone().map_err(|e| e.to_string())?;
    let drip = thread::spawn(move || {
        for _ in 0..20 {
            if std::io::Write::write_all(&mut writer, b" ").is_err() {
                return;
            }
            thread::sleep(Duration::from_millis(100));
        }
    });
    dripping
        .expect_closed()
        .map_err(|e| format!("a dripping client: {e}"))?;
    let cut = started.elapsed();
    let _ = drip.join();
    ensure!(
        cut < Duration::from_millis(1500),
        "a client dripping a byte per 100 ms was cut after {cut:?}: the {timeout:?} deadline is not absolute"
    );
    served_promptly(&server, "after the timeouts")?;
    drop((silent, dripping));
    server.stop().map(drop)
}

fn slowloris(model: &Model) -> Check {
    const N: usize = 200;
    let timeout = Duration::from_millis(500);
    let config = Config {
        handshake_timeout: timeout,
        ..config()
    };
    // A bounded model's workers are all taken by the first `limit` stalled
    // clients: the good client is served once the deadline frees them.
    let stalled_count = bounded_below(model, &config, N + 1).unwrap_or(N);
    let server = Server::start(model, config)?;
    let started = Instant::now();
    let mut stalled = Vec::with_capacity(stalled_count);
    for _ in 0..stalled_count {
        let mut client = Client::connect(server.addr())?;
        client.send(b"hel")?;
        stalled.push(client);
    }
    let mut good = Client::connect(server.addr())?;
    good.send(b"hello\n")?;
    if stalled_count == N {
        good.expect_reply()
            .map_err(|e| format!("a good client among {N} stalled ones: {e}"))?;
        good.echo(b"served meanwhile")?;
        let open = server.stats().open;
        ensure!(
            open > N as u64,
            "the good client was served only after stalled ones were closed ({open} open)"
        );
    } else {
        good.expect_silence(HELD_BACK.min(timeout / 2))
            .map_err(|e| format!("with every worker held by a stalled client: {e}"))?;
        good.expect_reply()
            .map_err(|e| format!("once the deadline freed the workers: {e}"))?;
        good.echo(b"served in turn")?;
    }
    for (i, client) in stalled.iter_mut().enumerate() {
        client
            .expect_closed()
            .map_err(|e| format!("stalled client #{i}: {e}"))?;
    }
    let all_cut = started.elapsed();
    ensure!(
        all_cut >= timeout * 3 / 4 && all_cut < timeout + Duration::from_secs(3),
        "{stalled_count} stalled clients were closed {all_cut:?} after connecting (deadline {timeout:?})"
    );
    drop((stalled, good));
    server.stop().map(drop)
}

fn idle_timeout(model: &Model) -> Check {
    let idle = Duration::from_millis(400);
    let server = Server::start(
        model,
        Config {
            idle_timeout: Some(idle),
            ..config()
        },
    )?;
    let mut quiet = Client::handshaken(server.addr())?;
    quiet.echo(b"then silence")?;
    closed_not_before(&mut quiet, idle, "an idle client", "idle timeout")?;

    let mut active = Client::handshaken(server.addr())?;
    for i in 0..12 {
        thread::sleep(Duration::from_millis(100));
        active
            .echo(b"tick")
            .map_err(|e| format!("an active client, tick {i} of 12 (100 ms apart): {e}"))?;
    }
    active.half_close()?;
    active.expect_closed()?;
    drop((quiet, active));
    server.stop().map(drop)
}

fn max_conns(model: &Model) -> Check {
    const MAX: usize = 3;
    let config = Config {
        max_conns: MAX,
        handshake_timeout: Duration::from_secs(60),
        ..config()
    };
    if let Some(limit) = bounded_below(model, &config, MAX + 1) {
        return served_in_turn(model, config, limit, MAX + 1);
    }
    let server = Server::start(model, config)?;
    let mut held = (0..MAX)
        .map(|_| Client::handshaken(server.addr()))
        .collect::<Result<Vec<_>, _>>()?;
    let mut over = Client::connect(server.addr())?;
    over.expect_closed()
        .map_err(|e| format!("connection {} with --max-conns {MAX}: {e}", MAX + 1))?;
    ensure!(
        server.stats().rejected == 1,
        "expected 1 rejected, counted {}",
        server.stats()
    );

    let mut first = held.remove(0);
    first.half_close()?;
    first.expect_closed()?;
    wait_for(
        || server.stats().open < MAX as u64,
        "the closed connection to be counted",
    )?;
    let mut next = Client::handshaken(server.addr()).map_err(|e| format!("after one left: {e}"))?;
    next.echo(b"room again")?;
    drop((held, over, next));
    server.stop().map(drop)
}

fn graceful_shutdown(model: &Model) -> Check {
    let grace = Duration::from_millis(1500);
    let server = Server::start(model, Config { grace, ..config() })?;
    let mut open = Client::handshaken(server.addr())?;
    open.echo(b"before")?;
    server.trigger_shutdown();
    open.echo(b"during the grace period")?;
    // A new client is refused or left unserved.
    if let Ok(mut late) = Client::connect(server.addr()) {
        let _ = late.send(b"hello\n");
        match late.expect_silence(HELD_BACK) {
            Ok(()) => {}
            Err(_) => {
                let closed = late.expect_closed();
                ensure!(
                    closed.is_ok(),
                    "a client connecting after the shutdown was served"
                );
            }
        }
    }
    open.send(b"last words")?;
    open.half_close()?;
    open.expect(b"last words")?;
    open.expect_closed()?;
    let (stats, took) = server.stop()?;
    ensure!(
        took < grace,
        "serve took {took:?} to return after its last connection finished (grace {grace:?})"
    );
    ensure!(
        stats.completed == 1,
        "expected 1 completed, counted {stats}"
    );

    let grace = Duration::from_millis(500);
    let server = Server::start(model, Config { grace, ..config() })?;
    let mut idle = Client::handshaken(server.addr())?;
    let (_, took) = server.stop()?;
    ensure!(
        took >= grace * 3 / 4,
        "an open connection was cut after {took:?}, before the {grace:?} grace period"
    );
    idle.expect_closed()
        .map_err(|e| format!("a connection still open at the end of the grace period: {e}"))?;
    Ok(())
}

fn never_reading_client(model: &Model) -> Check {
    let idle = Duration::from_millis(500);
    let config = Config {
        idle_timeout: Some(idle),
        ..config()
    };
    let served_alongside = bounded_below(model, &config, 2).is_none();
    let server = Server::start(model, config)?;
    let bad = Client::handshaken(server.addr())?;
    // Small client buffers, so that what is in flight is mostly on the server side.
    let socket = socket2::SockRef::from(bad.stream());
    let _ = socket.set_recv_buffer_size(64 * 1024);
    let _ = socket.set_send_buffer_size(64 * 1024);
    let bound = in_flight_bound();
    let mut writer = bad.stream().try_clone().map_err(|e| e.to_string())?;
    writer
        .set_write_timeout(Some(Duration::from_millis(250)))
        .map_err(|e| e.to_string())?;
    let pushing = thread::spawn(move || {
        let chunk = vec![b'x'; 64 * 1024];
        let mut written = 0usize;
        while written < 2 * bound {
            match std::io::Write::write(&mut writer, &chunk) {
                Ok(n) => written += n,
                Err(_) => break,
            }
        }
        written
    });
    let written = pushing
        .join()
        .map_err(|_| "the writer panicked".to_string())?;
    ensure!(
        written < bound,
        "a client that never reads pushed {written} bytes into the server (bound {bound}): no backpressure"
    );

    if served_alongside {
        let mut good = Client::handshaken(server.addr())
            .map_err(|e| format!("while a client never reads: {e}"))?;
        good.echo(&pattern(4096, 5))?;
    } else {
        // One connection at a time: the good client waits until the idle
        // timeout frees the server from the bad one, then is served.
        let mut good = Client::connect(server.addr())?;
        good.send(b"hello\n")?;
        good.expect_reply()
            .map_err(|e| format!("after the idle timeout freed the server: {e}"))?;
        good.echo(&pattern(4096, 5))?;
    }
    drop(bad);
    server.stop().map(drop)
}

fn two_workers(model: &Model) -> Check {
    const N: usize = 200;
    let config = Config {
        workers: std::num::NonZeroUsize::new(2),
        ..config()
    };
    if let Some(limit) = bounded_below(model, &config, N) {
        return served_in_turn(model, config, limit, N);
    }
    let server = Server::start(model, config)?;
    let mut clients = (0..N)
        .map(|i| Client::handshaken(server.addr()).map_err(|e| format!("#{i}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    for (i, client) in clients.iter_mut().enumerate() {
        client
            .echo(format!("client {i}").as_bytes())
            .map_err(|e| format!("#{i}: {e}"))?;
    }
    let open = server.stats().open;
    ensure!(
        open == N as u64,
        "{N} clients handshaken, the server counts {open} open"
    );
    drop(clients);
    let (stats, _) = server.stop()?;
    ensure!(
        stats.accepted == N as u64 && stats.completed == N as u64,
        "expected {N} accepted and completed, counted {stats}"
    );
    Ok(())
}

fn descriptors_return_to_baseline(model: &Model) -> Check {
    let server = Server::start(
        model,
        Config {
            grace: Duration::from_millis(300),
            ..config()
        },
    )?;
    let mut clients = Vec::new();
    for i in 0..100 {
        let mut client = Client::connect(server.addr())?;
        match i % 4 {
            0 => client.send(b"hello\nsome echo")?,
            1 => client.send(b"hel")?,
            2 => {}
            _ => {
                client.send(b"hello\n")?;
                client.reset();
                continue;
            }
        }
        clients.push(client);
    }
    server.stop()?;
    drop(clients);
    // `run_case` now checks that the process is back to its descriptor count.
    Ok(())
}

/// `Some(limit)` if `model` serves fewer than `needed` connections at once under `config`.
fn bounded_below(model: &Model, config: &Config, needed: usize) -> Option<usize> {
    model
        .concurrency
        .limit(config)
        .filter(|&limit| limit < needed)
}

/// The degraded behaviour a bounded model declares instead of serving
/// `needed` connections at once: exactly `limit` are served together, the
/// next waits without being closed, is served as soon as one ends, and
/// `needed` pipelined clients are all served in turn.
fn served_in_turn(model: &Model, config: Config, limit: usize, needed: usize) -> Check {
    let server = Server::start(model, config)?;
    let mut held = (0..limit)
        .map(|i| Client::handshaken(server.addr()).map_err(|e| format!("held #{i}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let mut waiting = Client::connect(server.addr())?;
    waiting.send(b"hello\n")?;
    waiting
        .expect_silence(HELD_BACK)
        .map_err(|e| format!("client {} of a model bounded at {limit}: {e}", limit + 1))?;
    let mut first = held.remove(0);
    first.half_close()?;
    first.expect_closed()?;
    waiting
        .expect_reply()
        .map_err(|e| format!("once a served connection ended, the waiting one: {e}"))?;
    waiting.echo(b"my turn")?;
    drop((held, waiting));

    let mut queue = Vec::with_capacity(needed);
    for i in 0..needed {
        let mut client = Client::connect(server.addr())?;
        client.send(format!("hello\nclient {i}").as_bytes())?;
        client.half_close()?;
        queue.push(client);
    }
    for (i, client) in queue.iter_mut().enumerate() {
        client
            .expect(format!("hello\nclient {i}").as_bytes())
            .map_err(|e| format!("pipelined client {i} of {needed}: {e}"))?;
        client.expect_closed()?;
    }
    drop(queue);
    server.stop().map(drop)
}

/// Waits for the server to close `client`, and checks that it did not do so
/// well before `timeout` (a quarter of slack for timer granularity).
fn closed_not_before(client: &mut Client, timeout: Duration, who: &str, what: &str) -> Check {
    let waited = client.expect_closed().map_err(|e| format!("{who}: {e}"))?;
    ensure!(
        waited >= timeout * 3 / 4,
        "{who} was closed after {waited:?}, before the {timeout:?} {what}"
    );
    Ok(())
}

/// A fresh client is handshaken and echoed right away.
fn served_promptly(server: &Server, when: &str) -> Check {
    let mut client = Client::handshaken(server.addr()).map_err(|e| format!("{when}: {e}"))?;
    client
        .echo(b"are you still there?")
        .map_err(|e| format!("{when}: {e}"))
}

/// Polls `condition` for up to two seconds.
fn wait_for(condition: impl Fn() -> bool, what: &str) -> Check {
    let deadline = Instant::now() + Duration::from_secs(2);
    while !condition() {
        ensure!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

/// The most bytes that can be in flight between a client that never reads
/// and a server with backpressure: the kernel's largest socket buffers on
/// both paths, plus a megabyte for the client's own buffers and the
/// server's echo buffer.
fn in_flight_bound() -> usize {
    let max_of = |path: &str| -> usize {
        std::fs::read_to_string(path)
            .ok()
            .and_then(|s| s.split_whitespace().last()?.parse().ok())
            .unwrap_or(8 << 20)
    };
    max_of("/proc/sys/net/ipv4/tcp_rmem") + max_of("/proc/sys/net/ipv4/tcp_wmem") + (1 << 20)
}

/// Deterministic, non-repeating-looking test bytes.
fn pattern(len: usize, seed: u32) -> Vec<u8> {
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as u8
        })
        .collect()
}
