//! PostgreSQL targets: a real startup and authentication handshake, then `SELECT 1`.
//!
//! The handshake is tokio-postgres's own; this module only opens the stream (so that it
//! knows which step failed) and turns protocol errors into [`Failure`]s.

use std::io;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::UnixStream;
use tokio_postgres::NoTls;

use super::{Failure, Pace, Phase, Probe, net};
use crate::target::PgTarget;

pub struct PostgresProbe {
    target: PgTarget,
    phase: Phase,
}

impl PostgresProbe {
    pub fn new(target: PgTarget) -> Self {
        PostgresProbe {
            target,
            phase: Phase::Resolve,
        }
    }

    /// One host of the target, from socket or name to a finished check.
    async fn attempt_endpoint(&mut self, index: usize) -> Result<(), Failure> {
        let endpoint = self.target.endpoints[index].clone();
        if let Some(path) = endpoint.socket_path() {
            self.phase = Phase::Connect;
            let stream = UnixStream::connect(&path).await.map_err(|e| {
                let message = if e.kind() == io::ErrorKind::NotFound {
                    format!("no server socket yet at {}", path.display())
                } else {
                    format!("{} (socket {})", net::describe_io(&e), path.display())
                };
                Failure::new(Phase::Connect, Pace::Poll, message)
            })?;
            return self.login(stream).await;
        }
        self.phase = Phase::Resolve;
        let addrs = net::resolve(&endpoint).await?;
        self.phase = Phase::Connect;
        let stream = net::connect(&endpoint, &addrs).await?;
        self.login(stream).await
    }

    /// Startup, authentication and the readiness query over an open stream.
    async fn login<S>(&mut self, stream: S) -> Result<(), Failure>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        self.phase = Phase::Authenticate;
        let (client, connection) = self
            .target
            .config
            .connect_raw(stream, NoTls)
            .await
            .map_err(|e| failure(Phase::Authenticate, &e))?;
        let connection = tokio::spawn(connection);
        self.phase = Phase::Check;
        let answer = client.simple_query("SELECT 1").await;
        // Dropping the client makes the connection send Terminate and close, so the
        // server logs a clean disconnect rather than an unexpected EOF.
        drop(client);
        let _ = connection.await;
        answer.map(drop).map_err(|e| failure(Phase::Check, &e))
    }
}

impl Probe for PostgresProbe {
    async fn attempt(&mut self) -> Result<(), Failure> {
        let several = self.target.endpoints.len() > 1;
        let mut last = None;
        for index in 0..self.target.endpoints.len() {
            match self.attempt_endpoint(index).await {
                Ok(()) => return Ok(()),
                Err(mut failure) => {
                    if several {
                        failure.endpoint = Some(self.target.endpoints[index].to_string());
                    }
                    last = Some(failure);
                }
            }
        }
        Err(last.expect("a target has at least one endpoint"))
    }

    fn phase(&self) -> Phase {
        self.phase
    }
}

/// Describes a tokio-postgres error from its parts. The server's own words, SQLSTATE,
/// DETAIL and HINT are kept apart so that they can be rendered and classified.
fn failure(phase: Phase, e: &tokio_postgres::Error) -> Failure {
    let mut failure = Failure::new(phase, Pace::Backoff, String::new());
    if let Some(db) = e.as_db_error() {
        failure.message = db.message().to_string();
        failure.sqlstate = Some(db.code().code().to_string());
        failure.detail = db.detail().map(str::to_string);
        failure.server_hint = db.hint().map(str::to_string);
    } else if e.is_closed() {
        failure.message = "server closed the connection".to_string();
    } else if let Some(io) =
        std::error::Error::source(e).and_then(|s| s.downcast_ref::<io::Error>())
    {
        failure.message = net::describe_io(io);
    } else {
        failure.message = match std::error::Error::source(e) {
            Some(cause) => format!("{e}: {cause}"),
            None => e.to_string(),
        };
    }
    failure
}
