//! A throwaway PostgreSQL for tests: one cluster per test binary, a fresh database per test.
//!
//! With `PASSBROKER_TEST_POSTGRES_URL` set (a role that may CREATE DATABASE), tests use that
//! server. Otherwise the first test to ask starts a cluster from the installed PostgreSQL
//! (`/usr/lib/postgresql/<newest>/bin`) in a temp dir on a free 127.0.0.1 port: as `nobody`
//! (via setpriv) when we are root, since initdb refuses root. A small shell parent holds it
//! with a parent-death signal: when the test binary exits, the cluster is shut down (fast)
//! and its directory removed.
//!
//! When PostgreSQL is missing, [`fresh_database`] prints a loud `SKIP` and returns `None`,
//! unless `PASSBROKER_REQUIRE_SERVICES=1`, when it panics.
//!
//! Shared by `passbroker-store/tests/postgres_conformance.rs` and the server's two-node tests
//! (`#[path = …] mod …;`).
#![allow(dead_code)]

use sqlx::Connection;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The admin URL of the shared cluster, or None when there is none (after saying why).
static CLUSTER: OnceLock<Option<String>> = OnceLock::new();

const NOBODY: u32 = 65534;

/// Reports a missing PostgreSQL: a loud SKIP, or a panic under PASSBROKER_REQUIRE_SERVICES=1.
pub fn missing(what: &str) {
    let msg = format!("SKIP: {what}");
    if std::env::var("PASSBROKER_REQUIRE_SERVICES").as_deref() == Ok("1") {
        panic!("{msg}");
    }
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "\n*** {msg} ***\n");
}

/// A new, empty database on the shared cluster; returns its URL (with the password).
pub async fn fresh_database() -> Option<String> {
    let admin = tokio::task::spawn_blocking(|| CLUSTER.get_or_init(cluster).clone())
        .await
        .expect("cluster start")?;
    let name = format!("pbtest_{}_{}", unix_secs(), random_suffix());
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .expect("admin connection to the test PostgreSQL");
    if !SWEPT.swap(true, std::sync::atomic::Ordering::SeqCst) {
        sweep(&mut conn).await;
    }
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("CREATE DATABASE");
    let _ = conn.close().await;
    Some(with_database(&admin, &name))
}

/// Test databases are left behind (a test may still be looking at one when another ends);
/// on a long-lived server (PASSBROKER_TEST_POSTGRES_URL) those older than an hour go when
/// the next test binary starts.
static SWEPT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

async fn sweep(conn: &mut sqlx::PgConnection) {
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname::text FROM pg_database WHERE datname LIKE 'pbtest\\_%'")
            .fetch_all(&mut *conn)
            .await
            .unwrap_or_default();
    let now = unix_secs();
    for name in names {
        let created: Option<u64> = name.split('_').nth(1).and_then(|s| s.parse().ok());
        if created.is_some_and(|c| now.saturating_sub(c) > 3_600) {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .execute(&mut *conn)
                .await;
        }
    }
}

fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The admin URL of the shared cluster (e.g. to look at a test database from outside).
pub async fn admin_url() -> Option<String> {
    tokio::task::spawn_blocking(|| CLUSTER.get_or_init(cluster).clone())
        .await
        .expect("cluster start")
}

/// `url` with its database (path) replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[authority_end..].find('/') {
        Some(slash) => &base[..authority_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

fn random_suffix() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.write_u32(std::process::id());
    format!("{:016x}", h.finish())
}

fn cluster() -> Option<String> {
    if let Ok(url) = std::env::var("PASSBROKER_TEST_POSTGRES_URL") {
        if !url.is_empty() {
            return Some(url);
        }
    }
    let Some(bin) = bin_dir() else {
        missing(
            "PostgreSQL is not installed (package postgresql), or set PASSBROKER_TEST_POSTGRES_URL",
        );
        return None;
    };
    let root = is_root();
    if root
        && Command::new("setpriv")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_err()
    {
        missing("setpriv (util-linux) is needed to run initdb as nobody");
        return None;
    }
    // The thread that spawns the cluster's parent must outlive every test: the parent-death
    // signal fires when it exits. It parks forever; the process exit ends it.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let started = std::panic::catch_unwind(|| start(&bin, root)).map_err(|_| ());
        let _ = tx.send(started);
        loop {
            std::thread::park();
        }
    });
    match rx.recv() {
        Ok(Ok(url)) => Some(url),
        _ => panic!("the test PostgreSQL did not start (see the message above)"),
    }
}

