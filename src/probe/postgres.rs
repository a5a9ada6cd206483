//! PostgreSQL targets: TLS as sslmode says, a real startup and authentication handshake,
//! target_session_attrs, then the checks.
//!
//! The handshake is tokio-postgres's own; this module opens the stream and negotiates TLS
//! itself (so that it knows which step failed and what the peer first sent) and keeps the
//! authenticated session open while checks do not hold yet: re-running a catalog query on
//! an open session costs the server almost nothing and writes nothing to its log, where a
//! fresh login per attempt forks a backend each time.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::UnixStream;
use tokio::task::JoinHandle;
use tokio_postgres::config::SslMode as WireSslMode;
use tokio_postgres::{Client, NoTls};

use super::checks::{Check, Prepared, Verdict};
use super::diagnosis::{self, Context};
use super::sniff::Sniff;
use super::tls::{self, Io, Negotiated};
use super::{Class, Failure, Pace, Phase, Probe, net};
use crate::libpq::{PgTarget, RootCert, SessionAttrs, SslMode};
use crate::target::Address;

pub struct PostgresProbe {
    target: PgTarget,
    checks: Vec<Check>,
    /// The bound on an attempt, which `--query` must also respect on the server
    /// (statement_timeout).
    attempt_timeout: Option<Duration>,
    /// When the current attempt started.
    attempt_started: tokio::time::Instant,
    phase: Phase,
    session: Option<Session>,
    /// Built at the first TLS attempt, then reused.
    tls_config: Option<Arc<rustls::ClientConfig>>,
}

/// An authenticated connection kept between attempts.
struct Session {
    client: Client,
    connection: JoinHandle<()>,
    prepared: Prepared,
    host: usize,
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
    pub fn new(target: PgTarget, checks: Vec<Check>, attempt_timeout: Option<Duration>) -> Self {
        PostgresProbe {
            target,
            checks,
            attempt_timeout,
            attempt_started: tokio::time::Instant::now(),
            phase: Phase::Resolve,
            session: None,
            tls_config: None,
        }
    }

