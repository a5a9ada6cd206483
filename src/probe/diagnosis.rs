//! What a failure means and what to do about it: the only code that maps SQLSTATEs and
//! I/O conditions to transient or permanent, and to hints a person can act on.

use std::time::Duration;

use super::sniff;
use super::{Failure, Pace, Phase};
use crate::libpq::PasswordSource;
use crate::report::human_duration;
use crate::target::Endpoint;

/// Who and where a handshake was for, to name them in hints.
pub struct Context<'a> {
    pub user: &'a str,
    pub database: &'a str,
    /// Where the password came from, when there was one.
    pub password_source: Option<&'a PasswordSource>,
}

/// The stale-volume trap, ending where the caller says what else can be done.
const STALE_VOLUME: &str = "With the official postgres image, POSTGRES_USER, POSTGRES_PASSWORD and \
POSTGRES_DB\nonly take effect when the data volume is empty; a reused volume keeps its old \
roles,\npasswords and databases. Recreate the volume (docker compose down -v — this \
destroys\nits data)";

// ---------------------------------------------------------------------------------------
// Before the server answers

pub fn refused(endpoint: &Endpoint, message: String) -> Failure {
    Failure::new(Phase::Connect, Pace::Poll, message).with_hint(format!(
        "nothing listens on {endpoint} yet. If this lasts, check the host and port (in compose:\n\
         the service name and the container's port, not the published one), that pgwait and\n\
         the database share a network, that the port is published when connecting from the\n\
         host, and that the server's listen_addresses covers this interface (the official\n\
         image listens on all)."
    ))
}

pub fn unresolvable(name: &str, message: String) -> Failure {
    Failure::new(Phase::Resolve, Pace::Poll, message).with_hint(format!(
        "\"{name}\" does not resolve (yet). In compose it is the service name, and it resolves\n\
         only while that container runs on a network pgwait shares. Check the spelling and\n\
         the networks of both services."
    ))
}

pub fn unreachable(endpoint: &Endpoint, message: String) -> Failure {
    Failure::new(Phase::Connect, Pace::Poll, message).with_hint(format!(
        "no route to {endpoint}. Check that pgwait and the database share a network, and the\n\
         address."
    ))
}

pub fn no_socket(path: &std::path::Path) -> Failure {
    Failure::new(
        Phase::Connect,
        Pace::Poll,
        format!("no server socket yet at {}", path.display()),
    )
    .with_hint(
        "the server has not created its Unix socket there yet. If this lasts, check the\n\
         directory (unix_socket_directories) and the port, and that the directory is shared\n\
         with pgwait's container.",
    )
}

/// An attempt that ran out of `--connect-timeout` in the given step.
pub fn no_answer(phase: Phase, timeout: Duration) -> Failure {
    let hint = match phase {
        Phase::Resolve => "name resolution did not answer in time: check the DNS server.",
        Phase::Connect => {
            "the connection was neither accepted nor refused in time: packets are being\n\
             dropped (a firewall, or an address that nothing answers for)."
        }
        _ => {
            "something accepted the connection but did not answer in time: an overloaded\n\
             server, a proxy with no backend, or a service that is not PostgreSQL."
        }
    };
    Failure::new(
        phase,
        Pace::Backoff,
        format!(
            "no answer within {} (--connect-timeout)",
            human_duration(timeout)
        ),
    )
    .with_hint(hint)
}

// ---------------------------------------------------------------------------------------
// The handshake

/// A peer that accepted the connection and closed it without a word.
pub fn closed_before_answering(phase: Phase) -> Failure {
    Failure::new(
        phase,
        Pace::Poll,
        "the server closed the connection before answering",
    )
    .with_hint(
        "Docker's port proxy does this while the container behind a published port is\n\
         down or restarting; pgwait keeps waiting.",
    )
}

/// A peer whose first words are not PostgreSQL's.
pub fn not_postgres(phase: Phase, said: &[u8]) -> Failure {
    Failure::new(
        phase,
        Pace::Backoff,
        format!(
            "something that is not PostgreSQL answered (it sent \"{}\")",
            sniff::printable(said)
        ),
    )
    .permanent()
    .with_hint("check the port: another service listens there. PostgreSQL's default port is 5432.")
}

