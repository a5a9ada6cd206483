//! The resolved, validated plan that pgwait runs: plain data, no clap.

use std::ffi::OsString;
use std::time::Duration;

use crate::probe::checks::Check;
use crate::report::Verbosity;
use crate::target::Target;

#[derive(Debug)]
pub struct Plan {
    /// What must be ready, all of it.
    pub targets: Vec<Target>,
    /// The overall deadline; `None` waits forever.
    pub timeout: Option<Duration>,
    /// The bound on one attempt for targets that set none; `None` leaves them unbounded.
    pub connect_timeout: Option<Duration>,
    /// What must hold on every PostgreSQL target, all in the same attempt.
    pub checks: Vec<Check>,
    /// End the wait at the first permanent failure (exit 3).
    pub fail_fast: bool,
    pub verbosity: Verbosity,
    /// Things worth saying before waiting (e.g. an ignored password file).
    pub warnings: Vec<String>,
    /// The command to exec once ready; empty when there is none.
    pub command: Vec<OsString>,
}

/// Why the command line could not become a plan (exit 2). Never holds a password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanError {
    pub message: String,
    pub hint: Option<String>,
}
