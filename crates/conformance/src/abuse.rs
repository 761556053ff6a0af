//! The abuse cases: what hostile or broken clients do to a server, at a
//! scale that shows whether one bad client costs only its own connection.
//!
//! Every case is bounded in count and time: counts come from the [`Scale`],
//! every socket has the client's I/O timeout, and every loop ends by itself.
//!
//! [`Scale`]: crate::Scale

use std::io::Write;
use std::net::TcpStream;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::Check;
use crate::checks::{
    HELD_BACK, TIMER_SLACK, all_completed, by_design, counted, drip_whitespace, ensure, passes,
    pattern, served_promptly,
};
use crate::client::Client;
use crate::server::Server;
use crate::target::{Setup, Signal};
use crate::{CaseResult, Run, Verdict};

/// The round trip a good client must keep while others misbehave.
const GOOD_RTT: Duration = Duration::from_millis(100);

pub(crate) fn slowloris(run: &Run<'_>) -> CaseResult {
    let slack = TIMER_SLACK;
    let n = run.scale.pick(200, 1000);
    let setup = Setup {
        handshake_timeout: Some(Duration::from_secs(1)),
        ..Setup::default()
    };
    if let Some(bound) = run.bounded_below(&setup, n + 1) {
        return slowloris_in_turn(run, &setup, bound);
    }
    let server = run.start(&setup)?;
    // A fixed server has the timeout it was declared to have, not ours.
    let deadline = server.timeouts().handshake;
    let every = (deadline / 16).max(Duration::from_millis(250));
    let started = Instant::now();
    let mut stalled = Vec::with_capacity(n);
    for i in 0..n {
        let mut client = Client::connect(server.addr()).map_err(|e| format!("#{i}: {e}"))?;
        client.send(b" ")?;
        stalled.push(client);
    }
    let connected = started.elapsed();
    let writers = stalled
        .iter()
        .map(|client| client.stream().try_clone())
        .collect::<Result<Vec<TcpStream>, _>>()
        .map_err(|e| format!("cloning a client socket: {e}"))?;
    let all_cut = AtomicBool::new(false);
    let outcome = thread::scope(|scope| -> CaseResult {
        scope.spawn(|| drip_whitespace(&writers, every, started + deadline * 3 + slack, &all_cut));
        let watcher = scope.spawn(|| -> Result<Duration, String> {
            let give_up = connected + deadline + slack;
            for (i, client) in stalled.iter_mut().enumerate() {
                let left = give_up.saturating_sub(started.elapsed());
                ensure!(
                    !left.is_zero(),
                    "stalled client #{i} of {n} still open {give_up:?} after the first connected"
                );
                client
                    .stream()
                    .set_read_timeout(Some(left))
                    .map_err(|e| e.to_string())?;
                client
                    .expect_closed()
                    .map_err(|e| format!("stalled client #{i}: {e}"))?;
            }
            all_cut.store(true, Ordering::Relaxed);
            Ok(started.elapsed())
        });

        let first = Instant::now();
        let mut good = Client::handshaken(server.addr())
            .map_err(|e| format!("a good client among {n} stalled ones: {e}"))?;
        let mut worst = first.elapsed();
        let mut round_trips = 1;
        while !all_cut.load(Ordering::Relaxed) && !watcher.is_finished() {
            let sent = Instant::now();
            good.echo(b"served meanwhile")
                .map_err(|e| format!("a good client among stalled ones: {e}"))?;
            worst = worst.max(sent.elapsed());
            round_trips += 1;
            thread::sleep(Duration::from_millis(10));
        }
        let cut_after = watcher
            .join()
            .map_err(|_| "the watcher panicked".to_string())??;
        all_cut.store(true, Ordering::Relaxed);
        ensure!(
            worst < GOOD_RTT,
            "a good client's worst round trip among {n} stalled clients was {worst:?} (of {round_trips})"
        );
        ensure!(
            cut_after < connected + deadline + slack,
            "{n} stalled clients took {cut_after:?} to be cut (connected within {connected:?}, deadline {deadline:?})"
        );
        Ok(Verdict::Observed(format!(
            "worst round trip {}; all {n} cut by {}",
            ms(worst),
            ms(cut_after)
        )))
    });
    drop((stalled, writers));
    let verdict = outcome?;
    passes(server)?;
    Ok(verdict)
}

