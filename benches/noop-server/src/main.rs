//! A do-nothing HTTP server answering passbroker's three Password Management routes with
//! fixed bodies (same status codes, similar body sizes). It reads the request body and
//! ignores it: no auth, no parsing, no storage. Used as the same-run baseline by
//! benches/http.sh, and as the webhook receiver that answers at once (`POST /hook`, 204) by
//! benches/events.sh. Usage: noop-server 127.0.0.1:PORT

use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;

const JSON: [(header::HeaderName, &str); 1] = [(header::CONTENT_TYPE, "application/json")];

const INFO: &str = concat!(
    r#"{"identityId":"2c918085d7f1b3e10175e5a33e0b1a2f","sourceId":"2c918083a1b2c3d4e5f6a7b8c9d0e1f2","#,
    r#""publicKeyId":"N2I0ODk3YzAtZjk0Ny00ZTVmLWE1ZjQtYzM4ZDdjNWZmZTY0","publicKey":"MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAv2mjQmDXWYJcE0vSa9gOhGYZz0RfwPTO0p2cFZ0VgLFi0eALKrN1XwGQ8KYwZpHNdDKJr2Y1HUzqg6D04pCXtDJWAL0RlRZKYFp3OW5jE0yvKHoc8KhQ4l7dMU4pL7fQ3vM2ugLqaTPOsl4zKkQ1M0PbmZy7BmPaD3u2ADPjVTe8UdgRU0mZY09s3Ar4dpVzaJhYo4mDRTCczOUe5cE1EAvAvzeRIPJcwyNDzmP9oMRm5NOlLf3jFgwkqfiJPVgIp3tRpPWjvYNYnjJbJ9cSgiB9g8sC7Ma2dsqU0kYVzyDYsP6B0ySRF0gSOkK06wVQaPNa6dUmSEyOEI62DxJzjwIDAQAB","#,
    r#""accounts":[{"accountId":"CN=Abby Smith,OU=Austin,OU=Americas,OU=Demo,DC=seri,DC=acme,DC=com","accountName":"Abby.Smith"}],"#,
    r#""policies":["passwordRepeatedChar is 3","passwordMinAlpha is 1","passwordMinLength is 8","passwordMinDigit is 1"]}"#
);
const ACCEPTED: &str = r#"{"requestId":"089899f13a8f4da7824996191587bab9","state":"IN_PROGRESS"}"#;
const STATUS: &str = r#"{"requestId":"089899f13a8f4da7824996191587bab9","state":"FINISHED","errors":[],"sourceIds":["2c918083a1b2c3d4e5f6a7b8c9d0e1f2"]}"#;

async fn query_password_info(_body: Bytes) -> impl IntoResponse {
    (StatusCode::OK, JSON, INFO)
}

async fn set_password(_body: Bytes) -> impl IntoResponse {
    (StatusCode::ACCEPTED, JSON, ACCEPTED)
}

async fn hook(_body: Bytes) -> StatusCode {
    StatusCode::NO_CONTENT
}

async fn password_change_status(Path(_id): Path<String>) -> impl IntoResponse {
    (StatusCode::OK, JSON, STATUS)
}

#[tokio::main]
async fn main() {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8081".into());
    let app = Router::new()
        .route("/v3/query-password-info", post(query_password_info))
        .route("/v3/set-password", post(set_password))
        .route("/v3/password-change-status/{id}", get(password_change_status))
        .route("/hook", post(hook));
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
    eprintln!("noop-server listening on {addr}");
    axum::serve(listener, app).await.expect("serve");
}
