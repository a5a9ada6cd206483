//! Running the command in pgwait's place.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use crate::harness::*;

#[test]
fn command_keeps_pgwaits_pid_and_its_exit_status_passes_through() {
    let db = Cluster::running();
    let mut pgwait =
        Running::spawn(pgwait().args([&db.app_url(), "--", "sh", "-c", "echo $$; exit 7"]));
    let pid = pgwait.child.id();
    let (status, out) = pgwait.finish();
    assert_eq!(status.code(), Some(7), "{}", pgwait.stderr());
    assert_eq!(
        out.trim(),
        pid.to_string(),
        "the command ran under another PID"
    );
}

#[test]
fn stdout_carries_only_the_commands_output() {
    let db = Cluster::running();
    let out = run(&[&db.app_url(), "-v", "--", "echo", "hello from the app"]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "hello from the app\n");
    assert!(stderr(&out).contains("ready after"));
}

#[test]
fn arguments_reach_the_command_byte_exact() {
    let target = SilentListener::start();
    let dir = scratch();
    let dump = script(
        dir.path(),
        "dump",
        r#"for a in "$@"; do printf '[%s]' "$a"; done"#,
    );
    let odd = OsStr::from_bytes(b"caf\xe9 not utf-8");
    let out = pgwait()
        .arg(format!("127.0.0.1:{}", target.port))
        .arg("--")
        .arg(&dump)
        .args([
            "two words",
            "",
            "--timeout",
            "'quoted' \"too\"",
            "$HOME",
            "*",
        ])
        .arg(odd)
        .output()
        .unwrap();
    assert_code(&out, 0);
    let mut expected = b"[two words][][--timeout]['quoted' \"too\"][$HOME][*][".to_vec();
    expected.extend_from_slice(b"caf\xe9 not utf-8]");
    assert_eq!(out.stdout, expected);
}

#[test]
fn command_is_found_on_path_and_inherits_the_environment() {
    let target = SilentListener::start();
    let dir = scratch();
    script(dir.path(), "my-app", r#"echo "$APP_SETTING""#);
    let path = format!(
        "{}:{}",
        dir.path().display(),
        std::env::var("PATH").unwrap()
    );
    let out = pgwait()
        .arg(format!("127.0.0.1:{}", target.port))
        .args(["--", "my-app"])
        .env("PATH", path)
        .env("APP_SETTING", "kept")
        .output()
        .unwrap();
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "kept\n");
}

/// SigIgn, SigBlk (standard signals 1-31 only: glibc reserves 32 and 33 for itself) and
/// the number of open descriptors, as the command sees them.
fn signal_and_fd_state(output: &[u8]) -> (u64, u64, usize) {
    let text = String::from_utf8_lossy(output);
    let mask = |name: &str| {
        let line = text.lines().find(|l| l.starts_with(name)).unwrap();
        u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap() & 0x7fff_ffff
    };
    let fds = text.lines().last().unwrap().trim().parse().unwrap();
    (mask("SigIgn:"), mask("SigBlk:"), fds)
}

#[test]
fn command_starts_with_the_signal_state_and_descriptors_it_would_have_without_pgwait() {
    let db = Cluster::running();
    let inspect = "grep -E '^Sig(Ign|Blk)' /proc/self/status; ls /proc/self/fd | wc -l";
    let direct = std::process::Command::new("sh")
        .args(["-c", inspect])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let out = run(&[&db.app_url(), "--", "sh", "-c", inspect]);
    assert_code(&out, 0);
    // No signal ignored or blocked, and no descriptor left open, by pgwait.
    assert_eq!(
        signal_and_fd_state(&out.stdout),
        signal_and_fd_state(&direct.stdout),
        "{}",
        stdout(&out)
    );
}

#[test]
fn missing_command_exits_127_naming_it() {
    let target = SilentListener::start();
    let out = run(&[
        &format!("127.0.0.1:{}", target.port),
        "--",
        "no-such-command-xyz",
    ]);
    assert_code(&out, 127);
    let err = stderr(&out);
    assert!(err.contains("cannot run \"no-such-command-xyz\""), "{err}");
    assert!(err.contains("not in PATH"), "{err}");
}

#[test]
fn non_executable_command_exits_126_naming_it() {
    let target = SilentListener::start();
    let dir = scratch();
    let file = dir.path().join("not-executable");
    std::fs::write(&file, "#!/bin/sh\necho hi\n").unwrap();
    let out = pgwait()
        .arg(format!("127.0.0.1:{}", target.port))
        .arg("--")
        .arg(&file)
        .output()
        .unwrap();
    assert_code(&out, 126);
    let err = stderr(&out);
    assert!(err.contains("cannot run"), "{err}");
    assert!(err.contains("permission denied"), "{err}");
}
