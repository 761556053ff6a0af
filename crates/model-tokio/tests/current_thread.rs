//! The single-threaded flavour serves many connections at once too.

use conformance::InProcess;
use conformance::client::Client;
use conformance::server::Server;
use conformance::target::Setup;
use model::{Config, Flavor};

#[test]
fn current_thread_flavor_serves_concurrent_connections() {
    let config = Config {
        flavor: Flavor::CurrentThread,
        ..Config::default()
    };
    let target = InProcess::with_config(&model_tokio::MODEL, config);
    let server = Server::start(&target, &Setup::default()).unwrap();
    let mut clients: Vec<Client> = (0..100)
        .map(|_| Client::handshaken(server.addr()).unwrap())
        .collect();
    for (i, client) in clients.iter_mut().enumerate() {
        client.echo(format!("client {i}").as_bytes()).unwrap();
    }
    assert_eq!(server.open_connections(), Some(100));
    drop(clients);
    let exit = server.stop().unwrap();
    assert_eq!(exit.stats.map(|stats| stats.completed), Some(100));
}
