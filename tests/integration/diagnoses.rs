//! Every failure says where it happened, the server's words with the SQLSTATE, and a hint
//! chosen by the cause. Permanent failures end the wait at once with exit 3.

use std::time::{Duration, Instant};

use crate::harness::*;

/// Far longer than a permanent failure needs: fail-fast must not wait for it.
const LONG: &str = "60s";

#[track_caller]
fn fails_fast(args: &[&str]) -> String {
    let started = Instant::now();
    let out = run(args);
    assert_code(&out, 3);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "fail-fast took {:?}",
        started.elapsed()
    );
    let err = stderr(&out);
    assert!(err.contains("waiting cannot fix this"), "{err}");
    err
}

#[test]
fn stale_volume_over_a_trusted_path_names_the_missing_role_with_the_exact_hint() {
    // The official image trusts connections from 127.0.0.1 inside its container.
    let db = Cluster::new();
    db.set_hba("host all all 127.0.0.1/32 trust");
    let mut db = db;
    db.start();
    db.wait_ready();
    let url = format!("postgres://postgres_app@127.0.0.1:{}/app", db.port);
    let err = fails_fast(&[&url, "-t", LONG, "--", "./server"]);
    let expected = format!(
        "pgwait: error: postgres postgres_app@127.0.0.1:{}/app: authenticate: role \"postgres_app\" does not exist (SQLSTATE 28000)
  hint: the server is up but has no role \"postgres_app\".
        With the official postgres image, POSTGRES_USER, POSTGRES_PASSWORD and POSTGRES_DB
        only take effect when the data volume is empty; a reused volume keeps its old roles,
        passwords and databases. Recreate the volume (docker compose down -v — this destroys
        its data) or create the role:
        CREATE ROLE postgres_app LOGIN PASSWORD '...';
pgwait: error: waiting cannot fix this, so pgwait stops; \"./server\" was not run (--no-fail-fast waits anyway)
",
        db.port
    );
    assert!(
        err.ends_with(&expected),
        "got:\n{err}\nexpected to end with:\n{expected}"
    );
}

#[test]
fn missing_role_over_password_auth_arrives_as_28p01_and_the_hint_names_the_stale_volume() {
    let db = Cluster::running();
    let url = db.url("ghost", "whatever", "app");
    let err = fails_fast(&[&url, "-t", LONG]);
    assert!(
        err.contains("password authentication failed for user \"ghost\""),
        "{err}"
    );
    assert!(err.contains("SQLSTATE 28P01"), "{err}");
    assert!(err.contains("Role \"ghost\" does not exist"), "{err}");
    assert!(err.contains("docker compose down -v"), "{err}");
    assert!(err.contains("POSTGRES_PASSWORD does not apply"), "{err}");
}

#[test]
fn missing_database_is_permanent_with_a_hint_to_create_it() {
    let db = Cluster::running();
    let url = db.url("app", APP_PASSWORD, "orders");
    let err = fails_fast(&[&url, "-t", LONG]);
    assert!(
        err.contains("database \"orders\" does not exist (SQLSTATE 3D000)"),
        "{err}"
    );
    assert!(err.contains("POSTGRES_DB"), "{err}");
    assert!(err.contains("CREATE DATABASE orders OWNER app;"), "{err}");
}

#[test]
fn no_pg_hba_entry_names_host_user_and_database_and_suggests_a_line() {
    let mut db = Cluster::new();
    db.set_hba("host all postgres 127.0.0.1/32 scram-sha-256");
    db.start();
    db.wait_ready();
    let err = fails_fast(&[&db.app_url(), "-t", LONG]);
    assert!(
        err.contains("no pg_hba.conf entry for host \"127.0.0.1\""),
        "{err}"
    );
    assert!(err.contains("SQLSTATE 28000"), "{err}");
    assert!(
        err.contains("host app app 127.0.0.1/32 scram-sha-256"),
        "{err}"
    );
    assert!(err.contains("pg_reload_conf"), "{err}");
}