    fn context(&self, host: usize) -> Context<'_> {
        Context {
            user: &self.target.user,
            database: &self.target.database,
            password_source: self.target.hosts[host].password.as_ref().map(|(_, s)| s),
        }
    }

    /// Logs in to one host of the target, as `attrs` requires.
    async fn open(&mut self, host: usize, attrs: SessionAttrs) -> Result<Session, Failure> {
        let endpoint = self.target.hosts[host].endpoint.clone();
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
            // libpq never uses TLS over Unix sockets.
            return self.login(host, Box::new(stream), attrs).await;
        }
        self.phase = Phase::Resolve;
        let addrs = net::resolve(&endpoint).await?;
        self.phase = Phase::Connect;
        let mode = self.target.tls.mode;
        let first_try = if mode == SslMode::Allow {
            SslMode::Disable
        } else {
            mode
        };
        let stream = net::connect(&endpoint, &addrs).await?;
        let stream = self.secure(host, stream, first_try).await?;
        match self.login(host, stream, attrs).await {
            // sslmode=allow: plaintext first; when the server turns that down, TLS.
            Err(failure) if mode == SslMode::Allow && failure.sqlstate.is_some() => {
                self.phase = Phase::Connect;
                let stream = net::connect(&endpoint, &addrs).await?;
                let stream = self.secure(host, stream, SslMode::Require).await?;
                self.login(host, stream, attrs).await
            }
            other => other,
        }
    }

    /// TLS negotiation over a fresh TCP stream, as `mode` says.
    async fn secure(
        &mut self,
        host: usize,
        stream: tokio::net::TcpStream,
        mode: SslMode,
    ) -> Result<Box<dyn Io>, Failure> {
        if mode == SslMode::Disable {
            return Ok(Box::new(stream));
        }
        self.phase = Phase::Tls;
        let config = match &self.tls_config {
            Some(config) => config.clone(),
            None => {
                let config = tls::client_config(&self.target.tls)?;
                self.tls_config = Some(config.clone());
                config
            }
        };
        let pg_host = &self.target.hosts[host];
        let name = match (&pg_host.name, &pg_host.endpoint.address) {
            (Some(name), _) => name.clone(),
            (None, Address::Ip(ip)) => ip.to_string(),
            (None, other) => format!("{other:?}"),
        };
        let server_name = ServerName::try_from(name.clone()).map_err(|_| {
            Failure::new(
                Phase::Tls,
                Pace::Backoff,
                format!("\"{name}\" cannot be checked against a certificate"),
            )
            .permanent()
        })?;
        let root_file = match &self.target.tls.root_cert {
            Some(RootCert::File(path)) => Some(path.as_path()),
            _ => None,
        };
        let negotiated = tls::negotiate(stream, mode, config, server_name, root_file).await?;
        Ok(match negotiated {
            Negotiated::Plain(stream) => Box::new(stream),
            Negotiated::Tls(stream) => Box::new(stream),
        })
    }

    /// Startup and authentication over an open stream, the session attributes, then the
    /// statements for the checks.
    async fn login<S>(
        &mut self,
        host: usize,
        stream: S,
        attrs: SessionAttrs,
    ) -> Result<Session, Failure>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        self.phase = Phase::Authenticate;
        let (stream, first_bytes) = Sniff::new(stream);
        let mut config = tokio_postgres::Config::new();
        config
            .user(&self.target.user)
            .dbname(&self.target.database)
            .ssl_mode(WireSslMode::Disable);
        if let Some(options) = &self.target.options {
            config.options(options);
        }
        if let Some(name) = &self.target.application_name {
            config.application_name(name);
        }
        if let Some((password, _)) = &self.target.hosts[host].password {
            config.password(password.expose());
        }
        let connected = config.connect_raw(stream, NoTls).await;
        drop(config); // holds a copy of the password
        let (client, connection) = connected
            .map_err(|e| diagnosis::handshake(&e, &first_bytes.get(), &self.context(host)))?;
        let connection = tokio::spawn(async move {
            let _ = connection.await;
        });
        self.phase = Phase::Check;
        let ready = async {
            check_attrs(&client, attrs).await?;
            Prepared::new(&client, &self.checks)
                .await
                .map_err(|e| self.session_error(host, &e, "preparing the checks"))
        };
        match ready.await {
            Ok(prepared) => Ok(Session {
                client,
                connection,
                prepared,
                host,
            }),
            Err(failure) => {
                drop(client);
                let _ = connection.await;
                Err(failure)
            }
        }
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
                .run(&mut session.client, index, check, self.query_budget())
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

    /// What is left of the attempt for a `--query`: the server stops it at 80% of that,
    /// so that it reports the statement timeout itself, before the attempt's own bound.
    fn query_budget(&self) -> Option<Duration> {
        self.attempt_timeout.map(|t| {
            t.saturating_sub(self.attempt_started.elapsed())
                .mul_f64(0.8)
                .max(Duration::from_millis(1))
        })
    }

    fn check_error(&self, session: &Session, e: &tokio_postgres::Error, what: &str) -> CheckError {
        let failure = self.session_error(session.host, e, what);
        if session.client.is_closed() || e.as_db_error().is_none() {
            CheckError::Broken(failure)
        } else {
            CheckError::Answered(failure)
        }
    }

    fn session_error(&self, host: usize, e: &tokio_postgres::Error, what: &str) -> Failure {
        match e.as_db_error() {
            Some(db) => diagnosis::check_error(db, what, &self.context(host)),
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
        let host = session.host;
        match self.run_checks(&mut session).await {
            Ok(()) => {
                session.close().await;
                Ok(Ok(()))
            }
            Err(CheckError::Answered(failure)) => {
                self.session = Some(session);
                Ok(Err(self.label(failure, host)))
            }
            Err(CheckError::Broken(failure)) => Err(self.label(failure, host)),
        }
    }

    /// Marks which host failed, for targets with several.
    fn label(&self, mut failure: Failure, host: usize) -> Failure {
        if self.target.hosts.len() > 1 {
            failure.endpoint = Some(self.target.hosts[host].label());
        }
        failure
    }
}

