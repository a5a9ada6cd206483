//! pgwait's integration tests: the real binary against real PostgreSQL servers.
//!
//! One test binary with modules, so that it links once.

mod harness;

mod checks;
mod command_line;
mod diagnoses;
mod exec;
mod libpq;
mod shipping;
mod signals;
mod tls;
mod waiting;
