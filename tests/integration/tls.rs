//! TLS with libpq's sslmode meanings, against servers with a throwaway CA.

use crate::harness::*;

fn tls_url(host: &str, port: u16, params: &str) -> String {
    format!("postgres://app:{APP_PASSWORD}@{host}:{port}/app?{params}")
}

#[test]
fn verify_full_with_the_right_ca_connects_over_tls() {
    let pki = Pki::new();
    let mut db = Cluster::new();
    db.start_tls(&pki, false);
    let ca = pki.path("ca.crt");
    let url = tls_url(
        "localhost",
        db.port,
        &format!("sslmode=verify-full&sslrootcert={}", ca.display()),
    );
    assert_code(&run(&[&url]), 0);
    // The server saw an encrypted session.
    assert!(
        db.server_log().contains("SSL enabled"),
        "{}",
        db.server_log()
    );
}

#[test]
fn verify_full_with_a_wrong_ca_is_permanent_and_names_the_file() {
    let pki = Pki::new();
    let mut db = Cluster::new();
    db.start_tls(&pki, false);
    let other = pki.path("other-ca.crt");
    let url = tls_url(
        "localhost",
        db.port,
        &format!("sslmode=verify-full&sslrootcert={}", other.display()),
    );
    let out = run(&[&url, "-t", "60s"]);
    assert_code(&out, 3);
    let err = stderr(&out);
    assert!(
        err.contains("tls: the server's certificate is not signed by a trusted CA"),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "sslmode=verify-full trusts only the CAs in sslrootcert \"{}\"",
            other.display()
        )),
        "{err}"
    );
}

#[test]
fn verify_full_with_a_wrong_host_name_fails_but_verify_ca_connects() {
    let pki = Pki::new();
    let mut db = Cluster::new();
    db.start_tls(&pki, false);
    let ca = pki.path("ca.crt").display().to_string();
    // The certificate names localhost and 127.0.0.1, not 127.0.0.2.
    let full = format!(
        "host=127.0.0.2 hostaddr=127.0.0.1 port={} user=app dbname=app password={APP_PASSWORD} sslmode=verify-full sslrootcert={ca}",
        db.port
    );
    let out = run(&[&full, "-t", "60s"]);
    assert_code(&out, 3);
    let err = stderr(&out);
    assert!(err.contains("not valid for host \"127.0.0.2\""), "{err}");
    assert!(err.contains("sslmode=verify-ca"), "{err}");
    let ca_only = full.replace("verify-full", "verify-ca");
    assert_code(&run(&[&ca_only]), 0);
}

#[test]
fn require_encrypts_without_verifying_and_prefer_falls_back_to_plaintext() {
    let pki = Pki::new();
    let mut tls = Cluster::new();
    tls.start_tls(&pki, false);
    assert_code(
        &run(&[&tls_url("127.0.0.1", tls.port, "sslmode=require")]),
        0,
    );
    assert!(tls.server_log().contains("SSL enabled"));

    let plain = Cluster::running();
    assert_code(
        &run(&[&tls_url("127.0.0.1", plain.port, "sslmode=prefer")]),
        0,
    );
    let out = run(&[
        &tls_url("127.0.0.1", plain.port, "sslmode=require"),
        "-t",
        "60s",
    ]);
    assert_code(&out, 3);
    let err = stderr(&out);
    assert!(
        err.contains("tls: the server does not accept TLS connections (sslmode=require)"),
        "{err}"
    );
    assert!(err.contains("ssl=off"), "{err}");
}

#[test]
fn require_with_a_root_certificate_verifies_the_chain() {
    let pki = Pki::new();
    let mut db = Cluster::new();
    db.start_tls(&pki, false);
    let other = pki.path("other-ca.crt").display().to_string();
    let out = run(&[
        &tls_url(
            "127.0.0.1",
            db.port,
            &format!("sslmode=require&sslrootcert={other}"),
        ),
        "-t",
        "60s",
    ]);
    assert_code(&out, 3);
    assert!(
        stderr(&out).contains("not signed by a trusted CA"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn verify_modes_without_a_root_certificate_say_how_to_give_one() {
    let pki = Pki::new();
    let mut db = Cluster::new();
    db.start_tls(&pki, false);
    let home = scratch();
    let out = pgwait()
        .arg(tls_url("localhost", db.port, "sslmode=verify-full"))
        .env("HOME", home.path())
        .output()
        .unwrap();
    assert_code(&out, 3);
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "root certificate file \"{}/.postgresql/root.crt\" does not exist",
            home.path().display()
        )),
        "{err}"
    );
    assert!(err.contains("sslrootcert=system"), "{err}");

    // The default file is used when it is there.
    std::fs::create_dir(home.path().join(".postgresql")).unwrap();
    std::fs::copy(pki.path("ca.crt"), home.path().join(".postgresql/root.crt")).unwrap();
    let out = pgwait()
        .arg(tls_url("localhost", db.port, "sslmode=verify-full"))
        .env("HOME", home.path())
        .output()
        .unwrap();
    assert_code(&out, 0);
}

#[test]
fn system_roots_do_not_trust_a_private_ca() {
    let pki = Pki::new();
    let mut db = Cluster::new();
    db.start_tls(&pki, false);
    let out = run(&[
        &tls_url(
            "localhost",
            db.port,
            "sslmode=verify-full&sslrootcert=system",
        ),
        "-t",
        "60s",
    ]);
    assert_code(&out, 3);
    let err = stderr(&out);
    assert!(err.contains("not signed by a trusted CA"), "{err}");
    assert!(err.contains("built-in web roots"), "{err}");
}

#[test]
fn client_certificates_are_sent_when_given() {
    let pki = Pki::new();
    let mut db = Cluster::new();
    db.set_hba("hostssl all all 127.0.0.1/32 cert");
    db.start_tls(&pki, true);
    let with_cert = format!(
        "host=localhost port={} user=app dbname=app sslmode=verify-full sslrootcert={} sslcert={} sslkey={}",
        db.port,
        pki.path("ca.crt").display(),
        pki.path("client.crt").display(),
        pki.path("client.key").display()
    );
    assert_code(&run(&[&with_cert]), 0);
    let without = format!(
        "host=localhost port={} user=app dbname=app sslmode=require",
        db.port
    );
    let out = run(&[&without, "-t", "60s"]);
    assert_code(&out, 3);
    let err = stderr(&out);
    assert!(
        err.contains("connection requires a valid client certificate (SQLSTATE 28000)"),
        "{err}"
    );
    assert!(err.contains("sslcert and sslkey in the target"), "{err}");
}

#[test]
fn allow_retries_with_tls_when_the_server_wants_it() {
    let pki = Pki::new();
    let mut db = Cluster::new();
    db.set_hba("hostssl all all 127.0.0.1/32 scram-sha-256");
    db.start_tls(&pki, false);
    let out = run(&[
        &tls_url("127.0.0.1", db.port, "sslmode=disable"),
        "-t",
        "60s",
    ]);
    assert_code(&out, 3);
    assert!(stderr(&out).contains("no encryption"), "{}", stderr(&out));
    assert_code(&run(&[&tls_url("127.0.0.1", db.port, "sslmode=allow")]), 0);
}
