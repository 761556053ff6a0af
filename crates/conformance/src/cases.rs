//! The protocol cases, one function each, in the order PROTOCOL.md
//! introduces what they check; the abuse cases live in [`crate::abuse`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::abuse;
use crate::checks::{
    HELD_BACK, TIMER_SLACK, all_completed, by_design, counted, drip_whitespace, ensure, passes,
    patient, pattern, served_promptly,
};
use crate::client::Client;
use crate::server::{Server, exited_cleanly, wait_for};
use crate::target::{Setup, Signal};
use crate::{Case, CaseResult, Check, Run, Verdict};

/// Every case, in the order the generated tests list them.
pub static CASES: &[Case] = &[
    case(
        "basic_echo",
        "hello, then bytes come back in order",
        basic_echo,
    ),
    handshake_case(
        "handshake_whitespace",
        "`hello\\r\\n`, ` hello \\n` and tabs are accepted",
        handshake_whitespace,
    ),
    handshake_case(
        "handshake_split_byte_by_byte",
        "a handshake arriving one byte per segment",
        handshake_split_byte_by_byte,
    ),
    handshake_case(
        "pipelined_data",
        "bytes after the handshake line in the same segment are echoed",
        pipelined_data,
    ),
    handshake_case(
        "bad_handshake_closed_silently",
        "wrong and wrong-case lines, and 1 MiB without a newline: closed, nothing written",
        bad_handshake_closed_silently,
    ),
    handshake_case(
        "handshake_line_limit",
        "a 64-byte line is accepted, 65 bytes or 64 without newline are rejected at once",
        handshake_line_limit,
    ),
    handshake_case(
        "eof_before_handshake",
        "end-of-stream before the line is complete: closed at once, nothing written",
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
        "concurrent_connections",
        "1,000 connections handshaken and echoing at the same time",
        concurrent_connections,
    ),
    handshake_case(
        "handshake_timeout",
        "silent and byte-dripping clients are closed at an absolute deadline",
        handshake_timeout,
    ),
    case(
        "idle_timeout",
        "an idle connection is closed, an active one is not",
        idle_timeout,
    ),
    case(
        "slow_steady_reader",
        "a client reading 4 KiB every 50 ms while its echo backs up is not idle: not cut in 5 idle timeouts",
        slow_steady_reader,
    ),
    case(
        "no_starvation",
        "on one worker, while two clients stream at full speed, a third connects and round-trips in under 250 ms",
        no_starvation,
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
        "refused_after_shutdown",
        "after SIGTERM new connects are refused or closed at once, never left waiting; an open connection still finishes",
        refused_after_shutdown,
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
    Case {
        handshake: true,
        ..abuse_case(
            "slowloris",
            "1,000 clients drip a handshake past the deadline: all cut in time, a good client's round trip stays under 100 ms",
            abuse::slowloris,
        )
    },
    abuse_case(
        "never_reading_clients",
        "8 clients push 64 MiB each and never read: held back, server memory grows < 16 MiB, others served",
        abuse::never_reading_clients,
    ),
    abuse_case(
        "reset_storm",
        "1,000 resets mid-echo and 500 before the handshake: the server keeps accepting",
        abuse::reset_storm,
    ),
    Case {
        handshake: true,
        ..abuse_case(
            "garbage",
            "random bytes, a TLS ClientHello, HTTP, NUL bytes, invalid UTF-8: closed, nothing written",
            abuse::garbage,
        )
    },
    abuse_case(
        "churn",
        "20,000 short connections, 64 at a time: no errors, back to baseline",
        abuse::churn,
    ),
    abuse_case(
        "shutdown_under_load",
        "SIGTERM with 50 echoes in flight: all complete within the grace period, exit 0",
        abuse::shutdown_under_load,
    ),
    Case {
        own_process: true,
        ..abuse_case(
            "descriptor_exhaustion",
            "open-file limit 64, 120 clients: no exit, < 40% of a core, serves again within 2 s",
            abuse::descriptor_exhaustion,
        )
    },
    Case {
        own_process: true,
        ..abuse_case(
            "double_sigint",
            "a second SIGINT ends the process at once, open connections or not",
            abuse::double_sigint,
        )
    },
];

const fn case(name: &'static str, checks: &'static str, run: fn(&Run<'_>) -> CaseResult) -> Case {
    Case {
        name,
        checks,
        own_process: false,
        abuse: false,
        handshake: false,
        run,
    }
}

/// A case about the handshake itself; see [`Case::handshake`].
const fn handshake_case(
    name: &'static str,
    checks: &'static str,
    run: fn(&Run<'_>) -> CaseResult,
) -> Case {
    Case {
        handshake: true,
        ..case(name, checks, run)
    }
}

/// A case of [`crate::abuse`]: hostile clients at scale, beyond what
/// PROTOCOL.md's sections each promise.
const fn abuse_case(
    name: &'static str,
    checks: &'static str,
    run: fn(&Run<'_>) -> CaseResult,
) -> Case {
    Case {
        abuse: true,
        ..case(name, checks, run)
    }
}

/// How soon a rejection counts as "at once": far below the 5 s default
/// handshake timeout, so that the close cannot be the timeout's doing.
const AT_ONCE: Duration = Duration::from_secs(1);

fn basic_echo(run: &Run<'_>) -> CaseResult {
    let server = run.start(&Setup::default())?;
    let mut client = Client::handshaken(server.addr())?;
    client.echo(b"ping\n")?;
    client.echo(b"a second, longer line with spaces\r\n")?;
    client.half_close()?;
    client.expect_closed()?;
    drop(client);
    let exit = server.stop()?;
    all_completed(exit.stats, 1)
}

fn handshake_whitespace(run: &Run<'_>) -> CaseResult {
    let server = run.start(&Setup::default())?;
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
    passes(server)
}

fn handshake_split_byte_by_byte(run: &Run<'_>) -> CaseResult {
    let server = run.start(&Setup::default())?;
    let mut client = Client::connect(server.addr())?;
    for byte in b" hello\r\n" {
        client.send(&[*byte])?;
        // Nagle is off on the client, so each byte leaves as its own segment.
        thread::sleep(Duration::from_millis(5));
    }
    client.expect_reply()?;
    client.echo(b"split")?;
    drop(client);
    passes(server)
}

fn pipelined_data(run: &Run<'_>) -> CaseResult {
    let server = run.start(&Setup::default())?;
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
    passes(server)
}

fn bad_handshake_closed_silently(run: &Run<'_>) -> CaseResult {
    let server = run.start(&Setup::default())?;
    let bad: [&[u8]; 5] = [
        b"helo\n",
        b"HELLO\n",
        b"Hello\n",
        b"hello world\n",
        b"hello\0\n",
    ];
    for line in bad {
        expect_rejected(&server, line)?;
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

    served_promptly(&server, "after the bad handshakes")?;
    let exit = server.stop()?;
    counted(
        exit.stats,
        &format!("{} rejected handshakes", bad.len() + 1),
        |stats| stats.rejected == bad.len() as u64 + 1,
    )
}

fn handshake_line_limit(run: &Run<'_>) -> CaseResult {
    let server = run.start(&Setup::default())?;
    let longest = [vec![b' '; protocol::MAX_LINE - 6], b"hello\n".to_vec()].concat();
    let mut client = Client::connect(server.addr())?;
    client.send(&longest)?;
    client
        .expect_reply()
        .map_err(|e| format!("a {}-byte line: {e}", longest.len()))?;
    drop(client);

    let too_long = [vec![b' '; protocol::MAX_LINE - 5], b"hello\n".to_vec()].concat();
    expect_rejected(&server, &too_long)?;
    expect_rejected(&server, &[b' '; protocol::MAX_LINE])?;
    passes(server)
}

fn eof_before_handshake(run: &Run<'_>) -> CaseResult {
    let server = run.start(&Setup::default())?;
    for partial in [&b""[..], b"hel", b"hello", b"hello \r"] {
        let mut client = Client::connect(server.addr())?;
        client.send(partial)?;
        client.half_close()?;
        let waited = client
            .expect_closed()
            .map_err(|e| format!("EOF after {:?}: {e}", partial.escape_ascii().to_string()))?;
        ensure!(
            waited < AT_ONCE,
            "EOF after {:?} was closed only after {waited:?}",
            partial.escape_ascii().to_string()
        );
    }
    passes(server)
}

fn large_echo_half_close(run: &Run<'_>) -> CaseResult {
    let server = run.start(&Setup::default())?;
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
    let exit = server.stop()?;
    counted(exit.stats, "1 completed", |stats| stats.completed == 1)
}

fn binary_bytes(run: &Run<'_>) -> CaseResult {
    let server = run.start(&Setup::default())?;
    let mut client = Client::handshaken(server.addr())?;
    let every_byte: Vec<u8> = (0..=255u8).cycle().take(4 * 256).collect();
    client.echo(&every_byte)?;
    // After the handshake, `hello\n` is data like any other.
    client.echo(b"hello\n")?;
    client.echo(b"\0\r\n\xff")?;
    drop(client);
    passes(server)
}

fn sequential_connections(run: &Run<'_>) -> CaseResult {
    const N: usize = 1000;
    let server = run.start(&Setup::default())?;
    for i in 0..N {
        let mut client = Client::handshaken(server.addr()).map_err(|e| format!("#{i}: {e}"))?;
        client
            .echo(format!("connection {i}").as_bytes())
            .map_err(|e| format!("#{i}: {e}"))?;
        client.half_close()?;
        client.expect_closed().map_err(|e| format!("#{i}: {e}"))?;
    }
    let exit = server.stop()?;
    all_completed(exit.stats, N)
}

fn concurrent_connections(run: &Run<'_>) -> CaseResult {
    const N: usize = 1000;
    let setup = Setup::default();
    if let Some(bound) = run.bounded_below(&setup, N) {
        return served_in_turn(run, &setup, bound, N);
    }
    let server = run.start(&setup)?;
    let mut clients = Vec::with_capacity(N);
    for i in 0..N {
        let mut client = Client::connect(server.addr()).map_err(|e| format!("#{i}: {e}"))?;
        client.send(b"hello\n")?;
        clients.push(client);
    }
    for (i, client) in clients.iter_mut().enumerate() {
        client.expect_reply().map_err(|e| format!("#{i}: {e}"))?;
    }
    all_open(&server, N)?;
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
    let exit = server.stop()?;
    counted(exit.stats, &format!("{N} completed"), |stats| {
        stats.completed == N as u64
    })
}

fn handshake_timeout(run: &Run<'_>) -> CaseResult {
    let server = run.start(&Setup {
        handshake_timeout: Some(Duration::from_millis(400)),
        ..Setup::default()
    })?;
    // A fixed server has the timeout it was declared to have, not ours.
    let timeout = server.timeouts().handshake;
    let mut silent = Client::connect(server.addr())?;
    patient(&silent, timeout)?;
    closed_not_before(&mut silent, timeout, "a silent client", "handshake timeout")?;

    let every = (timeout / 16).max(Duration::from_millis(100));
    let mut dripping = Client::connect(server.addr())?;
    patient(&dripping, timeout)?;
    let started = Instant::now();
    let writer = dripping.stream().try_clone().map_err(|e| e.to_string())?;
    let cut = AtomicBool::new(false);
    let closed = thread::scope(|scope| {
        scope.spawn(|| {
            let until = started + timeout + Duration::from_secs(2);
            drip_whitespace(std::slice::from_ref(&writer), every, until, &cut);
        });
        let closed = dripping.expect_closed();
        cut.store(true, Ordering::Relaxed);
        closed
    });
    closed.map_err(|e| format!("a dripping client: {e}"))?;
    let cut = started.elapsed();
    ensure!(
        cut < timeout + TIMER_SLACK,
        "a client dripping a byte per {every:?} was cut after {cut:?}: the {timeout:?} deadline is not absolute"
    );
    served_promptly(&server, "after the timeouts")?;
    drop((silent, dripping, writer));
    passes(server)
}

fn idle_timeout(run: &Run<'_>) -> CaseResult {
    let server = run.start(&Setup {
        idle_timeout: Some(Duration::from_millis(400)),
        ..Setup::default()
    })?;
    let idle = server
        .timeouts()
        .idle
        .ok_or_else(|| "the server has no idle timeout".to_string())?;
    let mut quiet = Client::handshaken(server.addr())?;
    patient(&quiet, idle)?;
    quiet.echo(b"then silence")?;
    closed_not_before(&mut quiet, idle, "an idle client", "idle timeout")?;

    // Traffic every quarter of the timeout, for three timeouts' worth.
    let mut active = Client::handshaken(server.addr())?;
    let every = idle / 4;
    for i in 0..12 {
        thread::sleep(every);
        active
            .echo(b"tick")
            .map_err(|e| format!("an active client, tick {i} of 12 ({every:?} apart): {e}"))?;
    }
    active.half_close()?;
    active.expect_closed()?;
    drop((quiet, active));
    passes(server)
}

fn slow_steady_reader(run: &Run<'_>) -> CaseResult {
    use std::io::{ErrorKind, Read, Write};
    const READ: usize = 4096;
    let server = run.start(&Setup {
        idle_timeout: Some(Duration::from_millis(400)),
        ..Setup::default()
    })?;
    let idle = server
        .timeouts()
        .idle
        .ok_or_else(|| "the server has no idle timeout".to_string())?;
    let every = Duration::from_millis(50).min(idle / 4);
    let stream = small_window(server.addr())?;
    let writer = stream.try_clone().map_err(|e| e.to_string())?;
    writer
        .set_write_timeout(Some(Duration::from_millis(50)))
        .map_err(|e| e.to_string())?;
    let stop = AtomicBool::new(false);
    let (sent, slow) = thread::scope(|scope| {
        // Sends without pause, so the echo backs up in the server's buffers
        // and every byte the reader takes is one the server may write.
        let pushing = scope.spawn(|| {
            let chunk = [b'x'; 64 * 1024];
            let mut sent = 0usize;
            let mut writer = &writer;
            while !stop.load(Ordering::Relaxed) {
                match writer.write(&chunk) {
                    Ok(n) => sent += n,
                    Err(e)
                        if matches!(
                            e.kind(),
                            ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                        ) => {}
                    Err(_) => break,
                }
            }
            sent
        });
        let started = Instant::now();
        let mut reader = &stream;
        let mut slow = Ok(0usize);
        while started.elapsed() < idle * 5 {
            thread::sleep(every);
            match reader.read(&mut [0u8; READ]) {
                Ok(0) => {
                    slow = Err(format!("closed after {:?}", started.elapsed()));
                    break;
                }
                Ok(n) => slow = slow.map(|total| total + n),
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                    ) => {}
                Err(e) => {
                    slow = Err(format!("{e} after {:?}", started.elapsed()));
                    break;
                }
            }
        }
        stop.store(true, Ordering::Relaxed);
        (pushing.join().unwrap_or(0), slow)
    });
    let slowly = slow.map_err(|e| {
        format!("a client reading {READ} bytes every {every:?} was cut as idle ({idle:?}): {e}")
    })?;
    stream
        .shutdown(std::net::Shutdown::Write)
        .map_err(|e| format!("half-closing: {e}"))?;
    let mut rest = Vec::new();
    (&stream)
        .read_to_end(&mut rest)
        .map_err(|e| format!("reading the rest of the echo: {e}"))?;
    let echoed = slowly + rest.len();
    ensure!(
        echoed == sent,
        "sent {sent} bytes, {echoed} came back ({slowly} of them slowly)"
    );
    drop((stream, writer));
    passes(server)
}

fn no_starvation(run: &Run<'_>) -> CaseResult {
    use std::io::{ErrorKind, Read, Write};
    const ROUND_TRIPS: usize = 10;
    const BOUND: Duration = Duration::from_millis(250);
    let setup = Setup {
        workers: std::num::NonZeroUsize::new(1),
        ..Setup::default()
    };
    if let Some(bound) = run.bounded_below(&setup, 2) {
        return served_in_turn(run, &setup, bound, 2);
    }
    let server = run.start(&setup)?;
    // Two streamers: a runtime may poll tasks on the thread that runs its
    // accept loop as well as on its worker, so one could hide a task that
    // never yields.
    let streamers = [
        Client::handshaken(server.addr())?,
        Client::handshaken(server.addr())?,
    ];
    let stop = AtomicBool::new(false);
    let other = thread::scope(|scope| {
        // Full speed both ways: the server's socket is always readable and
        // writable, so a connection that never yields keeps its thread.
        for streamer in &streamers {
            let (mut writer, mut reader) = (streamer.stream(), streamer.stream());
            let stop = &stop;
            scope.spawn(move || {
                let chunk = [b's'; 64 * 1024];
                while !stop.load(Ordering::Relaxed) {
                    if writer.write_all(&chunk).is_err() {
                        break;
                    }
                }
            });
            scope.spawn(move || {
                let mut sink = vec![0u8; 256 * 1024];
                while !stop.load(Ordering::Relaxed) {
                    match reader.read(&mut sink) {
                        Ok(0) => break,
                        Ok(_) => {}
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(_) => break,
                    }
                }
            });
        }
        thread::sleep(Duration::from_millis(200));
        let other = (|| -> Result<Duration, String> {
            let started = Instant::now();
            let mut client = Client::handshaken(server.addr())
                .map_err(|e| format!("connecting beside the streamer: {e}"))?;
            let mut slowest = started.elapsed();
            for i in 0..ROUND_TRIPS {
                let sent = Instant::now();
                client
                    .echo(format!("round trip {i}").as_bytes())
                    .map_err(|e| format!("round trip {i} beside the streamer: {e}"))?;
                slowest = slowest.max(sent.elapsed());
            }
            Ok(slowest)
        })();
        stop.store(true, Ordering::Relaxed);
        // Unblock the streamers' threads.
        for streamer in &streamers {
            let _ = streamer.stream().shutdown(std::net::Shutdown::Both);
        }
        other
    })?;
    ensure!(
        other < BOUND,
        "beside two clients streaming at full speed, the handshake or a round trip took {other:?} (bound {BOUND:?})"
    );
    drop(streamers);
    passes(server)
}

/// A handshaken client whose receive buffer is small, so that what the
/// server sends backs up quickly and each read frees only a little.
fn small_window(addr: std::net::SocketAddr) -> Result<std::net::TcpStream, String> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)
        .and_then(|socket| socket.set_recv_buffer_size(4096).map(|()| socket))
        .map_err(|e| format!("a small-window socket: {e}"))?;
    socket
        .connect_timeout(&addr.into(), crate::client::IO_TIMEOUT)
        .map_err(|e| format!("connect to {addr}: {e}"))?;
    let mut stream: std::net::TcpStream = socket.into();
    let set = |stream: &std::net::TcpStream| -> std::io::Result<()> {
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(crate::client::IO_TIMEOUT))
    };
    set(&stream).map_err(|e| format!("configuring the client socket: {e}"))?;
    std::io::Write::write_all(&mut stream, b"hello\n").map_err(|e| e.to_string())?;
    let mut reply = [0u8; 6];
    std::io::Read::read_exact(&mut stream, &mut reply)
        .map_err(|e| format!("handshake reply: {e}"))?;
    ensure!(reply == protocol::REPLY, "handshake reply: got {reply:?}");
    Ok(stream)
}

fn max_conns(run: &Run<'_>) -> CaseResult {
    const MAX: usize = 3;
    let setup = Setup {
        max_conns: Some(MAX),
        ..Setup::default()
    };
    if let Some(bound) = run.bounded_below(&setup, MAX + 1) {
        return served_in_turn(run, &setup, bound, MAX + 1);
    }
    let server = run.start(&setup)?;
    let mut held = (0..MAX)
        .map(|_| Client::handshaken(server.addr()))
        .collect::<Result<Vec<_>, _>>()?;
    let mut over = Client::connect(server.addr())?;
    let waited = over
        .expect_closed()
        .map_err(|e| format!("connection {} with --max-conns {MAX}: {e}", MAX + 1))?;
    ensure!(
        waited < AT_ONCE,
        "connection {} with --max-conns {MAX} was closed only after {waited:?}",
        MAX + 1
    );

    let mut first = held.remove(0);
    first.half_close()?;
    first.expect_closed()?;
    wait_for(
        || {
            server
                .open_connections()
                .is_none_or(|open| open < MAX as u64)
        },
        "the closed connection to be counted",
    )?;
    let mut next = Client::handshaken(server.addr()).map_err(|e| format!("after one left: {e}"))?;
    next.echo(b"room again")?;
    drop((held, first, over, next));
    let exit = server.stop()?;
    counted(exit.stats, "1 rejected", |stats| stats.rejected == 1)
}

fn graceful_shutdown(run: &Run<'_>) -> CaseResult {
    let grace = Duration::from_millis(1500);
    let server = run.start(&Setup {
        grace: Some(grace),
        ..Setup::default()
    })?;
    let mut open = Client::handshaken(server.addr())?;
    open.echo(b"before")?;
    server.signal(Signal::Terminate)?;
    open.echo(b"during the grace period")?;
    // A new client is refused or left unserved.
    if let Ok(mut late) = Client::connect(server.addr()) {
        let _ = late.send(b"hello\n");
        if late.expect_silence(HELD_BACK).is_err() {
            ensure!(
                late.expect_closed().is_ok(),
                "a client connecting after the shutdown was served"
            );
        }
    }
    let exit = last_words_then_stop(open, server, b"last words", grace)?;
    counted(exit.stats, "1 completed", |stats| stats.completed == 1)?;

    let grace = Duration::from_millis(500);
    let server = run.start(&Setup {
        grace: Some(grace),
        ..Setup::default()
    })?;
    let mut idle = Client::handshaken(server.addr())?;
    let exit = exited_cleanly(server.stop_busy()?)?;
    ensure!(
        exit.took >= grace * 3 / 4,
        "an open connection was cut after {:?}, before the {grace:?} grace period",
        exit.took
    );
    idle.expect_closed()
        .map_err(|e| format!("a connection still open at the end of the grace period: {e}"))?;
    Ok(Verdict::Pass)
}

fn refused_after_shutdown(run: &Run<'_>) -> CaseResult {
    let grace = Duration::from_secs(3);
    let server = run.start(&Setup {
        grace: Some(grace),
        ..Setup::default()
    })?;
    let mut open = Client::handshaken(server.addr())?;
    open.echo(b"before")?;
    server.signal(Signal::Terminate)?;
    let signalled = Instant::now();
    // Until the server has taken the signal in, a new client may still be
    // served; from then on every one must be refused, or closed without a
    // reply at once. None may wait for the grace period to end.
    loop {
        match late_client(server.addr())? {
            Late::Refused | Late::Closed => break,
            Late::Served => ensure!(
                signalled.elapsed() < AT_ONCE,
                "a client connecting {:?} after SIGTERM was still served",
                signalled.elapsed()
            ),
        }
        thread::sleep(Duration::from_millis(20));
    }
    for i in 0..3 {
        let late = late_client(server.addr())?;
        ensure!(
            !matches!(late, Late::Served),
            "late client {i} was served after an earlier one was refused"
        );
    }
    last_words_then_stop(open, server, b"during the grace period", grace)?;
    Ok(Verdict::Pass)
}

/// During the grace period, a connection opened before the shutdown sends
/// `words`, half-closes and gets them all back; then the server must end
/// well within `grace`, since nothing is left open.
fn last_words_then_stop(
    mut open: Client,
    server: Server,
    words: &[u8],
    grace: Duration,
) -> Result<crate::target::Exit, crate::Fault> {
    open.send(words)?;
    open.half_close()?;
    open.expect(words)?;
    open.expect_closed()?;
    let exit = server.stop()?;
    ensure!(
        exit.took < grace,
        "the server took {:?} to end after its last connection finished (grace {grace:?})",
        exit.took
    );
    Ok(exit)
}

/// What a client connecting during the grace period got.
enum Late {
    /// The connect itself was refused.
    Refused,
    /// Connected, then closed without a reply (rejected, as PROTOCOL.md allows).
    Closed,
    /// Connected and handshaken: the server had not stopped accepting yet.
    Served,
}

/// Connects and says hello; a connection left with neither a reply nor a
/// close for [`AT_ONCE`] is the failure this tells apart.
fn late_client(addr: std::net::SocketAddr) -> Result<Late, String> {
    use std::io::{ErrorKind, Read, Write};
    let mut stream = match std::net::TcpStream::connect_timeout(&addr, AT_ONCE) {
        Ok(stream) => stream,
        // A reset here is a connect that raced the listener's close.
        Err(e) if e.kind() == ErrorKind::ConnectionRefused || crate::client::is_reset(&e) => {
            return Ok(Late::Refused);
        }
        Err(e) => return Err(format!("connecting during the grace period: {e}")),
    };
    // The server may reset the connection before the line is out.
    let _ = stream.write_all(b"hello\n");
    stream
        .set_read_timeout(Some(AT_ONCE))
        .map_err(|e| format!("setting a read timeout: {e}"))?;
    let started = Instant::now();
    loop {
        match stream.read(&mut [0u8; 8]) {
            Ok(0) => return Ok(Late::Closed),
            Ok(_) => return Ok(Late::Served),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if crate::client::is_reset(&e) => return Ok(Late::Closed),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(format!(
                    "a client connecting during the grace period was accepted and left waiting {:?}, neither served nor closed",
                    started.elapsed()
                ));
            }
            Err(e) => return Err(format!("reading during the grace period: {e}")),
        }
    }
}