impl Probe for PostgresProbe {
    async fn attempt(&mut self) -> Result<(), Failure> {
        self.attempt_started = tokio::time::Instant::now();
        if let Some(session) = self.session.take() {
            if let Ok(answer) = self.settle(session).await {
                return answer;
            }
            // The session broke (e.g. the server restarted): log in again at once.
        }
        // prefer-standby: any standby first, then any server at all (as libpq).
        let passes: &[SessionAttrs] = match self.target.session_attrs {
            SessionAttrs::PreferStandby => &[SessionAttrs::Standby, SessionAttrs::Any],
            SessionAttrs::Any => &[SessionAttrs::Any],
            SessionAttrs::ReadWrite => &[SessionAttrs::ReadWrite],
            SessionAttrs::ReadOnly => &[SessionAttrs::ReadOnly],
            SessionAttrs::Primary => &[SessionAttrs::Primary],
            SessionAttrs::Standby => &[SessionAttrs::Standby],
        };
        let mut failures = Vec::new();
        'passes: for &attrs in passes {
            failures.clear();
            for host in 0..self.target.hosts.len() {
                match self.open(host, attrs).await {
                    Ok(session) => match self.settle(session).await {
                        Ok(answer) => return answer,
                        Err(broken) => failures.push(broken),
                    },
                    Err(failure) => {
                        let permanent = failure.class == Class::Permanent;
                        failures.push(self.label(failure, host));
                        // As libpq: a server that rejects the login ends the list.
                        if permanent {
                            break 'passes;
                        }
                    }
                }
            }
        }
        Err(combine(failures))
    }

    fn phase(&self) -> Phase {
        self.phase
    }

    fn reset(&mut self) {
        // An attempt that ran out of time may have left a query running on the session.
        self.session = None;
    }
}

/// One failure for a target whose hosts all failed: each host's error, not only the last.
fn combine(mut failures: Vec<Failure>) -> Failure {
    let last = failures.pop().expect("a target has at least one host");
    if failures.is_empty() {
        return last;
    }
    let mut all = failures;
    let pace = if all.iter().chain([&last]).any(|f| f.pace == Pace::Backoff) {
        Pace::Backoff
    } else {
        Pace::Poll
    };
    all.push(last.clone());
    let message = all
        .iter()
        .map(|f| {
            let mut one = f.clone();
            let host = one.endpoint.take().unwrap_or_default();
            format!("{host} {one}")
        })
        .collect::<Vec<_>>()
        .join("; ");
    Failure {
        pace,
        endpoint: None,
        message: format!("no host is ready: {message}"),
        sqlstate: None,
        detail: None,
        server_hint: None,
        combined: true,
        ..last
    }
}

/// libpq's target_session_attrs, checked right after login.
async fn check_attrs(client: &Client, attrs: SessionAttrs) -> Result<(), Failure> {
    if attrs == SessionAttrs::Any {
        return Ok(());
    }
    let row = client
        .query_one(
            "SELECT pg_catalog.pg_is_in_recovery(), \
             pg_catalog.current_setting('transaction_read_only') = 'on'",
            &[],
        )
        .await
        .map_err(|e| {
            Failure::new(
                Phase::Check,
                Pace::Backoff,
                format!(
                    "target_session_attrs check failed: {}",
                    diagnosis::describe(&e)
                ),
            )
        })?;
    let (in_recovery, read_only): (bool, bool) = (row.get(0), row.get(1));
    let refusal = match attrs {
        SessionAttrs::ReadWrite if read_only => Some("the session is read-only"),
        SessionAttrs::ReadOnly if !read_only => Some("the session is not read-only"),
        SessionAttrs::Primary if in_recovery => Some("the server is a standby"),
        SessionAttrs::Standby if !in_recovery => Some("the server is not a standby"),
        _ => None,
    };
    match refusal {
        None => Ok(()),
        Some(why) => Err(Failure::new(
            Phase::Check,
            Pace::Backoff,
            format!("{why} (target_session_attrs={attrs})"),
        )
        .with_hint(
            "no host has the role target_session_attrs asks for yet; pgwait keeps waiting\n\
             for a failover or promotion. Check the host list and the replication setup.",
        )),
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
