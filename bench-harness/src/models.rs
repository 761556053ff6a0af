//! Every model the harness knows, in the order of the article's tour.
//! Adding a model is one crate plus one line here.

use bench_views::Palette;
use model::Model;
use server_process::ExternalServer;

use crate::bad_input::bad_input;

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
    model_may::MODEL,
    model_monoio::MODEL,
];

/// The model called `name`, if there is one.
pub fn find(name: &str) -> Option<&'static Model> {
    MODELS.iter().find(|model| model.name == name)
}

/// The palette every view draws with: each model keeps its place here.
pub fn palette() -> Palette {
    let names: Vec<&str> = MODELS.iter().map(|model| model.name).collect();
    Palette::new(&names)
}

/// A server given with `--server NAME='COMMAND'`, under a name no model has.
pub(crate) fn commanded(spec: &str, handshake: bool) -> anyhow::Result<ExternalServer> {
    let server = ExternalServer::parse(spec, handshake).map_err(bad_input)?;
    if find(&server.name).is_some() {
        return Err(bad_input(format!(
            "--server {0}=...: {0} is one of the models; give the server another name",
            server.name
        )));
    }
    Ok(server)
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

    #[test]
    fn a_server_given_by_command_cannot_take_a_models_name() {
        assert!(commanded("py-echo=python3 echo.py", true).is_ok());
        let taken = commanded("tokio=python3 echo.py", true).unwrap_err();
        assert!(taken.to_string().contains("tokio is one of the models"));
    }

    #[test]
    fn every_model_crate_is_counted() {
        for model in MODELS {
            assert!(
                bench::code_size::model_lines(model.name).is_some_and(|n| n > 10),
                "{}",
                model.name
            );
        }
    }
}
