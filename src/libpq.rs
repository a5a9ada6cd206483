//! Where psql would connect: a connection string, then the PG* environment, then libpq's
//! defaults, resolved into a [`PgTarget`]. rust-postgres does none of this by itself.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::conninfo::{self, Params};
use crate::passfile::{DEFAULT_SOCKET_DIR, PassFile};
use crate::secret::Secret;
use crate::target::{Address, DEFAULT_PORT, Endpoint};

/// The socket directories tried when no host is given: libpq's compiled-in one, then the
/// one upstream PostgreSQL uses.
pub const DEFAULT_SOCKET_DIRS: [&str; 2] = [DEFAULT_SOCKET_DIR, "/tmp"];

/// The environment variables libpq reads, with the keyword each stands for.
pub const ENV_VARS: [(&str, &str); 15] = [
    ("PGHOST", "host"),
    ("PGHOSTADDR", "hostaddr"),
    ("PGPORT", "port"),
    ("PGDATABASE", "dbname"),
    ("PGUSER", "user"),
    ("PGPASSWORD", "password"),
    ("PGPASSFILE", "passfile"),
    ("PGSSLMODE", "sslmode"),
    ("PGSSLROOTCERT", "sslrootcert"),
    ("PGSSLCERT", "sslcert"),
    ("PGSSLKEY", "sslkey"),
    ("PGCONNECT_TIMEOUT", "connect_timeout"),
    ("PGAPPNAME", "application_name"),
    ("PGTARGETSESSIONATTRS", "target_session_attrs"),
    ("PGOPTIONS", "options"),
];

/// What pgwait reads from its surroundings, captured once (and built by hand in tests).
#[derive(Debug, Clone, Default)]
pub struct Environment {
    pub vars: HashMap<String, String>,
    pub home: Option<PathBuf>,
    /// The name of the OS user, when the system knows one.
    pub os_user: Option<String>,
}

impl Environment {
    pub fn from_process() -> Self {
        let vars: HashMap<String, String> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        let (passwd_name, passwd_home) = passwd_entry();
        let home = vars
            .get("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from)
            .or(passwd_home);
        // In containers the UID often has no passwd entry: fall back to $USER.
        let os_user = passwd_name.or_else(|| vars.get("USER").filter(|u| !u.is_empty()).cloned());
        Environment {
            vars,
            home,
            os_user,
        }
    }

    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// An environment with only these variables, an OS user named `osuser` and no home.
    #[cfg(test)]
    pub fn with_vars(vars: &[(&str, &str)]) -> Self {
        Environment {
            vars: vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            home: None,
            os_user: Some("osuser".into()),
        }
    }
}

/// The effective user's name and home directory from the system's user database.
fn passwd_entry() -> (Option<String>, Option<PathBuf>) {
    use std::ffi::CStr;
    use std::os::unix::ffi::OsStrExt;
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call, and the strings read afterwards live in
    // `buf`, which outlives them.
    let rc = unsafe {
        libc::getpwuid_r(
            libc::geteuid(),
            &mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        )
    };
    if rc != 0 || result.is_null() {
        return (None, None);
    }
    let name = unsafe { CStr::from_ptr(pwd.pw_name) }
        .to_str()
        .ok()
        .filter(|n| !n.is_empty())
        .map(str::to_string);
    let home = unsafe { CStr::from_ptr(pwd.pw_dir) };
    let home = (!home.to_bytes().is_empty())
        .then(|| PathBuf::from(std::ffi::OsStr::from_bytes(home.to_bytes())));
    (name, home)
}

/// libpq's sslmode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(s: &str) -> Option<SslMode> {
        Some(match s {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }

    pub fn verifies(self) -> bool {
        matches!(self, SslMode::VerifyCa | SslMode::VerifyFull)
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        })
    }
}

/// Where trusted CA certificates come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootCert {
    File(PathBuf),
    /// `sslrootcert=system`: the web roots built into pgwait.
    System,
}

/// TLS settings of a target, as libpq reads them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    pub mode: SslMode,
    pub root_cert: Option<RootCert>,
    /// Client certificate and key files.
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

/// libpq's target_session_attrs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionAttrs {
    Any,
    ReadWrite,
    ReadOnly,
    Primary,
    Standby,
    PreferStandby,
}

