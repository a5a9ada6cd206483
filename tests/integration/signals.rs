//! SIGINT, SIGTERM and SIGHUP while waiting: stop at once, exit 130, never run the command.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness::*;

/// Generous: the design target is well under 100 ms; this only catches a hang.
const PROMPT: Duration = Duration::from_secs(5);

fn stops_promptly(signal: i32) {
    let dir = scratch();
    let marker = dir.path().join("ran");
    let target = format!("postgres://app:pw@127.0.0.1:{}/app", free_port());
    let mut pgwait = Running::spawn(pgwait().args([&target, "--", "touch"]).arg(&marker));
    pgwait.expect_line("connection refused");
    let sent = Instant::now();
    pgwait.signal(signal);
    let (status, _) = pgwait.finish();
    let took = sent.elapsed();
    assert_eq!(status.code(), Some(130), "{}", pgwait.stderr());
    assert!(took < PROMPT, "took {took:?}");
    assert!(
        !marker.exists(),
        "the command ran after an interrupted wait"
    );
    let err = pgwait.stderr();
    assert!(err.contains("interrupted by a signal"), "{err}");
    assert!(err.contains("\"touch\" was not run"), "{err}");
}

#[test]
fn sigterm_while_waiting_exits_130_promptly() {
    stops_promptly(libc::SIGTERM);
}

#[test]
fn sigint_while_waiting_exits_130_promptly() {
    stops_promptly(libc::SIGINT);
}

#[test]
fn sighup_while_waiting_exits_130_promptly() {
    stops_promptly(libc::SIGHUP);
}

#[test]
fn sigterm_in_the_middle_of_a_hanging_attempt_exits_130_promptly() {
    let silent = SilentListener::start();
    let target = format!("postgres://app:pw@127.0.0.1:{}/app", silent.port);
    let mut pgwait =
        Running::spawn(pgwait().args([&target, "--connect-timeout", "10m", "-t", "0"]));
    // pgwait is now inside its first attempt, waiting for the server's answer.
    silent
        .accepted
        .recv_timeout(PATIENCE)
        .expect("pgwait connects");
    let sent = Instant::now();
    pgwait.signal(libc::SIGTERM);
    let (status, _) = pgwait.finish();
    assert_eq!(status.code(), Some(130), "{}", pgwait.stderr());
    assert!(sent.elapsed() < PROMPT, "took {:?}", sent.elapsed());
}

#[test]
fn sigterm_stops_pgwait_running_as_pid_1() {
    // A new PID namespace makes pgwait its init process, where the kernel drops signals
    // that have no handler: the situation of `docker stop` on a container entrypoint.
    let probe = Command::new("unshare")
        .args(["--pid", "--fork", "true"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: this machine cannot make PID namespaces (unshare --pid)");
        return;
    }
    let target = format!("127.0.0.1:{}", free_port());
    let mut cmd = Command::new("unshare");
    cmd.args(["--pid", "--fork", "--kill-child=SIGKILL"])
        .arg(env!("CARGO_BIN_EXE_pgwait"))
        .args([&target, "-t", "0", "--", "true"]);
    let mut pgwait = Running::spawn(&mut cmd);
    pgwait.expect_line("connection refused");
    // unshare's child is pgwait, PID 1 in its namespace.
    let children =
        std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", pgwait.child.id())).unwrap();
    let inner: i32 = children.split_whitespace().next().unwrap().parse().unwrap();
    let status = std::fs::read_to_string(format!("/proc/{inner}/status")).unwrap();
    assert!(
        status.contains("NSpid:")
            && status
                .lines()
                .any(|l| l.starts_with("NSpid:") && l.trim_end().ends_with("\t1")),
        "{status}"
    );
    let sent = Instant::now();
    unsafe {
        libc::kill(inner, libc::SIGTERM);
    }
    let (status, _) = pgwait.finish();
    assert_eq!(status.code(), Some(130), "{}", pgwait.stderr());
    assert!(sent.elapsed() < PROMPT, "took {:?}", sent.elapsed());
}
