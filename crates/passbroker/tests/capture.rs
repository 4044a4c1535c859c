//! Password capture end to end (`cargo test -- capture`): the `passbroker capture` agents
//! against a running `passbroker serve`, with real systems.
//!
//! - `capture_spool_*`: the server down while a change is captured (only the ciphertext is
//!   spooled), started again, the change delivered once; a spooled change past its TTL
//!   dropped and reported.
//! - `capture_pam_*`: the agent on a PAM `password` stack, driven by `pamtester` on a PAM
//!   service file of the test's own (root; no real account is touched): through the
//!   pam_python module of `packaging/pam/`, and through `pam_exec.so expose_authtok` where
//!   pam_exec passes the new password on the password stack.
//! - `capture_samba_*`: a Samba AD DC (the connector tests' fixture, root and 127.0.0.1:389/636),
//!   `samba-tool user syncpasswords --script` with the agent; the user changes their own
//!   password over LDAPS (`unicodePwd` delete + add, as Windows does) and then logs in to
//!   OpenLDAP and PostgreSQL (real servers) with it; passbroker writes Samba zero times.

#[path = "../../passbroker-connectors/tests/fixtures/mod.rs"]
mod fixtures;
mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use support::Server;

const BIN: &str = env!("CARGO_BIN_EXE_passbroker");
const AGENT_SCOPE: &str = "passbroker:password-capture:write";

/// A `passbroker serve --demo` node on a port of its own, which can be stopped and started
/// again on the same port (the agents keep its URL).
struct Node {
    dir: PathBuf,
    port: u16,
    server: Option<Server>,
}