impl SessionAttrs {
    fn parse(s: &str) -> Option<SessionAttrs> {
        Some(match s {
            "any" => SessionAttrs::Any,
            "read-write" => SessionAttrs::ReadWrite,
            "read-only" => SessionAttrs::ReadOnly,
            "primary" => SessionAttrs::Primary,
            "standby" => SessionAttrs::Standby,
            "prefer-standby" => SessionAttrs::PreferStandby,
            _ => return None,
        })
    }
}

impl fmt::Display for SessionAttrs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SessionAttrs::Any => "any",
            SessionAttrs::ReadWrite => "read-write",
            SessionAttrs::ReadOnly => "read-only",
            SessionAttrs::Primary => "primary",
            SessionAttrs::Standby => "standby",
            SessionAttrs::PreferStandby => "prefer-standby",
        })
    }
}

/// Where a password came from, to say so when the server rejects it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSource {
    Target,
    PasswordFileFlag(PathBuf),
    PgPassword,
    PassFile { path: PathBuf, line: usize },
}

impl fmt::Display for PasswordSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PasswordSource::Target => f.write_str("the target's URL or conninfo"),
            PasswordSource::PasswordFileFlag(path) => {
                write!(f, "--password-file {}", path.display())
            }
            PasswordSource::PgPassword => f.write_str("PGPASSWORD"),
            PasswordSource::PassFile { path, line } => {
                write!(f, "line {line} of the password file {}", path.display())
            }
        }
    }
}

/// One host of a PostgreSQL target, with the password for it.
#[derive(Debug, Clone)]
pub struct PgHost {
    pub endpoint: Endpoint,
    /// The host name as given (for TLS verification and the password file); `None` for
    /// socket directories and bare `hostaddr`.
    pub name: Option<String>,
    pub password: Option<(Secret, PasswordSource)>,
}

/// A PostgreSQL server to log in to, fully resolved.
#[derive(Clone)]
pub struct PgTarget {
    pub user: String,
    pub database: String,
    pub options: Option<String>,
    pub application_name: Option<String>,
    /// Hosts to try in order, as libpq does with `host=a,b`.
    pub hosts: Vec<PgHost>,
    pub tls: TlsSettings,
    pub session_attrs: SessionAttrs,
    /// `connect_timeout` from the target or PGCONNECT_TIMEOUT; once planned, the bound on
    /// one attempt at this target (`None`: unbounded).
    pub connect_timeout: Option<Duration>,
}

// Hand-written so that no password can reach debug output, even through a new field.
impl fmt::Debug for PgTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PgTarget({self})")
    }
}

impl fmt::Display for PgTarget {
    /// `user@host:port/db`, never with a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hosts: Vec<String> = self.hosts.iter().map(PgHost::label).collect();
        write!(f, "{}@{}/{}", self.user, hosts.join(","), self.database)
    }
}

impl PgHost {
    /// `name:port`, or the address when there is no name.
    pub fn label(&self) -> String {
        match &self.name {
            Some(name) if !matches!(self.endpoint.address, Address::Socket(_)) => {
                if name.contains(':') {
                    format!("[{name}]:{}", self.endpoint.port)
                } else {
                    format!("{name}:{}", self.endpoint.port)
                }
            }
            _ => self.endpoint.to_string(),
        }
    }
}

