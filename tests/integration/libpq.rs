//! libpq habits: the PG* environment, password sources, Unix sockets, several hosts.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::harness::*;

/// A home directory with a password file in it, with the given mode.
fn home_with_pgpass(lines: &str, mode: u32) -> tempfile::TempDir {
    let home = scratch();
    let path = home.path().join(".pgpass");
    std::fs::write(&path, lines).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    home
}

fn conninfo_without_password(db: &Cluster) -> String {
    format!("host=127.0.0.1 port={} user=app dbname=app", db.port)
}

#[test]
fn no_target_uses_the_pg_environment_like_a_bare_psql() {
    let db = Cluster::running();
    let out = pgwait()
        .env("PGHOST", &db.socket_dir)
        .env("PGPORT", db.port.to_string())
        .env("PGUSER", "app")
        .env("PGDATABASE", "app")
        .output()
        .unwrap();
    assert_code(&out, 0);
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "postgres app@{}:{}/app",
            db.socket_dir.display(),
            db.port
        )),
        "{err}"
    );
}

#[test]
fn pgoptions_and_pgappname_reach_the_server() {
    let db = Cluster::running();
    db.sql_in(
        "app",
        "CREATE SCHEMA billing AUTHORIZATION app; CREATE TABLE billing.invoices (id int);
         ALTER TABLE billing.invoices OWNER TO app",
    );
    // Unqualified, "invoices" resolves only with billing on the search_path.
    let out = pgwait()
        .args([&db.app_url(), "--table", "invoices", "-t", "10s"])
        .env("PGOPTIONS", "-c search_path=billing")
        .env("PGAPPNAME", "pgwait-probe")
        .output()
        .unwrap();
    assert_code(&out, 0);
    assert!(
        db.server_log().contains("application_name=pgwait-probe"),
        "{}",
        db.server_log()
    );
}

#[test]
fn values_in_the_target_beat_the_environment() {
    let db = Cluster::running();
    let out = pgwait()
        .arg(db.app_url())
        .env("PGPORT", free_port().to_string())
        .env("PGUSER", "nobody")
        .env("PGPASSWORD", "wrong")
        .env("PGDATABASE", "nothing")
        .output()
        .unwrap();
    assert_code(&out, 0);
}

#[test]
fn pgpassword_is_used_and_named_when_rejected() {
    let db = Cluster::running();
    let target = conninfo_without_password(&db);
    let out = pgwait()
        .arg(&target)
        .env("PGPASSWORD", APP_PASSWORD)
        .output()
        .unwrap();
    assert_code(&out, 0);
    let out = pgwait()
        .arg(&target)
        .env("PGPASSWORD", "wrong")
        .output()
        .unwrap();
    assert_code(&out, 3);
    assert!(
        stderr(&out).contains("It came from PGPASSWORD."),
        "{}",
        stderr(&out)
    );
}

#[test]
fn pgpass_first_matching_line_wins() {
    let db = Cluster::running();
    let home = home_with_pgpass(
        &format!(
            "# comment\n127.0.0.1:{other}:*:*:wrong\n127.0.0.1:{port}:app:app:{APP_PASSWORD}\n*:*:*:*:also-wrong\n",
            other = db.port + 1,
            port = db.port
        ),
        0o600,
    );
    let out = pgwait()
        .arg(conninfo_without_password(&db))
        .env("HOME", home.path())
        .output()
        .unwrap();
    assert_code(&out, 0);
}

#[test]
fn pgpassfile_names_the_file_and_the_line_when_rejected() {
    let db = Cluster::running();
    let home = home_with_pgpass("*:*:*:app:wrong\n", 0o600);
    let out = pgwait()
        .arg(conninfo_without_password(&db))
        .env("PGPASSFILE", home.path().join(".pgpass"))
        .output()
        .unwrap();
    assert_code(&out, 3);
    let err = stderr(&out);
    assert!(
        err.contains("It came from line 1 of the password file"),
        "{err}"
    );
}

#[test]
fn a_group_readable_pgpass_is_ignored_with_a_warning() {
    let db = Cluster::running();
    let home = home_with_pgpass(&format!("*:*:*:*:{APP_PASSWORD}\n"), 0o644);
    let out = pgwait()
        .arg(conninfo_without_password(&db))
        .env("HOME", home.path())
        .output()
        .unwrap();
    assert_code(&out, 3);
    let err = stderr(&out);
    assert!(err.contains("warning: password file"), "{err}");
    assert!(err.contains("has group or world access"), "{err}");
    assert!(
        err.contains("asks for a password for user \"app\" and none was given"),
        "{err}"
    );
}

