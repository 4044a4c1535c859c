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

/// Hardening finding 5: before repeating an interrupted attempt on the built-in directory,
/// the worker checks the password against the stored argon2id hash.
#[tokio::test]
async fn hardening_builtin_verify_password_checks_the_stored_hash() {
    use passbroker_connectors::{SetPasswordCall, Verification};
    let app = spawn_app().await;
    let abby = app.abby().await;
    let source = app
        .state
        .store
        .find_source_by_name("passbroker")
        .await
        .unwrap()
        .unwrap();
    let account = app
        .state
        .store
        .accounts_of_identity(&abby.identity.id, Some(&source.id))
        .await
        .unwrap()
        .remove(0);
    let (connector, _) = app.state.connectors.get(&source).await.unwrap();
    let verify = |text: &'static str| {
        let connector = connector.clone();
        let account = account.clone();
        async move {
            let password = passbroker_core::Password::new(zeroize::Zeroizing::new(text.into()));
            connector
                .verify_password(SetPasswordCall {
                    account: &account,
                    password: &password,
                    task_id: "t",
                    attempt: 2,
                })
                .await
                .unwrap()
        }
    };
    app.set_builtin_password(&abby.identity.id, "Stored-Passw0rd")
        .await;
    assert_eq!(verify("Stored-Passw0rd").await, Verification::Current);
    assert_eq!(verify("Other-Passw0rd").await, Verification::NotCurrent);
    app.stop().await;
}
