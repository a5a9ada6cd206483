//! PostgreSQL targets: a real startup and authentication handshake, then the checks.
//!
//! The handshake is tokio-postgres's own; this module opens the stream itself (so that it
//! knows which step failed and what the peer first sent) and keeps the authenticated
//! session open while checks do not hold yet: re-running a catalog query on an open
//! session costs the server almost nothing and writes nothing to its log, where a fresh
//! login per attempt forks a backend each time.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::UnixStream;
use tokio::task::JoinHandle;
use tokio_postgres::{Client, NoTls};

use super::checks::{Check, Prepared, Verdict};
use super::diagnosis::{self, Context};
use super::sniff::Sniff;
use super::{Class, Failure, Pace, Phase, Probe, net};
use crate::target::PgTarget;

pub struct PostgresProbe {
    target: PgTarget,
    checks: Vec<Check>,
    /// Bounds `--query` on the server as well (statement_timeout).
    query_timeout: Option<Duration>,
    phase: Phase,
    session: Option<Session>,
}

/// An authenticated connection kept between attempts.
struct Session {
    client: Client,
    connection: JoinHandle<()>,
    prepared: Prepared,
    endpoint: usize,
}

impl Session {
    /// Closes cleanly: dropping the client makes the connection send Terminate, so the
    /// server logs a normal disconnect rather than an unexpected EOF.
    async fn close(self) {
        drop(self.client);
        let _ = self.connection.await;
    }
}

/// How a round of checks on a session went wrong.
enum CheckError {
    /// The server answered; keep the session.
    Answered(Failure),
    /// The session is unusable; log in again.
    Broken(Failure),
}

impl PostgresProbe {
    pub fn new(target: PgTarget, checks: Vec<Check>, query_timeout: Option<Duration>) -> Self {
        PostgresProbe {
            target,
            checks,
            query_timeout,
            phase: Phase::Resolve,
            session: None,
        }
    }

