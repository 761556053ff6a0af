//! The shared conformance suite, run against the `thread-per-conn` model in-process.

conformance::tests!(model_thread_per_conn::MODEL);
