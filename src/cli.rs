//! The command line as the user typed it. The only module that knows clap.
//!
//! [`Cli::into_plan`] turns raw input into a validated [`Plan`].

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;

use crate::exit_code::ExitCode;
use crate::libpq::Environment;
use crate::plan::{Plan, PlanError};
use crate::probe::checks::Check;
use crate::report::Verbosity;
use crate::secret::Secret;
use crate::target::{self, Target, TargetError};

/// Wait until PostgreSQL is really ready, then run a command in pgwait's place.
///
/// pgwait opens a TCP connection, logs in with a real PostgreSQL startup and authentication
/// handshake, runs SELECT 1, and only then replaces itself with COMMAND (same PID, so the
/// command can be PID 1 in a container). A port that is open is not a database that is
/// ready: the server may still be starting, or the role the app logs in as may not exist.
///
/// pgwait writes only to stderr; stdout belongs to COMMAND.
#[derive(Debug, Parser)]
#[command(
    name = "pgwait",
    version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("PGWAIT_BUILD_TARGET"), ")"),
    after_help = "Use --help for examples and exit codes.",
    after_long_help = long_help_footer(),
    override_usage = "pgwait [OPTIONS] [TARGET]... [-- COMMAND [ARG]...]"
)]
pub struct Cli {
    /// What to wait for: postgres://USER:PASSWORD@HOST:PORT/DB, a libpq conninfo string
    /// ("host=HOST user=USER dbname=DB"), tcp://HOST:PORT or HOST:PORT (IPv6 as
    /// [::1]:5432). Several targets are awaited together. Default: $DATABASE_URL.
    #[arg(value_name = "TARGET")]
    pub targets: Vec<String>,

    /// Give up after this long (e.g. 500ms, 30s, 2m); 0 waits forever.
    #[arg(
        short,
        long,
        value_name = "DURATION",
        default_value = "60s",
        env = "PGWAIT_TIMEOUT",
        value_parser = parse_duration
    )]
    pub timeout: Duration,

    /// Bound one attempt as a whole: name resolution, TCP, TLS, login and checks; 0 means
    /// no bound [default: the target's connect_timeout or PGCONNECT_TIMEOUT, else 5s].
    #[arg(
        long,
        value_name = "DURATION",
        env = "PGWAIT_CONNECT_TIMEOUT",
        value_parser = parse_duration
    )]
    pub connect_timeout: Option<Duration>,

    /// Read the password from this file, e.g. a Docker or Kubernetes secret such as
    /// /run/secrets/db_password (one trailing newline is ignored). Keeps the password out
    /// of the command line and the environment. A password in the target itself wins.
    #[arg(
        long,
        value_name = "PATH",
        env = "PGWAIT_PASSWORD_FILE",
        hide_env_values = true
    )]
    pub password_file: Option<PathBuf>,

    /// Also wait until this role exists and can log in (repeatable).
    #[arg(
        long = "role",
        value_name = "NAME",
        env = "PGWAIT_ROLE",
        value_delimiter = ',',
        help_heading = CHECKS
    )]
    pub roles: Vec<String>,

    /// Also wait until this schema exists (repeatable).
    #[arg(
        long = "schema",
        value_name = "NAME",
        env = "PGWAIT_SCHEMA",
        value_delimiter = ',',
        help_heading = CHECKS
    )]
    pub schemas: Vec<String>,

    /// Also wait until this table, view, materialized view, partitioned or foreign table
    /// exists (repeatable). An unqualified name resolves through the user's search_path,
    /// as the app's own queries would; quote mixed case as in SQL: '"MyTable"'.
    #[arg(
        long = "table",
        value_name = "[SCHEMA.]NAME",
        env = "PGWAIT_TABLE",
        value_delimiter = ',',
        help_heading = CHECKS
    )]
    pub tables: Vec<String>,

    /// Also wait until this extension is installed in the database (repeatable).
    #[arg(
        long = "extension",
        value_name = "NAME",
        env = "PGWAIT_EXTENSION",
        value_delimiter = ',',
        help_heading = CHECKS
    )]
    pub extensions: Vec<String>,

    /// Also wait until this query returns a row whose first column is neither NULL nor
    /// false (repeatable). It runs in a read-only transaction that is always rolled back.
    #[arg(
        long = "query",
        value_name = "SQL",
        env = "PGWAIT_QUERY",
        help_heading = CHECKS
    )]
    pub queries: Vec<String>,

    /// Also wait until the server is a primary (not in recovery), so it accepts writes.
    #[arg(
        long,
        env = "PGWAIT_PRIMARY",
        help_heading = CHECKS
    )]
    pub primary: bool,

    /// Keep waiting after a permanent failure (wrong password, missing role or database),
    /// for setups where another job fixes it later. Default: stop at once with exit 3.
    #[arg(long, env = "PGWAIT_NO_FAIL_FAST")]
    pub no_fail_fast: bool,

    /// Resolve the targets and checks, say what pgwait would wait for, and exit without
    /// connecting or running COMMAND (exit 0, or 2 when something does not parse).
    #[arg(long, env = "PGWAIT_DRY_RUN")]
    pub dry_run: bool,

    /// Print only errors.
    #[arg(short, long, env = "PGWAIT_QUIET", conflicts_with = "verbose")]
    pub quiet: bool,

    /// Also print every attempt.
    #[arg(short, long, env = "PGWAIT_VERBOSE")]
    pub verbose: bool,

    /// Run this once every target is ready, in pgwait's place (exec).
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}

