//! The single-threaded flavour serves many connections at once too.

use conformance::client::Client;
use conformance::server::Server;
use model::{Config, Flavor};

#[test]
fn current_thread_flavor_serves_concurrent_connections() {
    let config = Config {
        flavor: Flavor::CurrentThread,
        ..Config::default()
    };
    let server = Server::start(&model_tokio::MODEL, config).unwrap();
    let mut clients: Vec<Client> = (0..100)
        .map(|_| Client::handshaken(server.addr()).unwrap())
        .collect();
    for (i, client) in clients.iter_mut().enumerate() {
        client.echo(format!("client {i}").as_bytes()).unwrap();
    }
    assert_eq!(server.stats().open, 100);
    drop(clients);
    let (stats, _) = server.stop().unwrap();
    assert_eq!(stats.completed, 100);
}