#[test]
fn password_file_flag_reads_a_docker_secret() {
    let db = Cluster::running();
    let dir = scratch();
    let secret = dir.path().join("db_password");
    std::fs::write(&secret, format!("{APP_PASSWORD}\n")).unwrap();
    let target = conninfo_without_password(&db);
    let out = pgwait()
        .arg(&target)
        .arg("--password-file")
        .arg(&secret)
        .output()
        .unwrap();
    assert_code(&out, 0);
    let out = pgwait()
        .arg(&target)
        .env("PGWAIT_PASSWORD_FILE", &secret)
        .output()
        .unwrap();
    assert_code(&out, 0);
    // It beats PGPASSWORD; a password in the target beats it.
    let out = pgwait()
        .arg(&target)
        .arg("--password-file")
        .arg(&secret)
        .env("PGPASSWORD", "wrong")
        .output()
        .unwrap();
    assert_code(&out, 0);
    let out = pgwait()
        .arg(db.url("app", "wrong", "app"))
        .arg("--password-file")
        .arg(&secret)
        .output()
        .unwrap();
    assert_code(&out, 3);
}

#[test]
fn an_unreadable_password_file_is_a_usage_error() {
    let out = run(&["db:5432", "--password-file", "/run/secrets/no-such-secret"]);
    assert_code(&out, 2);
    assert!(
        stderr(&out).contains("cannot read --password-file \"/run/secrets/no-such-secret\""),
        "{}",
        stderr(&out)
    );
}

#[test]
fn unix_socket_directories_in_both_forms() {
    let db = Cluster::running();
    let dir = db.socket_dir.display().to_string();
    for target in [
        format!("host={dir} port={} user=app dbname=app", db.port),
        format!("postgres:///app?host={dir}&port={}&user=app", db.port),
        format!(
            "postgresql://app@{}:{}/app",
            dir.replace('/', "%2F"),
            db.port
        ),
    ] {
        let out = run(&[&target]);
        assert_code(&out, 0);
    }
}

#[test]
fn a_missing_socket_is_transient_until_the_server_starts() {
    let mut db = Cluster::new();
    let target = format!(
        "host={} port={} user=app dbname=app",
        db.socket_dir.display(),
        db.port
    );
    let mut pgwait = Running::spawn(pgwait().arg(&target));
    pgwait.expect_line("no server socket yet at");
    db.start();
    let (status, _) = pgwait.finish();
    assert_eq!(status.code(), Some(0), "{}", pgwait.stderr());
}

#[test]
fn several_hosts_are_tried_in_order() {
    let db = Cluster::running();
    let dead = free_port();
    let target = format!(
        "host=127.0.0.1,127.0.0.1 port={dead},{} user=app dbname=app password={APP_PASSWORD}",
        db.port
    );
    assert_code(&run(&[&target]), 0);
}

#[test]
fn read_write_skips_a_standby_and_reports_every_hosts_error() {
    let primary = Cluster::running();
    let mut standby = primary.standby();
    standby.start();
    standby.wait_ready();
    let both = format!(
        "host=127.0.0.1,127.0.0.1 port={},{} user=app dbname=app password={APP_PASSWORD} \
         target_session_attrs=read-write",
        standby.port, primary.port
    );
    assert_code(&run(&[&both]), 0);

    let dead = free_port();
    let no_primary = format!(
        "host=127.0.0.1,127.0.0.1 port={dead},{} user=app dbname=app password={APP_PASSWORD} \
         target_session_attrs=read-write",
        standby.port
    );
    let out = run(&[&no_primary, "-t", "3s"]);
    assert_code(&out, 124);
    let err = stderr(&out);
    assert!(err.contains("no host is ready"), "{err}");
    assert!(
        err.contains(&format!("127.0.0.1:{dead} connect: connection refused")),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "127.0.0.1:{} check: the session is read-only (target_session_attrs=read-write)",
            standby.port
        )),
        "{err}"
    );

    let standby_only = format!(
        "host=127.0.0.1,127.0.0.1 port={},{} user=app dbname=app password={APP_PASSWORD} \
         target_session_attrs=standby",
        primary.port, standby.port
    );
    assert_code(&run(&[&standby_only]), 0);
}

#[test]
fn md5_and_scram_users_both_log_in() {
    let mut db = Cluster::new();
    db.set_hba("host all all 127.0.0.1/32 md5");
    db.start();
    db.wait_ready();
    db.sql("SET password_encryption = 'md5'; CREATE ROLE old_md5 LOGIN PASSWORD 'md5-pw'");
    assert_code(&run(&[&db.url("old_md5", "md5-pw", "app")]), 0);
    // md5 in pg_hba.conf lets SCRAM verifiers use SCRAM.
    assert_code(&run(&[&db.app_url()]), 0);
}

