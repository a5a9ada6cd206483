//! Throwaway PostgreSQL clusters and helpers for driving the real pgwait binary.
//!
//! A template cluster is made with `initdb` once per test run (roles included) and copied
//! for each test, which is much faster than initdb per test. Each cluster gets its own
//! port and socket directory, listens on 127.0.0.1 with SCRAM password authentication, and
//! is stopped when its test ends, also on panic. As root, servers run as the `postgres`
//! OS user, since PostgreSQL refuses to run as root.

use std::ffi::CString;
use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The superuser's password in every test cluster.
pub const SUPERUSER_PASSWORD: &str = "postgres-test-pw";
/// Role `app`, owner of database `app`, exists in every test cluster with this password.
pub const APP_PASSWORD: &str = "app-test-pw";

/// Generous bound for things that should take milliseconds.
pub const PATIENCE: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------
// The binary

/// A pgwait command with a clean environment: no DATABASE_URL, PG* or PGWAIT_* from the
/// developer's shell can change what a test sees.
pub fn pgwait() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pgwait"));
    for (key, _) in std::env::vars_os() {
        let key_str = key.to_string_lossy();
        if key_str == "DATABASE_URL" || key_str.starts_with("PG") || key_str == "NO_COLOR" {
            cmd.env_remove(&key);
        }
    }
    cmd.stdin(Stdio::null());
    cmd
}

/// Runs pgwait to completion.
pub fn run(args: &[&str]) -> Output {
    pgwait().args(args).output().expect("pgwait runs")
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Asserts the exit code and shows stderr when it differs.
#[track_caller]
pub fn assert_code(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "exit status {:?}\nstderr:\n{}\nstdout:\n{}",
        out.status,
        stderr(out),
        stdout(out)
    );
}

/// A pgwait process whose stderr is read line by line while it runs.
pub struct Running {
    pub child: Child,
    lines: mpsc::Receiver<String>,
    seen: Arc<Mutex<String>>,
    stdout: Option<std::thread::JoinHandle<String>>,
}

impl Running {
    pub fn spawn(cmd: &mut Command) -> Running {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("pgwait starts");
        let (tx, rx) = mpsc::channel();
        let seen = Arc::new(Mutex::new(String::new()));
        let seen_writer = seen.clone();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                let mut all = seen_writer.lock().unwrap();
                all.push_str(&line);
                all.push('\n');
                let _ = tx.send(line);
            }
        });
        let mut out = child.stdout.take().unwrap();
        let stdout = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = out.read_to_string(&mut s);
            s
        });
        Running {
            child,
            lines: rx,
            seen,
            stdout: Some(stdout),
        }
    }

    /// Waits until pgwait has written a stderr line containing `needle` (at any time since
    /// it started), and returns that line.
    #[track_caller]
    pub fn expect_line(&self, needle: &str) -> String {
        let end = Instant::now() + PATIENCE;
        loop {
            if let Some(line) = self.stderr().lines().find(|l| l.contains(needle)) {
                return line.to_string();
            }
            if Instant::now() > end {
                panic!(
                    "no stderr line with {needle:?} within {PATIENCE:?}; stderr so far:\n{}",
                    self.stderr()
                );
            }
            let _ = self.lines.recv_timeout(Duration::from_millis(50));
        }
    }

    /// Everything pgwait wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.seen.lock().unwrap().clone()
    }

    pub fn still_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Waits for the exit (bounded) and returns its status and stdout.
    #[track_caller]
    pub fn finish(&mut self) -> (ExitStatus, String) {
        let end = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let out = self
                    .stdout
                    .take()
                    .map(|h| h.join().unwrap())
                    .unwrap_or_default();
                // Let the reader thread drain what is left.
                std::thread::sleep(Duration::from_millis(20));
                return (status, out);
            }
            if Instant::now() > end {
                let _ = self.child.kill();
                panic!(
                    "pgwait did not exit within {PATIENCE:?}; stderr:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn signal(&self, signal: i32) {
        unsafe {
            libc::kill(self.child.id() as i32, signal);
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------
// Ports and fake servers

/// A port that nothing listens on, distinct for every call in this run. Chosen below the
/// kernel's ephemeral range so that outgoing connections do not take it meanwhile.
pub fn free_port() -> u16 {
    static NEXT: OnceLock<AtomicU16> = OnceLock::new();
    let next =
        NEXT.get_or_init(|| AtomicU16::new(15_000 + (std::process::id() % 1_500) as u16 * 10));
    loop {
        let port = next.fetch_add(1, Ordering::SeqCst);
        assert!(port < 32_000, "ran out of test ports");
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// A listener that accepts connections and never says anything. Counts what it accepted.
pub struct SilentListener {
    pub port: u16,
    pub accepted: mpsc::Receiver<()>,
}

impl SilentListener {
    pub fn start() -> SilentListener {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming() {
                let Ok(stream) = stream else { break };
                held.push(stream);
                if tx.send(()).is_err() {
                    break;
                }
            }
        });
        SilentListener { port, accepted: rx }
    }
}

/// A listener that answers every connection with `reply` (possibly nothing) and closes it.
pub fn replying_listener(reply: &'static [u8]) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            use std::io::Write;
            let _ = stream.write_all(reply);
        }
    });
    port
}