impl Node {
    async fn start(dir: &Path) -> Node {
        let mut node = Node {
            dir: dir.to_path_buf(),
            port: support::free_port(),
            server: None,
        };
        node.up().await;
        node
    }
    fn cmd(&self) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.arg("--data-dir")
            .arg(&self.dir)
            .env_remove("PASSBROKER_CONFIG")
            .env_remove("PASSBROKER_DATABASE_URL")
            .env("PASSBROKER_RATE_LIMIT_REQUESTS", "100000")
            .env("PASSBROKER_CLIENT_RATE_LIMIT_REQUESTS", "100000")
            .stdin(Stdio::null());
        cmd
    }
    async fn up(&mut self) {
        let log = self.dir.join("server.log");
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let child = self
            .cmd()
            .args([
                "serve",
                "--demo",
                "--listen",
                &format!("127.0.0.1:{}", self.port),
            ])
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        let base = self.base();
        let server = Server { child, base };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = reqwest::get(format!("{}/health/ready", self.base())).await {
                if r.status() == 200 {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "server did not become ready");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        self.server = Some(server);
    }
    fn down(&mut self) {
        if let Some(s) = self.server.take() {
            s.stop_gracefully();
        }
    }
    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
    /// Runs a `passbroker` admin command on this node's data; returns its standard output.
    fn admin(&self, args: &[&str]) -> String {
        let out = self.cmd().args(args).output().unwrap();
        assert!(
            out.status.success(),
            "passbroker {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
    fn apply(&self, yaml: &str) {
        let file = self.dir.join("tenant.yaml");
        std::fs::write(&file, yaml).unwrap();
        self.admin(&["tenant", "apply", file.to_str().unwrap()]);
    }
    /// A capture agent's API client bound to `source`: its id and a file with its secret.
    fn agent_client(&self, source: &str) -> (String, PathBuf) {
        let out = self.admin(&[
            "clients",
            "create",
            "--name",
            "capture agent",
            "--scopes",
            AGENT_SCOPE,
            "--capture-source",
            source,
            "--json",
        ]);
        let v: Value = serde_json::from_str(out.trim()).unwrap();
        let secret_file = self.dir.join("agent-secret");
        std::fs::write(&secret_file, v["clientSecret"].as_str().unwrap()).unwrap();
        (v["clientId"].as_str().unwrap().to_owned(), secret_file)
    }
    async fn token(&self) -> String {
        let creds: Value = serde_json::from_str(
            &std::fs::read_to_string(self.dir.join("demo-credentials.json")).unwrap(),
        )
        .unwrap();
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", creds["clientId"].as_str().unwrap()),
            ("client_secret", creds["clientSecret"].as_str().unwrap()),
        ];
        let tok: Value = reqwest::Client::new()
            .post(format!("{}/oauth/token", self.base()))
            .form(&form)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        tok["access_token"].as_str().unwrap().to_owned()
    }
    async fn get(&self, path: &str) -> Value {
        let token = self.token().await;
        let r = reqwest::Client::new()
            .get(format!("{}{path}", self.base()))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "GET {path}");
        r.json().await.unwrap()
    }
    async fn source_id(&self, name: &str) -> String {
        let list = self.get("/v3/sources?limit=250").await;
        list.as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no source {name}"))["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }
    async fn identity_id(&self, login: &str) -> String {
        let list = self.get("/passbroker/v1/identities?limit=250").await;
        list.as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == login)
            .unwrap_or_else(|| panic!("no identity {login}"))["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }
    /// The identity's audit events (the latest 250).
    async fn audit_of(&self, identity: &str) -> Vec<Value> {
        let v = self
            .get(&format!(
                "/passbroker/v1/audit-events?identityId={identity}&limit=250"
            ))
            .await;
        v.as_array().unwrap().clone()
    }
    /// Polls a request's status until it ends (bounded); returns the last status.
    async fn wait_terminal(&self, id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let v = self.get(&format!("/v3/password-change-status/{id}")).await;
            if v["state"] != "IN_PROGRESS" {
                return v;
            }
            assert!(Instant::now() < deadline, "request {id} did not end: {v}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.server.take();
    }
}

/// The agent's arguments for this node.
fn agent_args(
    node: &Node,
    client: &(String, PathBuf),
    source_id: &str,
    spool: &Path,
) -> Vec<String> {
    vec![
        "--server".into(),
        node.base(),
        "--client-id".into(),
        client.0.clone(),
        "--client-secret-file".into(),
        client.1.display().to_string(),
        "--source-id".into(),
        source_id.into(),
        "--spool-dir".into(),
        spool.display().to_string(),
        "--timeout-secs".into(),
        "5".into(),
    ]
}

/// Runs `passbroker capture SUB ARGS` with `stdin` and `env`.
fn capture(
    sub: &str,
    args: &[String],
    extra: &[&str],
    env: &[(&str, &str)],
    stdin: &[u8],
) -> Output {
    use std::io::Write;
    let mut cmd = Command::new(BIN);
    cmd.arg("capture").arg(sub).args(args).args(extra);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The request ids an agent's output names as delivered.
fn delivered(output: &str) -> Vec<String> {
    output
        .lines()
        .filter_map(|l| l.split("delivered: request ").nth(1))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

fn spool_files(spool: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(spool)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("c-"))
        })
        .collect();
    v.sort();
    v
}

const HOST_TENANT: &str = r#"
identities:
  - { userName: carol, displayName: Carol }
sources:
  - { name: Host-PAM, features: [PASSWORD], connector: simulated }
  - { name: Mail, features: [PASSWORD], connector: simulated }
  - { name: Wiki, features: [PASSWORD], connector: simulated }
accounts:
  - { identity: carol, source: Host-PAM, accountId: carol }
  - { identity: carol, source: Mail, accountId: carol@example.com }
  - { identity: carol, source: Wiki, accountId: carol }
syncGroups:
  - { name: Hosts, policy: Default Policy, sources: [Host-PAM, Mail, Wiki] }
"#;

/// Requests passbroker created for the identity (one audit event each).
fn requested(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["action"] == "PASSWORD_CHANGE_REQUESTED")
        .map(|e| e["requestId"].as_str().unwrap_or("").to_owned())
        .collect()
}