#[test]
fn no_password_ever_appears_whatever_its_source() {
    const SENTINEL: &str = "Sentinel-Pw-7c2e";
    let db = Cluster::running();
    let silent = SilentListener::start();
    let free = free_port();
    let home = home_with_pgpass(&format!("*:*:*:*:{SENTINEL}\n"), 0o600);
    let dir = scratch();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, SENTINEL).unwrap();
    let secret = secret.display().to_string();
    type Case<'a> = (Vec<String>, Vec<(&'a str, String)>);
    let sources: Vec<Case> = vec![
        (vec![db.url("app", SENTINEL, "app")], vec![]),
        (
            vec![conninfo_without_password(&db)],
            vec![("PGPASSWORD", SENTINEL.to_string())],
        ),
        (
            vec![conninfo_without_password(&db)],
            vec![("HOME", home.path().display().to_string())],
        ),
        (
            vec![
                conninfo_without_password(&db),
                "--password-file".into(),
                secret.clone(),
            ],
            vec![],
        ),
        (
            vec![],
            vec![("DATABASE_URL", db.url("app", SENTINEL, "app"))],
        ),
        (
            vec![format!(
                "host=127.0.0.1 port={free} user=app password={SENTINEL}"
            )],
            vec![],
        ),
        (
            vec![
                format!("postgres://app:{SENTINEL}@127.0.0.1:{}/app", silent.port),
                "--connect-timeout".into(),
                "200ms".into(),
            ],
            vec![],
        ),
        (
            vec![format!(
                "postgres://app:{SENTINEL}@127.0.0.1:{}/app?sslmode=verify-full&sslrootcert=/nonexistent",
                db.port
            )],
            vec![],
        ),
        (
            vec![format!("postgres://app:{SENTINEL}@h/app?sslmode=sideways")],
            vec![],
        ),
        (
            vec![format!("postgres://app:{SENTINEL}@h/app?service=x")],
            vec![],
        ),
        (vec![format!("host=h password='{SENTINEL}")], vec![]),
        (vec![format!("host=h {SENTINEL}")], vec![]),
    ];
    for (args, env) in sources {
        for extra in [&["-v", "-t", "1s"][..], &["--help"][..], &["--dry-run"][..]] {
            let mut cmd = pgwait();
            cmd.args(&args).args(extra);
            for (k, v) in &env {
                cmd.env(k, v);
            }
            let out = cmd.output().unwrap();
            let all = format!("{}{}", stdout(&out), stderr(&out));
            assert!(
                !all.contains(SENTINEL),
                "{args:?} {env:?} printed the password:\n{all}"
            );
            assert!(
                !all.contains("Sentinel"),
                "{args:?} {env:?} printed part of it:\n{all}"
            );
        }
    }
}

/// Runs psql the way a person would, with the same environment as pgwait.
fn psql_connects(psql: &Path, target: &str, env: &[(&str, String)]) -> bool {
    let mut cmd = std::process::Command::new(psql);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PG") {
            cmd.env_remove(&key);
        }
    }
    cmd.args(["-X", "-w", "-q", "-c", "select 1", "-d", target]);
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    cmd.stdin(std::process::Stdio::null());
    cmd.output().unwrap().status.success()
}

fn pgwait_connects(target: &str, env: &[(&str, String)]) -> bool {
    let out = pgwait()
        .args([target, "-t", "3s", "-q"])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap();
    match out.status.code() {
        Some(0) => true,
        Some(3) | Some(124) => false,
        other => panic!("{target}: unexpected exit {other:?}: {}", stderr(&out)),
    }
}