// ---------------------------------------------------------------------------------------
// PostgreSQL clusters

fn bindir() -> PathBuf {
    if let Some(dir) = std::env::var_os("PG_BINDIR") {
        return PathBuf::from(dir);
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if dir.join("initdb").exists() {
            return dir;
        }
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, dir)| dir).expect(
        "PostgreSQL server binaries not found: set PG_BINDIR, or install postgresql (see .ci/run)",
    )
}

/// The OS user the servers run as: `postgres` when we are root, else ourselves.
fn server_user() -> Option<(u32, u32)> {
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let name = CString::new("postgres").unwrap();
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    assert!(!pw.is_null(), "running as root needs a `postgres` OS user");
    unsafe { Some(((*pw).pw_uid, (*pw).pw_gid)) }
}

fn as_server_user(cmd: &mut Command) -> &mut Command {
    if let Some((uid, gid)) = server_user() {
        cmd.uid(uid).gid(gid);
    }
    cmd
}

fn give_to_server_user(path: &Path) {
    if let Some((uid, gid)) = server_user() {
        std::os::unix::fs::chown(path, Some(uid), Some(gid)).unwrap();
    }
}

/// A directory the server user owns, removed at the end.
fn server_owned_tempdir(prefix: &str) -> tempfile::TempDir {
    let dir = tempfile::Builder::new().prefix(prefix).tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    give_to_server_user(dir.path());
    dir
}

#[track_caller]
fn run_ok(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

struct Template {
    _root: tempfile::TempDir,
    data: PathBuf,
}

/// initdb once per run, with the roles every test uses.
fn template() -> &'static Template {
    static TEMPLATE: OnceLock<Template> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let root = server_owned_tempdir("pgwait-template-");
        let data = root.path().join("data");
        let pwfile = root.path().join("pw");
        std::fs::write(&pwfile, SUPERUSER_PASSWORD).unwrap();
        give_to_server_user(&pwfile);
        run_ok(
            as_server_user(&mut Command::new(bindir().join("initdb")))
                .arg("-D")
                .arg(&data)
                .args(["-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync"])
                .args(["--auth-local=trust", "--auth-host=scram-sha-256"])
                .arg(format!("--pwfile={}", pwfile.display())),
        );
        let mut boot = Cluster::from_data(root.path(), data.clone());
        boot.start();
        boot.wait_ready();
        boot.sql(&format!("CREATE ROLE app LOGIN PASSWORD '{APP_PASSWORD}'"));
        boot.sql("CREATE DATABASE app OWNER app");
        boot.stop();
        Template { _root: root, data }
    })
}

/// A PostgreSQL server of our own: a copy of the template with its own port and socket
/// directory. Not started until [`Cluster::start`]; stopped on drop.
pub struct Cluster {
    _dir: Option<tempfile::TempDir>,
    pub data: PathBuf,
    pub port: u16,
    pub socket_dir: PathBuf,
    pub log: PathBuf,
    child: Option<Child>,
}

impl Cluster {
    /// A fresh cluster, not yet started.
    pub fn new() -> Cluster {
        let template = template();
        let dir = server_owned_tempdir("pgwait-cluster-");
        let data = dir.path().join("data");
        run_ok(Command::new("cp").arg("-a").arg(&template.data).arg(&data));
        let mut cluster = Cluster::from_data(dir.path(), data);
        cluster._dir = Some(dir);
        cluster
    }

