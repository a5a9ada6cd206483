//! What a TARGET argument means: a TCP endpoint or a PostgreSQL connection.
//!
//! Parsing turns user input into plain data the probes can use. Nothing here connects.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

use crate::libpq::{self, Environment, PgTarget};
use crate::secret::Secret;

/// PostgreSQL's default port.
pub const DEFAULT_PORT: u16 = 5432;

/// Where one connection attempt goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// A host name, resolved at every attempt (it may appear later, as in Docker networks).
    Name(String),
    /// A literal IP address; nothing to resolve.
    Ip(IpAddr),
    /// A Unix-domain socket directory (libpq's `host=/dir`).
    Socket(PathBuf),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub address: Address,
    pub port: u16,
}

impl Endpoint {
    /// The socket file a server on this endpoint listens on, for socket directories.
    pub fn socket_path(&self) -> Option<PathBuf> {
        match &self.address {
            Address::Socket(dir) => Some(dir.join(format!(".s.PGSQL.{}", self.port))),
            _ => None,
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.address {
            Address::Name(name) => write!(f, "{name}:{}", self.port),
            Address::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]:{}", self.port),
            Address::Ip(ip) => write!(f, "{ip}:{}", self.port),
            Address::Socket(dir) => write!(f, "{}:{}", dir.display(), self.port),
        }
    }
}

/// One thing to wait for.
#[derive(Debug, Clone)]
pub enum Target {
    /// Ready when a TCP connection opens.
    Tcp(Endpoint),
    /// Ready when a real login succeeds and the checks hold.
    Postgres(Box<PgTarget>),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Tcp(endpoint) => write!(f, "tcp {endpoint}"),
            Target::Postgres(pg) => write!(f, "postgres {pg}"),
        }
    }
}

/// Why a TARGET could not be understood. The message never contains a password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetError {
    pub message: String,
    pub hint: Option<String>,
}

impl TargetError {
    fn new(input: &str, what: impl fmt::Display) -> Self {
        TargetError {
            message: format!("invalid target \"{}\": {what}", redact(input)),
            hint: None,
        }
    }

    fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

const FORMS_HINT: &str = "a TARGET is postgres://USER:PASSWORD@HOST:PORT/DB, \
\"host=HOST user=USER dbname=DB ...\", tcp://HOST:PORT or HOST:PORT;\n\
put the command to run after --, e.g. pgwait db:5432 -- ./server";

/// Reads a TARGET. PostgreSQL targets are resolved against the environment like libpq
/// (`password_file` is `--password-file`); the warnings are for the caller to report.
pub fn parse(
    input: &str,
    env: &Environment,
    password_file: Option<&(Secret, PathBuf)>,
) -> Result<(Target, Vec<String>), TargetError> {
    let trimmed = input.trim();
    if strip_scheme(trimmed, &["postgres://", "postgresql://"]).is_some() || trimmed.contains('=') {
        return resolve_postgres(trimmed, env, password_file, "invalid connection string");
    }
    parse_tcp(input, trimmed).map(|t| (t, Vec::new()))
}

/// The PostgreSQL target of a bare `psql`: the libpq environment and defaults.
pub fn from_environment(
    env: &Environment,
    password_file: Option<&(Secret, PathBuf)>,
) -> Result<(Target, Vec<String>), TargetError> {
    let context = "no target given, and the PG* environment is incomplete";
    resolve_postgres("", env, password_file, context)
}

fn resolve_postgres(
    conninfo: &str,
    env: &Environment,
    password_file: Option<&(Secret, PathBuf)>,
    context: &str,
) -> Result<(Target, Vec<String>), TargetError> {
    libpq::resolve(conninfo, env, password_file)
        .map(|(pg, warnings)| (Target::Postgres(Box::new(pg)), warnings))
        // The input is not echoed: a connection string may hold a password anywhere.
        .map_err(|cause| TargetError {
            message: format!("{context}: {cause}"),
            hint: Some(FORMS_HINT.to_string()),
        })
}

fn parse_tcp(input: &str, trimmed: &str) -> Result<Target, TargetError> {
    if trimmed.is_empty() {
        return Err(TargetError::new(input, "empty").with_hint(FORMS_HINT));
    }
    if let Some(rest) = strip_scheme(trimmed, &["tcp://"]) {
        return parse_host_port(input, rest.trim_end_matches('/')).map(Target::Tcp);
    }
    if let Some(scheme_end) = trimmed.find("://") {
        let scheme = &trimmed[..scheme_end];
        return Err(TargetError::new(
            input,
            format!("unsupported scheme \"{scheme}\" (expected postgres, postgresql or tcp)"),
        )
        .with_hint(FORMS_HINT));
    }
    parse_host_port(input, trimmed).map(Target::Tcp)
}

fn strip_scheme<'a>(s: &'a str, schemes: &[&str]) -> Option<&'a str> {
    schemes.iter().find_map(|scheme| {
        s.get(..scheme.len())
            .filter(|head| head.eq_ignore_ascii_case(scheme))
            .map(|_| &s[scheme.len()..])
    })
}