/// Resolves a connection string against the environment and libpq's defaults.
/// `password_file` is `--password-file`, already read. Warnings (e.g. an ignored password
/// file) are returned for the caller to report.
pub fn resolve(
    input: &str,
    env: &Environment,
    password_file: Option<&(Secret, PathBuf)>,
) -> Result<(PgTarget, Vec<String>), String> {
    let params = if input.is_empty() {
        Params::new()
    } else {
        conninfo::parse(input).map_err(|e| e.0)?
    };
    let mut warnings = Vec::new();
    // Values in the target, then the environment (an empty variable counts, as in libpq).
    let get = |key: &str| -> Option<String> {
        params.get(key).cloned().or_else(|| {
            ENV_VARS
                .iter()
                .find(|(_, k)| *k == key)
                .and_then(|(var, _)| env.var(var))
                .map(str::to_string)
        })
    };

    let user = match get("user").filter(|u| !u.is_empty()) {
        Some(user) => user,
        None => env.os_user.clone().ok_or(
            "no user: the OS user has no name here (common in containers); \
             give one with PGUSER or in the target (postgres://USER@HOST/DB)",
        )?,
    };
    let database = get("dbname")
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| user.clone());

    let endpoints = endpoints(
        get("host").as_deref(),
        get("hostaddr").as_deref(),
        get("port").as_deref(),
    )?;

    let passfile_path = get("passfile")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| env.home.as_ref().map(|h| h.join(".pgpass")));
    let explicit = params.get("password").filter(|p| !p.is_empty());
    let needs_passfile = explicit.is_none()
        && password_file.is_none()
        && env.var("PGPASSWORD").is_none_or(str::is_empty);
    let passfile = match (&passfile_path, needs_passfile) {
        (Some(path), true) => PassFile::load(path).unwrap_or_else(|warning| {
            warnings.push(warning);
            None
        }),
        _ => None,
    };
    let hosts = endpoints
        .into_iter()
        .map(|(endpoint, name)| {
            let password = if let Some(p) = explicit {
                Some((Secret::new(p.clone()), PasswordSource::Target))
            } else if let Some((secret, path)) = password_file {
                Some((
                    secret.clone(),
                    PasswordSource::PasswordFileFlag(path.clone()),
                ))
            } else if let Some(p) = env.var("PGPASSWORD").filter(|p| !p.is_empty()) {
                Some((Secret::new(p), PasswordSource::PgPassword))
            } else {
                passfile.as_ref().and_then(|file| {
                    let host = match (&name, &endpoint.address) {
                        (Some(name), _) => name.clone(),
                        (None, Address::Socket(dir)) => dir.display().to_string(),
                        (None, Address::Ip(ip)) => ip.to_string(),
                        (None, Address::Name(name)) => name.clone(),
                    };
                    file.lookup(&host, endpoint.port, &database, &user)
                        .map(|m| {
                            let source = PasswordSource::PassFile {
                                path: file.path.clone(),
                                line: m.line,
                            };
                            (m.password, source)
                        })
                })
            };
            PgHost {
                endpoint,
                name,
                password,
            }
        })
        .collect();

    let mode = match get("sslmode").filter(|m| !m.is_empty()) {
        None => SslMode::Prefer,
        Some(m) => SslMode::parse(&m).ok_or_else(|| {
            format!(
                "invalid sslmode \"{m}\" (expected disable, allow, prefer, require, verify-ca or \
                 verify-full)"
            )
        })?,
    };
    let postgresql_dir = env.home.as_ref().map(|h| h.join(".postgresql"));
    let root_cert = match get("sslrootcert").filter(|r| !r.is_empty()) {
        Some(r) if r == "system" => Some(RootCert::System),
        Some(r) => Some(RootCert::File(PathBuf::from(r))),
        // libpq's default: used when it exists; verify modes require it (checked at connect).
        None => postgresql_dir
            .as_ref()
            .map(|d| RootCert::File(d.join("root.crt")))
            .filter(|r| mode.verifies() || matches!(r, RootCert::File(p) if p.exists())),
    };
    let cert = get("sslcert")
        .filter(|c| !c.is_empty())
        .map(PathBuf::from)
        .or_else(|| postgresql_dir.as_ref().map(|d| d.join("postgresql.crt")));
    let key = get("sslkey")
        .filter(|k| !k.is_empty())
        .map(PathBuf::from)
        .or_else(|| postgresql_dir.as_ref().map(|d| d.join("postgresql.key")));
    // As libpq: a client certificate is sent only when its file exists.
    let client_cert = match (cert, key) {
        (Some(cert), Some(key)) if cert.exists() => Some((cert, key)),
        _ => None,
    };

    let session_attrs = match get("target_session_attrs").filter(|a| !a.is_empty()) {
        None => SessionAttrs::Any,
        Some(a) => SessionAttrs::parse(&a).ok_or_else(|| {
            format!(
                "invalid target_session_attrs \"{a}\" (expected any, read-write, read-only, \
                 primary, standby or prefer-standby)"
            )
        })?,
    };
    let connect_timeout = match get("connect_timeout").filter(|t| !t.trim().is_empty()) {
        None => None,
        Some(t) => {
            let secs: i64 = t
                .trim()
                .parse()
                .map_err(|_| format!("invalid connect_timeout \"{t}\" (whole seconds)"))?;
            // libpq: zero or less waits forever; less than 2 s counts as 2 s.
            (secs > 0).then(|| Duration::from_secs(secs.max(2) as u64))
        }
    };
    let application_name = get("application_name")
        .or_else(|| params.get("fallback_application_name").cloned())
        .filter(|a| !a.is_empty());

    Ok((
        PgTarget {
            user,
            database,
            options: get("options").filter(|o| !o.is_empty()),
            application_name,
            hosts,
            tls: TlsSettings {
                mode,
                root_cert,
                client_cert,
            },
            session_attrs,
            connect_timeout,
        },
        warnings,
    ))
}

