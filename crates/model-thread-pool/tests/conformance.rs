//! The shared conformance suite, run against the `thread-pool` model in-process.

conformance::tests!(model_thread_pool::MODEL);
