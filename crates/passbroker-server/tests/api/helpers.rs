//! `spawn_app()`: the real application on port 0 with a fresh data dir, plus small clients
//! for the ISC flow. Every test gets its own database; nothing is shared but the log buffer.

#![allow(dead_code)]

use base64::Engine;
use passbroker_server::app::Application;
use passbroker_server::config::{Config, Overrides};
use passbroker_server::demo::DemoCredentials;
use passbroker_server::state::AppState;
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
        Self { workers: true, env: Vec::new() }
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
    let mut env = vec![("PASSBROKER_WORKERS".to_owned(), if options.workers { "4" } else { "1" }.to_owned())];
    env.extend(options.env);
    let overrides = Overrides {
        listen: Some("127.0.0.1:0".into()),
        data_dir: Some(data_dir.path().to_path_buf()),
        demo: true,
        log_format: None,
    };
    let config = Config::load(None, &env, &overrides).expect("config");
    let app = Application::build(config).await.expect("application builds");
    let address = format!("http://{}", app.local_addr());
    let state = app.state.clone();
    let demo = app.demo.clone().expect("demo credentials");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let handle = if options.workers {
        tokio::spawn(async move {
            let _ = app.run_until(async {
                let _ = stop_rx.await;
            })
            .await;
        })
    } else {
        // Serve HTTP only: tests drive `Worker::try_run_once` themselves.
        tokio::spawn(async move {
            let _ = app.serve_without_workers(async {
                let _ = stop_rx.await;
            })
            .await;
        })
    };
    TestApp {
        address,
        state,
        demo,
        http: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap(),
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
            .form(&[("grant_type", "client_credentials"), ("client_id", client_id), ("client_secret", secret)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "token request failed");
        r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned()
    }

    /// A token for the demo API client.
    pub async fn token(&self) -> String {
        self.token_for(&self.demo.client_id, &self.demo.client_secret).await
    }

    pub async fn post_json(&self, path: &str, token: &str, body: &Value) -> reqwest::Response {
        self.http.post(self.url(path)).bearer_auth(token).json(body).send().await.unwrap()
    }

    pub async fn get(&self, path: &str, token: &str) -> reqwest::Response {
        self.http.get(self.url(path)).bearer_auth(token).send().await.unwrap()
    }

    pub async fn query_info(&self, token: &str, user: &str, source: &str) -> Value {
        let r = self.post_json("/v3/query-password-info", token, &json!({"userName": user, "sourceName": source})).await;
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    /// The set-password body for `password` on the first account of `user` on `source`.
    pub async fn change_body(&self, token: &str, user: &str, source: &str, password: &str) -> Value {
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
            let r = self.get(&format!("/v3/password-change-status/{request_id}"), token).await;
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
    let der = base64::engine::general_purpose::STANDARD.decode(public_key_b64).unwrap();
    let key = openssl::pkey::PKey::public_key_from_der(&der).unwrap();
    let rsa = key.rsa().unwrap();
    let mut out = vec![0u8; rsa.size() as usize];
    let n = rsa.public_encrypt(plaintext, &mut out, openssl::rsa::Padding::PKCS1).unwrap();
    out.truncate(n);
    base64::engine::general_purpose::STANDARD.encode(out)
}

/// A ciphertext whose padding is wrong (raw RSA of a block that does not start 00 02).
pub fn bad_padding_ciphertext(public_key_b64: &str) -> String {
    let der = base64::engine::general_purpose::STANDARD.decode(public_key_b64).unwrap();
    let key = openssl::pkey::PKey::public_key_from_der(&der).unwrap();
    let rsa = key.rsa().unwrap();
    let k = rsa.size() as usize;
    let mut block = vec![0x42u8; k];
    block[0] = 0;
    block[1] = 3;
    let mut out = vec![0u8; k];
    rsa.public_encrypt(&block, &mut out, openssl::rsa::Padding::NONE).unwrap();
    base64::engine::general_purpose::STANDARD.encode(out)
}