/// A bounded model's workers are all taken by the first `limit` stalled
/// clients: the good client is served once the deadline frees them.
fn slowloris_in_turn(run: &Run<'_>, setup: &Setup, (limit, why): (usize, &str)) -> CaseResult {
    let server = run.start(setup)?;
    let deadline = server.timeouts().handshake;
    let started = Instant::now();
    let mut stalled = (0..limit)
        .map(|_| {
            let mut client = Client::connect(server.addr())?;
            client.send(b"hel")?;
            Ok(client)
        })
        .collect::<Result<Vec<_>, String>>()?;
    let mut good = Client::connect(server.addr())?;
    good.send(b"hello\n")?;
    good.expect_silence(HELD_BACK.min(deadline / 2))
        .map_err(|e| format!("with every worker held by a stalled client: {e}"))?;
    good.expect_reply()
        .map_err(|e| format!("once the deadline freed the workers: {e}"))?;
    good.echo(b"served in turn")?;
    for (i, client) in stalled.iter_mut().enumerate() {
        client
            .expect_closed()
            .map_err(|e| format!("stalled client #{i}: {e}"))?;
    }
    let all_cut = started.elapsed();
    ensure!(
        all_cut < deadline + TIMER_SLACK,
        "{limit} stalled clients were closed {all_cut:?} after connecting (deadline {deadline:?})"
    );
    drop((stalled, good));
    passes(server)?;
    Ok(by_design(
        limit,
        why,
        &format!(
            "as many stalled clients as it serves at once ({limit}) hold it until the {deadline:?} deadline; a good client waiting behind them is served right after"
        ),
    ))
}

