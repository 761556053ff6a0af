//! The shared conformance suite, run against the `tokio` model in-process.

conformance::tests!(model_tokio::MODEL);
