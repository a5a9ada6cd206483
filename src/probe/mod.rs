//! One attempt at one target, and what went wrong with it.
//!
//! Probes are the only code that sees I/O errors and SQLSTATEs; they describe each failure
//! where it is born, so nothing later has to guess from strings.

use std::fmt;
use std::future::Future;

pub mod net;
pub mod postgres;
pub mod tcp;

/// The step of an attempt that was under way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Resolve,
    Connect,
    Authenticate,
    Check,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Resolve => "resolve",
            Phase::Connect => "connect",
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

/// Why an attempt did not make the target ready. Never holds a password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub phase: Phase,
    pub pace: Pace,
    /// Which host of a target with several, as `host:port`; `None` for a single host.
    pub endpoint: Option<String>,
    /// What went wrong, lowercase, no trailing period.
    pub message: String,
    pub sqlstate: Option<String>,
    /// The server's DETAIL, passed on.
    pub detail: Option<String>,
    /// The server's HINT, passed on.
    pub server_hint: Option<String>,
}

impl Failure {
    pub fn new(phase: Phase, pace: Pace, message: impl Into<String>) -> Self {
        Failure {
            phase,
            pace,
            endpoint: None,
            message: message.into(),
            sqlstate: None,
            detail: None,
            server_hint: None,
        }
    }

    /// What makes two failures "the same kind" for reporting: the same step and the same
    /// SQLSTATE, or the same message when there is none.
    pub fn kind(&self) -> String {
        let endpoint = self.endpoint.as_deref().unwrap_or("");
        match &self.sqlstate {
            Some(code) => format!("{}|{endpoint}|{code}", self.phase),
            None => format!("{}|{endpoint}|{}", self.phase, self.message),
        }
    }
}

impl fmt::Display for Failure {
    /// `connect: connection refused` (`connect db2:5432: …` for one host of several),
    /// with the SQLSTATE, DETAIL and server HINT when the server sent them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.phase)?;
        if let Some(endpoint) = &self.endpoint {
            write!(f, " {endpoint}")?;
        }
        write!(f, ": {}", self.message)?;
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
}
