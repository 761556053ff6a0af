//! Sockets as futures: the article's `Loop.accept`, `Loop.recv` and
//! `Loop.send`, each a loop of "try the system call; on `WouldBlock`, leave
//! a waker with the reactor and yield".

use std::future::{Future, poll_fn};
use std::io::{self, Read, Write};
use std::rc::Rc;
use std::task::{Context, Poll};

use mio::event::Source;
use mio::net::{TcpListener, TcpStream};

use crate::reactor::{Direction, Reactor};

/// An I/O source registered with a reactor. Dropping it deregisters it, so
/// a dropped task leaves nothing behind in the reactor.
#[derive(Debug)]
pub struct Async<T: Source> {
    io: T,
    key: usize,
    reactor: Rc<Reactor>,
}

impl<T: Source> Async<T> {
    /// Registers `io` (which must be in non-blocking mode) with `reactor`.
    pub fn new(mut io: T, reactor: Rc<Reactor>) -> io::Result<Async<T>> {
        let key = reactor.register(&mut io)?;
        Ok(Async { io, key, reactor })
    }

    /// The reactor this source is registered with.
    pub fn reactor(&self) -> &Rc<Reactor> {
        &self.reactor
    }

    /// Runs `op` until it does not return `WouldBlock`; in between, waits.
    /// A task whose budget is spent yields first: it is queued again, behind
    /// every task that is ready now.
    fn poll_io<R>(
        &self,
        direction: Direction,
        cx: &Context<'_>,
        mut op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        if !self.reactor.spend_budget() {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        loop {
            match op(&self.io) {
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    self.reactor.wait(self.key, direction, cx);
                    return Poll::Pending;
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                result => return Poll::Ready(result),
            }
        }
    }
}

impl<T: Source> Drop for Async<T> {
    fn drop(&mut self) {
        self.reactor.deregister(self.key, &mut self.io);
    }
}

impl Async<TcpListener> {
    /// Waits for and accepts one connection.
    pub async fn accept(&self) -> io::Result<TcpStream> {
        poll_fn(|cx| self.poll_io(Direction::Read, cx, |listener| listener.accept()))
            .await
            .map(|(stream, _peer)| stream)
    }
}

impl Async<TcpStream> {
    /// Waits for bytes and returns up to `max` of them; empty at end-of-stream.
    ///
    /// Like Python's `conn.recv(n)` it returns a fresh buffer of exactly the
    /// bytes read. The read itself goes through the reactor's shared scratch
    /// buffer, so a task waiting here holds no buffer at all.
    pub fn recv(&self, max: usize) -> impl Future<Output = io::Result<Vec<u8>>> + '_ {
        poll_fn(move |cx| {
            self.poll_io(Direction::Read, cx, |mut stream| {
                self.reactor.with_scratch(|scratch| {
                    let len = max.min(scratch.len());
                    let n = stream.read(&mut scratch[..len])?;
                    Ok(scratch[..n].to_vec())
                })
            })
        })
    }

    /// Waits until some of `bytes` can be written; returns how many were.
    pub fn send<'a>(&'a self, bytes: &'a [u8]) -> impl Future<Output = io::Result<usize>> + 'a {
        poll_fn(move |cx| self.poll_io(Direction::Write, cx, |mut stream| stream.write(bytes)))
    }

    /// The socket, for options such as `TCP_NODELAY`.
    pub fn get_ref(&self) -> &TcpStream {
        &self.io
    }
}