fn parse_host_port(input: &str, s: &str) -> Result<Endpoint, TargetError> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (ip, after) = rest.split_once(']').ok_or_else(|| {
            TargetError::new(input, "missing \"]\" after an IPv6 address")
                .with_hint("write IPv6 addresses as [::1]:5432")
        })?;
        let port = after.strip_prefix(':').ok_or_else(|| {
            TargetError::new(input, "missing port").with_hint("write it as [::1]:5432")
        })?;
        let ip: IpAddr = ip
            .parse()
            .map_err(|_| TargetError::new(input, format!("\"{ip}\" is not an IPv6 address")))?;
        (Address::Ip(ip), port)
    } else {
        if !s.contains(':') && !valid_host_name(s) {
            return Err(
                TargetError::new(input, "looks like a command, not a target")
                    .with_hint("put the command to run after --, e.g. pgwait db:5432 -- ./server"),
            );
        }
        let (host, port) = s.rsplit_once(':').ok_or_else(|| {
            TargetError::new(input, "missing port").with_hint(format!(
                "{FORMS_HINT}\nPostgreSQL usually listens on port {DEFAULT_PORT}: {s}:{DEFAULT_PORT}"
            ))
        })?;
        if host.contains(':') {
            return Err(TargetError::new(input, "IPv6 addresses need brackets")
                .with_hint("write it as [::1]:5432"));
        }
        if host.is_empty() {
            return Err(TargetError::new(input, "missing host").with_hint(FORMS_HINT));
        }
        let address = match host.parse::<IpAddr>() {
            Ok(ip) => Address::Ip(ip),
            Err(_) if valid_host_name(host) => Address::Name(host.to_string()),
            Err(_) => {
                return Err(
                    TargetError::new(input, format!("\"{host}\" is not a host name"))
                        .with_hint(FORMS_HINT),
                );
            }
        };
        (address, port)
    };
    let port = parse_port(port).ok_or_else(|| {
        TargetError::new(
            input,
            format!("port \"{port}\" is not a number from 1 to 65535"),
        )
    })?;
    Ok(Endpoint {
        address: host,
        port,
    })
}

fn parse_port(s: &str) -> Option<u16> {
    s.parse::<u16>().ok().filter(|&p| p != 0)
}

fn valid_host_name(host: &str) -> bool {
    host.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
}

/// Hides passwords in raw user input before it is echoed in a message:
/// the userinfo password of a URL and the value of any `password=` parameter.
pub fn redact(input: &str) -> String {
    let mut out = input.to_string();
    // URL userinfo: scheme://user:password@host
    if let Some(start) = out.find("://").map(|i| i + 3) {
        let authority_end = out[start..]
            .find(['/', '?', '#'])
            .map_or(out.len(), |i| start + i);
        if let Some(at) = out[start..authority_end].rfind('@').map(|i| start + i)
            && let Some(colon) = out[start..at].find(':').map(|i| start + i)
        {
            out.replace_range(colon + 1..at, "***");
        }
    }
    // password=value in a conninfo string or a URL query.
    let lower = out.to_ascii_lowercase();
    let mut result = String::with_capacity(out.len());
    let mut i = 0;
    while let Some(found) = lower[i..].find("password").map(|k| i + k) {
        let mut j = found + "password".len();
        let bytes = out.as_bytes();
        while j < bytes.len() && bytes[j] == b' ' {
            j += 1;
        }
        result.push_str(&out[i..found + "password".len()]);
        if j < bytes.len() && bytes[j] == b'=' {
            let value_start = j + 1;
            let value_end = value_end(&out, value_start);
            result.push_str(&out[found + "password".len()..value_start]);
            result.push_str("***");
            i = value_end;
        } else {
            i = found + "password".len();
        }
    }
    result.push_str(&out[i..]);
    result
}

