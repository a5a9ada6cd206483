//! Waiting for PostgreSQL and TCP targets: when pgwait calls a target ready, and when not.

use std::time::{Duration, Instant};

use crate::harness::*;

#[test]
fn command_runs_once_a_server_that_starts_later_accepts_the_login() {
    let mut db = Cluster::new();
    let dir = scratch();
    let marker = dir.path().join("ran");
    let mut pgwait = Running::spawn(pgwait().args([
        &db.app_url(),
        "--",
        "sh",
        "-c",
        &format!("echo started > {}", marker.display()),
    ]));
    // pgwait has tried and found nothing listening before the server exists.
    pgwait.expect_line("connection refused");
    assert!(
        !marker.exists(),
        "the command ran before the server existed"
    );
    db.start();
    let (status, _) = pgwait.finish();
    assert_eq!(status.code(), Some(0), "{}", pgwait.stderr());
    assert!(marker.exists(), "the command did not run");
    let stderr = pgwait.stderr();
    assert!(stderr.contains("postgres app@127.0.0.1:"), "{stderr}");
    assert!(stderr.contains("ready after"), "{stderr}");
    assert!(stderr.contains("running \"sh\""), "{stderr}");
}

#[test]
fn ready_database_without_command_exits_0_and_prints_nothing_on_stdout() {
    let db = Cluster::running();
    let out = run(&[&db.app_url()]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "");
    assert!(stderr(&out).contains("ready after"), "{}", stderr(&out));
}

#[test]
fn keyword_conninfo_target_logs_in() {
    let db = Cluster::running();
    let conninfo = format!(
        "host=127.0.0.1 port={} user=app dbname=app password={APP_PASSWORD}",
        db.port
    );
    assert_code(&run(&[&conninfo]), 0);
}