    fn context(&self, endpoint: usize) -> Context<'_> {
        let user = self.target.config.get_user().unwrap_or("(default user)");
        Context {
            user,
            database: self.target.config.get_dbname().unwrap_or(user),
            endpoint: &self.target.endpoints[endpoint],
        }
    }

    /// Logs in to one host of the target.
    async fn open(&mut self, index: usize) -> Result<Session, Failure> {
        let endpoint = self.target.endpoints[index].clone();
        if let Some(path) = endpoint.socket_path() {
            self.phase = Phase::Connect;
            let stream = UnixStream::connect(&path)
                .await
                .map_err(|e| match e.kind() {
                    io::ErrorKind::NotFound => diagnosis::no_socket(&path),
                    io::ErrorKind::ConnectionRefused => diagnosis::refused(
                        &endpoint,
                        format!("connection refused (socket {})", path.display()),
                    ),
                    _ => Failure::new(
                        Phase::Connect,
                        Pace::Poll,
                        format!("{} (socket {})", net::describe_io(&e), path.display()),
                    ),
                })?;
            return self.login(index, stream).await;
        }
        self.phase = Phase::Resolve;
        let addrs = net::resolve(&endpoint).await?;
        self.phase = Phase::Connect;
        let stream = net::connect(&endpoint, &addrs).await?;
        self.login(index, stream).await
    }

    /// Startup and authentication over an open stream, then the statements for the checks.
    async fn login<S>(&mut self, index: usize, stream: S) -> Result<Session, Failure>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        self.phase = Phase::Authenticate;
        let (stream, first_bytes) = Sniff::new(stream);
        let (client, connection) = self
            .target
            .config
            .connect_raw(stream, NoTls)
            .await
            .map_err(|e| diagnosis::handshake(&e, &first_bytes.get(), &self.context(index)))?;
        let connection = tokio::spawn(async move {
            let _ = connection.await;
        });
        self.phase = Phase::Check;
        let prepared = match Prepared::new(&client, &self.checks).await {
            Ok(prepared) => prepared,
            Err(e) => {
                let failure = self.session_error(index, &e, "preparing the checks");
                drop(client);
                let _ = connection.await;
                return Err(failure);
            }
        };
        Ok(Session {
            client,
            connection,
            prepared,
            endpoint: index,
        })
    }

    /// Runs every check on the session; all must hold in the same round.
    async fn run_checks(&self, session: &mut Session) -> Result<(), CheckError> {
        if self.checks.is_empty() {
            return session
                .client
                .simple_query("SELECT 1")
                .await
                .map(drop)
                .map_err(|e| self.check_error(session, &e, "SELECT 1"));
        }
        for (index, check) in self.checks.iter().enumerate() {
            let verdict = session
                .prepared
                .run(&mut session.client, index, check, self.query_timeout)
                .await
                .map_err(|e| self.check_error(session, &e, &check.to_string()))?;
            if let Verdict::NotYet(message) = verdict {
                // Re-running a catalog query on an open session is cheap: poll.
                return Err(CheckError::Answered(
                    Failure::new(Phase::Check, Pace::Poll, message).with_hint(not_yet_hint(check)),
                ));
            }
        }
        Ok(())
    }

    fn check_error(&self, session: &Session, e: &tokio_postgres::Error, what: &str) -> CheckError {
        let failure = self.session_error(session.endpoint, e, what);
        if session.client.is_closed() || e.as_db_error().is_none() {
            CheckError::Broken(failure)
        } else {
            CheckError::Answered(failure)
        }
    }

    fn session_error(&self, endpoint: usize, e: &tokio_postgres::Error, what: &str) -> Failure {
        match e.as_db_error() {
            Some(db) => diagnosis::check_error(db, what, &self.context(endpoint)),
            None => Failure::new(
                Phase::Check,
                Pace::Backoff,
                format!("{what} failed: {}", diagnosis::describe(e)),
            ),
        }
    }

    /// Runs the checks on a session. `Ok` carries the server's answer (the session is kept
    /// while checks do not hold, closed once they do); `Err` means the session broke.
    async fn settle(&mut self, mut session: Session) -> Result<Result<(), Failure>, Failure> {
        self.phase = Phase::Check;
        let endpoint = session.endpoint;
        match self.run_checks(&mut session).await {
            Ok(()) => {
                session.close().await;
                Ok(Ok(()))
            }
            Err(CheckError::Answered(failure)) => {
                self.session = Some(session);
                Ok(Err(self.label(failure, endpoint)))
            }
            Err(CheckError::Broken(failure)) => Err(self.label(failure, endpoint)),
        }
    }

    /// Marks which host failed, for targets with several.
    fn label(&self, mut failure: Failure, endpoint: usize) -> Failure {
        if self.target.endpoints.len() > 1 {
            failure.endpoint = Some(self.target.endpoints[endpoint].to_string());
        }
        failure
    }
}

impl Probe for PostgresProbe {
    async fn attempt(&mut self) -> Result<(), Failure> {
        if let Some(session) = self.session.take() {
            if let Ok(answer) = self.settle(session).await {
                return answer;
            }
            // The session broke (e.g. the server restarted): log in again at once.
        }
        let mut last = None;
        for index in 0..self.target.endpoints.len() {
            match self.open(index).await {
                Ok(session) => match self.settle(session).await {
                    Ok(answer) => return answer,
                    Err(broken) => last = Some(broken),
                },
                Err(failure) => {
                    let permanent = failure.class == Class::Permanent;
                    last = Some(self.label(failure, index));
                    // As libpq: a host that rejects the login ends the list.
                    if permanent {
                        break;
                    }
                }
            }
        }
        Err(last.expect("a target has at least one endpoint"))
    }

    fn phase(&self) -> Phase {
        self.phase
    }

    fn reset(&mut self) {
        // An attempt that ran out of time may have left a query running on the session.
        self.session = None;
    }
}

/// What to do when a check has not held for the whole wait.
fn not_yet_hint(check: &Check) -> String {
    match check {
        Check::Role(name) => format!(
            "pgwait waited for the init scripts or migrations that create role \"{name}\"\n\
             (or allow it to log in); check that they ran, e.g. docker compose logs."
        ),
        Check::Schema(_) | Check::Table(_) | Check::Extension(_) => format!(
            "pgwait waited for the migrations or init scripts that create {check};\n\
             check that they ran and that they use this database, e.g. docker compose logs."
        ),
        Check::Primary => "the server is a standby (read-only replica). Point pgwait and the app\n\
                           at the primary, or wait for a failover to promote this server."
            .to_string(),
        Check::Query(_) => "the query ran but its first row's first column was NULL or false,\n\
                            or it returned no rows. Run it in psql to see what it returns."
            .to_string(),
    }
}
