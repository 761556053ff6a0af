//! The shared conformance suite, run against the `async-std` model in-process.

conformance::tests!(model_async_std::MODEL);
