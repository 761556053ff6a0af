//! The shared conformance suite, run against the `rayon-pool` model in-process.

conformance::tests!(model_rayon_pool::MODEL);
