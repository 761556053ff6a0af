//! The shared conformance suite, run against the `io-uring` model in-process
//! (each case reports "not applicable" where io_uring is unavailable).

conformance::tests!(model_io_uring::MODEL);