#[test]
fn pgwait_and_psql_agree_on_where_and_whether_to_connect() {
    let Some(psql) = psql() else {
        eprintln!("skipped: psql is not installed");
        return;
    };
    let pki = Pki::new();
    let mut tls = Cluster::new();
    tls.start_tls(&pki, false);
    let plain = Cluster::running();
    let primary = Cluster::running();
    let mut standby = primary.standby();
    standby.start();
    standby.wait_ready();
    let home_ok = home_with_pgpass(&format!("*:*:*:app:{APP_PASSWORD}\n"), 0o600);
    let home_open = home_with_pgpass(&format!("*:*:*:app:{APP_PASSWORD}\n"), 0o644);
    let ca = pki.path("ca.crt").display().to_string();
    let other_ca = pki.path("other-ca.crt").display().to_string();
    let sock = plain.socket_dir.display().to_string();
    let dead = free_port();
    let pw = APP_PASSWORD;
    let (p, t, s, pr) = (plain.port, tls.port, standby.port, primary.port);
    let cases: Vec<(String, Vec<(&str, String)>)> = vec![
        (plain.app_url(), vec![]),
        (plain.url("app", "wrong", "app"), vec![]),
        (
            format!("host=127.0.0.1 port={p} user=app dbname=app"),
            vec![("PGPASSWORD", pw.to_string())],
        ),
        (
            format!("host=127.0.0.1 port={p} user=app dbname=app"),
            vec![("HOME", home_ok.path().display().to_string())],
        ),
        (
            format!("host=127.0.0.1 port={p} user=app dbname=app"),
            vec![("HOME", home_open.path().display().to_string())],
        ),
        (
            format!("host=127.0.0.1 port={p} dbname=app"),
            vec![("PGUSER", "app".into()), ("PGPASSWORD", pw.to_string())],
        ),
        (
            format!("port={p} user=app dbname=app"),
            vec![("PGHOST", sock.clone())],
        ),
        (
            "dbname=app user=app".to_string(),
            vec![("PGHOST", sock.clone()), ("PGPORT", p.to_string())],
        ),
        (
            format!("host=127.0.0.1 port={p} user=app password={pw} dbname=nothing"),
            vec![],
        ),
        (
            format!("host=127.0.0.1 port={p} user=app password={pw} sslmode=require"),
            vec![],
        ),
        (
            format!("host=127.0.0.1 port={p} user=app password={pw} sslmode=prefer"),
            vec![],
        ),
        (
            format!("host=localhost port={t} user=app password={pw} sslmode=require"),
            vec![],
        ),
        (
            format!(
                "host=localhost port={t} user=app password={pw} sslmode=verify-full sslrootcert={ca}"
            ),
            vec![],
        ),
        (
            format!(
                "host=localhost port={t} user=app password={pw} sslmode=verify-full sslrootcert={other_ca}"
            ),
            vec![],
        ),
        (
            format!(
                "host=127.0.0.2 hostaddr=127.0.0.1 port={t} user=app password={pw} sslmode=verify-full sslrootcert={ca}"
            ),
            vec![],
        ),
        (
            format!(
                "host=127.0.0.2 hostaddr=127.0.0.1 port={t} user=app password={pw} sslmode=verify-ca sslrootcert={ca}"
            ),
            vec![],
        ),
        (
            format!("host=localhost port={t} user=app password={pw}"),
            vec![
                ("PGSSLMODE", "verify-full".into()),
                ("PGSSLROOTCERT", ca.clone()),
            ],
        ),
        (
            format!("host=127.0.0.1,127.0.0.1 port={dead},{p} user=app password={pw}"),
            vec![],
        ),
        (
            format!(
                "host=127.0.0.1,127.0.0.1 port={s},{pr} user=app password={pw} target_session_attrs=read-write"
            ),
            vec![],
        ),
        (
            format!(
                "host=127.0.0.1 port={s} user=app password={pw} target_session_attrs=read-write"
            ),
            vec![],
        ),
        (
            format!("host=127.0.0.1 port={pr} user=app password={pw} target_session_attrs=standby"),
            vec![],
        ),
        (
            format!(
                "host=127.0.0.1,127.0.0.1 port={pr},{s} user=app password={pw} target_session_attrs=prefer-standby"
            ),
            vec![],
        ),
    ];
    for (target, env) in cases {
        let want = psql_connects(&psql, &target, &env);
        let got = pgwait_connects(&target, &env);
        assert_eq!(
            got,
            want,
            "pgwait {} but psql {} for {target} with {env:?}",
            if got { "connected" } else { "did not connect" },
            if want { "did" } else { "did not" }
        );
    }
}

#[test]
fn a_uid_without_a_passwd_entry_falls_back_to_user_or_says_a_user_is_needed() {
    use std::os::unix::process::CommandExt;
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root to run pgwait as a UID without a passwd entry");
        return;
    }
    const NAMELESS: u32 = 54_321;
    let db = Cluster::running();
    let run_as_nameless = |user: Option<&str>| {
        let mut cmd = pgwait();
        cmd.uid(NAMELESS)
            .gid(NAMELESS)
            .env_remove("USER")
            .env_remove("HOME")
            .args([&format!(
                "host=127.0.0.1 port={} dbname=app password={APP_PASSWORD}",
                db.port
            )]);
        if let Some(user) = user {
            cmd.env("USER", user);
        }
        cmd.output().unwrap()
    };
    let out = run_as_nameless(None);
    assert_code(&out, 2);
    assert!(
        stderr(&out).contains("give one with PGUSER"),
        "{}",
        stderr(&out)
    );
    assert_code(&run_as_nameless(Some("app")), 0);
}
