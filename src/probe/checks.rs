//! What an app needs besides a login: roles, schemas, tables, extensions, a query, a
//! primary. Each check is a catalog query with bind parameters, never spliced SQL.

use std::fmt;
use std::time::Duration;

use tokio_postgres::types::{FromSql, Type};
use tokio_postgres::{Client, Statement};

/// One condition that must hold on every PostgreSQL target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// The role exists and can log in.
    Role(String),
    /// The schema exists.
    Schema(String),
    /// A table, view, materialized view, partitioned or foreign table exists; an
    /// unqualified name resolves through the session's search_path.
    Table(String),
    /// The extension is installed in the target database.
    Extension(String),
    /// The server is not in recovery.
    Primary,
    /// The query returns a first row whose first column is neither NULL nor false.
    Query(String),
}

impl Check {
    /// The catalog query behind a check, with the name as `$1`; `None` for `--query`,
    /// which runs in its own transaction (see [`run_query`]).
    fn catalog_sql(&self) -> Option<&'static str> {
        Some(match self {
            Check::Role(_) => "SELECT rolcanlogin FROM pg_catalog.pg_roles WHERE rolname = $1",
            Check::Schema(_) => "SELECT true FROM pg_catalog.pg_namespace WHERE nspname = $1",
            Check::Table(_) => {
                "SELECT c.relkind::text FROM pg_catalog.pg_class c \
                 WHERE c.oid = pg_catalog.to_regclass($1)"
            }
            Check::Extension(_) => "SELECT true FROM pg_catalog.pg_extension WHERE extname = $1",
            Check::Primary => "SELECT NOT pg_catalog.pg_is_in_recovery()",
            Check::Query(_) => return None,
        })
    }
}

impl Check {
    /// The command-line flag that asks for this check.
    pub fn flag(&self) -> &'static str {
        match self {
            Check::Role(_) => "--role",
            Check::Schema(_) => "--schema",
            Check::Table(_) => "--table",
            Check::Extension(_) => "--extension",
            Check::Primary => "--primary",
            Check::Query(_) => "--query",
        }
    }
}

impl fmt::Display for Check {
    /// The check in the user's words, for messages: `table "outbox"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Check::Role(name) => write!(f, "role \"{name}\""),
            Check::Schema(name) => write!(f, "schema \"{name}\""),
            Check::Table(name) => write!(f, "table \"{name}\""),
            Check::Extension(name) => write!(f, "extension \"{name}\""),
            Check::Primary => f.write_str("--primary"),
            Check::Query(sql) => write!(f, "--query \"{}\"", abbreviate(sql)),
        }
    }
}

/// Whether a check holds.
#[derive(Debug)]
pub enum Verdict {
    Holds,
    /// Not yet, in the user's words: `table "outbox" does not exist yet`.
    NotYet(String),
}

/// The statements of the catalog checks, prepared once per session, so that re-running
/// them every few tens of milliseconds costs the server a bind and an execute.
pub struct Prepared {
    statements: Vec<Option<Statement>>,
}

impl Prepared {
    pub async fn new(client: &Client, checks: &[Check]) -> Result<Prepared, tokio_postgres::Error> {
        let mut statements = Vec::with_capacity(checks.len());
        for check in checks {
            statements.push(match check.catalog_sql() {
                Some(sql) => Some(client.prepare(sql).await?),
                None => None,
            });
        }
        Ok(Prepared { statements })
    }

