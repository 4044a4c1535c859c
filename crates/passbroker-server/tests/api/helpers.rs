//! `spawn_app()`: the real application on port 0 with a fresh data dir, plus small clients
//! for the ISC flow. Every test gets its own database; nothing is shared but the log buffer.

#![allow(dead_code)]

use base64::Engine;
use passbroker_server::app::Application;
use passbroker_server::config::{Config, Overrides};
use passbroker_server::http::state::AppState;
use passbroker_server::ops::demo::DemoCredentials;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// Everything the application logged in this test binary (all tests share one subscriber).
pub fn captured_logs() -> String {
    String::from_utf8_lossy(&log_buffer().lock().unwrap()).into_owned()
}

fn log_buffer() -> &'static Arc<Mutex<Vec<u8>>> {
    static BUF: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    BUF.get_or_init(|| Arc::new(Mutex::new(Vec::new())))
}

#[derive(Clone)]
struct BufWriter(Arc<Mutex<Vec<u8>>>);
impl std::io::Write for BufWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn init_logs() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        let buf = log_buffer().clone();
        let _ = tracing_subscriber::fmt()
            .with_env_filter("debug,sqlx=warn,hyper=warn,h2=warn,tower=warn")
            .with_writer(move || BufWriter(buf.clone()))
            .with_ansi(false)
            .try_init();
    });
}

pub struct TestApp {
    pub address: String,
    pub state: AppState,
    pub demo: DemoCredentials,
    pub http: reqwest::Client,
    pub data_dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<()>>,
}

pub struct Options {
    /// Start the workers (off for tests that step them by hand).
    pub workers: bool,
    pub env: Vec<(String, String)>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            workers: true,
            env: Vec::new(),
        }
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

pub async fn spawn_app_with(options: Options) -> TestApp {
    let data_dir = tempfile::tempdir().expect("temp dir");
    spawn_in(data_dir, options).await
}

/// Starts the application on an existing data dir (restarts keep the data).
pub async fn spawn_in(data_dir: tempfile::TempDir, options: Options) -> TestApp {
    init_logs();
    let mut env = vec![
        (
            "PASSBROKER_WORKERS".to_owned(),
            if options.workers { "4" } else { "1" }.to_owned(),
        ),
        // Tests make many calls with the demo client; the per-client budget is tested on its
        // own (hardening_auth.rs sets it back), and a test's own env wins over this.
        (
            "PASSBROKER_CLIENT_RATE_LIMIT_REQUESTS".to_owned(),
            "1000000".to_owned(),
        ),
    ];
    env.extend(options.env);
    let overrides = Overrides {
        listen: Some("127.0.0.1:0".into()),
        data_dir: Some(data_dir.path().to_path_buf()),
        demo: true,
        log_format: None,
    };
    let config = Config::load(None, &env, &overrides).expect("config");
    let app = Application::build(config)
        .await
        .expect("application builds");
    let address = format!("http://{}", app.local_addr());
    let state = app.state.clone();
    let demo = app.demo.clone().expect("demo credentials");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let handle = if options.workers {
        tokio::spawn(async move {
            let _ = app
                .run_until(async {
                    let _ = stop_rx.await;
                })
                .await;
        })
    } else {
        // Serve HTTP only: tests drive `Worker::try_run_once` themselves.
        tokio::spawn(async move {
            let _ = app
                .serve_without_workers(async {
                    let _ = stop_rx.await;
                })
                .await;
        })
    };
    TestApp {
        address,
        state,
        demo,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        data_dir,
        stop: Some(stop_tx),
        handle: Some(handle),
    }
}