/// The help section of the readiness checks.
const CHECKS: &str = "Checks (on every PostgreSQL target, all in the same attempt)";

/// The bound on one attempt when neither --connect-timeout nor the target sets one.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

fn plan_error(origin: &str, e: TargetError) -> PlanError {
    PlanError {
        message: format!("{origin}{}", e.message),
        hint: e.hint,
    }
}

/// Reads `--password-file`: the whole file, less one trailing newline.
fn read_password_file(path: &Path) -> Result<Secret, PlanError> {
    let text = std::fs::read_to_string(path).map_err(|e| PlanError {
        message: format!(
            "cannot read --password-file \"{}\": {}",
            path.display(),
            crate::probe::net::describe_io(&e)
        ),
        hint: Some("check the path and that pgwait's user may read it (Docker mounts secrets at /run/secrets/NAME)".to_string()),
    })?;
    let password = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(&text);
    if password.is_empty() {
        return Err(PlanError {
            message: format!("--password-file \"{}\" is empty", path.display()),
            hint: None,
        });
    }
    Ok(Secret::new(password))
}

fn long_help_footer() -> String {
    format!(
        "Examples:
  Hold a container's app until Postgres accepts its login:
    pgwait postgres://app:secret@db:5432/app -- ./server --port 8080

  Gate a CI job on $DATABASE_URL, for at most two minutes:
    pgwait \"$DATABASE_URL\" --timeout 2m

  Check by hand that something listens on a port:
    pgwait db:5432

Environment:
  Wait for the app's migrations: its role and its outbox table, on a primary:
    pgwait \"$DATABASE_URL\" --role app --table outbox_messages --primary -- ./poller

  Wait until a query says the data is there:
    pgwait \"$DATABASE_URL\" --query \"SELECT count(*) > 0 FROM schema_migrations\"

Environment:
  DATABASE_URL            target used when none is given; without it, the
                          PG* variables and libpq's defaults, like a bare psql
  PGHOST PGHOSTADDR PGPORT PGDATABASE PGUSER PGPASSWORD PGPASSFILE PGSSLMODE
  PGSSLROOTCERT PGSSLCERT PGSSLKEY PGCONNECT_TIMEOUT PGAPPNAME
  PGTARGETSESSIONATTRS PGOPTIONS
                          as in libpq: values in the target win, then these
  PGWAIT_<OPTION>         default for --<option>, e.g. PGWAIT_TIMEOUT=90s,
                          PGWAIT_TABLE=a,b (lists are comma-separated, except
                          PGWAIT_QUERY, which holds one query)

{}",
        ExitCode::help_table()
    )
}

/// Durations need a unit (`500ms`, `30s`, `2m`); a bare `0` means "no limit".
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(format!("a duration needs a unit, e.g. {s}s or {s}ms"));
    }
    humantime::parse_duration(s).map_err(|e| e.to_string())
}

