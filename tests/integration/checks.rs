//! Logical readiness: the app's role, schema, tables, extensions, a query, a primary.

use crate::harness::*;

/// pgwait waiting for `args` with a command that leaves a marker file when it runs.
fn waiting_with_marker(args: &[&str]) -> (Running, tempfile::TempDir, std::path::PathBuf) {
    let dir = scratch();
    let marker = dir.path().join("ran");
    let pgwait = Running::spawn(pgwait().args(args).arg("--").arg("touch").arg(&marker));
    (pgwait, dir, marker)
}

#[test]
fn command_runs_only_after_a_table_created_later_exists_on_one_session() {
    let db = Cluster::running();
    let logins_before = db.logins("app");
    let (mut pgwait, _dir, marker) =
        waiting_with_marker(&[&db.app_url(), "--table", "outbox_messages"]);
    pgwait.expect_line("check: table \"outbox_messages\" does not exist yet");
    // Let pgwait poll for a while (its correctness does not depend on this pause).
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert!(pgwait.still_running(), "{}", pgwait.stderr());
    assert!(!marker.exists(), "the command ran before the table existed");
    db.sql_in(
        "app",
        "CREATE TABLE outbox_messages (id bigserial PRIMARY KEY)",
    );
    let (status, _) = pgwait.finish();
    assert_eq!(status.code(), Some(0), "{}", pgwait.stderr());
    assert!(marker.exists());
    // Dozens of checks, one login: the session stayed open between them.
    assert_eq!(db.logins("app") - logins_before, 1, "{}", db.server_log());
}

#[test]
fn official_image_sequence_socket_only_init_server_then_tcp_restart() {
    // docker-entrypoint.sh: initialise, run init scripts on a server without TCP, stop,
    // then start the real server listening on TCP.
    let mut db = Cluster::new();
    db.start_with(&["-c", "listen_addresses="]);
    db.wait_ready();
    let (mut pgwait, _dir, marker) =
        waiting_with_marker(&[&db.app_url(), "--table", "outbox_messages", "-t", "0"]);
    pgwait.expect_line("connection refused");
    db.sql_in(
        "app",
        "CREATE TABLE outbox_messages (id int); ALTER TABLE outbox_messages OWNER TO app",
    );
    assert!(pgwait.still_running(), "{}", pgwait.stderr());
    assert!(
        !marker.exists(),
        "the command ran against the init-time server"
    );
    db.stop();
    db.start();
    let (status, _) = pgwait.finish();
    assert_eq!(status.code(), Some(0), "{}", pgwait.stderr());
    assert!(marker.exists());
}

#[test]
fn unqualified_table_resolves_through_the_users_search_path() {
    let db = Cluster::running();
    db.sql_in(
        "app",
        "CREATE SCHEMA billing AUTHORIZATION app; CREATE TABLE billing.invoices (id int);
         ALTER TABLE billing.invoices OWNER TO app",
    );
    // Not on app's search_path yet: the app's own "SELECT … FROM invoices" would fail.
    let out = run(&[&db.app_url(), "--table", "invoices", "-t", "2s"]);
    assert_code(&out, 124);
    assert_code(&run(&[&db.app_url(), "--table", "billing.invoices"]), 0);
    db.sql("ALTER ROLE app SET search_path = billing, public");
    assert_code(&run(&[&db.app_url(), "--table", "invoices"]), 0);
}