/// Classifies a failed startup or authentication. `first` are the first bytes the server
/// sent, to recognise a peer that closed at once or does not speak PostgreSQL.
pub fn handshake(e: &tokio_postgres::Error, first: &[u8], ctx: &Context) -> Failure {
    if let Some(db) = e.as_db_error() {
        return server_error(Phase::Authenticate, db, ctx);
    }
    if first.is_empty() && (e.is_closed() || io_kind(e).is_some()) {
        return closed_before_answering(Phase::Authenticate);
    }
    if !first.is_empty() && !sniff::looks_like_postgres(first) {
        return not_postgres(Phase::Authenticate, first);
    }
    let cause = describe(e);
    if cause.contains("password missing") {
        return Failure::new(
            Phase::Authenticate,
            Pace::Backoff,
            format!(
                "the server asks for a password for user \"{}\" and none was given",
                ctx.user
            ),
        )
        .permanent()
        .with_hint(
            "give it in the target (postgres://USER:PASSWORD@HOST/DB), with --password-file,\n\
             PGPASSWORD, or a line in ~/.pgpass (PGPASSFILE).",
        );
    }
    if cause.starts_with("authentication error") {
        return Failure::new(Phase::Authenticate, Pace::Backoff, cause)
            .permanent()
            .with_hint(
                "pgwait supports password, md5 and SCRAM-SHA-256 authentication; the server\n\
                 asked for something else (e.g. GSSAPI, or a channel binding pgwait cannot do).\n\
                 Check the method for this user in the server's pg_hba.conf.",
            );
    }
    Failure::new(Phase::Authenticate, Pace::Backoff, cause)
}

/// An error the server sent, from its parts; classified by SQLSTATE.
pub fn server_error(phase: Phase, db: &tokio_postgres::error::DbError, ctx: &Context) -> Failure {
    let code = db.code().code();
    let message = db.message();
    let mut failure = Failure::new(phase, Pace::Backoff, message);
    failure.sqlstate = Some(code.to_string());
    failure.detail = db.detail().map(str::to_string);
    failure.server_hint = db.hint().map(str::to_string);
    let (user, database) = (quote_ident(ctx.user), quote_ident(ctx.database));
    match code {
        "28P01" => failure.permanent().with_hint(format!(
            "the server rejected the password for user \"{}\". It came from {}.\n\
             A changed POSTGRES_PASSWORD does not apply to an existing data volume. Over\n\
             password authentication the server does not tell a client whether the role\n\
             exists: if its log says Role \"{}\" does not exist, the volume is stale.\n\
             {STALE_VOLUME} or create the role:\n\
             CREATE ROLE {user} LOGIN PASSWORD '...';",
            ctx.user,
            ctx.password_source
                .map_or("none was given".to_string(), ToString::to_string),
            ctx.user
        )),
        "28000" if message.starts_with("no pg_hba.conf entry") => {
            let host = quoted_after(message, "host \"").unwrap_or("CLIENT_ADDRESS");
            let mask = if host.contains(':') { 128 } else { 32 };
            failure.permanent().with_hint(format!(
                "the server's pg_hba.conf has no line that lets user \"{}\" connect to database\n\
                 \"{}\" from {host}. Add one, e.g.\n\
                 host {database} {user} {host}/{mask} scram-sha-256\n\
                 and reload the server (SELECT pg_reload_conf();).",
                ctx.user, ctx.database
            ))
        }
        "28000" if message.contains("not permitted to log in") => failure.permanent().with_hint(
            format!("the role exists but has NOLOGIN. Allow it: ALTER ROLE {user} LOGIN;"),
        ),
        "28000" if message.contains("does not exist") => failure.permanent().with_hint(format!(
            "the server is up but has no role \"{}\".\n\
             {STALE_VOLUME} or create the role:\n\
             CREATE ROLE {user} LOGIN PASSWORD '...';",
            ctx.user
        )),
        "28000" if message.contains("client certificate") => failure.permanent().with_hint(
            "the server's pg_hba.conf authenticates this user by client certificate. Give one\n\
             signed by a CA the server trusts (ssl_ca_file), with the user name as its CN:\n\
             sslcert and sslkey in the target, or PGSSLCERT and PGSSLKEY.",
        ),
        "28000" => failure.permanent().with_hint(
            "the server refused this login by its authentication rules; its log says why.\n\
             Check the pg_hba.conf line that matches this host, user and database.",
        ),
        "3D000" => failure.permanent().with_hint(format!(
            "the server is up but has no database \"{}\".\n\
             {STALE_VOLUME} or create the database:\n\
             CREATE DATABASE {database} OWNER {user};",
            ctx.database
        )),
        "42501" if phase == Phase::Authenticate => failure.permanent().with_hint(format!(
            "user \"{}\" may not connect to database \"{}\". Grant it:\n\
             GRANT CONNECT ON DATABASE {database} TO {user};",
            ctx.user, ctx.database
        )),
        "57P03" => failure.with_hint(
            "the server is starting up, shutting down or recovering; this passes by itself and\n\
             pgwait keeps waiting. If it never ends, read the server's log (docker compose logs).",
        ),
        "57P01" | "57P02" | "57P04" => {
            failure.with_hint("the server is shutting down or restarting; pgwait keeps waiting.")
        }
        "53300" => failure.with_hint(
            "the server has no free connection slots (max_connections); pgwait keeps waiting.\n\
             If this lasts, something holds connections open: look at pg_stat_activity.",
        ),
        "08P01" => failure.with_hint(
            "a connection pooler (e.g. PgBouncer) answered but cannot serve this database yet;\n\
             pgwait keeps waiting. Check the pooler's own log if this lasts.",
        ),
        // Connection, resource, operator and system classes: waiting can fix these.
        _ if ["08", "53", "57", "58", "XX"]
            .iter()
            .any(|c| code.starts_with(c)) =>
        {
            failure
        }
        // Authorization, catalog and syntax classes: only a person can.
        _ if ["28", "3D", "42"].iter().any(|c| code.starts_with(c)) => failure.permanent(),
        _ => failure,
    }
}