    /// A fresh cluster, started and accepting connections.
    pub fn running() -> Cluster {
        let mut cluster = Cluster::new();
        cluster.start();
        cluster.wait_ready();
        cluster
    }

    fn from_data(root: &Path, data: PathBuf) -> Cluster {
        let socket_dir = root.join("sock");
        std::fs::create_dir_all(&socket_dir).unwrap();
        give_to_server_user(&socket_dir);
        Cluster {
            _dir: None,
            data,
            port: free_port(),
            socket_dir,
            log: root.join("server.log"),
            child: None,
        }
    }

    /// Starts the server listening on 127.0.0.1 and its socket directory. Does not wait.
    pub fn start(&mut self) {
        self.start_with(&["-c", "listen_addresses=127.0.0.1"]);
    }

    /// Starts the server with extra `postgres` arguments (e.g. `listen_addresses=` for a
    /// socket-only server). Does not wait.
    pub fn start_with(&mut self, extra: &[&str]) {
        assert!(self.child.is_none(), "server already started");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = as_server_user(&mut Command::new(bindir().join("postgres")))
            .arg("-D")
            .arg(&self.data)
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-k")
            .arg(&self.socket_dir)
            .args(["-c", "shared_buffers=1MB", "-c", "max_connections=20"])
            .args(["-c", "fsync=off", "-c", "log_connections=on"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("postgres starts");
        self.child = Some(child);
    }

    /// Waits until the server accepts a superuser login over its socket.
    #[track_caller]
    pub fn wait_ready(&self) {
        let end = Instant::now() + PATIENCE;
        loop {
            match self.admin_client() {
                Ok(_) => return,
                Err(e) if Instant::now() > end => {
                    panic!("test server not ready: {e}\n{}", self.server_log())
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }

    fn admin_client(&self) -> Result<postgres::Client, postgres::Error> {
        self.client_for("postgres")
    }

    /// A superuser connection over the socket, to the given database.
    pub fn client_for(&self, dbname: &str) -> Result<postgres::Client, postgres::Error> {
        postgres::Config::new()
            .host_path(&self.socket_dir)
            .port(self.port)
            .user("postgres")
            .dbname(dbname)
            .connect(postgres::NoTls)
    }

    /// Runs SQL as the superuser in database `postgres`.
    #[track_caller]
    pub fn sql(&self, sql: &str) {
        self.sql_in("postgres", sql);
    }

    /// Runs SQL as the superuser in the given database.
    #[track_caller]
    pub fn sql_in(&self, dbname: &str, sql: &str) {
        let mut client = self
            .client_for(dbname)
            .unwrap_or_else(|e| panic!("admin connection: {}", pg_error(&e)));
        client
            .batch_execute(sql)
            .unwrap_or_else(|e| panic!("{sql}: {}", pg_error(&e)));
    }

    /// Replaces pg_hba.conf (before start, or followed by a reload).
    pub fn set_hba(&self, lines: &str) {
        let path = self.data.join("pg_hba.conf");
        std::fs::write(
            &path,
            format!("local all all trust\nlocal replication all trust\n{lines}\n"),
        )
        .unwrap();
        give_to_server_user(&path);
    }

    /// A streaming standby of this (running) server, made with `pg_basebackup -R`. Not
    /// started.
    pub fn standby(&self) -> Cluster {
        let dir = server_owned_tempdir("pgwait-standby-");
        let data = dir.path().join("data");
        run_ok(
            as_server_user(&mut Command::new(bindir().join("pg_basebackup")))
                .arg("-h")
                .arg(&self.socket_dir)
                .args([
                    "-p",
                    &self.port.to_string(),
                    "-U",
                    "postgres",
                    "-R",
                    "-X",
                    "stream",
                ])
                .arg("-D")
                .arg(&data),
        );
        let mut standby = Cluster::from_data(dir.path(), data);
        standby._dir = Some(dir);
        standby
    }

    /// Promotes a standby (pg_ctl promote, which works without a login).
    pub fn promote(&self) {
        run_ok(
            as_server_user(&mut Command::new(bindir().join("pg_ctl")))
                .arg("promote")
                .arg("-D")
                .arg(&self.data),
        );
    }

    /// How many logins the server log shows for a user so far (needs log_connections).
    pub fn logins(&self, user: &str) -> usize {
        let needle = format!("connection authorized: user={user} ");
        self.server_log().matches(&needle).count()
    }

    /// Stops the server (fast shutdown) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            unsafe {
                libc::kill(child.id() as i32, libc::SIGINT);
            }
            let end = Instant::now() + PATIENCE;
            while child.try_wait().ok().flatten().is_none() {
                if Instant::now() > end {
                    let _ = child.kill();
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = child.wait();
        }
    }

    pub fn server_log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `postgres://USER:PASSWORD@127.0.0.1:PORT/DB`
    pub fn url(&self, user: &str, password: &str, db: &str) -> String {
        format!("postgres://{user}:{password}@127.0.0.1:{}/{db}", self.port)
    }

    /// The app role's URL.
    pub fn app_url(&self) -> String {
        self.url("app", APP_PASSWORD, "app")
    }
}

/// A postgres error with the server's message, which its Display leaves out.
pub fn pg_error(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {} ({})", e, db.message(), db.code().code()),
        None => e.to_string(),
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}

// ---------------------------------------------------------------------------------------
// Certificates (openssl CLI)

/// A throwaway certificate authority with a server certificate for `localhost` and
/// 127.0.0.1, and a client certificate for user `app`.
pub struct Pki {
    pub dir: tempfile::TempDir,
}

impl Pki {
    pub fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki { dir };
        pki.ca("ca", "pgwait test CA");
        pki.ca("other-ca", "some other CA");
        pki.leaf(
            "server",
            "localhost",
            Some("subjectAltName=DNS:localhost,IP:127.0.0.1"),
        );
        pki.leaf("client", "app", None);
        pki
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn openssl(&self, args: &[&str]) {
        run_ok(
            Command::new("openssl")
                .current_dir(self.dir.path())
                .args(args),
        );
    }

    /// `openssl req` with a new P-256 key in NAME.key, then `extra` (what to make).
    fn req_with_new_key(&self, name: &str, subject: &str, extra: &[&str]) {
        let key = format!("{name}.key");
        let subject = format!("/CN={subject}");
        let mut args = vec![
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ];
        args.extend(["-nodes", "-keyout", &key, "-subj", &subject]);
        args.extend(extra);
        self.openssl(&args);
    }

    fn ca(&self, name: &str, subject: &str) {
        let crt = format!("{name}.crt");
        self.req_with_new_key(name, subject, &["-x509", "-days", "2", "-out", &crt]);
    }

    fn leaf(&self, name: &str, cn: &str, extensions: Option<&str>) {
        let csr = format!("{name}.csr");
        self.req_with_new_key(name, cn, &["-new", "-out", &csr]);
        let ext = self.path(&format!("{name}.ext"));
        std::fs::write(&ext, extensions.unwrap_or("basicConstraints=CA:FALSE")).unwrap();
        self.openssl(&[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &format!("{name}.crt"),
            "-days",
            "2",
            "-extfile",
            &format!("{name}.ext"),
        ]);
        std::fs::set_permissions(
            self.path(&format!("{name}.key")),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
    }
}

impl Cluster {
    /// Starts the server with TLS on (its certificate from `pki`), listening on 127.0.0.1.
    /// With `client_ca`, it also trusts client certificates signed by the test CA.
    pub fn start_tls(&mut self, pki: &Pki, client_ca: bool) {
        for name in ["server.crt", "server.key", "ca.crt"] {
            let to = self.data.join(name);
            std::fs::copy(pki.path(name), &to).unwrap();
            std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600)).unwrap();
            give_to_server_user(&to);
        }
        let mut args = vec![
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "ssl=on",
            "-c",
            "ssl_cert_file=server.crt",
            "-c",
            "ssl_key_file=server.key",
        ];
        if client_ca {
            args.extend(["-c", "ssl_ca_file=ca.crt"]);
        }
        self.start_with(&args);
        self.wait_ready();
    }
}

/// psql, when it is installed (for differential tests).
pub fn psql() -> Option<PathBuf> {
    let candidates = [bindir().join("psql"), PathBuf::from("/usr/bin/psql")];
    candidates.into_iter().find(|p| p.exists())
}

/// A temporary directory for files a test writes (markers, scripts).
pub fn scratch() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// Writes an executable shell script and returns its path.
pub fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}
