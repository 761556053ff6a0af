//! The one exit-status policy: a mistake in what the user asked for exits
//! with 2 (as a command line clap rejects does), a run that failed with 1.

use std::fmt;
use std::process::ExitCode;

/// What the user asked for cannot be done as asked (an unknown name, an
/// address that does not resolve, a run that cannot fit the machine's
/// limits): exit status 2, like a command line clap rejects.
#[derive(Debug)]
pub struct BadInput(pub String);

impl fmt::Display for BadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

/// A [`BadInput`] error saying `why`.
pub(crate) fn bad_input(why: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(BadInput(why.into()))
}

/// The exit-status policy: 2 for bad input, 1 for a run that failed.
pub fn exit_code(error: &anyhow::Error) -> ExitCode {
    if error.chain().any(|cause| cause.is::<BadInput>()) {
        ExitCode::from(2)
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use anyhow::Context;

    use super::*;

    #[test]
    fn bad_input_exits_2_even_under_context_and_other_failures_1() {
        let bad = Err::<(), _>(bad_input("no such model")).context("while starting");
        assert_eq!(exit_code(&bad.unwrap_err()), ExitCode::from(2));
        let failed = anyhow::anyhow!("the load run failed");
        assert_eq!(exit_code(&failed), ExitCode::FAILURE);
    }
}
