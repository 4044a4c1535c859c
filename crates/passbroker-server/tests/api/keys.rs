//! Key ring behaviour seen through the API: rotation grace, retirement, implicit rejection,
//! and no private key material at rest.

use crate::helpers::*;
use base64::Engine;
use serde_json::{json, Value};

#[tokio::test]
async fn rotation_keeps_the_old_key_for_the_grace_period_then_refuses_it_by_name() {
    let app = spawn_app_with(Options {
        env: vec![("PASSBROKER_KEY_GRACE_PERIOD_SECS".into(), "60".into())],
        ..Options::default()
    })
    .await;
    let token = app.token().await;
    // The client fetches the key, then the operator rotates.
    let old_body = app
        .change_body(&token, "Abby.Smith", "My-AD", "Corr3ct-Horse")
        .await;
    let old_id = old_body["publicKeyId"].as_str().unwrap().to_owned();
    let new_id = app.state.keys.rotate(app.state.clock.now()).await.unwrap();
    assert_ne!(old_id, new_id.to_string());
    let info = app.query_info(&token, "Abby.Smith", "My-AD").await;
    assert_eq!(
        info["publicKeyId"],
        json!(new_id.to_string()),
        "query-password-info publishes the new key"
    );
    let id = app.set_password(&token, &old_body).await;
    assert_eq!(
        app.wait_terminal(&token, &id).await["state"],
        "FINISHED",
        "the old key works within the grace period"
    );
    // After the grace period the key is retired; a request naming it gets a 400 naming it.
    app.state.clock.advance(61_000);
    let done = app
        .state
        .keys
        .maintain(app.state.clock.now())
        .await
        .unwrap();
    assert!(done.iter().any(|d| d.contains(&old_id)), "{done:?}");
    let body = app
        .change_body(&token, "Abby.Smith", "My-AD", "Corr3ct-Horse2")
        .await;
    let mut stale = body.clone();
    stale["publicKeyId"] = json!(old_id);
    stale["encryptedPassword"] = old_body["encryptedPassword"].clone();
    let r = app.post_json("/v3/set-password", &token, &stale).await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert!(v["causes"].to_string().contains(&old_id), "{v}");
    assert!(v["causes"].to_string().contains("retired"), "{v}");
    let keys = app.state.store.list_rsa_keys().await.unwrap();
    let old = keys.iter().find(|k| k.id.to_string() == old_id).unwrap();
    assert_eq!(
        old.wrapped_private, None,
        "a retired key's private half is destroyed"
    );
}

