//! Every model the harness knows, in the order of the article's tour.
//! Adding a model is one crate plus one line here.

use model::Model;

/// All models, from the article's first server to its last.
pub static MODELS: &[Model] = &[
    model_blocking::MODEL,
    model_thread_per_conn::MODEL,
    model_thread_pool::MODEL,
    model_rayon_pool::MODEL,
    model_epoll_callback::MODEL,
    model_mini_executor::MODEL,
    model_tokio::MODEL,
    model_async_std::MODEL,
    model_smol::MODEL,
    model_io_uring::MODEL,
];

/// The model called `name`, if there is one.
pub fn find(name: &str) -> Option<&'static Model> {
    MODELS.iter().find(|model| model.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_cli_safe() {
        for (i, model) in MODELS.iter().enumerate() {
            assert!(
                model
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{}",
                model.name
            );
            assert!(MODELS[..i].iter().all(|other| other.name != model.name));
            assert!(!model.summary.is_empty() && !model.summary.contains('\n'));
        }
        assert_eq!(find("thread-pool").map(|m| m.name), Some("thread-pool"));
        assert!(find("nosuchmodel").is_none());
    }
}