#[tokio::test]
async fn capture_spool_holds_ciphertexts_while_the_server_is_down_delivers_once_and_drops_past_ttl()
{
    let dir = tempfile::tempdir().unwrap();
    let mut node = Node::start(dir.path()).await;
    node.apply(HOST_TENANT);
    let client = node.agent_client("Host-PAM");
    let origin = node.source_id("Host-PAM").await;
    let others = [node.source_id("Mail").await, node.source_id("Wiki").await];
    let carol = node.identity_id("carol").await;
    let spool = dir.path().join("spool");
    let args = agent_args(&node, &client, &origin, &spool);
    let pam_env = [("PAM_TYPE", "password"), ("PAM_USER", "carol")];

    // Installing the agent: one flush while the server is up keeps its public key.
    let out = capture("flush", &args, &[], &[], b"");
    assert!(out.status.success(), "{}", text(&out));
    assert!(spool.join("public-key.json").is_file());

    // The server goes down; a change is captured: only its ciphertext is spooled, 0600.
    node.down();
    let password = "Spooled-Passw0rd-42";
    let out = capture(
        "pam",
        &args,
        &[],
        &pam_env,
        format!("{password}\0").as_bytes(),
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("spooled"), "{}", text(&out));
    let files = spool_files(&spool);
    assert_eq!(files.len(), 1, "{files:?}");
    let meta = std::fs::metadata(&files[0]).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
        0o600
    );
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&spool).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o700);
    let stored = std::fs::read_to_string(&files[0]).unwrap();
    assert!(!stored.contains(password) && stored.contains("encryptedPassword"));

    // Up again: the next flush delivers it, once.
    node.up().await;
    let out = capture("flush", &args, &[], &[], b"");
    assert!(out.status.success(), "{}", text(&out));
    let ids = delivered(&text(&out));
    assert_eq!(ids.len(), 1, "{}", text(&out));
    assert!(spool_files(&spool).is_empty());
    let status = node.wait_terminal(&ids[0]).await;
    assert_eq!(status["state"], "FINISHED", "{status}");
    let mut targets: Vec<String> = status["sourceIds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect();
    targets.sort();
    let mut expected = others.to_vec();
    expected.sort();
    assert_eq!(targets, expected, "the other sources, never the origin");
    let out = capture("flush", &args, &[], &[], b"");
    assert!(
        out.status.success() && delivered(&text(&out)).is_empty(),
        "{}",
        text(&out)
    );
    assert_eq!(
        requested(&node.audit_of(&carol).await),
        ids,
        "delivered once"
    );

    // A change spooled longer than the TTL is dropped and reported, never delivered.
    node.down();
    let out = capture("pam", &args, &[], &pam_env, b"Expired-Passw0rd-43\0");
    assert!(out.status.success(), "{}", text(&out));
    let files = spool_files(&spool);
    assert_eq!(files.len(), 1);
    let mut entry: Value =
        serde_json::from_str(&std::fs::read_to_string(&files[0]).unwrap()).unwrap();
    let two_days = 2 * 24 * 3600 * 1000;
    entry["capturedMs"] = Value::from(entry["capturedMs"].as_i64().unwrap() - two_days);
    std::fs::write(&files[0], entry.to_string()).unwrap();
    node.up().await;
    let out = capture("flush", &args, &[], &[], b"");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("DROPPED") && text(&out).contains("TTL"),
        "{}",
        text(&out)
    );
    assert!(spool_files(&spool).is_empty());
    assert_eq!(
        requested(&node.audit_of(&carol).await),
        ids,
        "nothing more was delivered"
    );
    node.down();
}

/// Test scaffolding standing in for pam_unix (no real account is touched): a pam_python
/// module that asks for the new password and sets it as the stack's PAM_AUTHTOK.
const SET_TOKEN_MODULE: &str = "\
def pam_sm_chauthtok(pamh, flags, argv):
    if flags & pamh.PAM_PRELIM_CHECK:
        return pamh.PAM_SUCCESS
    answer = pamh.conversation(pamh.Message(pamh.PAM_PROMPT_ECHO_OFF, 'New password: '))
    pamh.authtok = answer.resp
    return pamh.PAM_SUCCESS
";

/// The repository's pam_python capture module (installed by the Debian package).
fn capture_module() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packaging/pam/passbroker_capture.py")
}

/// Runs `pamtester SERVICE carol chauthtok` on a service file of the test's own whose
/// password stack is the token setter, then `capture_line`; returns pamtester's output.
fn chauthtok(dir: &Path, capture_line: &str, password: &str) -> Output {
    use std::io::Write;
    let setter = dir.join("set_token.py");
    std::fs::write(&setter, SET_TOKEN_MODULE).unwrap();
    let name = format!("pb-capture-test-{}", support::free_port());
    let service = PamService(PathBuf::from("/etc/pam.d").join(&name));
    std::fs::write(
        &service.0,
        format!(
            "auth     sufficient pam_permit.so\naccount  sufficient pam_permit.so\n\
             password required   pam_python.so {}\n{capture_line}\n",
            setter.display()
        ),
    )
    .unwrap();
    let mut child = Command::new("pamtester")
        .args([name.as_str(), "carol", "chauthtok"])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(format!("{password}\n").as_bytes()).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    drop(service);
    out
}