pub(crate) fn never_reading_clients(run: &Run<'_>) -> CaseResult {
    const BAD: usize = 8;
    const PUSH: usize = 64 << 20;
    const RSS_GROWTH_KIB: u64 = 16 << 10;
    // A bounded model serves the good client only once the idle timeout
    // has freed a worker from a bad one.
    let bounded = run.bounded_below(&Setup::default(), BAD + 1);
    let setup = Setup {
        idle_timeout: bounded.map(|_| Duration::from_millis(500)),
        ..Setup::default()
    };
    let server = run.start(&setup)?;
    let bad_count = bounded.map_or(BAD, |(limit, _)| limit.min(BAD));
    let bad = (0..bad_count)
        .map(|i| Client::handshaken(server.addr()).map_err(|e| format!("bad client #{i}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let bound = in_flight_bound();
    let pushed: Vec<Result<usize, String>> = thread::scope(|scope| {
        let pushers: Vec<_> = bad
            .iter()
            .map(|client| scope.spawn(move || push_until_held_back(client.stream(), PUSH)))
            .collect();
        pushers
            .into_iter()
            .map(|pusher| {
                pusher
                    .join()
                    .unwrap_or_else(|_| Err("a pusher panicked".into()))
            })
            .collect()
    });
    let mut most = 0;
    for (i, written) in pushed.into_iter().enumerate() {
        let written = written?;
        most = most.max(written);
        ensure!(
            written < bound,
            "bad client #{i} pushed {written} bytes into the server without reading (bound {bound}): no backpressure"
        );
    }
    let mut grew = None;
    if let Some((now, at_rest)) = server.resources() {
        let growth = now.rss_kib.saturating_sub(at_rest.rss_kib);
        grew = Some(growth);
        ensure!(
            growth < RSS_GROWTH_KIB,
            "{bad_count} clients that never read grew the server by {growth} KiB (limit {RSS_GROWTH_KIB} KiB)"
        );
    }

    let asked = Instant::now();
    let mut good = Client::connect(server.addr())?;
    good.send(b"hello\n")?;
    good.expect_reply()
        .map_err(|e| format!("a good client while {bad_count} never read: {e}"))?;
    good.echo(&pattern(4096, 5))?;
    let waited = asked.elapsed();
    drop((bad, good));
    passes(server)?;
    match bounded {
        None => {
            ensure!(
                waited < GOOD_RTT * 10,
                "a good client took {waited:?} to be served while {BAD} clients never read"
            );
            let grew = grew.map_or_else(String::new, |kib| format!("grew {kib} KiB; "));
            Ok(Verdict::Observed(format!(
                "{grew}at most {} KiB pushed per client",
                most / 1024
            )))
        }
        Some((limit, why)) => Ok(by_design(
            limit,
            why,
            &format!(
                "as many clients as it serves at once ({bad_count}) push without reading: they are held back and the server does not grow; a good client is served once the idle timeout frees a worker"
            ),
        )),
    }
}

/// Writes up to `total` bytes without ever reading, until a write has been
/// stuck for 250 ms: the server has stopped reading. Returns the bytes written.
fn push_until_held_back(stream: &TcpStream, total: usize) -> Result<usize, String> {
    // Small client buffers, so that what is in flight is mostly on the server side.
    let socket = socket2::SockRef::from(stream);
    let _ = socket.set_recv_buffer_size(64 * 1024);
    let _ = socket.set_send_buffer_size(64 * 1024);
    let mut writer = stream.try_clone().map_err(|e| e.to_string())?;
    writer
        .set_write_timeout(Some(Duration::from_millis(250)))
        .map_err(|e| e.to_string())?;
    let chunk = vec![b'x'; 64 * 1024];
    let mut written = 0;
    while written < total {
        match writer.write(&chunk) {
            Ok(n) => written += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    Ok(written)
}

pub(crate) fn reset_storm(run: &Run<'_>) -> CaseResult {
    let mid_echo = run.scale.pick(200, 1000);
    let before_handshake = run.scale.pick(100, 500);
    const MID_HANDSHAKE: usize = 50;
    let server = run.start(&Setup::default())?;
    for _ in 0..before_handshake {
        Client::connect(server.addr())?.reset();
    }
    served_promptly(&server, "after resets before the handshake")?;
    for _ in 0..MID_HANDSHAKE {
        let mut client = Client::connect(server.addr())?;
        client.send(b"hel")?;
        client.reset();
    }
    served_promptly(&server, "after resets mid-handshake")?;
    let unread = pattern(64 * 1024, 3);
    for i in 0..mid_echo {
        let mut client = Client::handshaken(server.addr())
            .map_err(|e| format!("after {i} resets mid-echo: {e}"))?;
        // Echo in flight, unread, when the reset lands.
        client.send(&unread)?;
        client.reset();
    }
    served_promptly(&server, "after resets mid-echo")?;
    let exit = server.stop()?;
    counted(
        exit.stats,
        "every accepted connection ended as rejected, completed or failed",
        |stats| stats.accepted == stats.rejected + stats.completed + stats.errors,
    )
}

pub(crate) fn garbage(run: &Run<'_>) -> CaseResult {
    let server = run.start(&Setup::default())?;
    let mut inputs: Vec<(String, Vec<u8>)> = (1..=4)
        .map(|seed| {
            (
                format!("200 random bytes (seed {seed})"),
                pattern(200, seed),
            )
        })
        .collect();
    inputs.push(("a TLS ClientHello".into(), tls_client_hello()));
    inputs.push((
        "an HTTP request".into(),
        b"GET / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: c10k\r\n\r\n".to_vec(),
    ));
    inputs.push(("NUL bytes".into(), vec![0; 100]));
    inputs.push(("a NUL line".into(), b"\0\0\0\0\n".to_vec()));
    inputs.push((
        "invalid UTF-8".into(),
        b"\xff\xfe\xfd\xc3\x28\xa0\xa1\n".to_vec(),
    ));
    inputs.push(("hello in Latin-1".into(), b"h\xe9llo\n".to_vec()));
    for (what, bytes) in &inputs {
        let mut client = Client::connect(server.addr())?;
        // The server may close (even reset) before all of it is written.
        let _ = client.send(bytes);
        client
            .expect_closed()
            .map_err(|e| format!("after {what}: {e}"))?;
    }
    served_promptly(&server, "after the garbage")?;
    let exit = server.stop()?;
    counted(exit.stats, &format!("{} rejected", inputs.len()), |stats| {
        stats.rejected == inputs.len() as u64
    })
}

/// The first bytes a TLS 1.2/1.3 client sends: a handshake record holding
/// a ClientHello (its random and cipher list are filler, its framing is real).
fn tls_client_hello() -> Vec<u8> {
    let body = [
        &[0x03, 0x03][..],                     // legacy version TLS 1.2
        &pattern(32, 99),                      // client random
        &[0x00],                               // no session id
        &[0x00, 0x04, 0x13, 0x01, 0x13, 0x02], // two cipher suites
        &[0x01, 0x00],                         // null compression
        &[0x00, 0x00],                         // no extensions
    ]
    .concat();
    let handshake = [&[0x01][..], &(body.len() as u32).to_be_bytes()[1..], &body].concat();
    [
        &[0x16, 0x03, 0x01][..],
        &(handshake.len() as u16).to_be_bytes(),
        &handshake,
    ]
    .concat()
}

pub(crate) fn churn(run: &Run<'_>) -> CaseResult {
    const AT_A_TIME: usize = 64;
    let n = run.scale.pick(2000, 20_000);
    let server = run.start(&Setup::default())?;
    let addr = server.addr();
    // The first failure stops every client thread: against a server that
    // hangs, 20,000 connections each waiting out a timeout would take hours.
    let first_failure = Mutex::new(None);
    let failed = AtomicBool::new(false);
    let started = Instant::now();
    thread::scope(|scope| {
        for first in 0..AT_A_TIME {
            let (first_failure, failed) = (&first_failure, &failed);
            scope.spawn(move || {
                for i in (first..n).step_by(AT_A_TIME) {
                    if failed.load(Ordering::Relaxed) {
                        return;
                    }
                    let once = || -> Check {
                        let mut client = Client::handshaken(addr)?;
                        client.echo(format!("churn {i}").as_bytes())
                    };
                    if let Err(why) = once() {
                        failed.store(true, Ordering::Relaxed);
                        first_failure
                            .lock()
                            .unwrap_or_else(|poisoned| poisoned.into_inner())
                            .get_or_insert(format!("connection #{i} of {n}: {why}"));
                        return;
                    }
                }
            });
        }
    });
    let took = started.elapsed();
    if let Some(why) = first_failure
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
    {
        return Err(why.into());
    }
    let exit = server.stop()?;
    all_completed(exit.stats, n)?;
    Ok(Verdict::Observed(format!(
        "{:.0} connections/s",
        n as f64 / took.as_secs_f64()
    )))
}

pub(crate) fn shutdown_under_load(run: &Run<'_>) -> CaseResult {
    const IN_FLIGHT: usize = 50;
    const MESSAGE: usize = 256 * 1024;
    const FIRST_PART: usize = 64 * 1024;
    let grace = Duration::from_secs(3);
    let setup = Setup {
        grace: Some(grace),
        ..Setup::default()
    };
    let bounded = run.bounded_below(&setup, IN_FLIGHT);
    let count = bounded.map_or(IN_FLIGHT, |(limit, _)| limit);
    let server = run.start(&setup)?;
    let mut clients = (0..count)
        .map(|i| Client::handshaken(server.addr()).map_err(|e| format!("#{i}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let messages: Vec<Vec<u8>> = (0..count).map(|i| pattern(MESSAGE, i as u32)).collect();
    for (client, message) in clients.iter_mut().zip(&messages) {
        client.send(&message[..FIRST_PART])?;
    }
    server.signal(Signal::Terminate)?;
    let signalled = Instant::now();
    let finished: Vec<Check> = thread::scope(|scope| {
        let echoes: Vec<_> = clients
            .iter_mut()
            .zip(&messages)
            .map(|(client, message)| scope.spawn(move || finish_echo(client, message, FIRST_PART)))
            .collect();
        echoes
            .into_iter()
            .map(|echo| {
                echo.join()
                    .unwrap_or_else(|_| Err("a client panicked".into()))
            })
            .collect()
    });
    let done = signalled.elapsed();
    for (i, result) in finished.into_iter().enumerate() {
        result.map_err(|e| format!("echo #{i} in flight at SIGTERM: {e}"))?;
    }
    ensure!(
        done < grace,
        "{count} echoes in flight at SIGTERM took {done:?} to finish (grace {grace:?})"
    );
    drop(clients);
    let exit = server.stop()?;
    counted(exit.stats, &format!("{count} completed"), |stats| {
        stats.completed == count as u64
    })?;
    Ok(match bounded {
        None => Verdict::Observed(format!("all {count} done {} after SIGTERM", ms(done))),
        Some((limit, why)) => by_design(
            limit,
            why,
            &format!(
                "as many echoes in flight as it serves at once ({limit}) complete after SIGTERM, exit 0"
            ),
        ),
    })
}

/// Sends the rest of `message` while reading the echo of all of it, then
/// half-closes and expects the server to close.
fn finish_echo(client: &mut Client, message: &[u8], sent: usize) -> Check {
    let mut writer = client.stream().try_clone().map_err(|e| e.to_string())?;
    let rest = message[sent..].to_vec();
    let pushing = thread::spawn(move || -> std::io::Result<()> {
        writer.write_all(&rest)?;
        writer.shutdown(std::net::Shutdown::Write)
    });
    client.expect(message)?;
    client.expect_closed()?;
    pushing
        .join()
        .map_err(|_| "the writer panicked".to_string())?
        .map_err(|e| format!("sending the rest: {e}"))
}

pub(crate) fn descriptor_exhaustion(run: &Run<'_>) -> CaseResult {
    const OPEN_FILES: u64 = 64;
    const CLIENTS: usize = 120;
    const MAX_CPU_SHARE: f64 = 0.4;
    let window = Duration::from_secs(run.scale.pick(1, 2) as u64);
    let server = run.start(&Setup {
        open_files: Some(OPEN_FILES),
        // Above the descriptors it has: accept must hit EMFILE, not the limit.
        max_conns: Some(10_000),
        ..Setup::default()
    })?;
    let mut clients = Vec::with_capacity(CLIENTS);
    for i in 0..CLIENTS {
        let mut client = Client::connect(server.addr()).map_err(|e| format!("#{i}: {e}"))?;
        let _ = client.send(b"hello\n");
        clients.push(client);
    }
    thread::sleep(Duration::from_millis(300));
    let before = alive(&server, "once its descriptors ran out")?;
    if run.bounded_below(&Setup::default(), CLIENTS).is_none() {
        // Otherwise the case would pass without testing anything.
        ensure!(
            before.fds + 8 >= OPEN_FILES,
            "with {CLIENTS} clients the server holds only {} descriptors of its {OPEN_FILES}: it never ran out",
            before.fds
        );
    }
    thread::sleep(window);
    let after = alive(&server, "while its descriptors were exhausted")?;
    let mut burned = String::new();
    if let (Some(start), Some(end)) = (before.cpu_s, after.cpu_s) {
        let share = (end - start) / window.as_secs_f64();
        burned = format!(
            "{:.0}% of a core at {} descriptors; ",
            share * 100.0,
            before.fds
        );
        let within = share < MAX_CPU_SHARE;
        ensure!(
            within,
            "with its {OPEN_FILES} descriptors exhausted the server burned {:.0}% of a core (limit {:.0}%)",
            share * 100.0,
            MAX_CPU_SHARE * 100.0
        );
    }
    drop(clients);
    let left = Instant::now();
    let mut fresh = Client::handshaken(server.addr())
        .map_err(|e| format!("a new client after the others left: {e}"))?;
    fresh.echo(b"descriptors again")?;
    let waited = left.elapsed();
    ensure!(
        waited < Duration::from_secs(2),
        "a new client was served {waited:?} after the others left (limit 2 s)"
    );
    drop(fresh);
    passes(server)?;
    Ok(Verdict::Observed(format!(
        "{burned}served again after {}",
        ms(waited)
    )))
}

/// The server's resources now; a failure if it is gone.
fn alive(server: &Server, when: &str) -> Result<crate::target::Resources, String> {
    server
        .resources()
        .map(|(now, _)| now)
        .ok_or_else(|| format!("the server exited {when}"))
}

pub(crate) fn double_sigint(run: &Run<'_>) -> CaseResult {
    let grace = Duration::from_secs(30);
    let server = run.start(&Setup {
        grace: Some(grace),
        ..Setup::default()
    })?;
    let mut open = Client::handshaken(server.addr())?;
    server.signal(Signal::Interrupt)?;
    thread::sleep(HELD_BACK);
    open.echo(b"still served after the first SIGINT")
        .map_err(|e| format!("the first SIGINT must start a graceful shutdown: {e}"))?;
    let second = Instant::now();
    server.signal(Signal::Interrupt)?;
    let exit = server.stop_busy()?;
    let took = second.elapsed();
    ensure!(
        took < Duration::from_secs(1),
        "the server took {took:?} to exit after a second SIGINT (grace {grace:?})"
    );
    ensure!(
        exit.code != Some(0),
        "a server cut short by a second SIGINT exited with status 0, as if it had finished"
    );
    open.expect_closed()
        .map_err(|e| format!("after the second SIGINT: {e}"))?;
    let status = exit
        .code
        .map_or_else(|| "?".into(), |code| code.to_string());
    Ok(Verdict::Observed(format!(
        "exit status {status} within {} of the second SIGINT",
        ms(took)
    )))
}

/// A duration for people: milliseconds below a second.
fn ms(duration: Duration) -> String {
    if duration < Duration::from_secs(1) {
        format!("{:.1} ms", duration.as_secs_f64() * 1e3)
    } else {
        format!("{:.2} s", duration.as_secs_f64())
    }
}

/// The most bytes that can be in flight between a client that never reads
/// and a server with backpressure: the kernel's largest socket buffers on
/// both paths, plus a megabyte for the client's own buffers and the
/// server's echo buffer.
fn in_flight_bound() -> usize {
    let max_of = |setting: &str| -> usize {
        process_stats::sysctl_numbers(setting)
            .and_then(|sizes| usize::try_from(*sizes.last()?).ok())
            .unwrap_or(8 << 20)
    };
    max_of("net/ipv4/tcp_rmem") + max_of("net/ipv4/tcp_wmem") + (1 << 20)
}