#[test]
fn views_and_materialized_views_count_as_tables() {
    let db = Cluster::running();
    db.sql_in(
        "app",
        "CREATE VIEW v AS SELECT 1 AS x; CREATE MATERIALIZED VIEW mv AS SELECT 1 AS x;
         CREATE TABLE parted (x int) PARTITION BY RANGE (x); CREATE SEQUENCE seq",
    );
    let out = run(&[
        &db.app_url(),
        "--table",
        "public.v",
        "--table",
        "mv",
        "--table",
        "parted",
    ]);
    assert_code(&out, 0);
    let out = run(&[&db.app_url(), "--table", "seq", "-t", "2s"]);
    assert_code(&out, 124);
    assert!(
        stderr(&out).contains("exists but is a sequence"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn schema_role_and_extension_checks_wait_until_they_hold() {
    let db = Cluster::running();
    db.sql_in("app", "DROP EXTENSION plpgsql");
    let (mut pgwait, _dir, marker) = waiting_with_marker(&[
        &db.app_url(),
        "--schema",
        "audit",
        "--role",
        "reporter",
        "--extension",
        "plpgsql",
    ]);
    pgwait.expect_line("check: role \"reporter\" does not exist yet");
    db.sql("CREATE ROLE reporter NOLOGIN");
    pgwait.expect_line("check: role \"reporter\" exists but cannot log in (NOLOGIN)");
    db.sql("ALTER ROLE reporter LOGIN");
    pgwait.expect_line("check: schema \"audit\" does not exist yet");
    db.sql_in("app", "CREATE SCHEMA audit");
    pgwait.expect_line("check: extension \"plpgsql\" is not installed yet");
    assert!(!marker.exists());
    db.sql_in("app", "CREATE EXTENSION plpgsql");
    let (status, _) = pgwait.finish();
    assert_eq!(status.code(), Some(0), "{}", pgwait.stderr());
    assert!(marker.exists());
}

#[test]
fn a_role_that_appears_later_is_awaited_with_no_fail_fast() {
    let db = Cluster::running();
    let url = db.url("late", "late-pw", "app");
    // By default a missing role ends the wait at once...
    assert_code(&run(&[&url, "-t", "60s"]), 3);
    // ...and with --no-fail-fast pgwait waits for whoever creates it.
    let (mut pgwait, _dir, marker) = waiting_with_marker(&[&url, "--no-fail-fast"]);
    let line = pgwait.expect_line("SQLSTATE 28P01");
    assert!(line.contains("waiting anyway"), "{line}");
    db.sql("CREATE ROLE late LOGIN PASSWORD 'late-pw'");
    let (status, _) = pgwait.finish();
    assert_eq!(status.code(), Some(0), "{}", pgwait.stderr());
    assert!(marker.exists());
}

#[test]
fn primary_refuses_a_standby_until_it_is_promoted() {
    let primary = Cluster::running();
    let mut standby = primary.standby();
    standby.start();
    standby.wait_ready();
    // A standby accepts logins: without --primary it is ready.
    assert_code(&run(&[&standby.app_url()]), 0);
    let out = run(&[&standby.app_url(), "--primary", "-t", "2s"]);
    assert_code(&out, 124);
    let err = stderr(&out);
    assert!(
        err.contains("the server is a standby (in recovery)"),
        "{err}"
    );
    assert!(err.contains("Point pgwait and the app"), "{err}");

    let (mut pgwait, _dir, marker) = waiting_with_marker(&[&standby.app_url(), "--primary"]);
    pgwait.expect_line("standby");
    standby.sql("SELECT pg_promote()");
    let (status, _) = pgwait.finish();
    assert_eq!(status.code(), Some(0), "{}", pgwait.stderr());
    assert!(marker.exists());
}

#[test]
fn query_is_ready_on_a_truthy_first_column_and_waits_on_false_null_or_no_rows() {
    let db = Cluster::running();
    for ready in ["SELECT true", "SELECT 0", "SELECT 'f'", "SELECT 1, NULL"] {
        assert_code(&run(&[&db.app_url(), "--query", ready]), 0);
    }
    for (waiting, words) in [
        ("SELECT false", "returned false"),
        ("SELECT NULL", "returned NULL"),
        ("SELECT 1 WHERE false", "returned no rows yet"),
    ] {
        let out = run(&[&db.app_url(), "--query", waiting, "-t", "2s"]);
        assert_code(&out, 124);
        assert!(stderr(&out).contains(words), "{waiting}: {}", stderr(&out));
    }
}

#[test]
fn query_on_a_missing_table_waits_for_the_migration() {
    let db = Cluster::running();
    let (mut pgwait, _dir, marker) = waiting_with_marker(&[
        &db.app_url(),
        "--query",
        "SELECT count(*) > 0 FROM schema_migrations WHERE version = '42'",
    ]);
    pgwait.expect_line("relation \"schema_migrations\" does not exist (SQLSTATE 42P01)");
    db.sql_in("app", "CREATE TABLE schema_migrations (version text)");
    pgwait.expect_line("permission denied for table schema_migrations (SQLSTATE 42501)");
    db.sql_in("app", "GRANT SELECT ON schema_migrations TO app");
    pgwait.expect_line("returned false");
    db.sql_in("app", "INSERT INTO schema_migrations VALUES ('42')");
    let (status, _) = pgwait.finish();
    assert_eq!(status.code(), Some(0), "{}", pgwait.stderr());
    assert!(marker.exists());
}

#[test]
fn a_query_that_tries_to_write_leaves_no_trace() {
    let db = Cluster::running();
    db.sql_in(
        "app",
        "CREATE TABLE t (x int); ALTER TABLE t OWNER TO app;
         CREATE SEQUENCE s; ALTER SEQUENCE s OWNER TO app",
    );
    for write in [
        "INSERT INTO t VALUES (1) RETURNING true",
        "SELECT nextval('s') > 0",
        "WITH d AS (DELETE FROM t RETURNING 1) SELECT true",
    ] {
        let out = run(&[&db.app_url(), "--query", write]);
        assert_code(&out, 3);
        let err = stderr(&out);
        assert!(err.contains("SQLSTATE 25006"), "{write}: {err}");
        assert!(
            err.contains("read-only transaction that is always rolled back"),
            "{err}"
        );
    }
    let mut client = db.client_for("app").unwrap();
    let rows: i64 = client
        .query_one("SELECT count(*) FROM t", &[])
        .unwrap()
        .get(0);
    assert_eq!(rows, 0);
    let called: bool = client
        .query_one("SELECT is_called FROM s", &[])
        .unwrap()
        .get(0);
    assert!(!called, "the sequence advanced");
}

#[test]
fn a_query_with_a_syntax_error_fails_fast() {
    let db = Cluster::running();
    let out = run(&[&db.app_url(), "--query", "SELEC 1"]);
    assert_code(&out, 3);
    let err = stderr(&out);
    assert!(
        err.contains("syntax error at or near \"SELEC\" (SQLSTATE 42601)"),
        "{err}"
    );
    assert!(err.contains("not valid SQL"), "{err}");
}

#[test]
fn names_with_quotes_and_semicolons_do_no_harm() {
    let db = Cluster::running();
    db.sql_in("app", "CREATE TABLE victim (x int)");
    let evil = "x'; DROP TABLE victim; --";
    let evil_ident = "x\"; DROP TABLE victim; --";
    for flag in ["--role", "--schema", "--extension", "--table"] {
        for name in [evil, evil_ident] {
            let out = run(&[&db.app_url(), flag, name, "-t", "300ms"]);
            assert!(
                matches!(out.status.code(), Some(124) | Some(3)),
                "{flag} {name}: {}",
                stderr(&out)
            );
        }
    }
    let mut client = db.client_for("app").unwrap();
    let exists: bool = client
        .query_one("SELECT to_regclass('public.victim') IS NOT NULL", &[])
        .unwrap()
        .get(0);
    assert!(exists, "a check name was executed as SQL");
}

#[test]
fn checks_hold_on_every_postgres_target() {
    let first = Cluster::running();
    let second = Cluster::running();
    first.sql_in("app", "CREATE TABLE outbox_messages (id int)");
    let (mut pgwait, _dir, marker) = waiting_with_marker(&[
        &first.app_url(),
        &second.app_url(),
        "--table",
        "outbox_messages",
    ]);
    pgwait.expect_line(&format!(
        "127.0.0.1:{}/app: not ready: check: table \"outbox_messages\" does not exist yet",
        second.port
    ));
    assert!(!marker.exists());
    second.sql_in("app", "CREATE TABLE outbox_messages (id int)");
    let (status, _) = pgwait.finish();
    assert_eq!(status.code(), Some(0), "{}", pgwait.stderr());
}