fn bin_dir() -> Option<PathBuf> {
    let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let version: u32 = e.file_name().to_string_lossy().parse().ok()?;
            let bin = e.path().join("bin");
            (bin.join("initdb").exists() && bin.join("postgres").exists()).then_some((version, bin))
        })
        .collect();
    dirs.sort();
    dirs.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Runs `program` as nobody when we are root.
fn unprivileged(program: &Path, root: bool) -> Command {
    if root {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn start(bin: &Path, root: bool) -> String {
    let (dir, data, password) = init_cluster(bin, root);
    let port = free_port();
    let server_log = dir.join("postgres.log");
    if root {
        let _ = std::fs::File::create(&server_log);
        let _ = std::os::unix::fs::chown(&server_log, Some(NOBODY), Some(NOBODY));
    }
    // sh holds postgres as a child: on TERM (our exit) it asks for a fast shutdown, waits,
    // and removes the directory.
    let script = r#"
        "$@" >"$PB_PG_DIR/postgres.log" 2>&1 &
        pg=$!
        trap 'kill -INT $pg 2>/dev/null' TERM INT HUP
        wait $pg
        wait $pg
        rm -rf "$PB_PG_DIR"
    "#;
    let postgres = bin.join("postgres");
    let mut cmd = Command::new("setpriv");
    cmd.args([
        "--pdeathsig",
        "TERM",
        "--",
        "sh",
        "-c",
        script,
        "pb-postgres",
    ]);
    if root {
        cmd.args([
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--",
        ]);
    }
    server_args(&mut cmd, &postgres, &data, &dir, port);
    cmd.env("PB_PG_DIR", &dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().expect("start postgres");
    wait_ready(
        bin,
        port,
        || child.try_wait().ok().flatten().map(|s| s.to_string()),
        &server_log,
    );
    // The child is not waited for: it lives as long as this process (see above).
    std::mem::forget(child);
    format!("postgres://postgres:{password}@127.0.0.1:{port}/postgres?sslmode=disable")
}

/// A new cluster directory (owned by nobody when we are root) with an initialised data dir;
/// returns the directory, the data dir and the superuser's password.
fn init_cluster(bin: &Path, root: bool) -> (PathBuf, PathBuf, String) {
    let dir = std::env::temp_dir().join(format!("pb-pgcluster-{}", random_suffix()));
    std::fs::create_dir_all(&dir).expect("cluster dir");
    let password = format!("pw{}", random_suffix());
    let pwfile = dir.join("pw");
    std::fs::write(&pwfile, format!("{password}\n")).expect("pwfile");
    if root {
        for p in [&dir, &pwfile] {
            std::os::unix::fs::chown(p, Some(NOBODY), Some(NOBODY)).expect("chown to nobody");
        }
    }
    let data = dir.join("data");
    let log = dir.join("initdb.log");
    let out = std::fs::File::create(&log).expect("initdb log");
    let status = unprivileged(&bin.join("initdb"), root)
        .arg("-D")
        .arg(&data)
        .args([
            "-U",
            "postgres",
            "--auth=scram-sha-256",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
        ])
        .arg(format!("--pwfile={}", pwfile.display()))
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("log"))
        .stderr(out)
        .status()
        .expect("run initdb");
    if !status.success() {
        let _ = std::fs::remove_dir_all(&dir);
        panic!(
            "initdb failed: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }
    (dir, data, password)
}

/// The postgres binary and its settings: 127.0.0.1:`port`, sockets in `dir`, no fsync.
fn server_args(cmd: &mut Command, postgres: &Path, data: &Path, dir: &Path, port: u16) {
    cmd.arg(postgres)
        .arg("-D")
        .arg(data)
        .args([
            "-c",
            "listen_addresses=127.0.0.1",
            "-p",
            &port.to_string(),
            "-k",
        ])
        .arg(dir)
        .args([
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
        ])
        .args([
            "-c",
            "max_connections=400",
            "-c",
            "shared_buffers=64MB",
            "-c",
            "logging_collector=off",
        ])
        .env("LC_ALL", "C");
}

/// Waits (at most 60 s) until the server on `port` accepts connections.
fn wait_ready(
    bin: &Path,
    port: u16,
    mut exited: impl FnMut() -> Option<String>,
    server_log: &Path,
) {
    let started = Instant::now();
    loop {
        if let Some(status) = exited() {
            panic!(
                "postgres exited ({status}): {}",
                std::fs::read_to_string(server_log).unwrap_or_default()
            );
        }
        let ready = Command::new(bin.join("pg_isready"))
            .args([
                "-q",
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-U",
                "postgres",
                "-d",
                "postgres",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ready {
            break;
        }
        if started.elapsed() > Duration::from_secs(60) {
            panic!(
                "postgres did not become ready in 60 s: {}",
                std::fs::read_to_string(server_log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A cluster of a test's own, which the test may stop and start again (a database outage)
/// without disturbing other tests. It never uses PASSBROKER_TEST_POSTGRES_URL (that server
/// cannot be stopped); without an installed PostgreSQL, [`OwnCluster::start`] says SKIP.
/// postgres gets a fast-shutdown signal if the test process dies; dropping the cluster stops
/// it and removes its directory.
pub struct OwnCluster {
    bin: PathBuf,
    root: bool,
    dir: PathBuf,
    data: PathBuf,
    port: u16,
    admin: String,
    running: Option<(u32, std::thread::JoinHandle<()>)>,
}

impl OwnCluster {
    pub fn start() -> Option<Self> {
        let Some(bin) = bin_dir() else {
            missing("PostgreSQL is not installed (package postgresql); a test that stops the database needs its own cluster");
            return None;
        };
        let root = is_root();
        let (dir, data, password) = init_cluster(&bin, root);
        let port = free_port();
        let admin =
            format!("postgres://postgres:{password}@127.0.0.1:{port}/postgres?sslmode=disable");
        let mut cluster = Self {
            bin,
            root,
            dir,
            data,
            port,
            admin,
            running: None,
        };
        cluster.resume();
        Some(cluster)
    }

    /// The URL of a new, empty database on this cluster.
    pub async fn fresh_database(&self) -> String {
        let name = format!("pbtest_{}_{}", unix_secs(), random_suffix());
        let mut conn = sqlx::PgConnection::connect(&self.admin)
            .await
            .expect("admin connection to the test's own PostgreSQL");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("CREATE DATABASE");
        let _ = conn.close().await;
        with_database(&self.admin, &name)
    }

    /// Stops the server (fast shutdown: sessions are cut) and waits until it has exited.
    pub fn stop(&mut self) {
        if let Some((pid, waiter)) = self.running.take() {
            let _ = Command::new("kill")
                .args(["-INT", &pid.to_string()])
                .status();
            let _ = waiter.join();
        }
    }

    /// Starts the server (again) on the same port and data, and waits until it is ready.
    pub fn resume(&mut self) {
        if self.running.is_some() {
            return;
        }
        let log = self.dir.join("postgres.log");
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("postgres log");
        // The parent-death signal is set after the user change (which would clear it), and
        // belongs to the thread that forks: the waiter, which lives as long as postgres.
        let mut cmd = if self.root {
            let mut c = Command::new("setpriv");
            c.args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "--",
                "setpriv",
            ]);
            c
        } else {
            Command::new("setpriv")
        };
        cmd.args(["--pdeathsig", "INT", "--"]);
        server_args(
            &mut cmd,
            &self.bin.join("postgres"),
            &self.data,
            &self.dir,
            self.port,
        );
        cmd.stdin(Stdio::null())
            .stdout(out.try_clone().expect("log"))
            .stderr(out);
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter = std::thread::spawn(move || match cmd.spawn() {
            Ok(mut child) => {
                let _ = tx.send(Some(child.id()));
                let _ = child.wait();
            }
            Err(_) => {
                let _ = tx.send(None);
            }
        });
        let pid = rx
            .recv()
            .ok()
            .flatten()
            .expect("start the test's own postgres");
        wait_ready(
            &self.bin,
            self.port,
            || waiter.is_finished().then(|| "exited".to_owned()),
            &log,
        );
        self.running = Some((pid, waiter));
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