#[test]
fn role_without_login_is_permanent() {
    let db = Cluster::running();
    db.sql("CREATE ROLE locked NOLOGIN PASSWORD 'pw'");
    let err = fails_fast(&[&db.url("locked", "pw", "app"), "-t", LONG]);
    assert!(err.contains("not permitted to log in"), "{err}");
    assert!(err.contains("ALTER ROLE locked LOGIN;"), "{err}");
}

#[test]
fn something_that_is_not_postgres_is_named_as_such() {
    let port = replying_listener(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
    let url = format!("postgres://app:pw@127.0.0.1:{port}/app");
    let err = fails_fast(&[&url, "-t", LONG]);
    assert!(
        err.contains("something that is not PostgreSQL answered"),
        "{err}"
    );
    assert!(err.contains("HTTP/1.1 400 Bad Request"), "{err}");
    assert!(err.contains("check the port"), "{err}");
}

#[test]
fn a_listener_that_closes_at_once_is_transient_like_dockers_port_proxy() {
    let port = replying_listener(b"");
    let url = format!("postgres://app:pw@127.0.0.1:{port}/app");
    let out = run(&[&url, "-t", "1s"]);
    assert_code(&out, 124);
    let err = stderr(&out);
    assert!(
        err.contains("closed the connection before answering"),
        "{err}"
    );
    assert!(err.contains("Docker's port proxy"), "{err}");
}

#[test]
fn nothing_listening_says_where_to_look() {
    let port = free_port();
    let out = run(&[
        &format!("postgres://app:pw@127.0.0.1:{port}/app"),
        "-t",
        "500ms",
    ]);
    assert_code(&out, 124);
    let err = stderr(&out);
    assert!(err.contains("connect: connection refused"), "{err}");
    assert!(
        err.contains(&format!("nothing listens on 127.0.0.1:{port}")),
        "{err}"
    );
    assert!(err.contains("listen_addresses"), "{err}");
}

#[test]
fn an_unresolvable_name_says_where_to_look() {
    let out = run(&[
        "postgres://app:pw@no-such-service.invalid:5432/app",
        "-t",
        "500ms",
    ]);
    assert_code(&out, 124);
    let err = stderr(&out);
    assert!(
        err.contains("resolve: cannot resolve \"no-such-service.invalid\""),
        "{err}"
    );
    assert!(err.contains("service name"), "{err}");
}

#[test]
fn no_answer_within_connect_timeout_has_a_hint() {
    let silent = SilentListener::start();
    let url = format!("postgres://app:pw@127.0.0.1:{}/app", silent.port);
    let out = run(&[&url, "--connect-timeout", "200ms", "-t", "1s"]);
    assert_code(&out, 124);
    let err = stderr(&out);
    assert!(err.contains("tls: no answer within 200ms"), "{err}");
    assert!(err.contains("did not answer in time"), "{err}");
}

#[test]
fn too_many_connections_is_transient_and_heals_when_a_slot_frees() {
    let mut db = Cluster::new();
    db.start_with(&[
        "-c",
        "listen_addresses=127.0.0.1",
        "-c",
        "max_connections=3",
        "-c",
        "superuser_reserved_connections=0",
    ]);
    db.wait_ready();
    let mut held: Vec<postgres::Client> = (0..3)
        .map(|_| db.client_for("app").expect("fill a slot"))
        .collect();
    let mut pgwait = Running::spawn(pgwait().arg(db.app_url()));
    pgwait.expect_line("SQLSTATE 53300");
    assert!(pgwait.still_running());
    held.pop();
    let (status, _) = pgwait.finish();
    assert_eq!(status.code(), Some(0), "{}", pgwait.stderr());
}

#[test]
fn a_server_not_accepting_connections_yet_is_transient_and_says_so() {
    // A standby with hot_standby=off refuses logins with SQLSTATE 57P03 until promoted.
    let primary = Cluster::running();
    let mut standby = primary.standby();
    standby.start_with(&["-c", "listen_addresses=127.0.0.1", "-c", "hot_standby=off"]);
    let mut pgwait = Running::spawn(pgwait().arg(standby.app_url()));
    pgwait.expect_line("SQLSTATE 57P03");
    assert!(pgwait.still_running(), "{}", pgwait.stderr());
    standby.promote();
    let (status, _) = pgwait.finish();
    assert_eq!(status.code(), Some(0), "{}", pgwait.stderr());
}

#[test]
fn the_timeout_report_lists_every_target_with_its_last_error_and_hint() {
    let db = Cluster::running();
    let free = free_port();
    let out = run(&[
        &format!("postgres://app:pw@127.0.0.1:{free}/app"),
        &db.app_url(),
        "--table",
        "never_created",
        "-t",
        "2s",
    ]);
    assert_code(&out, 124);
    let err = stderr(&out);
    let errors: Vec<&str> = err.lines().filter(|l| l.contains("error:")).collect();
    assert_eq!(errors.len(), 2, "{err}");
    assert!(
        errors[0].contains(&format!("127.0.0.1:{free}/app: not ready after")),
        "{err}"
    );
    assert!(errors[0].contains("connection refused"), "{err}");
    assert!(
        errors[1].contains("check: table \"never_created\" does not exist yet"),
        "{err}"
    );
    assert_eq!(err.matches("hint:").count(), 2, "{err}");
}

#[test]
fn server_detail_and_hint_are_passed_on() {
    let db = Cluster::running();
    let out = run(&[
        &db.app_url(),
        "--query",
        "SELECT 1 FROM pg_class WHERE relname = 1",
    ]);
    assert_code(&out, 3);
    let err = stderr(&out);
    assert!(
        err.contains("operator does not exist: name = integer (SQLSTATE 42883)"),
        "{err}"
    );
    assert!(err.contains("server hint: No operator matches"), "{err}");
}

#[test]
fn a_user_without_connect_privilege_is_permanent() {
    let db = Cluster::running();
    db.sql("CREATE ROLE visitor LOGIN PASSWORD 'pw'; REVOKE CONNECT ON DATABASE app FROM PUBLIC");
    let err = fails_fast(&[&db.url("visitor", "pw", "app"), "-t", LONG]);
    assert!(
        err.contains("permission denied for database \"app\" (SQLSTATE 42501)"),
        "{err}"
    );
    assert!(
        err.contains("detail: User does not have CONNECT privilege."),
        "{err}"
    );
    assert!(
        err.contains("GRANT CONNECT ON DATABASE app TO visitor;"),
        "{err}"
    );
}

#[test]
fn no_password_when_the_server_wants_one_is_permanent() {
    let db = Cluster::running();
    let url = format!("postgres://app@127.0.0.1:{}/app", db.port);
    let err = fails_fast(&[&url, "-t", LONG]);
    assert!(
        err.contains("asks for a password for user \"app\" and none was given"),
        "{err}"
    );
}

#[test]
fn an_authentication_method_pgwait_cannot_do_is_permanent() {
    let mut db = Cluster::new();
    db.set_hba("host all all 127.0.0.1/32 gss");
    db.start();
    db.wait_ready();
    let err = fails_fast(&[&db.app_url(), "-t", LONG]);
    assert!(err.contains("authentication"), "{err}");
    assert!(
        err.contains("pgwait supports password, md5 and SCRAM-SHA-256"),
        "{err}"
    );
}

#[test]
fn a_slow_query_is_bounded_by_connect_timeout() {
    let db = Cluster::running();
    let started = Instant::now();
    let out = run(&[
        &db.app_url(),
        "--query",
        "SELECT pg_sleep(30) IS NOT NULL",
        "--connect-timeout",
        "1s",
        "-t",
        "3s",
    ]);
    assert_code(&out, 124);
    assert!(started.elapsed() < Duration::from_secs(20));
    let err = stderr(&out);
    // The server stops the query itself, before pgwait's own bound on the attempt.
    assert!(
        err.contains("canceling statement due to statement timeout (SQLSTATE 57014)"),
        "{err}"
    );
    assert!(err.contains("raise --connect-timeout"), "{err}");
}
