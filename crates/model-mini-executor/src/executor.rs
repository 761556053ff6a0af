//! The executor: the article's `Loop` with its `queue`, `create_task`,
//! `once` and `run`, for Rust futures instead of Python generators.
//!
//! A task is a boxed future in a slab. Its `Waker` puts the task's slot
//! number on the run queue (once, however often it is woken before it runs
//! again); [`Executor::block_on`] polls the queued tasks, then lets the
//! reactor wait for I/O and timers, and repeats until the main future is done.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::ThreadId;

use slab::Slab;

use crate::reactor::Reactor;

/// The run-queue id of the future passed to [`Executor::block_on`].
const MAIN: usize = usize::MAX;

/// A single-threaded executor. Cloning gives another handle to the same one
/// (to spawn from inside a task).
#[derive(Clone, Debug)]
pub struct Executor {
    inner: Rc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// `None` while the task is being polled, so that it can spawn.
    tasks: RefCell<Slab<Option<Task>>>,
    run_queue: Arc<RunQueue>,
    reactor: Rc<Reactor>,
}

struct Task {
    future: Pin<Box<dyn Future<Output = ()>>>,
    waker: Arc<TaskWaker>,
}

impl std::fmt::Debug for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Task").field("id", &self.waker.id).finish()
    }
}

/// The article's `queue`: ids of tasks to poll. A `Mutex` only because
/// `Waker` must be `Send`; in practice only the executor's thread touches it.
#[derive(Debug)]
struct RunQueue {
    ids: Mutex<VecDeque<usize>>,
    owner: ThreadId,
    /// Wakes the reactor's `poll` when a task is woken from another thread.
    notify: Arc<mio::Waker>,
}

/// What a task's `Waker` does: queue the task, unless it is queued already.
#[derive(Debug)]
struct TaskWaker {
    id: usize,
    queued: AtomicBool,
    run_queue: Arc<RunQueue>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.queued.swap(true, Ordering::AcqRel) {
            self.run_queue.push(self.id);
        }
    }
}

impl RunQueue {
    fn push(&self, id: usize) {
        self.ids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(id);
        if std::thread::current().id() != self.owner {
            let _ = self.notify.wake();
        }
    }

    fn take_all(&self, into: &mut VecDeque<usize>) {
        let mut ids = self.ids.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::swap(&mut *ids, into);
    }

    fn is_empty(&self) -> bool {
        self.ids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
    }
}

impl Executor {
    /// An executor on the calling thread, with its own reactor.
    pub fn new(scratch_len: usize) -> io::Result<Executor> {
        let reactor = Rc::new(Reactor::new(scratch_len)?);
        let run_queue = Arc::new(RunQueue {
            ids: Mutex::default(),
            owner: std::thread::current().id(),
            notify: reactor.notifier(),
        });
        Ok(Executor {
            inner: Rc::new(Inner {
                tasks: RefCell::default(),
                run_queue,
                reactor,
            }),
        })
    }

    /// The reactor that this executor's I/O and timers register with.
    pub fn reactor(&self) -> &Rc<Reactor> {
        &self.inner.reactor
    }

    /// The article's `create_task`: runs `future` concurrently with the others.
    pub fn spawn(&self, future: impl Future<Output = ()> + 'static) {
        let mut tasks = self.inner.tasks.borrow_mut();
        let entry = tasks.vacant_entry();
        let waker = Arc::new(TaskWaker {
            id: entry.key(),
            queued: AtomicBool::new(false),
            run_queue: self.inner.run_queue.clone(),
        });
        waker.wake_by_ref();
        entry.insert(Some(Task {
            future: Box::pin(future),
            waker,
        }));
    }

    /// The number of spawned tasks that have not finished.
    pub fn tasks(&self) -> usize {
        self.inner.tasks.borrow().len()
    }

    /// The article's `run`: drives `main` and every spawned task until `main`
    /// completes, then drops the tasks still running (which closes their
    /// sockets) and returns `main`'s output.
    pub fn block_on<T>(&self, main: impl Future<Output = T>) -> io::Result<T> {
        let mut main = pin!(main);
        let main_waker = Arc::new(TaskWaker {
            id: MAIN,
            queued: AtomicBool::new(false),
            run_queue: self.inner.run_queue.clone(),
        });
        main_waker.wake_by_ref();
        let result = self.run(&mut main, &main_waker);
        // Tasks can hold handles to this executor; dropping them here breaks
        // that cycle. They are taken out first so that their destructors
        // can still use the executor.
        let tasks = std::mem::take(&mut *self.inner.tasks.borrow_mut());
        drop(tasks);
        result
    }

