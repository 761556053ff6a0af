//! The shared conformance suite, run against the `smol` model in-process.

conformance::tests!(model_smol::MODEL);