impl Cli {
    /// Resolves the raw command line into a plan. `env` looks up environment variables
    /// (injected so that tests need not touch the process environment).
    pub fn into_plan(self, env: &Environment) -> Result<Plan, PlanError> {
        let checks = self.checks()?;
        let password_file = match &self.password_file {
            Some(path) => Some((read_password_file(path)?, path.clone())),
            None => None,
        };
        let mut warnings = Vec::new();
        let mut targets = Vec::with_capacity(self.targets.len().max(1));
        let parsed = if self.targets.is_empty() {
            match env.var("DATABASE_URL").filter(|v| !v.trim().is_empty()) {
                Some(url) => vec![
                    target::parse(url, env, password_file.as_ref())
                        .map_err(|e| plan_error("DATABASE_URL: ", e))?,
                ],
                // Like a bare psql: the PG* environment and libpq's defaults.
                None => vec![
                    target::from_environment(env, password_file.as_ref())
                        .map_err(|e| plan_error("", e))?,
                ],
            }
        } else {
            let mut parsed = Vec::with_capacity(self.targets.len());
            for input in &self.targets {
                parsed.push(
                    target::parse(input, env, password_file.as_ref())
                        .map_err(|e| plan_error("", e))?,
                );
            }
            parsed
        };
        for (target, target_warnings) in parsed {
            targets.push(target);
            for warning in target_warnings {
                if !warnings.contains(&warning) {
                    warnings.push(warning);
                }
            }
        }
        let verbosity = match (self.quiet, self.verbose) {
            (true, _) => Verbosity::Quiet,
            (_, true) => Verbosity::Verbose,
            _ => Verbosity::Normal,
        };
        if !checks.is_empty() && !targets.iter().any(|t| matches!(t, Target::Postgres(_))) {
            return Err(PlanError {
                message: format!("{} needs a PostgreSQL target", checks[0].flag()),
                hint: Some(
                    "checks log in to run; give a postgres:// URL or conninfo, not HOST:PORT"
                        .to_string(),
                ),
            });
        }
        let nonzero = |d: Duration| (!d.is_zero()).then_some(d);
        // The bound on one attempt, decided here once: --connect-timeout when given (0:
        // unbounded); else a PostgreSQL target's own connect_timeout (or
        // PGCONNECT_TIMEOUT); else 5 s.
        let flag_or_default = match self.connect_timeout {
            Some(explicit) => nonzero(explicit),
            None => Some(DEFAULT_CONNECT_TIMEOUT),
        };
        for target in &mut targets {
            if let Target::Postgres(pg) = target {
                pg.connect_timeout = match self.connect_timeout {
                    Some(_) => flag_or_default,
                    None => pg.connect_timeout.or(flag_or_default),
                };
            }
        }
        Ok(Plan {
            targets,
            timeout: nonzero(self.timeout),
            connect_timeout: flag_or_default,
            checks,
            fail_fast: !self.no_fail_fast,
            dry_run: self.dry_run,
            verbosity,
            warnings,
            command: self.command,
        })
    }

    /// The checks in a fixed order: role, schema, table, extension, primary, query. Names
    /// must not be empty.
    fn checks(&self) -> Result<Vec<Check>, PlanError> {
        let mut checks = Vec::new();
        type MakeCheck = fn(String) -> Check;
        let groups: [(&Vec<String>, MakeCheck); 5] = [
            (&self.roles, Check::Role),
            (&self.schemas, Check::Schema),
            (&self.tables, Check::Table),
            (&self.extensions, Check::Extension),
            (&self.queries, Check::Query),
        ];
        for (values, make) in groups {
            for value in values {
                let check = make(value.trim().to_string());
                if value.trim().is_empty() {
                    return Err(PlanError {
                        message: format!("{} needs a non-empty value", check.flag()),
                        hint: None,
                    });
                }
                checks.push(check);
            }
        }
        if self.primary {
            // Before --query, so a query runs only on the server the app will write to.
            let at = checks
                .iter()
                .position(|c| matches!(c, Check::Query(_)))
                .unwrap_or(checks.len());
            checks.insert(at, Check::Primary);
        }
        Ok(checks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("pgwait").chain(args.iter().copied()))
    }

    fn env_with(vars: &[(&str, &str)]) -> Environment {
        Environment::with_vars(vars)
    }