    /// Runs one check. `query_timeout` bounds a `--query` on the server.
    pub async fn run(
        &self,
        client: &mut Client,
        index: usize,
        check: &Check,
        query_timeout: Option<Duration>,
    ) -> Result<Verdict, tokio_postgres::Error> {
        let Some(statement) = &self.statements[index] else {
            let Check::Query(sql) = check else {
                unreachable!("only --query is not prepared")
            };
            return run_query(client, sql, query_timeout).await;
        };
        let row = match check {
            Check::Primary => client.query_opt(statement, &[]).await?,
            Check::Role(name)
            | Check::Schema(name)
            | Check::Table(name)
            | Check::Extension(name) => client.query_opt(statement, &[name]).await?,
            Check::Query(_) => unreachable!("--query is not prepared"),
        };
        Ok(match (check, row) {
            (Check::Role(_), None) => Verdict::NotYet(format!("{check} does not exist yet")),
            (Check::Role(_), Some(row)) if !row.get::<_, bool>(0) => {
                Verdict::NotYet(format!("{check} exists but cannot log in (NOLOGIN)"))
            }
            (Check::Schema(_) | Check::Table(_), None) => {
                Verdict::NotYet(format!("{check} does not exist yet"))
            }
            (Check::Table(_), Some(row)) => {
                let kind: String = row.get(0);
                match kind.as_str() {
                    "r" | "v" | "m" | "p" | "f" => Verdict::Holds,
                    other => Verdict::NotYet(format!(
                        "{check} exists but is {}, not a table or view",
                        relkind_name(other)
                    )),
                }
            }
            (Check::Extension(_), None) => Verdict::NotYet(format!("{check} is not installed yet")),
            (Check::Primary, Some(row)) if !row.get::<_, bool>(0) => {
                Verdict::NotYet("the server is a standby (in recovery), not a primary".into())
            }
            _ => Verdict::Holds,
        })
    }
}

/// Runs `--query` in a read-only transaction that is always rolled back, so a check never
/// persists anything, not even a sequence step. The server stops it after `timeout`.
async fn run_query(
    client: &mut Client,
    sql: &str,
    timeout: Option<Duration>,
) -> Result<Verdict, tokio_postgres::Error> {
    let transaction = client.build_transaction().read_only(true).start().await?;
    if let Some(timeout) = timeout {
        transaction
            .batch_execute(&format!(
                "SET LOCAL statement_timeout = {}",
                timeout.as_millis().max(1)
            ))
            .await?;
    }
    let result = transaction.query(sql, &[]).await;
    transaction.rollback().await?;
    let rows = result?;
    let shown = format!("--query \"{}\"", abbreviate(sql));
    Ok(match rows.first() {
        None => Verdict::NotYet(format!("{shown} returned no rows yet")),
        Some(row) if row.columns().is_empty() => {
            Verdict::NotYet(format!("{shown} returned no columns"))
        }
        Some(row) => match row.get::<_, Truth>(0) {
            Truth::Null => Verdict::NotYet(format!("{shown} returned NULL")),
            Truth::False => Verdict::NotYet(format!("{shown} returned false")),
            Truth::Value => Verdict::Holds,
        },
    })
}

/// The first column of a `--query` row, whatever its type: only NULL and boolean false
/// count as "not yet".
enum Truth {
    Null,
    False,
    Value,
}

impl<'a> FromSql<'a> for Truth {
    fn from_sql(
        ty: &Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        if *ty == Type::BOOL && raw.first() == Some(&0) {
            Ok(Truth::False)
        } else {
            Ok(Truth::Value)
        }
    }

    fn from_sql_null(_: &Type) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Truth::Null)
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

fn relkind_name(kind: &str) -> &'static str {
    match kind {
        "i" | "I" => "an index",
        "S" => "a sequence",
        "c" => "a composite type",
        "t" => "a TOAST table",
        _ => "another kind of relation",
    }
}

/// A query shortened for one-line messages.
fn abbreviate(sql: &str) -> String {
    let flat: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > 60 {
        let head: String = flat.chars().take(57).collect();
        format!("{head}...")
    } else {
        flat
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_read_in_the_users_words() {
        assert_eq!(
            Check::Table("outbox".into()).to_string(),
            "table \"outbox\""
        );
        assert_eq!(
            Check::Query("SELECT   1\n FROM x".into()).to_string(),
            "--query \"SELECT 1 FROM x\""
        );
        let long = format!("SELECT {}", "a, ".repeat(40));
        assert!(Check::Query(long).to_string().ends_with("...\""));
    }
}
