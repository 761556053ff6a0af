//! The shared conformance suite, run against the `mini-executor` model in-process.

conformance::tests!(model_mini_executor::MODEL);