/// Hosts, host addresses and ports, paired as libpq pairs them. Returns each endpoint with
/// the host name as given (for TLS and the password file).
fn endpoints(
    host: Option<&str>,
    hostaddr: Option<&str>,
    port: Option<&str>,
) -> Result<Vec<(Endpoint, Option<String>)>, String> {
    let split = |s: Option<&str>| -> Vec<String> {
        match s {
            None | Some("") => Vec::new(),
            Some(s) => s.split(',').map(|p| p.trim().to_string()).collect(),
        }
    };
    let hosts = split(host);
    let addrs = split(hostaddr);
    let ports = split(port);
    if !hosts.is_empty() && !addrs.is_empty() && hosts.len() != addrs.len() {
        return Err(format!(
            "{} hosts but {} hostaddrs; give one hostaddr per host",
            hosts.len(),
            addrs.len()
        ));
    }
    let count = hosts.len().max(addrs.len());
    if count > 0 && ports.len() > 1 && ports.len() != count {
        return Err(format!(
            "{count} hosts but {} ports; give one port, or one per host",
            ports.len()
        ));
    }
    let port_at = |i: usize| -> Result<u16, String> {
        let p = match ports.len() {
            0 => return Ok(DEFAULT_PORT),
            1 => &ports[0],
            _ => &ports[i],
        };
        if p.is_empty() {
            return Ok(DEFAULT_PORT);
        }
        p.parse::<u16>()
            .ok()
            .filter(|&p| p != 0)
            .ok_or_else(|| format!("invalid port \"{p}\" (expected 1 to 65535)"))
    };
    if count == 0 {
        // No host: the default socket directories, like a bare psql.
        let port = port_at(0)?;
        return Ok(DEFAULT_SOCKET_DIRS
            .iter()
            .map(|dir| {
                let endpoint = Endpoint {
                    address: Address::Socket(PathBuf::from(dir)),
                    port,
                };
                (endpoint, None)
            })
            .collect());
    }
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let port = port_at(i)?;
        let name = hosts.get(i).filter(|h| !h.is_empty()).cloned();
        let address = match (addrs.get(i).filter(|a| !a.is_empty()), &name) {
            (Some(addr), _) => Address::Ip(
                addr.parse::<IpAddr>()
                    .map_err(|_| format!("invalid hostaddr \"{addr}\" (expected an IP address)"))?,
            ),
            (None, Some(h)) if h.starts_with('/') || h.starts_with('@') => {
                if h.starts_with('@') {
                    return Err("abstract Unix sockets (host=@…) are not supported".into());
                }
                Address::Socket(PathBuf::from(h))
            }
            (None, Some(h)) => match h.parse::<IpAddr>() {
                Ok(ip) => Address::Ip(ip),
                Err(_) => Address::Name(h.clone()),
            },
            (None, None) => Address::Socket(PathBuf::from(DEFAULT_SOCKET_DIR)),
        };
        let name = name.filter(|h| !h.starts_with('/'));
        out.push((Endpoint { address, port }, name));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> Environment {
        Environment::with_vars(vars)
    }

    fn target(input: &str, e: &Environment) -> PgTarget {
        resolve(input, e, None).unwrap().0
    }

    #[test]
    fn defaults_are_libpqs() {
        let t = target("", &env(&[]));
        assert_eq!(
            t.to_string(),
            "osuser@/var/run/postgresql:5432,/tmp:5432/osuser"
        );
        assert_eq!(t.tls.mode, SslMode::Prefer);
        assert_eq!(t.session_attrs, SessionAttrs::Any);
    }

    #[test]
    fn the_target_beats_the_environment() {
        let e = env(&[
            ("PGHOST", "envhost"),
            ("PGPORT", "6000"),
            ("PGUSER", "envuser"),
            ("PGDATABASE", "envdb"),
            ("PGSSLMODE", "require"),
        ]);
        assert_eq!(target("", &e).to_string(), "envuser@envhost:6000/envdb");
        assert_eq!(target("", &e).tls.mode, SslMode::Require);
        let t = target("postgres://u@h/d?sslmode=disable", &e);
        assert_eq!(t.to_string(), "u@h:6000/d");
        assert_eq!(t.tls.mode, SslMode::Disable);
    }

    #[test]
    fn passwords_come_from_the_target_then_the_flag_then_pgpassword() {
        let e = env(&[("PGPASSWORD", "from-env")]);
        let flag = (Secret::new("from-flag"), PathBuf::from("/run/secrets/pw"));
        let pw = |input: &str, flag: Option<&(Secret, PathBuf)>| {
            let (t, _) = resolve(input, &e, flag).unwrap();
            let (secret, source) = t.hosts[0].password.clone().unwrap();
            (secret.expose().to_string(), source)
        };
        assert_eq!(pw("postgres://u:inline@h/d", Some(&flag)).0, "inline");
        assert_eq!(pw("postgres://u@h/d", Some(&flag)).0, "from-flag");
        assert_eq!(
            pw("postgres://u@h/d", None),
            ("from-env".to_string(), PasswordSource::PgPassword)
        );
    }

    #[test]
    fn the_password_file_matches_hostaddr_only_targets_by_address() {
        let dir = std::env::temp_dir().join(format!("pgwait-libpq-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pgpass = dir.join("pgpass");
        std::fs::write(&pgpass, "10.0.0.9:6000:d:u:by-address\n").unwrap();
        std::fs::set_permissions(&pgpass, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        let e = env(&[("PGPASSFILE", pgpass.to_str().unwrap())]);
        let t = target("hostaddr=10.0.0.9 port=6000 dbname=d user=u", &e);
        let (secret, _) = t.hosts[0].password.clone().expect("matched");
        assert_eq!(secret.expose(), "by-address");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn hosts_ports_and_hostaddrs_pair_up() {
        let t = target(
            "host=a,b,/sock hostaddr=,10.0.0.2, port=1,2,3 user=u",
            &env(&[]),
        );
        let labels: Vec<String> = t.hosts.iter().map(PgHost::label).collect();
        assert_eq!(labels, ["a:1", "b:2", "/sock:3"]);
        assert_eq!(
            t.hosts[1].endpoint.address,
            Address::Ip("10.0.0.2".parse().unwrap())
        );
        assert!(resolve("host=a,b port=1,2,3", &env(&[]), None).is_err());
    }

    #[test]
    fn a_missing_os_user_needs_a_user() {
        let mut e = env(&[]);
        e.os_user = None;
        let err = resolve("host=h", &e, None).unwrap_err();
        assert!(err.contains("give one with PGUSER"), "{err}");
        assert!(resolve("host=h", &env(&[("PGUSER", "x")]), None).is_ok());
    }

    #[test]
    fn bad_values_are_named() {
        for (input, words) in [
            ("host=h sslmode=sideways", "invalid sslmode \"sideways\""),
            (
                "host=h target_session_attrs=x",
                "invalid target_session_attrs",
            ),
            ("host=h connect_timeout=soon", "invalid connect_timeout"),
            ("host=h port=99999", "invalid port \"99999\""),
            ("host=h hostaddr=db", "invalid hostaddr"),
        ] {
            let err = resolve(input, &env(&[]), None).unwrap_err();
            assert!(err.contains(words), "{input}: {err}");
        }
    }

    #[test]
    fn connect_timeout_follows_libpq() {
        assert_eq!(
            target("host=h connect_timeout=1", &env(&[])).connect_timeout,
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            target("host=h connect_timeout=0", &env(&[])).connect_timeout,
            None
        );
        let e = env(&[("PGCONNECT_TIMEOUT", "7")]);
        assert_eq!(
            target("host=h", &e).connect_timeout,
            Some(Duration::from_secs(7))
        );
    }

    #[test]
    fn verify_modes_default_to_the_users_root_certificate() {
        let mut e = env(&[]);
        e.home = Some(PathBuf::from("/home/x"));
        let t = target("host=h sslmode=verify-full", &e);
        assert_eq!(
            t.tls.root_cert,
            Some(RootCert::File(PathBuf::from(
                "/home/x/.postgresql/root.crt"
            )))
        );
        assert_eq!(target("host=h sslmode=require", &e).tls.root_cert, None);
        assert_eq!(
            target("host=h sslrootcert=system", &e).tls.root_cert,
            Some(RootCert::System)
        );
    }
}
