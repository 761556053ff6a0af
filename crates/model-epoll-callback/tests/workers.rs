//! Several loops sharing one port: every connection is served by one of them,
//! and a shutdown stops them all.

use std::num::NonZeroUsize;

use conformance::client::Client;
use conformance::server::Server;
use model::Config;

#[test]
fn two_loops_serve_every_connection_and_stop_together() {
    let config = Config {
        workers: NonZeroUsize::new(2),
        ..Config::default()
    };
    let server = Server::start(&model_epoll_callback::MODEL, config).unwrap();
    let mut clients: Vec<Client> = (0..200)
        .map(|_| Client::handshaken(server.addr()).unwrap())
        .collect();
    for (i, client) in clients.iter_mut().enumerate() {
        client.echo(format!("client {i}").as_bytes()).unwrap();
    }
    assert_eq!(server.stats().open, 200);
    drop(clients);
    let (stats, _) = server.stop().unwrap();
    assert_eq!(stats.accepted, 200);
    assert_eq!(stats.completed, 200);
}
