//! The shared conformance suite, run against the `epoll-callback` model in-process.

conformance::tests!(model_epoll_callback::MODEL);