impl TestApp {
    /// Stops the server gracefully and hands back the data dir (for restart tests).
    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(h) = self.handle.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), h).await;
        }
        let dir = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self.data_dir, dir)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn token_for(&self, client_id: &str, secret: &str) -> String {
        let r = self
            .http
            .post(self.url("/oauth/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", client_id),
                ("client_secret", secret),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "token request failed");
        r.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// A token for the demo API client.
    pub async fn token(&self) -> String {
        self.token_for(&self.demo.client_id, &self.demo.client_secret)
            .await
    }

    pub async fn post_json(&self, path: &str, token: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str, token: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn query_info(&self, token: &str, user: &str, source: &str) -> Value {
        let r = self
            .post_json(
                "/v3/query-password-info",
                token,
                &json!({"userName": user, "sourceName": source}),
            )
            .await;
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    /// The set-password body for `password` on the first account of `user` on `source`.
    pub async fn change_body(
        &self,
        token: &str,
        user: &str,
        source: &str,
        password: &str,
    ) -> Value {
        let info = self.query_info(token, user, source).await;
        json!({
            "identityId": info["identityId"],
            "encryptedPassword": encrypt_pkcs1(info["publicKey"].as_str().unwrap(), password.as_bytes()),
            "publicKeyId": info["publicKeyId"],
            "accountId": info["accounts"][0]["accountId"],
            "sourceId": info["sourceId"],
        })
    }

    /// Posts set-password (expects 202) and returns the request id.
    pub async fn set_password(&self, token: &str, body: &Value) -> String {
        let r = self.post_json("/v3/set-password", token, body).await;
        assert_eq!(r.status(), 202);
        let v: Value = r.json().await.unwrap();
        v["requestId"].as_str().unwrap().to_owned()
    }

    /// Polls the status until it leaves IN_PROGRESS (bounded), returning the last body.
    pub async fn wait_terminal(&self, token: &str, request_id: &str) -> Value {
        for _ in 0..600 {
            let r = self
                .get(&format!("/v3/password-change-status/{request_id}"), token)
                .await;
            assert_eq!(r.status(), 200);
            let v: Value = r.json().await.unwrap();
            if v["state"] != "IN_PROGRESS" {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("request {request_id} did not finish");
    }
}

pub fn encrypt_pkcs1(public_key_b64: &str, plaintext: &[u8]) -> String {
    let der = base64::engine::general_purpose::STANDARD
        .decode(public_key_b64)
        .unwrap();
    let key = openssl::pkey::PKey::public_key_from_der(&der).unwrap();
    let rsa = key.rsa().unwrap();
    let mut out = vec![0u8; rsa.size() as usize];
    let n = rsa
        .public_encrypt(plaintext, &mut out, openssl::rsa::Padding::PKCS1)
        .unwrap();
    out.truncate(n);
    base64::engine::general_purpose::STANDARD.encode(out)
}

/// A ciphertext whose padding is wrong (raw RSA of a block that does not start 00 02).
pub fn bad_padding_ciphertext(public_key_b64: &str) -> String {
    let der = base64::engine::general_purpose::STANDARD
        .decode(public_key_b64)
        .unwrap();
    let key = openssl::pkey::PKey::public_key_from_der(&der).unwrap();
    let rsa = key.rsa().unwrap();
    let k = rsa.size() as usize;
    let mut block = vec![0x42u8; k];
    block[0] = 0;
    block[1] = 3;
    let mut out = vec![0u8; k];
    rsa.public_encrypt(&block, &mut out, openssl::rsa::Padding::NONE)
        .unwrap();
    base64::engine::general_purpose::STANDARD.encode(out)
}

// ---------------------------------------------------------------------------------------
// Authentication helpers (clients, identities, personal access tokens, the login page).

/// The S256 PKCE pair of RFC 7636's appendix B.
pub const PKCE_VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const PKCE_CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
/// A redirect URI the demo client allows.
pub const DEMO_REDIRECT: &str = "http://127.0.0.1/callback";

/// A user created by a test: the identity and its account on `My-AD`.
pub struct TestUser {
    pub identity: passbroker_core::identity::Identity,
    pub account: passbroker_core::account::Account,
}

impl TestApp {
    /// The audit events with this action (the latest hundred).
    pub async fn audit_events(&self, action: &str) -> Vec<passbroker_core::audit::AuditEvent> {
        self.state
            .store
            .list_audit(
                &passbroker_store::AuditFilter {
                    action: Some(action.into()),
                    ..Default::default()
                },
                passbroker_store::Page {
                    offset: 0,
                    limit: 100,
                },
            )
            .await
            .unwrap()
            .0
    }

    /// A new API client with these scopes and grant types; returns (client_id, secret).
    pub async fn new_client(&self, scopes: &[&str], grant_types: &[&str]) -> (String, String) {
        let (client, secret) = passbroker_server::ops::credentials::new_client(
            "test client",
            scopes.iter().map(|s| (*s).to_owned()).collect(),
            grant_types.iter().map(|s| (*s).to_owned()).collect(),
            Vec::new(),
            self.state.clock.now(),
        )
        .unwrap();
        let id = client.client_id.clone();
        self.state
            .store
            .apply(vec![passbroker_store::WriteOp::UpsertClient(client)])
            .await
            .unwrap();
        (id, secret.to_string())
    }

    /// A client_credentials token for a new client holding exactly `scopes`.
    pub async fn token_with_scopes(&self, scopes: &[&str]) -> String {
        let (id, secret) = self.new_client(scopes, &["client_credentials"]).await;
        self.token_for(&id, &secret).await
    }

    /// The demo identity (Abby.Smith) and her account on `My-AD`.
    pub async fn abby(&self) -> TestUser {
        let identity = self
            .state
            .store
            .find_identity_by_login("Abby.Smith")
            .await
            .unwrap()
            .unwrap();
        let source = self
            .state
            .store
            .find_source_by_name("My-AD")
            .await
            .unwrap()
            .unwrap();
        let account = self
            .state
            .store
            .accounts_of_identity(&identity.id, Some(&source.id))
            .await
            .unwrap()
            .remove(0);
        TestUser { identity, account }
    }

    /// A new active identity with this login name and user level, with an account on `My-AD`.
    pub async fn add_user(
        &self,
        login: &str,
        level: passbroker_core::identity::UserLevel,
    ) -> TestUser {
        use passbroker_core::account::{Account, NativeAccountId};
        use passbroker_core::identity::{Identity, LoginName};
        let identity = Identity {
            id: passbroker_core::IdentityId::generate(),
            login_name: LoginName::parse(login).unwrap(),
            display_name: login.replace('.', " "),
            email: None,
            attributes: Default::default(),
            user_level: level,
            active: true,
        };
        let source = self
            .state
            .store
            .find_source_by_name("My-AD")
            .await
            .unwrap()
            .unwrap();
        let account = Account {
            id: passbroker_core::AccountRef::generate(),
            source_id: source.id.clone(),
            identity_id: identity.id.clone(),
            native_id: NativeAccountId::parse(&format!("CN={login},OU=Tests,DC=example,DC=com"))
                .unwrap(),
            account_name: login.to_owned(),
            attributes: Default::default(),
            disabled: false,
        };
        self.state
            .store
            .apply(vec![
                passbroker_store::WriteOp::UpsertIdentity(identity.clone()),
                passbroker_store::WriteOp::UpsertAccount(account.clone()),
            ])
            .await
            .unwrap();
        TestUser { identity, account }
    }

    /// A new personal access token of `owner` (stored); returns (id, secret).
    pub async fn new_pat(
        &self,
        owner: &passbroker_core::IdentityId,
        scopes: &[&str],
    ) -> (String, String) {
        let (pat, secret) = passbroker_server::ops::credentials::new_pat(
            owner,
            "test pat",
            scopes.iter().map(|s| (*s).to_owned()).collect(),
            self.state.clock.now(),
        )
        .unwrap();
        self.state.store.insert_pat(&pat).await.unwrap();
        (pat.id, secret.to_string())
    }

    /// An access token for a new PAT of `owner` with `sp:scopes:all`; returns (pat_id, token).
    pub async fn pat_token(&self, owner: &passbroker_core::IdentityId) -> (String, String) {
        let (id, secret) = self
            .new_pat(owner, &[passbroker_core::client::SCOPE_ALL])
            .await;
        let token = self.token_for(&id, &secret).await;
        (id, token)
    }

    /// Sets the built-in directory (login) password of an identity directly in the store.
    pub async fn set_builtin_password(
        &self,
        identity: &passbroker_core::IdentityId,
        password: &str,
    ) {
        let hash = passbroker_crypto::password_hash::hash(password.as_bytes()).unwrap();
        self.state
            .store
            .apply(vec![passbroker_store::WriteOp::SetBuiltinCredential {
                identity_id: identity.clone(),
                hash,
                now: self.state.clock.now(),
            }])
            .await
            .unwrap();
    }

    /// A set-password body for `user`'s `My-AD` account, encrypted to the current key (read
    /// with `api_token`, which may call query-password-info).
    pub async fn body_for(&self, api_token: &str, user: &TestUser, password: &str) -> Value {
        let info = self.query_info(api_token, "Abby.Smith", "My-AD").await;
        json!({
            "identityId": user.identity.id.to_string(),
            "encryptedPassword": encrypt_pkcs1(info["publicKey"].as_str().unwrap(), password.as_bytes()),
            "publicKeyId": info["publicKeyId"],
            "accountId": user.account.native_id.as_str(),
            "sourceId": user.account.source_id.to_string(),
        })
    }

    /// `POST /oauth/token` with a form-urlencoded body.
    pub async fn token_request(&self, form: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(self.url("/oauth/token"))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// The query string of `/oauth/authorize` for the demo client (PKCE S256).
    pub fn authorize_query(&self, redirect_uri: &str, state: &str) -> String {
        serde_urlencoded::to_string([
            ("response_type", "code"),
            ("client_id", self.demo.client_id.as_str()),
            ("redirect_uri", redirect_uri),
            ("state", state),
            ("code_challenge", PKCE_CHALLENGE),
            ("code_challenge_method", "S256"),
        ])
        .unwrap()
    }

    /// Opens the login page, submits its form with these credentials, and returns the
    /// response (a 303 to the redirect URI when the sign-in works).
    pub async fn sign_in(&self, user: &str, password: &str) -> reqwest::Response {
        sign_in_with(self, &self.http, user, password).await
    }

    /// Signs in and returns the authorization code from the redirect.
    pub async fn authorization_code(&self, user: &str, password: &str) -> String {
        let r = self.sign_in(user, password).await;
        assert_eq!(r.status(), 303, "sign-in redirects");
        let location = r.headers()["location"].to_str().unwrap().to_owned();
        let query = location
            .strip_prefix(&format!("{DEMO_REDIRECT}?"))
            .expect("redirects to the registered URI");
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap();
        assert!(
            pairs.iter().any(|(k, v)| k == "state" && v == "st-1"),
            "the state comes back"
        );
        pairs
            .into_iter()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v)
            .expect("a code")
    }

    /// Exchanges an authorization code at `/oauth/token` (demo client, its secret).
    pub async fn exchange_code(
        &self,
        code: &str,
        verifier: &str,
        redirect_uri: &str,
    ) -> reqwest::Response {
        self.token_request(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("code_verifier", verifier),
            ("client_id", &self.demo.client_id),
            ("client_secret", &self.demo.client_secret),
            ("redirect_uri", redirect_uri),
        ])
        .await
    }
}

/// The `<input type="hidden" name=… value=…>` fields of an HTML page, unescaped.
pub fn hidden_inputs(html: &str) -> Vec<(String, String)> {
    let attr = |tag: &str, name: &str| -> Option<String> {
        let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
        let end = start + tag[start..].find('"')?;
        Some(
            tag[start..end]
                .replace("&quot;", "\"")
                .replace("&#39;", "'")
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&amp;", "&"),
        )
    };
    html.split("<input")
        .skip(1)
        .filter_map(|rest| {
            let tag = &rest[..rest.find('>')?];
            (tag.contains("type=\"hidden\""))
                .then(|| Some((attr(tag, "name")?, attr(tag, "value")?)))
                .flatten()
        })
        .collect()
}

/// A 401 body is `{"error": "…"}`; returns the text.
pub async fn assert_401(r: reqwest::Response, context: &str) -> String {
    assert_eq!(r.status(), 401, "{context}");
    let v: Value = r
        .json()
        .await
        .unwrap_or_else(|_| panic!("{context}: 401 body is not JSON"));
    let obj = v.as_object().unwrap_or_else(|| panic!("{context}: {v}"));
    assert_eq!(obj.len(), 1, "{context}: only \"error\": {v}");
    obj["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{context}: {v}"))
        .to_owned()
}

/// [`TestApp::sign_in`] with a given HTTP client (e.g. one bound to another local address).
pub async fn sign_in_with(
    app: &TestApp,
    http: &reqwest::Client,
    user: &str,
    password: &str,
) -> reqwest::Response {
    let page = http
        .get(app.url(&format!(
            "/oauth/authorize?{}",
            app.authorize_query(DEMO_REDIRECT, "st-1")
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200, "the login page");
    let html = page.text().await.unwrap();
    let mut form = hidden_inputs(&html);
    assert!(
        html.contains("name=\"username\"") && html.contains("name=\"password\""),
        "the page has a login form"
    );
    form.push(("username".into(), user.into()));
    form.push(("password".into(), password.into()));
    form.push(("decision".into(), "allow".into()));
    http.post(app.url("/oauth/authorize"))
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// RSA-OAEP-256 of `plaintext` to the base64 DER public key, base64: what the page's
/// WebCrypto sends.
pub fn oaep(public_key_b64: &str, plaintext: &str) -> String {
    let der = base64::engine::general_purpose::STANDARD
        .decode(public_key_b64)
        .unwrap();
    let key = openssl::pkey::PKey::public_key_from_der(&der).unwrap();
    let mut ctx = openssl::pkey_ctx::PkeyCtx::new(&key).unwrap();
    ctx.encrypt_init().unwrap();
    ctx.set_rsa_padding(openssl::rsa::Padding::PKCS1_OAEP)
        .unwrap();
    ctx.set_rsa_oaep_md(openssl::md::Md::sha256()).unwrap();
    ctx.set_rsa_mgf1_md(openssl::md::Md::sha256()).unwrap();
    let mut ct = vec![];
    ctx.encrypt_to_vec(plaintext.as_bytes(), &mut ct).unwrap();
    base64::engine::general_purpose::STANDARD.encode(&ct)
}
