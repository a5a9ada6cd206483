//! The resolved, validated plan that pgwait runs: plain data, no clap.

use std::ffi::OsString;
use std::time::Duration;

use crate::probe::checks::Check;
use crate::report::{Verbosity, human_duration};
use crate::target::Target;

#[derive(Debug)]
pub struct Plan {
    /// What must be ready, all of it.
    pub targets: Vec<Target>,
    /// The overall deadline; `None` waits forever.
    pub timeout: Option<Duration>,
    /// The bound on one attempt at a TCP target (PostgreSQL targets carry their own, in
    /// `PgTarget::connect_timeout`); `None` leaves attempts unbounded.
    pub connect_timeout: Option<Duration>,
    /// What must hold on every PostgreSQL target, all in the same attempt.
    pub checks: Vec<Check>,
    /// End the wait at the first permanent failure (exit 3).
    pub fail_fast: bool,
    /// Only say what would be awaited.
    pub dry_run: bool,
    pub verbosity: Verbosity,
    /// Things worth saying before waiting (e.g. an ignored password file).
    pub warnings: Vec<String>,
    /// The command to exec once ready; empty when there is none.
    pub command: Vec<OsString>,
}

impl Plan {
    /// What pgwait would do, line by line, for `--dry-run`. Never shows a password.
    /// `up to 1m`, or `with no time limit`.
    pub fn time_limit(&self) -> String {
        match self.timeout {
            Some(t) => format!("up to {}", human_duration(t)),
            None => "with no time limit".to_string(),
        }
    }

    pub fn describe(&self) -> Vec<String> {
        let mut lines = vec![format!("dry run: would wait {} for:", self.time_limit())];
        for target in &self.targets {
            lines.push(format!("  {target}"));
            if let Target::Postgres(pg) = target {
                let bound = pg.connect_timeout;
                lines.push(format!(
                    "    sslmode={}, target_session_attrs={}, each attempt {}",
                    pg.tls.mode,
                    pg.session_attrs,
                    bound.map_or("unbounded".to_string(), |b| format!(
                        "within {}",
                        human_duration(b)
                    ))
                ));
                for host in &pg.hosts {
                    let password = match &host.password {
                        Some((_, source)) => format!("password from {source}"),
                        None => "no password".to_string(),
                    };
                    lines.push(format!("    host {}: {password}", host.label()));
                }
                if !self.checks.is_empty() {
                    let checks: Vec<String> = self.checks.iter().map(ToString::to_string).collect();
                    lines.push(format!("    checks: {}", checks.join(", ")));
                }
            }
        }
        if !self.fail_fast {
            lines.push("  permanent failures are waited out (--no-fail-fast)".to_string());
        }
        if let Some(program) = self.command.first() {
            lines.push(format!("then run \"{}\"", program.to_string_lossy()));
        }
        lines
    }
}

/// Why the command line could not become a plan (exit 2). Never holds a password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanError {
    pub message: String,
    pub hint: Option<String>,
}
