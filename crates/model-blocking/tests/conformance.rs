//! The shared conformance suite, run against the `blocking` model in-process.

conformance::tests!(model_blocking::MODEL);
