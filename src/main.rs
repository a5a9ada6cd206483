//! pgwait: wait until PostgreSQL is really ready, then exec a command.

mod app;
mod backoff;
mod cli;
mod exec;
mod exit_code;
mod plan;
mod probe;
mod report;
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
            Reporter::new(Verbosity::Normal).emit(&format!("pgwait: {}", e.render()));
            return ExitCode::Usage.into();
        }
    };
    match cli.into_plan(|name| std::env::var(name).ok()) {
        Ok(plan) => app::run(plan).into(),
        Err(e) => {
            Reporter::new(Verbosity::Normal).error(&e.message, e.hint.as_deref());
            ExitCode::Usage.into()
        }
    }
}