/// Whether pam_exec hands a command on the password stack the new password (not in
/// Linux-PAM 1.5.2, Debian 12's: expose_authtok is for the auth type only there).
fn pam_exec_exposes_new_passwords(dir: &Path) -> bool {
    let probe = dir.join("probe.sh");
    let seen = dir.join("probe.out");
    std::fs::write(&probe, format!("#!/bin/sh\ncat > {}\n", seen.display())).unwrap();
    std::fs::set_permissions(&probe, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let line = format!(
        "password required   pam_exec.so expose_authtok {}",
        probe.display()
    );
    let out = chauthtok(dir, &line, "Probe-Passw0rd-1");
    out.status.success() && std::fs::read(&seen).is_ok_and(|b| b.starts_with(b"Probe-Passw0rd-1"))
}

/// A PAM service file of the test's own in /etc/pam.d (pamtester looks only there),
/// removed when dropped.
struct PamService(PathBuf);

impl Drop for PamService {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Waits for the next request passbroker creates for `identity` beyond `known`.
async fn next_request(node: &Node, identity: &str, known: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ids = requested(&node.audit_of(identity).await);
        if ids.len() > known {
            return ids[0].clone();
        }
        assert!(Instant::now() < deadline, "the agent reported nothing");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn capture_pam_agent_reports_a_chauthtok_under_pamtester() {
    if !fixtures::is_root() {
        fixtures::loud("SKIP: the PAM capture test needs root (a service file in /etc/pam.d)");
        return;
    }
    if !Path::new("/usr/bin/pamtester").exists() {
        fixtures::missing("pamtester");
        return;
    }
    if ![
        "/lib/security/pam_python.so",
        "/usr/lib/security/pam_python.so",
    ]
    .iter()
    .any(|p| Path::new(p).exists())
    {
        fixtures::missing("pam_python (libpam-python)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path()).await;
    node.apply(HOST_TENANT);
    let client = node.agent_client("Host-PAM");
    let origin = node.source_id("Host-PAM").await;
    let carol = node.identity_id("carol").await;
    let spool = dir.path().join("spool");
    let args = agent_args(&node, &client, &origin, &spool).join(" ");
    let check = |id: String, password: &'static str| {
        let node = &node;
        let origin = origin.clone();
        let spool = spool.clone();
        async move {
            let status = node.wait_terminal(&id).await;
            assert_eq!(status["state"], "FINISHED", "{status}");
            assert!(!status["sourceIds"].to_string().contains(&origin));
            assert_eq!(status["sourceIds"].as_array().unwrap().len(), 2);
            assert!(spool_files(&spool).is_empty());
            let log = std::fs::read_to_string(node.dir.join("server.log")).unwrap_or_default();
            assert!(
                !log.contains(password),
                "no trace of the password in the server's log"
            );
        }
    };

    // The pam_python module the package installs (any Linux-PAM).
    let password = "Pam-Changed-Passw0rd-7";
    let line = format!(
        "password required   pam_python.so {} {BIN} capture pam {args}",
        capture_module().display()
    );
    let out = chauthtok(dir.path(), &line, password);
    assert!(out.status.success(), "pamtester: {}", text(&out));
    check(next_request(&node, &carol, 0).await, password).await;

    // pam_exec expose_authtok, where pam_exec passes the password on the password stack.
    if !pam_exec_exposes_new_passwords(dir.path()) {
        fixtures::loud("SKIP (pam_exec part only): this pam_exec gives expose_authtok to the auth type only (Linux-PAM 1.5.2, Debian 12); the pam_python module above is the way there");
        return;
    }
    let log = dir.path().join("pam_exec.log").display().to_string();
    let password = "Pam-Exec-Passw0rd-8";
    let line = format!(
        "password required   pam_exec.so expose_authtok quiet log={log} {BIN} capture pam {args}"
    );
    let out = chauthtok(dir.path(), &line, password);
    assert!(
        out.status.success(),
        "pamtester: {}; the agent: {}",
        text(&out),
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    check(next_request(&node, &carol, 1).await, password).await;
}

const ALICE_AD_DN: &str = "CN=alice,CN=Users,DC=test,DC=local";
const PG_SVC: (&str, &str) = ("pbsvc", "Svc-Pg-Secret-3");

fn unicode_pwd(p: &str) -> Vec<u8> {
    format!("\"{p}\"")
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect()
}

/// One pass of `samba-tool user syncpasswords` (every change since the last pass goes to the
/// agent); returns its output (the agent's replies are in it).
fn sync_pass(samba: &fixtures::SambaAd) -> String {
    let out = samba
        .samba_tool(&["user", "syncpasswords", "--no-wait"])
        .output()
        .unwrap();
    let all = text(&out);
    assert!(out.status.success(), "syncpasswords: {all}");
    assert!(
        !all.contains("DROPPED") && !all.contains("refused"),
        "{all}"
    );
    all
}

#[tokio::test]
async fn capture_samba_change_at_the_dc_reaches_openldap_and_postgresql() {
    use std::collections::HashSet;
    let Some(samba) = fixtures::SambaAd::start().await else {
        return;
    };
    let (Some(slapd), Some(pg)) = (
        fixtures::Slapd::start(false).await,
        fixtures::Postgres::start().await,
    ) else {
        return;
    };
    pg.admin(&format!(
        "CREATE ROLE {} LOGIN CREATEROLE PASSWORD '{}'; CREATE ROLE alice LOGIN PASSWORD 'Pg-Old-Passw0rd';",
        PG_SVC.0, PG_SVC.1
    ))
    .await;
    let initial = "Samba#Init-Pass1";
    let mut admin = samba.admin().await;
    let attrs: Vec<(Vec<u8>, HashSet<Vec<u8>>)> = vec![
        (b"objectClass".to_vec(), HashSet::from([b"user".to_vec()])),
        (
            b"sAMAccountName".to_vec(),
            HashSet::from([b"alice".to_vec()]),
        ),
        (
            b"unicodePwd".to_vec(),
            HashSet::from([unicode_pwd(initial)]),
        ),
        (
            b"userAccountControl".to_vec(),
            HashSet::from([b"512".to_vec()]),
        ),
    ];
    admin
        .add(ALICE_AD_DN, attrs)
        .await
        .unwrap()
        .success()
        .expect("create alice");

    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path()).await;
    node.apply(&format!(
        r#"
identities:
  - {{ userName: alice, displayName: Alice }}
sources:
  - name: Samba-AD
    features: [PASSWORD]
    connector: ldap
    config: {{ url: "{samba_url}", bindDn: "{ad_admin}", mode: activeDirectory, caFile: "{ca}" }}
    secrets: {{ bindPassword: "{ad_pw}" }}
  - name: Corp-LDAP
    features: [PASSWORD]
    connector: ldap
    config: {{ url: "{ldap}", bindDn: "{svc_dn}", mode: passwordModify }}
    secrets: {{ bindPassword: "{svc_pw}" }}
  - name: Reports-DB
    features: [PASSWORD]
    connector: postgres
    config: {{ host: 127.0.0.1, port: {pg_port}, user: {pg_user}, sslMode: disable }}
    secrets: {{ password: "{pg_pw}" }}
accounts:
  - {{ identity: alice, source: Samba-AD, accountId: "{alice_ad}", accountName: alice }}
  - {{ identity: alice, source: Corp-LDAP, accountId: "{alice_ldap}", accountName: alice }}
  - {{ identity: alice, source: Reports-DB, accountId: alice }}
syncGroups:
  - {{ name: Directory, policy: Default Policy, sources: [Samba-AD, Corp-LDAP, Reports-DB] }}
"#,
        samba_url = samba.ldaps_url,
        ad_admin = fixtures::AD_ADMIN_DN,
        ad_pw = fixtures::AD_ADMIN_PW,
        ca = samba.ca_file.display(),
        ldap = slapd.url,
        svc_dn = fixtures::LDAP_SVC_DN,
        svc_pw = fixtures::LDAP_SVC_PW,
        pg_port = pg.port,
        pg_user = PG_SVC.0,
        pg_pw = PG_SVC.1,
        alice_ad = ALICE_AD_DN,
        alice_ldap = fixtures::LDAP_ALICE_DN,
    ));
    let client = node.agent_client("Samba-AD");
    let origin = node.source_id("Samba-AD").await;
    let alice = node.identity_id("alice").await;
    // What an operator puts on the DC: a script (syncpasswords calls it without arguments).
    let spool = dir.path().join("spool");
    let script = dir.path().join("passbroker-capture-samba");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nexec {BIN} capture samba {}\n",
            agent_args(&node, &client, &origin, &spool).join(" ")
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let out = samba
        .samba_tool(&[
            "user",
            "syncpasswords",
            "--cache-ldb-initialize",
            "--attributes=objectGUID,sAMAccountName,virtualClearTextUTF8",
            "--decrypt-samba-gpg",
            &format!("--script={}", script.display()),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "syncpasswords --cache-ldb-initialize: {}",
        text(&out)
    );

    // The first pass reports alice's initial password (set by the administrator at the DC).
    let first = delivered(&sync_pass(&samba));
    assert!(!first.is_empty(), "the initial password was captured");
    for id in &first {
        assert_eq!(node.wait_terminal(id).await["state"], "FINISHED");
    }
    assert_eq!(slapd.bind_rc(fixtures::LDAP_ALICE_DN, initial).await, 0);

    // Alice changes her own password at the DC, as Windows does: unicodePwd delete + add.
    let new = "Changed#At-DC-2026";
    {
        let mut own = samba.admin().await;
        own.simple_bind(ALICE_AD_DN, initial)
            .await
            .unwrap()
            .success()
            .expect("alice binds");
        own.modify(
            ALICE_AD_DN,
            vec![
                ldap3::Mod::Delete(
                    b"unicodePwd".to_vec(),
                    HashSet::from([unicode_pwd(initial)]),
                ),
                ldap3::Mod::Add(b"unicodePwd".to_vec(), HashSet::from([unicode_pwd(new)])),
            ],
        )
        .await
        .unwrap()
        .success()
        .expect("alice changes her own password");
    }
    assert_eq!(samba.bind_rc(ALICE_AD_DN, new).await, 0);
    let second = delivered(&sync_pass(&samba));
    assert!(!second.is_empty(), "the change was captured");
    for id in &second {
        let status = node.wait_terminal(id).await;
        assert_eq!(status["state"], "FINISHED", "{status}");
        assert!(
            !status["sourceIds"].to_string().contains(&origin),
            "{status}"
        );
    }
    assert_eq!(
        slapd.bind_rc(fixtures::LDAP_ALICE_DN, new).await,
        0,
        "OpenLDAP takes the new password"
    );
    assert_eq!(slapd.bind_rc(fixtures::LDAP_ALICE_DN, initial).await, 49);
    assert!(
        pg.can_login("alice", new).await,
        "PostgreSQL takes the new password"
    );
    assert!(!pg.can_login("alice", initial).await);

    // passbroker wrote Samba zero times (and the other two once per change).
    let events = node.audit_of(&alice).await;
    let writes = |source: &str| {
        events
            .iter()
            .filter(|e| {
                e["action"] == "PASSWORD_CHANGE_TARGET_SUCCEEDED" && e["sourceId"] == source
            })
            .count()
    };
    assert_eq!(writes(&origin), 0, "no write to Samba");
    let ldap = node.source_id("Corp-LDAP").await;
    assert_eq!(writes(&ldap), first.len() + second.len());
    assert!(spool_files(&spool).is_empty());

    // A change that starts elsewhere (set-password on Corp-LDAP) is written to Samba by
    // passbroker; syncpasswords reports it too, and passbroker drops its own echo.
    let elsewhere = "Set-Elsewhere#2026";
    let token = node.token().await;
    let http = reqwest::Client::new();
    let info: Value = http
        .post(format!("{}/v3/query-password-info", node.base()))
        .bearer_auth(&token)
        .json(&serde_json::json!({"userName": "alice", "sourceName": "Corp-LDAP"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let r: Value = http
        .post(format!("{}/v3/set-password", node.base()))
        .bearer_auth(&token)
        .json(&serde_json::json!({
            "identityId": alice,
            "encryptedPassword": support::encrypt(info["publicKey"].as_str().unwrap(), elsewhere.as_bytes()),
            "publicKeyId": info["publicKeyId"],
            "accountId": fixtures::LDAP_ALICE_DN,
            "sourceId": ldap,
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let set_id = r["requestId"].as_str().unwrap().to_owned();
    assert_eq!(node.wait_terminal(&set_id).await["state"], "FINISHED");
    assert_eq!(
        samba.bind_rc(ALICE_AD_DN, elsewhere).await,
        0,
        "passbroker wrote Samba"
    );
    let out = sync_pass(&samba);
    assert_eq!(delivered(&out), vec![set_id.clone()], "{out}");
    assert!(out.contains(&format!("{set_id} (ECHO)")), "{out}");
    let events = node.audit_of(&alice).await;
    assert!(events.iter().any(
        |e| e["action"] == "PASSWORD_CAPTURE_ECHO_DROPPED" && e["requestId"] == set_id.as_str()
    ));
    assert_eq!(
        requested(&events).len(),
        first.len() + second.len() + 1,
        "the echo made no request"
    );
}
