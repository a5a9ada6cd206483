//! Bad input: a clear message and exit 2, never a panic. Help and version.

use crate::harness::*;

#[track_caller]
fn usage_error(args: &[&str], words: &[&str]) {
    let out = run(args);
    assert_code(&out, 2);
    let err = stderr(&out);
    assert!(err.starts_with("pgwait: error:"), "{args:?}: {err}");
    for word in words {
        assert!(err.contains(word), "{args:?}: {err:?} lacks {word:?}");
    }
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(stdout(&out), "");
}

#[test]
fn unknown_flag_is_a_usage_error() {
    usage_error(&["--frobnicate", "db:5432"], &["--frobnicate"]);
}

#[test]
fn durations_without_units_or_garbage_are_usage_errors() {
    usage_error(
        &["db:5432", "--timeout", "30"],
        &["--timeout", "needs a unit", "30s"],
    );
    usage_error(
        &["db:5432", "--connect-timeout", "soon"],
        &["--connect-timeout"],
    );
    usage_error(&["db:5432", "--timeout=-5s"], &["--timeout"]);
}

#[test]
fn bad_targets_are_usage_errors_that_name_the_problem() {
    usage_error(&["db"], &["invalid target \"db\"", "missing port"]);
    usage_error(&["db:99999"], &["port \"99999\""]);
    usage_error(&["mysql://db:3306"], &["unsupported scheme \"mysql\""]);
    usage_error(
        &["postgres://app@db:port/app"],
        &["invalid connection string", "port"],
    );
    usage_error(
        &["host=db sslmode=sideways"],
        &["invalid connection string", "sslmode"],
    );
    usage_error(&["./server"], &["looks like a command", "after --"]);
}

#[test]
fn quiet_and_verbose_together_are_a_usage_error() {
    usage_error(&["-q", "-v", "db:5432"], &["--quiet", "--verbose"]);
}

#[test]
fn help_documents_usage_examples_and_every_exit_code() {
    let out = run(&["--help"]);
    assert_code(&out, 0);
    let help = stdout(&out);
    assert!(
        help.contains("pgwait [OPTIONS] [TARGET]... [-- COMMAND [ARG]...]"),
        "{help}"
    );
    assert!(help.contains("Examples:"), "{help}");
    for code in ["0", "1", "2", "3", "124", "126", "127", "130"] {
        assert!(
            help.lines()
                .any(|l| l.trim_start().starts_with(&format!("{code} "))),
            "exit code {code} missing from --help:\n{help}"
        );
    }
}

#[test]
fn version_prints_the_version() {
    let out = run(&["--version"]);
    assert_code(&out, 0);
    assert!(stdout(&out).starts_with("pgwait "), "{}", stdout(&out));
}

#[test]
fn dry_run_says_what_would_be_awaited_without_connecting() {
    let port = free_port();
    let out = run(&[
        "--dry-run",
        &format!("postgres://app:dry-secret@127.0.0.1:{port}/app?sslmode=require"),
        "--table",
        "outbox_messages",
        "--",
        "./server",
    ]);
    assert_code(&out, 0);
    let err = stderr(&out);
    assert!(err.contains("dry run: would wait up to 1m for:"), "{err}");
    assert!(
        err.contains(&format!("postgres app@127.0.0.1:{port}/app")),
        "{err}"
    );
    assert!(err.contains("sslmode=require"), "{err}");
    assert!(
        err.contains("password from the target's URL or conninfo"),
        "{err}"
    );
    assert!(err.contains("checks: table \"outbox_messages\""), "{err}");
    assert!(err.contains("then run \"./server\""), "{err}");
    assert!(!err.contains("dry-secret"), "{err}");
    assert!(!err.contains("connection refused"), "{err}");
    assert_eq!(stdout(&out), "");
}
