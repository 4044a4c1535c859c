//! The built-in directory: after set-password FINISHED on the builtin source, the identity
//! signs in with the new password and no longer with the old one.

use crate::helpers::*;

async fn sign_in(app: &TestApp, password: &str) -> u16 {
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let form = [
        ("response_type", "code"),
        ("client_id", app.demo.client_id.as_str()),
        ("redirect_uri", "http://127.0.0.1/callback"),
        ("state", "s1"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
        ("username", "Abby.Smith"),
        ("password", password),
        ("decision", "allow"),
    ];
    app.http
        .post(app.url("/oauth/authorize"))
        .form(&form)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn builtin_password_change_is_the_new_login() {
    let app = spawn_app().await;
    let token = app.token().await;
    for password in ["First-Passw0rd", "Second-Passw0rd"] {
        let body = app
            .change_body(&token, "Abby.Smith", "passbroker", password)
            .await;
        let id = app.set_password(&token, &body).await;
        assert_eq!(app.wait_terminal(&token, &id).await["state"], "FINISHED");
    }
    assert_eq!(
        sign_in(&app, "Second-Passw0rd").await,
        303,
        "the new password signs in"
    );
    assert_eq!(
        sign_in(&app, "First-Passw0rd").await,
        401,
        "the old one no longer does"
    );
}
