//! What an idle connection costs a model's heap, allocation by allocation.
//!
//! A test binary installs [`Counting`] as its global allocator. Then
//! [`idle_connections`] serves a model in this process, handshakes N
//! connections, holds them idle, and reports the heap bytes that stayed per
//! connection, and the allocations they are made of, by size and alignment:
//!
//! ```no_run
//! #[global_allocator]
//! static HEAP: footprint::Counting = footprint::Counting::new();
//!
//! fn weigh(model: &model::Model) {
//!     let idle = footprint::idle_connections(model, Default::default(), &HEAP, 500);
//!     // tokio: 801 B per idle connection on the heap: 1.00 x 256 B over-aligned, ...
//!     println!("{idle}");
//!     assert!(idle.bytes_per_connection() <= 1200.0);
//! }
//! ```
//!
//! This counts what the model asked the allocator for: exact and repeatable,
//! unlike resident memory. What it leaves out is measured elsewhere
//! (`scripts/rss-per-conn.sh`): the allocator's own slack, a thread's stack,
//! and the kernel's socket. Each model's `tests/footprint.rs` holds it to its
//! documented budget, so that a connection that grows fails CI.

mod counting;
mod idle;

pub use counting::{Counting, Snapshot};
pub use idle::{Allocations, Footprint, idle_connections};