fn two_workers(run: &Run<'_>) -> CaseResult {
    const N: usize = 200;
    let setup = Setup {
        workers: std::num::NonZeroUsize::new(2),
        ..Setup::default()
    };
    if let Some(bound) = run.bounded_below(&setup, N) {
        return served_in_turn(run, &setup, bound, N);
    }
    let server = run.start(&setup)?;
    let mut clients = (0..N)
        .map(|i| Client::handshaken(server.addr()).map_err(|e| format!("#{i}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    for (i, client) in clients.iter_mut().enumerate() {
        client
            .echo(format!("client {i}").as_bytes())
            .map_err(|e| format!("#{i}: {e}"))?;
    }
    all_open(&server, N)?;
    drop(clients);
    let exit = server.stop()?;
    all_completed(exit.stats, N)
}

fn descriptors_return_to_baseline(run: &Run<'_>) -> CaseResult {
    let server = run.start(&Setup {
        grace: Some(Duration::from_millis(300)),
        ..Setup::default()
    })?;
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
    exited_cleanly(server.stop_busy()?)?;
    drop(clients);
    // In-process, `run_case` now checks that the process is back to its
    // descriptor count; a server process is gone, with all it held.
    Ok(Verdict::Pass)
}

/// The server counts `n` connections open, where the suite can see it.
fn all_open(server: &Server, n: usize) -> Check {
    if let Some(open) = server.open_connections() {
        ensure!(
            open == n as u64,
            "{n} clients handshaken, but the server holds {open} connections"
        );
    }
    Ok(())
}

/// Sends `line` as a handshake; the server must close at once, writing nothing.
fn expect_rejected(server: &Server, line: &[u8]) -> Check {
    let shown = || format!("{:?}", preview(line));
    let mut client = Client::connect(server.addr())?;
    // The server may close (even reset) before all of a long line is
    // written; the close is what is checked.
    let _ = client.send(line);
    let waited = client
        .expect_closed()
        .map_err(|e| format!("after {}: {e}", shown()))?;
    ensure!(
        waited < AT_ONCE,
        "after {} the connection was closed only after {waited:?}",
        shown()
    );
    Ok(())
}

fn preview(bytes: &[u8]) -> String {
    let shown = bytes[..bytes.len().min(24)].escape_ascii().to_string();
    if bytes.len() > 24 {
        format!("{shown}... ({} bytes)", bytes.len())
    } else {
        shown
    }
}

/// The degraded behaviour a bounded model declares instead of serving
/// `needed` connections at once: exactly `limit` are served together, the
/// next waits without being closed, is served as soon as one ends, and
/// `needed` pipelined clients are all served in turn.
fn served_in_turn(
    run: &Run<'_>,
    setup: &Setup,
    (limit, why): (usize, &str),
    needed: usize,
) -> CaseResult {
    let server = run.start(setup)?;
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
    drop((held, first, waiting));

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
    server.stop()?;
    Ok(by_design(
        limit,
        why,
        &format!(
            "client {} waits and is served as soon as one ends; {needed} queued clients are all served in turn",
            limit + 1
        ),
    ))
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
