//! pgwait: wait until PostgreSQL is really ready, then exec a command.

// Failures carry the server's message, SQLSTATE, DETAIL, HINT and pgwait's own hint. They
// are built only when an attempt fails, at most a few dozen times a second, so their size
// costs nothing worth boxing for.
#![allow(clippy::result_large_err)]

mod app;
mod backoff;
mod cli;
mod conninfo;
mod exec;
mod exit_code;
mod libpq;
mod passfile;
mod plan;
mod probe;
mod report;
mod secret;
mod signals;
mod target;
mod wait;

use clap::Parser;

use crate::exit_code::ExitCode;
use crate::report::{Reporter, Verbosity};

fn main() -> std::process::ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version.
            let _ = e.print();
            return ExitCode::Ready.into();
        }
        Err(e) => {
            Reporter::new(Verbosity::Normal).usage_error(&e.render().to_string());
            return ExitCode::Usage.into();
        }
    };
    match cli.into_plan(&libpq::Environment::from_process()) {
        Ok(plan) => app::run(plan).into(),
        Err(e) => {
            Reporter::new(Verbosity::Normal).error(&e.message, e.hint.as_deref());
            ExitCode::Usage.into()
        }
    }
}