/// A check query failed with a server error: "not there yet" is transient, a broken query
/// is permanent.
pub fn check_error(db: &tokio_postgres::error::DbError, what: &str, ctx: &Context) -> Failure {
    let mut failure = server_error(Phase::Check, db, ctx);
    failure.message = format!("{what} failed: {}", db.message());
    match db.code().code() {
        // Undefined table, column or schema, and missing privileges: migrations and grants
        // that have not run yet.
        "42P01" | "42703" | "3F000" | "42501" => {
            failure.class = super::Class::Transient;
            failure.pace = Pace::Poll;
            failure.with_hint(
                "the query refers to something that does not exist or is not granted yet;\n\
                 pgwait keeps waiting for the migrations or grants that create it.",
            )
        }
        "57014" => failure.with_hint(
            "the query ran longer than the server may run it (a little under\n\
             --connect-timeout); make it cheaper or raise --connect-timeout.",
        ),
        "25006" => failure.permanent().with_hint(
            "--query runs in a read-only transaction that is always rolled back, so a check\n\
             can never change the database. Use a query that only reads.",
        ),
        "42602" => failure.permanent().with_hint(
            "write --table as NAME or SCHEMA.NAME; quote names with capitals or special\n\
             characters as in SQL: --table '\"MyTable\"'.",
        ),
        "42601" => failure.permanent().with_hint(
            "the query is not valid SQL; run it in psql to see why. --query takes a single\n\
             statement.",
        ),
        _ => failure,
    }
}

/// A check query failed without a server error (the session broke).
pub fn describe(e: &tokio_postgres::Error) -> String {
    if e.is_closed() {
        return "the server closed the connection".to_string();
    }
    if let Some(io) = std::error::Error::source(e).and_then(|s| s.downcast_ref::<std::io::Error>())
    {
        return super::net::describe_io(io);
    }
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

fn io_kind(e: &tokio_postgres::Error) -> Option<std::io::ErrorKind> {
    std::error::Error::source(e)
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .map(std::io::Error::kind)
}

/// The text between `prefix` and the next `"` in a server message.
fn quoted_after<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    let start = message.find(prefix)? + prefix.len();
    let len = message[start..].find('"')?;
    Some(&message[start..start + len])
}

/// A name as a SQL identifier, quoted only when it needs to be.
pub fn quote_ident(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted_only_when_needed() {
        assert_eq!(quote_ident("app"), "app");
        assert_eq!(quote_ident("App"), "\"App\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_ident("1x"), "\"1x\"");
    }

    #[test]
    fn host_is_read_from_the_pg_hba_message() {
        let m = "no pg_hba.conf entry for host \"172.18.0.3\", user \"app\", database \"app\", no encryption";
        assert_eq!(quoted_after(m, "host \""), Some("172.18.0.3"));
    }
}