#[test]
fn database_url_is_used_when_no_target_is_given() {
    let db = Cluster::running();
    let out = pgwait().env("DATABASE_URL", db.app_url()).output().unwrap();
    assert_code(&out, 0);
    assert!(
        stderr(&out).contains("postgres app@127.0.0.1"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn timeout_exits_124_names_the_cause_and_never_runs_the_command() {
    let port = free_port();
    let dir = scratch();
    let marker = dir.path().join("ran");
    let target = format!("postgres://app:{APP_PASSWORD}@127.0.0.1:{port}/app");
    let out = pgwait()
        .args([&target, "--timeout", "1s", "--", "touch"])
        .arg(&marker)
        .output()
        .unwrap();
    assert_code(&out, 124);
    assert!(!marker.exists(), "the command ran after a failed wait");
    let err = stderr(&out);
    assert!(err.contains("not ready after"), "{err}");
    assert!(err.contains("connection refused"), "{err}");
    assert!(err.contains("\"touch\" was not run"), "{err}");
}

#[test]
fn wrong_password_is_never_ready() {
    let db = Cluster::running();
    let url = db.url("app", "not-the-password", "app");
    let out = run(&[&url, "--timeout", "60s", "--", "true"]);
    assert_code(&out, 3);
    let err = stderr(&out);
    assert!(
        err.contains("password authentication failed for user \"app\""),
        "{err}"
    );
    assert!(err.contains("28P01"), "{err}");
    assert!(!err.contains(": ready after"), "{err}");
}

#[test]
fn a_listener_that_never_answers_is_bounded_by_connect_timeout() {
    let silent = SilentListener::start();
    let target = format!("postgres://app:pw@127.0.0.1:{}/app", silent.port);
    let started = Instant::now();
    let out = run(&[&target, "--connect-timeout", "300ms", "--timeout", "2s"]);
    let took = started.elapsed();
    assert_code(&out, 124);
    let err = stderr(&out);
    // sslmode=prefer (libpq's default) asks for TLS first: that is where it hangs.
    assert!(err.contains("tls: no answer within 300ms"), "{err}");
    // Several attempts fit in the deadline: each one was cut off, not left hanging.
    assert!(silent.accepted.try_iter().count() >= 2, "{err}");
    assert!(took < Duration::from_secs(20), "took {took:?}");
}

#[test]
fn tcp_target_is_ready_when_something_listens() {
    let silent = SilentListener::start();
    for target in [
        format!("127.0.0.1:{}", silent.port),
        format!("tcp://localhost:{}", silent.port),
    ] {
        let out = run(&[&target]);
        assert_code(&out, 0);
        assert!(stderr(&out).contains("ready after"), "{}", stderr(&out));
    }
}

#[test]
fn tcp_target_with_nothing_listening_times_out() {
    let target = format!("127.0.0.1:{}", free_port());
    let out = run(&[&target, "-t", "300ms"]);
    assert_code(&out, 124);
    assert!(stderr(&out).contains("tcp 127.0.0.1:"), "{}", stderr(&out));
}

#[test]
fn two_targets_are_ready_only_when_both_are() {
    let first = Cluster::running();
    let mut second = Cluster::new();
    let dir = scratch();
    let marker = dir.path().join("ran");
    let mut pgwait = Running::spawn(
        pgwait()
            .args([&first.app_url(), &second.app_url(), "--", "touch"])
            .arg(&marker),
    );
    pgwait.expect_line(&format!("127.0.0.1:{}/app: ready after", first.port));
    pgwait.expect_line(&format!("127.0.0.1:{}/app: not ready", second.port));
    assert!(pgwait.still_running(), "{}", pgwait.stderr());
    assert!(!marker.exists());
    second.start();
    let (status, _) = pgwait.finish();
    assert_eq!(status.code(), Some(0), "{}", pgwait.stderr());
    assert!(marker.exists());
}

#[test]
fn each_new_failure_kind_is_reported_once_and_verbose_shows_every_attempt() {
    let target = format!("127.0.0.1:{}", free_port());
    let out = run(&[&target, "-t", "500ms"]);
    let err = stderr(&out);
    assert_eq!(err.matches("not ready: connect").count(), 1, "{err}");

    let out = run(&[&target, "-t", "500ms", "--verbose"]);
    let err = stderr(&out);
    assert!(err.matches("attempt ").count() >= 3, "{err}");

    let out = run(&[&target, "-t", "500ms", "--quiet"]);
    let err = stderr(&out);
    assert!(!err.contains("waiting"), "{err}");
    assert!(err.contains("error:"), "{err}");
}

#[test]
fn quiet_success_prints_nothing() {
    let db = Cluster::running();
    let out = run(&[&db.app_url(), "-q"]);
    assert_code(&out, 0);
    assert_eq!(stderr(&out), "");
}

#[test]
fn options_come_from_pgwait_environment_variables() {
    let target = format!("127.0.0.1:{}", free_port());
    let started = Instant::now();
    let out = pgwait()
        .arg(&target)
        .env("PGWAIT_TIMEOUT", "300ms")
        .env("PGWAIT_QUIET", "true")
        .output()
        .unwrap();
    assert_code(&out, 124);
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(!stderr(&out).contains("waiting"), "{}", stderr(&out));
}

#[test]
fn no_password_appears_in_any_output() {
    const SENTINEL: &str = "Sentinel-Pw-93f1";
    let db = Cluster::running();
    let silent = SilentListener::start();
    let free = free_port();
    let cases: Vec<Vec<String>> = vec![
        // wrong password against a real server, verbose
        vec![
            db.url("app", SENTINEL, "app"),
            "-v".into(),
            "-t".into(),
            "1s".into(),
        ],
        // nothing listening
        vec![
            format!("postgres://app:{SENTINEL}@127.0.0.1:{free}/app"),
            "-v".into(),
            "-t".into(),
            "300ms".into(),
        ],
        // a server that never answers
        vec![
            format!("postgres://app:{SENTINEL}@127.0.0.1:{}/app", silent.port),
            "--connect-timeout".into(),
            "200ms".into(),
            "-t".into(),
            "500ms".into(),
        ],
        // conninfo form
        vec![
            format!("host=127.0.0.1 port={free} user=app password={SENTINEL}"),
            "-t".into(),
            "200ms".into(),
        ],
        // malformed URLs and conninfo
        vec![format!("postgres://app:{SENTINEL}@127.0.0.1:notaport/app")],
        vec![format!("postgresql://app:{SENTINEL}@127.0.0.1/app?bogus=1")],
        vec![format!(
            "host=127.0.0.1 password='{SENTINEL}' sslmode=sideways"
        )],
        vec![format!("postgress://app:{SENTINEL}@127.0.0.1/app")],
        // success, with a command that is not found
        vec![db.app_url(), "--".into(), "no-such-command-xyz".into()],
    ];
    for args in cases {
        let out = pgwait().args(&args).output().unwrap();
        let all = format!("{}{}", stdout(&out), stderr(&out));
        assert!(
            !all.contains(SENTINEL),
            "{args:?} printed the password:\n{all}"
        );
        assert!(
            !all.contains(APP_PASSWORD),
            "{args:?} printed the password:\n{all}"
        );
    }
    // DATABASE_URL too.
    let out = pgwait()
        .env(
            "DATABASE_URL",
            format!("postgres://app:{SENTINEL}@127.0.0.1:bad/app"),
        )
        .output()
        .unwrap();
    assert_code(&out, 2);
    assert!(!stderr(&out).contains(SENTINEL), "{}", stderr(&out));
}