#[tokio::test]
async fn bad_padding_is_accepted_like_a_good_ciphertext_and_fails_like_bad_utf8() {
    let app = spawn_app().await;
    let token = app.token().await;
    let good = app
        .change_body(&token, "Abby.Smith", "My-AD", "Corr3ct-Horse")
        .await;
    let public_key = app.query_info(&token, "Abby.Smith", "My-AD").await["publicKey"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut bad_padding = good.clone();
    bad_padding["encryptedPassword"] = json!(bad_padding_ciphertext(&public_key));
    let mut bad_utf8 = good.clone();
    bad_utf8["encryptedPassword"] =
        json!(encrypt_pkcs1(&public_key, &[0xff, 0xfe, 0x41, 0x42, 0xc3]));
    let mut results = Vec::new();
    for body in [&bad_padding, &bad_utf8] {
        let r = app.post_json("/v3/set-password", &token, body).await;
        let status = r.status();
        let v: Value = r.json().await.unwrap();
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        results.push((status, format!("{keys:?}"), v["state"].clone()));
        let status_body = app
            .wait_terminal(&token, v["requestId"].as_str().unwrap())
            .await;
        assert_eq!(status_body["state"], "FAILED");
        assert_eq!(
            status_body["errors"],
            json!(["The password change payload is invalid"])
        );
    }
    assert_eq!(
        results[0], results[1],
        "the two must look the same on the wire"
    );
    assert_eq!(results[0].0, 202);
}

#[tokio::test]
async fn no_private_key_material_is_stored_in_the_clear() {
    let app = spawn_app().await;
    let keys = app.state.store.list_rsa_keys().await.unwrap();
    let active = app.state.keys.active().unwrap();
    let private_der = active.pair.to_pkcs8_der().unwrap();
    let pem = openssl::pkey::PKey::private_key_from_der(&private_der)
        .unwrap()
        .private_key_to_pem_pkcs8()
        .unwrap();
    assert!(keys.iter().all(|k| k
        .wrapped_private
        .as_ref()
        .is_none_or(|w| !w.windows(32).any(|x| x == &private_der[320..352]))));
    let dir = app.stop().await;
    let mut haystack = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        haystack.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    let pem_body = String::from_utf8(pem)
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .to_owned();
    assert!(
        !haystack
            .windows(pem_body.len())
            .any(|w| w == pem_body.as_bytes()),
        "PEM of the private key in the data dir"
    );
    // Any 48-byte window of the DER past the modulus and public exponent (the public key is
    // published, so those bytes may appear): the private exponent and primes live there.
    for chunk in private_der[310..].chunks(48).filter(|c| c.len() == 48) {
        assert!(
            !haystack.windows(48).any(|w| w == chunk),
            "private key DER in the data dir"
        );
    }
    let b64 = base64::engine::general_purpose::STANDARD.encode(&private_der[310..400]);
    assert!(!String::from_utf8_lossy(&haystack).contains(&b64[4..60]));
}

#[tokio::test]
async fn prefer_wait_answers_with_the_final_state() {
    let app = spawn_app().await;
    let token = app.token().await;
    let body = app
        .change_body(&token, "Abby.Smith", "My-AD", "Corr3ct-Horse")
        .await;
    let r = app
        .http
        .post(app.url("/v3/set-password"))
        .bearer_auth(&token)
        .header("Prefer", "wait=10")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(r.headers()["preference-applied"], "wait=10");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["state"], "FINISHED", "{v}");
}

#[tokio::test]
async fn oaep_is_opt_in_and_decrypts() {
    let app = spawn_app().await;
    let token = app.token().await;
    let info = app.query_info(&token, "Abby.Smith", "My-AD").await;
    let der = base64::engine::general_purpose::STANDARD
        .decode(info["publicKey"].as_str().unwrap())
        .unwrap();
    let key = openssl::pkey::PKey::public_key_from_der(&der).unwrap();
    let mut ctx = openssl::pkey_ctx::PkeyCtx::new(&key).unwrap();
    ctx.encrypt_init().unwrap();
    ctx.set_rsa_padding(openssl::rsa::Padding::PKCS1_OAEP)
        .unwrap();
    ctx.set_rsa_oaep_md(openssl::md::Md::sha256()).unwrap();
    ctx.set_rsa_mgf1_md(openssl::md::Md::sha256()).unwrap();
    let mut ct = vec![];
    ctx.encrypt_to_vec("Pässwörd-€-42".as_bytes(), &mut ct)
        .unwrap();
    let body = json!({
        "identityId": info["identityId"], "publicKeyId": info["publicKeyId"], "accountId": info["accounts"][0]["accountId"],
        "sourceId": info["sourceId"], "encryptedPassword": base64::engine::general_purpose::STANDARD.encode(&ct), "encryption": "RSA-OAEP-256",
    });
    let id = app.set_password(&token, &body).await;
    assert_eq!(app.wait_terminal(&token, &id).await["state"], "FINISHED");
    // The same OAEP bytes read as PKCS#1 v1.5 do not yield a usable password.
    let mut as_pkcs1 = body.clone();
    as_pkcs1.as_object_mut().unwrap().remove("encryption");
    let id = app.set_password(&token, &as_pkcs1).await;
    assert_eq!(app.wait_terminal(&token, &id).await["state"], "FAILED");
}
