//! JWT behaviour: round trip, every rejection path, and hand-built hostile tokens.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use passbroker_crypto::jwt::{verify, JwtError, SigningKey, VerifyingKey};
use serde_json::{json, Value};

const NOW: i64 = 1_700_000_000;
const ISS: &str = "https://passbroker.example";
const AUD: &str = "passbroker-api";

fn claims() -> Value {
    json!({"iss": ISS, "aud": AUD, "sub": "client-1", "iat": NOW, "nbf": NOW, "exp": NOW + 600})
}

fn setup() -> (SigningKey, Vec<VerifyingKey>) {
    let sk = SigningKey::generate().unwrap();
    let vk = sk.verifying_key().unwrap();
    (sk, vec![vk])
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

#[test]
fn sign_verify_round_trip() {
    let (sk, keys) = setup();
    let token = sk.sign(&claims()).unwrap();
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header, json!({"alg": "EdDSA", "typ": "JWT", "kid": sk.kid}));
    assert_eq!(verify(&token, &keys, NOW, ISS, AUD, 30).unwrap(), claims());
    // aud as an array containing the expected audience.
    let mut c = claims();
    c["aud"] = json!(["other", AUD]);
    assert!(verify(&sk.sign(&c).unwrap(), &keys, NOW, ISS, AUD, 0).is_ok());
}

#[test]
fn raw_key_round_trip_and_jwk() {
    let (sk, _) = setup();
    let raw = sk.raw_private().unwrap();
    let sk2 = SigningKey::from_raw_private(sk.kid.clone(), &raw).unwrap();
    assert_eq!(sk2.raw_public().unwrap(), sk.raw_public().unwrap());
    let vk = VerifyingKey::from_raw_public(sk.kid.clone(), &sk.raw_public().unwrap()).unwrap();
    // Token from the restored key verifies with the public key.
    verify(
        &sk2.sign(&claims()).unwrap(),
        std::slice::from_ref(&vk),
        NOW,
        ISS,
        AUD,
        0,
    )
    .unwrap();
    let jwk = vk.jwk();
    assert_eq!(jwk["kty"], "OKP");
    assert_eq!(jwk["crv"], "Ed25519");
    assert_eq!(jwk["alg"], "EdDSA");
    assert_eq!(jwk["use"], "sig");
    assert_eq!(jwk["kid"], sk.kid.as_str());
    let x = URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap();
    assert_eq!(x, sk.raw_public().unwrap());
    assert!(SigningKey::from_raw_private("k".into(), &[1u8; 31]).is_err());
    assert!(!format!("{sk:?}").contains(&hex::encode(raw.as_slice())));
}

#[test]
fn expired_and_not_yet_valid() {
    let (sk, keys) = setup();
    let token = sk.sign(&claims()).unwrap();
    let exp = NOW + 600;
    assert_eq!(
        verify(&token, &keys, exp, ISS, AUD, 0),
        Err(JwtError::Expired)
    );
    assert!(verify(&token, &keys, exp, ISS, AUD, 30).is_ok(), "leeway");
    assert_eq!(
        verify(&token, &keys, exp + 30, ISS, AUD, 30),
        Err(JwtError::Expired)
    );
    assert_eq!(
        verify(&token, &keys, NOW - 100, ISS, AUD, 30),
        Err(JwtError::NotYetValid)
    );
    assert!(verify(&token, &keys, NOW - 10, ISS, AUD, 30).is_ok());
    // No exp at all is refused.
    let mut c = claims();
    c.as_object_mut().unwrap().remove("exp");
    assert_eq!(
        verify(&sk.sign(&c).unwrap(), &keys, NOW, ISS, AUD, 0),
        Err(JwtError::Malformed)
    );
    assert_eq!(
        JwtError::Expired.to_string(),
        "JWT validation failed: JWT is expired"
    );
}

#[test]
fn tampered_payload_is_bad_signature() {
    let (sk, keys) = setup();
    let token = sk.sign(&claims()).unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    let mut c = claims();
    c["sub"] = json!("admin");
    let forged = format!("{}.{}.{}", parts[0], b64(&c), parts[2]);
    assert_eq!(
        verify(&forged, &keys, NOW, ISS, AUD, 0),
        Err(JwtError::BadSignature)
    );
    let mut sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    sig[10] ^= 1;
    let forged = format!("{}.{}.{}", parts[0], parts[1], URL_SAFE_NO_PAD.encode(&sig));
    assert_eq!(
        verify(&forged, &keys, NOW, ISS, AUD, 0),
        Err(JwtError::BadSignature)
    );
    assert_eq!(
        JwtError::BadSignature.to_string(),
        "JWT validation failed: signature is invalid"
    );
}

#[test]
fn alg_none_and_hs256_are_unsupported() {
    let (sk, keys) = setup();
    let payload = b64(&claims());
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT", "kid": sk.kid})),
        payload
    );
    assert_eq!(
        verify(&none, &keys, NOW, ISS, AUD, 0),
        Err(JwtError::UnsupportedAlg("none".into()))
    );
    let hs = format!(
        "{}.{}.{}",
        b64(&json!({"alg": "HS256", "typ": "JWT", "kid": sk.kid})),
        payload,
        URL_SAFE_NO_PAD.encode([0u8; 32])
    );
    assert_eq!(
        verify(&hs, &keys, NOW, ISS, AUD, 0),
        Err(JwtError::UnsupportedAlg("HS256".into()))
    );
    let weird = format!("{}.{}.", b64(&json!({"alg": "x\ny".repeat(40)})), payload);
    match verify(&weird, &keys, NOW, ISS, AUD, 0) {
        Err(JwtError::UnsupportedAlg(a)) => assert!(a.len() <= 32 && !a.contains('\n')),
        other => panic!("{other:?}"),
    }
}

#[test]
fn wrong_issuer_audience_and_unknown_kid() {
    let (sk, keys) = setup();
    let token = sk.sign(&claims()).unwrap();
    assert_eq!(
        verify(&token, &keys, NOW, "https://other", AUD, 0),
        Err(JwtError::WrongIssuer)
    );
    assert_eq!(
        verify(&token, &keys, NOW, ISS, "other-aud", 0),
        Err(JwtError::WrongAudience)
    );
    let other = SigningKey::generate().unwrap().verifying_key().unwrap();
    assert_eq!(
        verify(&token, &[other], NOW, ISS, AUD, 0),
        Err(JwtError::UnknownKey)
    );
    // Same kid, different key material: the signature does not verify.
    let mut impostor = SigningKey::generate().unwrap();
    impostor.kid = sk.kid.clone();
    assert_eq!(
        verify(
            &token,
            &[impostor.verifying_key().unwrap()],
            NOW,
            ISS,
            AUD,
            0
        ),
        Err(JwtError::BadSignature)
    );
}

#[test]
fn malformed_inputs() {
    let (sk, keys) = setup();
    let token = sk.sign(&claims()).unwrap();
    for bad in [
        String::new(),
        "a.b".into(),
        "a.b.c.d".into(),
        format!("{token}.x"),
        format!("!{token}"),
        "e30.e30.".into(),
        "x".repeat(9000),
    ] {
        assert_eq!(
            verify(&bad, &keys, NOW, ISS, AUD, 0),
            Err(JwtError::Malformed),
            "{bad:.40}"
        );
    }
    let crit = format!(
        "{}.{}.AA",
        b64(&json!({"alg": "EdDSA", "kid": sk.kid, "crit": ["x"]})),
        b64(&claims())
    );
    assert_eq!(
        verify(&crit, &keys, NOW, ISS, AUD, 0),
        Err(JwtError::Malformed)
    );
}