    fn no_env() -> Environment {
        env_with(&[])
    }

    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations_need_units() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("30").unwrap_err().contains("needs a unit"));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn zero_timeout_means_no_limit() {
        let plan = parse(&["-t", "0", "db:1"])
            .unwrap()
            .into_plan(&no_env())
            .unwrap();
        assert_eq!(plan.timeout, None);
        assert_eq!(plan.connect_timeout, Some(Duration::from_secs(5)));
    }

    #[test]
    fn command_follows_double_dash_byte_exact() {
        let cli = parse(&["db:1", "--", "./server", "--port", "8080", "-v", ""]).unwrap();
        let plan = cli.into_plan(&no_env()).unwrap();
        assert_eq!(plan.targets.len(), 1);
        assert_eq!(plan.command, ["./server", "--port", "8080", "-v", ""]);
    }

    #[test]
    fn database_url_is_the_default_target() {
        let env = env_with(&[("DATABASE_URL", "postgres://a:pw@h/d"), ("PGHOST", "other")]);
        let plan = parse(&[]).unwrap().into_plan(&env).unwrap();
        assert_eq!(plan.targets[0].to_string(), "postgres a@h:5432/d");
    }

    #[test]
    fn no_target_and_no_database_url_means_the_pg_environment_like_psql() {
        let env = env_with(&[("PGHOST", "db"), ("PGUSER", "app")]);
        let plan = parse(&[]).unwrap().into_plan(&env).unwrap();
        assert_eq!(plan.targets[0].to_string(), "postgres app@db:5432/app");
        let mut nobody = no_env();
        nobody.os_user = None;
        let err = parse(&[]).unwrap().into_plan(&nobody).unwrap_err();
        assert!(err.message.contains("PGUSER"), "{}", err.message);
    }

    #[test]
    fn connect_timeout_comes_from_the_flag_then_the_target_then_5s() {
        let env = env_with(&[("PGCONNECT_TIMEOUT", "9")]);
        let plan = parse(&["host=h user=u"]).unwrap().into_plan(&env).unwrap();
        let Target::Postgres(pg) = &plan.targets[0] else {
            panic!()
        };
        assert_eq!(pg.connect_timeout, Some(Duration::from_secs(9)));
        let plan = parse(&["host=h user=u"])
            .unwrap()
            .into_plan(&no_env())
            .unwrap();
        let Target::Postgres(pg) = &plan.targets[0] else {
            panic!()
        };
        assert_eq!(pg.connect_timeout, Some(Duration::from_secs(5)));
        let plan = parse(&["host=h user=u", "--connect-timeout", "0"])
            .unwrap()
            .into_plan(&env)
            .unwrap();
        let Target::Postgres(pg) = &plan.targets[0] else {
            panic!()
        };
        assert_eq!(pg.connect_timeout, None);
        let plan = parse(&["host=h user=u", "--connect-timeout", "1s"])
            .unwrap()
            .into_plan(&env)
            .unwrap();
        let Target::Postgres(pg) = &plan.targets[0] else {
            panic!()
        };
        assert_eq!(pg.connect_timeout, Some(Duration::from_secs(1)));
    }

    #[test]
    fn password_file_is_read_and_checked() {
        let dir = std::env::temp_dir().join(format!("pgwait-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let secret = dir.join("db_password");
        std::fs::write(&secret, "s3cret\n").unwrap();
        assert_eq!(read_password_file(&secret).unwrap().expose(), "s3cret");
        std::fs::write(&secret, "").unwrap();
        assert!(
            read_password_file(&secret)
                .unwrap_err()
                .message
                .contains("is empty")
        );
        let err = read_password_file(&dir.join("missing")).unwrap_err();
        assert!(
            err.message.contains("cannot read --password-file"),
            "{}",
            err.message
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_database_url_names_its_origin_without_the_password() {
        let env = env_with(&[("DATABASE_URL", "postgres://a:hunter2@h:bad/d")]);
        let err = parse(&[]).unwrap().into_plan(&env).unwrap_err();
        assert!(
            err.message
                .starts_with("DATABASE_URL: invalid connection string"),
            "{}",
            err.message
        );
        assert!(!err.message.contains("hunter2"));
    }

    #[test]
    fn checks_are_collected_in_a_fixed_order() {
        let cli = parse(&[
            "postgres://a@h/d",
            "--query",
            "SELECT 1, 2",
            "--table",
            "t1,s.t2",
            "--primary",
            "--role",
            "app",
        ])
        .unwrap();
        let plan = cli.into_plan(&no_env()).unwrap();
        assert_eq!(
            plan.checks,
            [
                Check::Role("app".into()),
                Check::Table("t1".into()),
                Check::Table("s.t2".into()),
                Check::Primary,
                Check::Query("SELECT 1, 2".into()),
            ]
        );
        assert!(plan.fail_fast);
    }

    #[test]
    fn checks_need_a_postgres_target_and_a_name() {
        let err = parse(&["db:5432", "--table", "t"])
            .unwrap()
            .into_plan(&no_env())
            .unwrap_err();
        assert!(
            err.message.contains("--table needs a PostgreSQL target"),
            "{}",
            err.message
        );
        let err = parse(&["postgres://a@h/d", "--schema", " "])
            .unwrap()
            .into_plan(&no_env())
            .unwrap_err();
        assert!(
            err.message.contains("--schema needs a non-empty value"),
            "{}",
            err.message
        );
    }

    #[test]
    fn quiet_and_verbose_conflict() {
        assert!(parse(&["-q", "-v", "db:1"]).is_err());
    }
}