    fn run<T>(
        &self,
        main: &mut Pin<&mut impl Future<Output = T>>,
        main_waker: &Arc<TaskWaker>,
    ) -> io::Result<T> {
        let main_waker_handle = Waker::from(main_waker.clone());
        let mut ready = VecDeque::new();
        loop {
            // The article's `once`: poll what was queued before this round,
            // so that I/O is checked between rounds.
            self.inner.run_queue.take_all(&mut ready);
            for id in ready.drain(..) {
                self.inner.reactor.refill_budget();
                if id == MAIN {
                    main_waker.queued.store(false, Ordering::Release);
                    let mut cx = Context::from_waker(&main_waker_handle);
                    if let Poll::Ready(output) = main.as_mut().poll(&mut cx) {
                        return Ok(output);
                    }
                } else {
                    self.poll_task(id);
                }
            }
            // The article's `polling`: wait only if nothing is queued.
            let block = self.inner.run_queue.is_empty();
            self.inner.reactor.poll(block)?;
        }
    }

    fn poll_task(&self, id: usize) {
        let Some(mut task) = self
            .inner
            .tasks
            .borrow_mut()
            .get_mut(id)
            .and_then(Option::take)
        else {
            return; // finished already; a stale wake-up
        };
        task.waker.queued.store(false, Ordering::Release);
        let waker = Waker::from(task.waker.clone());
        let mut cx = Context::from_waker(&waker);
        let finished = task.future.as_mut().poll(&mut cx).is_ready();
        let mut tasks = self.inner.tasks.borrow_mut();
        if finished {
            tasks.try_remove(id);
            drop(tasks);
            drop(task);
        } else if let Some(slot) = tasks.get_mut(id) {
            *slot = Some(task);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::future::poll_fn;

    /// A future that is pending on its first poll, after handing its waker out.
    fn park(slot: Rc<RefCell<Option<Waker>>>) -> impl Future<Output = ()> {
        let mut parked = false;
        poll_fn(move |cx| {
            if parked {
                return Poll::Ready(());
            }
            parked = true;
            *slot.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        })
    }

    #[test]
    fn woken_tasks_run_in_wake_order() {
        let executor = Executor::new(64).unwrap();
        let order = Rc::new(RefCell::new(Vec::new()));
        let wakers: Vec<Rc<RefCell<Option<Waker>>>> = (0..3).map(|_| Rc::default()).collect();
        for (name, slot) in ["a", "b", "c"].into_iter().zip(&wakers) {
            let (order, slot) = (order.clone(), slot.clone());
            executor.spawn(async move {
                park(slot).await;
                order.borrow_mut().push(name);
            });
        }
        let wakers_in_main = wakers.clone();
        executor
            .block_on(async move {
                // Let every task park, then wake them c, a, b.
                yield_now().await;
                for i in [2, 0, 1] {
                    wakers_in_main[i].borrow_mut().take().unwrap().wake();
                }
                yield_now().await;
                yield_now().await;
            })
            .unwrap();
        assert_eq!(*order.borrow(), ["c", "a", "b"]);
    }

    #[test]
    fn a_task_woken_twice_runs_once() {
        let executor = Executor::new(64).unwrap();
        let polls = Rc::new(Cell::new(0));
        let slot: Rc<RefCell<Option<Waker>>> = Rc::default();
        {
            let (polls, slot) = (polls.clone(), slot.clone());
            executor.spawn(poll_fn(move |cx| {
                polls.set(polls.get() + 1);
                *slot.borrow_mut() = Some(cx.waker().clone());
                Poll::<()>::Pending
            }));
        }
        executor
            .block_on(async {
                yield_now().await;
                assert_eq!(polls.get(), 1);
                let waker = slot.borrow().clone().unwrap();
                waker.wake_by_ref();
                waker.wake();
                yield_now().await;
                yield_now().await;
            })
            .unwrap();
        assert_eq!(polls.get(), 2);
    }

    #[test]
    fn dropping_a_task_deregisters_its_io() {
        let executor = Executor::new(64).unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server_side, _) = listener.accept().unwrap();
        server_side.set_nonblocking(true).unwrap();
        let stream = crate::io::Async::new(
            mio::net::TcpStream::from_std(server_side),
            executor.reactor().clone(),
        )
        .unwrap();
        assert_eq!(executor.reactor().registered(), 1);
        executor.spawn(async move {
            // Waits forever: the client never writes.
            let _ = stream.recv(16).await;
        });
        let reactor = executor.reactor().clone();
        executor.block_on(yield_now()).unwrap();
        assert_eq!(executor.tasks(), 0, "block_on drops the unfinished task");
        assert_eq!(reactor.registered(), 0, "and with it, its registration");
        drop(client);
    }

    /// Pending once, so that the executor runs a round of other tasks.
    pub(crate) fn yield_now() -> impl Future<Output = ()> {
        let mut yielded = false;
        poll_fn(move |cx| {
            if yielded {
                Poll::Ready(())
            } else {
                yielded = true;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        })
    }
}
