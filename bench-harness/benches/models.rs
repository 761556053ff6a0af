//! `cargo bench`: the same three small workloads against every model,
//! served in-process on a loopback port. Benchmark ids are
//! `<model>/<workload>`, so `cargo bench -- tokio` runs one model.
//!
//! These are microbenchmarks of one client's view; the model matrix under
//! real load is `c10k bench`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use bench_harness::models::MODELS;
use conformance::InProcess;
use conformance::server::Server;
use conformance::target::Setup;
use criterion::{Criterion, criterion_group, criterion_main};

const MESSAGE: [u8; 64] = [b'x'; 64];
const BURST_CONNECTIONS: usize = 100;
const BURST_MESSAGES: usize = 100;

fn handshaken(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    stream.write_all(b"hello\n").expect("send hello");
    let mut reply = [0u8; 6];
    stream.read_exact(&mut reply).expect("hello reply");
    stream
}

fn echo(stream: &mut TcpStream, bytes: &[u8], scratch: &mut [u8]) {
    stream.write_all(bytes).expect("send");
    stream
        .read_exact(&mut scratch[..bytes.len()])
        .expect("echo");
}

fn models(c: &mut Criterion) {
    for model in MODELS {
        let server =
            Server::start(&InProcess::new(model), &Setup::default()).expect("server starts");
        let addr = server.addr();
        let mut group = c.benchmark_group(model.name);
        group.sample_size(20);
        group.warm_up_time(Duration::from_millis(500));
        group.measurement_time(Duration::from_secs(2));

        group.bench_function("round-trip-64B", |b| {
            let mut stream = handshaken(addr);
            let mut scratch = [0u8; 64];
            b.iter(|| echo(&mut stream, &MESSAGE, &mut scratch));
        });

        group.bench_function("connect-handshake-close", |b| {
            b.iter(|| drop(handshaken(addr)));
        });

        group.bench_function("burst-100x100", |b| {
            let burst = MESSAGE.repeat(BURST_MESSAGES);
            b.iter(|| {
                std::thread::scope(|scope| {
                    for _ in 0..BURST_CONNECTIONS {
                        scope.spawn(|| {
                            let mut stream = handshaken(addr);
                            let mut scratch = vec![0u8; burst.len()];
                            echo(&mut stream, &burst, &mut scratch);
                        });
                    }
                });
            });
        });
        group.finish();
        server.stop_busy().expect("server stops");
    }
}

criterion_group!(benches, models);
criterion_main!(benches);
