//! Opens N connections to a server, handshakes them all, holds them idle,
//! and reports how long that took and what the server's memory did.
//!
//! ```text
//! cargo run --release -p bench-harness --example hold -- ADDR N [HOLD_SECS] [SERVER_PID]
//! ```
//!
//! With `SERVER_PID` (a server on this machine) it reads the server's RSS
//! and thread count from `/proc` before connecting and while holding, and
//! prints the RSS per connection. `scripts/rss-per-conn.sh` runs it against
//! `c10k serve`. It is a measuring stick for idle connections, not a load
//! generator: every connection sends only the handshake.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [addr, n, rest @ ..] = args.as_slice() else {
        bail!("usage: hold ADDR N [HOLD_SECS] [SERVER_PID]");
    };
    let addr: SocketAddr = addr.parse().context("ADDR must be HOST:PORT")?;
    if !addr.ip().is_loopback() {
        bail!("hold only connects to loopback addresses, not {addr}");
    }
    let n: usize = n.parse().context("N must be a whole number")?;
    let hold = Duration::from_secs_f64(rest.first().map_or(Ok(2.0), |s| s.parse())?);
    let pid: Option<u32> = rest.get(1).map(|s| s.parse()).transpose()?;
    let _ = rlimit::increase_nofile_limit(u64::MAX);

    let before = pid.map(server_memory).transpose()?;
    let kernel_before = process_stats::kernel_memory();
    let slabs_before = process_stats::slab_caches();
    let started = Instant::now();
    let mut streams = Vec::with_capacity(n);
    for i in 0..n {
        let mut stream = TcpStream::connect(addr).with_context(|| format!("connection {i}"))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        stream.write_all(b"hello\n")?;
        streams.push(stream);
    }
    let connected = started.elapsed();
    for (i, stream) in streams.iter_mut().enumerate() {
        let mut reply = [0u8; 6];
        stream
            .read_exact(&mut reply)
            .with_context(|| format!("handshake reply on connection {i}"))?;
        if &reply != b"hello\n" {
            bail!(
                "connection {i}: unexpected reply {:?}",
                reply.escape_ascii().to_string()
            );
        }
    }
    let handshaken = started.elapsed();
    println!(
        "connections={n} connect_s={:.3} handshaken_s={:.3}",
        connected.as_secs_f64(),
        handshaken.as_secs_f64()
    );
    std::thread::sleep(hold);
    if let (Some(pid), Some(before)) = (pid, before) {
        let held = server_memory(pid)?;
        let per_conn = (held.rss_kib.saturating_sub(before.rss_kib)) as f64 * 1024.0 / n as f64;
        println!(
            "server_rss_before_kib={} server_rss_held_kib={} server_threads_held={} rss_per_conn_bytes={per_conn:.0}",
            before.rss_kib, held.rss_kib, held.threads
        );
    }
    let per_conn =
        |kib: u64, kib_before: u64| kib.saturating_sub(kib_before) as f64 * 1024.0 / n as f64;
    if let (Some(before), Some(held)) = (kernel_before, process_stats::kernel_memory()) {
        // Machine-wide: both ends of every connection are on this machine.
        println!(
            "kernel_per_conn_bytes: stacks={:.0} slab_unreclaimable={:.0} tcp_buffers={:.0} (machine-wide, both ends)",
            per_conn(held.kernel_stack_kib, before.kernel_stack_kib),
            per_conn(held.slab_unreclaimable_kib, before.slab_unreclaimable_kib),
            per_conn(held.tcp_buffers_kib, before.tcp_buffers_kib),
        );
    }
    if let (Some(before), Some(held)) = (slabs_before, process_stats::slab_caches()) {
        let mut grown: Vec<(String, f64)> = held
            .into_iter()
            .filter_map(|(name, bytes)| {
                let was = before
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map_or(0, |(_, b)| *b);
                let per = bytes.saturating_sub(was) as f64 / n as f64;
                (per >= 16.0).then_some((name, per))
            })
            .collect();
        grown.sort_by(|a, b| b.1.total_cmp(&a.1));
        let caches: Vec<String> = grown
            .iter()
            .map(|(name, per)| format!("{name}={per:.0}"))
            .collect();
        println!(
            "slab_per_conn_bytes: {} (machine-wide, both ends)",
            caches.join(" ")
        );
    }
    Ok(())
}

struct Memory {
    rss_kib: u64,
    threads: u64,
}

fn server_memory(pid: u32) -> anyhow::Result<Memory> {
    let sample = process_stats::sample(pid).with_context(|| format!("no process {pid}"))?;
    Ok(Memory {
        rss_kib: sample.rss_kib,
        threads: sample.threads,
    })
}