/// Where a `password=` value ends: a quoted conninfo value, or the next space or `&`.
fn value_end(s: &str, start: usize) -> usize {
    let bytes = s.as_bytes();
    let mut j = start;
    while j < bytes.len() && bytes[j] == b' ' {
        j += 1;
    }
    if j < bytes.len() && bytes[j] == b'\'' {
        j += 1;
        while j < bytes.len() && bytes[j] != b'\'' {
            if bytes[j] == b'\\' {
                j += 1;
            }
            j += 1;
        }
        return (j + 1).min(bytes.len());
    }
    while j < bytes.len() && !matches!(bytes[j], b' ' | b'&' | b'#') {
        j += 1;
    }
    j
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Environment {
        Environment {
            os_user: Some("osuser".into()),
            ..Environment::default()
        }
    }

    fn target(s: &str) -> Result<Target, TargetError> {
        parse(s, &env(), None).map(|(t, _)| t)
    }

    fn tcp(s: &str) -> Endpoint {
        match target(s).unwrap() {
            Target::Tcp(e) => e,
            other => panic!("expected tcp, got {other}"),
        }
    }

    #[test]
    fn host_port_forms() {
        assert_eq!(tcp("db:5432").to_string(), "db:5432");
        assert_eq!(tcp("tcp://db:6379").to_string(), "db:6379");
        assert_eq!(tcp("TCP://db:6379/").to_string(), "db:6379");
        assert_eq!(
            tcp("127.0.0.1:1").address,
            Address::Ip([127, 0, 0, 1].into())
        );
        assert_eq!(tcp("[::1]:5432").to_string(), "[::1]:5432");
    }

    #[test]
    fn bad_host_port_forms_say_what_is_wrong() {
        for (input, words) in [
            ("db", "missing port"),
            ("db:", "port \"\""),
            ("db:0", "1 to 65535"),
            ("db:99999", "1 to 65535"),
            ("db:http", "port \"http\""),
            (":5432", "missing host"),
            ("::1:5432", "need brackets"),
            ("[::1:5432", "missing \"]\""),
            ("[zz]:5432", "not an IPv6"),
            ("mysql://db:3306", "unsupported scheme \"mysql\""),
            ("./server", "looks like a command"),
            ("db/x:5432", "not a host name"),
            ("", "empty"),
        ] {
            let err = target(input).unwrap_err();
            assert!(
                err.message.contains(words),
                "{input:?}: {:?} lacks {words:?}",
                err.message
            );
        }
    }

    #[test]
    fn postgres_targets_are_displayed_without_password() {
        let t = target("postgres://app:s3cret@db:5433/appdb").unwrap();
        assert_eq!(t.to_string(), "postgres app@db:5433/appdb");
        assert!(!format!("{t:?}").contains("s3cret"));
        let t = target("host=a,b port=5432,5433 user=u dbname=d password='x y'").unwrap();
        assert_eq!(t.to_string(), "postgres u@a:5432,b:5433/d");
        assert!(!format!("{t:?}").contains("x y"));
        assert_eq!(
            target("postgresql://app@db").unwrap().to_string(),
            "postgres app@db:5432/app"
        );
    }

    #[test]
    fn malformed_targets_never_echo_the_password() {
        for input in [
            "postgres://app:s3cret@db:notaport/x",
            "postgres://app:s3cret@db/x?bogus=1",
            "host=db password=s3cret port=zz",
            "host=db password='s3cret' sslmode=nope",
            "postgress://app:s3cret@db/x",
        ] {
            let err = target(input).unwrap_err();
            assert!(!err.message.contains("s3cret"), "{input}: {}", err.message);
        }
    }

    #[test]
    fn redact_hides_url_and_keyword_passwords() {
        assert_eq!(redact("postgres://u:pw@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(
            redact("host=h password='a b\\'c' user=u"),
            "host=h password=*** user=u"
        );
        assert_eq!(
            redact("postgres://h/db?password=pw&x=1"),
            "postgres://h/db?password=***&x=1"
        );
        assert_eq!(redact("PASSWORD = pw"), "PASSWORD =***");
    }
}
