//! What a bench point measures: one of our models, or a server given with
//! `--server`. Both are started the same way and measured the same way;
//! they differ in how they start, whether they speak the handshake, and
//! where their declared bound comes from.

use model::{Concurrency, Model};

use server_process::{ExternalServer, ServerProcess};

#[derive(Debug)]
pub enum Contender {
    Model(&'static Model),
    External(ExternalServer),
}

impl Contender {
    pub fn name(&self) -> &str {
        match self {
            Contender::Model(model) => model.name,
            Contender::External(server) => &server.name,
        }
    }

    /// Whether it can run on this machine (io_uring, say), and why not.
    pub fn available(&self) -> Result<(), String> {
        match self {
            Contender::Model(model) => (model.available)(),
            Contender::External(_) => Ok(()),
        }
    }

    /// A server on a free port. Our models get `--grace`; a command is the
    /// user's own, and is stopped by SIGTERM after the same grace period.
    pub fn start(&self, grace_s: u64) -> Result<ServerProcess, String> {
        match self {
            Contender::Model(model) => {
                ServerProcess::start(model.name, &["--grace".into(), grace_s.to_string()])
            }
            Contender::External(server) => server.start(&[]).map_err(|failure| failure.why),
        }
    }

    pub fn handshake(&self) -> bool {
        match self {
            Contender::Model(_) => true,
            Contender::External(server) => server.handshake,
        }
    }

    /// Why it serves a bounded number of connections at once, if it does.
    pub fn bounded_because(&self) -> Option<String> {
        match self {
            Contender::Model(model) => match model.concurrency {
                Concurrency::Unbounded => None,
                Concurrency::Bounded { why, .. } => Some(why.into()),
            },
            Contender::External(server) => server
                .declared_concurrency()
                .map(|n| format!("it declares concurrency={n} in its listening line")),
        }
    }
}
