//! One attempt at one target, and what went wrong with it.
//!
//! Probes are the only code that sees I/O errors and SQLSTATEs; they describe each failure
//! where it is born, so nothing later has to guess from strings.

use std::fmt;
use std::future::Future;

pub mod checks;
pub mod diagnosis;
pub mod net;
pub mod postgres;
mod sniff;
pub mod tcp;
pub mod tls;

/// The step of an attempt that was under way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Resolve,
    Connect,
    Tls,
    Authenticate,
    Check,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Resolve => "resolve",
            Phase::Connect => "connect",
            Phase::Tls => "tls",
            Phase::Authenticate => "authenticate",
            Phase::Check => "check",
        })
    }
}

/// How soon another attempt may follow a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// The server never saw the attempt (refused, not resolvable): cheap, poll often.
    Poll,
    /// The server did work for it (a handshake it rejected): back off.
    Backoff,
}

/// Whether waiting can fix a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Keep waiting: the server is not there yet, starting, busy, or a check does not
    /// hold yet.
    Transient,
    /// Only a person can fix it: wrong password, missing role, bad query.
    Permanent,
}

/// Why an attempt did not make the target ready. Never holds a password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub phase: Phase,
    pub pace: Pace,
    pub class: Class,
    /// Which host of a target with several, as `host:port`; `None` for a single host.
    pub endpoint: Option<String>,
    /// What went wrong, lowercase, no trailing period.
    pub message: String,
    pub sqlstate: Option<String>,
    /// The server's DETAIL, passed on.
    pub detail: Option<String>,
    /// The server's HINT, passed on.
    pub server_hint: Option<String>,
    /// pgwait's own advice, chosen by the cause.
    pub hint: Option<String>,
    /// The message already lists each host's failure with its step.
    pub combined: bool,
}

impl Failure {
    /// A transient failure; see [`Failure::permanent`] and [`Failure::with_hint`].
    pub fn new(phase: Phase, pace: Pace, message: impl Into<String>) -> Self {
        Failure {
            phase,
            pace,
            class: Class::Transient,
            endpoint: None,
            message: message.into(),
            sqlstate: None,
            detail: None,
            server_hint: None,
            hint: None,
            combined: false,
        }
    }

    pub fn permanent(mut self) -> Self {
        self.class = Class::Permanent;
        self
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// What makes two failures "the same kind" for reporting: the same step, host and
    /// message (which includes the SQLSTATE when there is one).
    pub fn kind(&self) -> String {
        let endpoint = self.endpoint.as_deref().unwrap_or("");
        format!(
            "{}|{endpoint}|{}|{:?}",
            self.phase, self.message, self.sqlstate
        )
    }
}

impl fmt::Display for Failure {
    /// `connect: connection refused` (`connect db2:5432: …` for one host of several),
    /// with the SQLSTATE, DETAIL and server HINT when the server sent them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.combined {
            write!(f, "{}", self.phase)?;
            if let Some(endpoint) = &self.endpoint {
                write!(f, " {endpoint}")?;
            }
            f.write_str(": ")?;
        }
        f.write_str(&self.message)?;
        if let Some(code) = &self.sqlstate {
            write!(f, " (SQLSTATE {code})")?;
        }
        if let Some(detail) = &self.detail {
            write!(f, "; detail: {detail}")?;
        }
        if let Some(hint) = &self.server_hint {
            write!(f, "; server hint: {hint}")?;
        }
        Ok(())
    }
}

/// Makes attempts at one target. A probe may keep state between attempts.
pub trait Probe: Send {
    /// One attempt, from name resolution to the last check.
    fn attempt(&mut self) -> impl Future<Output = Result<(), Failure>> + Send;

    /// The step the latest attempt had reached, read after the attempt ran out of time.
    fn phase(&self) -> Phase;

    /// Forgets any state kept between attempts; called after an attempt ran out of time.
    fn reset(&mut self) {}
}
