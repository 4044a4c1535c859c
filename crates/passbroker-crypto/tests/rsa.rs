//! RSA key pairs: encodings, implicit rejection, OAEP.

use std::sync::OnceLock;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use passbroker_crypto::rsa_keys::{bad_padding_block, raw_encrypt_block};
use passbroker_crypto::{implicit_rejection_self_test, DecryptError, KeyBits, RsaKeyPair};

/// One key for all tests: RSA key generation is the slow part.
fn key() -> &'static RsaKeyPair {
    static KEY: OnceLock<RsaKeyPair> = OnceLock::new();
    KEY.get_or_init(|| RsaKeyPair::generate(KeyBits::B2048).unwrap())
}

fn bad_ciphertext(kp: &RsaKeyPair, msg: &[u8]) -> Vec<u8> {
    let spki = kp.public_spki_der().unwrap();
    raw_encrypt_block(&spki, &bad_padding_block(kp.modulus_bytes(), msg)).unwrap()
}

#[test]
fn linked_openssl_is_new_enough() {
    let v = openssl::version::version();
    eprintln!("linked: {v}");
    assert!(openssl::version::number() >= 0x3020_0000, "{v}");
}

#[test]
fn self_test_passes() {
    implicit_rejection_self_test().unwrap();
}

#[test]
fn key_sizes_and_encodings() {
    let kp = key();
    assert_eq!(kp.bits(), 2048);
    assert_eq!(kp.modulus_bytes(), 256);
    let b64 = kp.public_key_base64().unwrap();
    assert!(!b64.contains('\n') && !b64.contains("BEGIN"));
    let der = STANDARD.decode(&b64).unwrap();
    assert_eq!(der, kp.public_spki_der().unwrap());
    let public = openssl::pkey::PKey::public_key_from_der(&der).unwrap();
    assert_eq!(public.bits(), 2048);
    assert_eq!(public.id(), openssl::pkey::Id::RSA);

    // PKCS#8 round trip keeps the same key.
    let pkcs8 = kp.to_pkcs8_der().unwrap();
    let back = RsaKeyPair::from_pkcs8_der(&pkcs8).unwrap();
    assert_eq!(back.public_spki_der().unwrap(), der);
    let ct = kp.encrypt_pkcs1v15(b"hello").unwrap();
    assert_eq!(back.decrypt_pkcs1v15(&ct).unwrap().as_slice(), b"hello");
    assert!(RsaKeyPair::from_pkcs8_der(b"garbage").is_err());
    assert!(!format!("{kp:?}").contains(&STANDARD.encode(&pkcs8[..40])));

    assert_eq!(KeyBits::from_bits(3072), Some(KeyBits::B3072));
    assert_eq!(KeyBits::from_bits(1024), None);
    assert_eq!(KeyBits::B4096.bits(), 4096);
}

#[test]
fn pkcs1v15_round_trip() {
    let kp = key();
    for msg in [&b""[..], b"a", "pässwörd".as_bytes(), &[0x41u8; 245][..]] {
        let ct = kp.encrypt_pkcs1v15(msg).unwrap();
        assert_eq!(kp.decrypt_pkcs1v15(&ct).unwrap().as_slice(), msg);
    }
    assert!(kp.encrypt_pkcs1v15(&[0x41u8; 246]).is_err());
}

#[test]
fn bad_padding_is_implicitly_rejected() {
    let kp = key();
    let bad1 = bad_ciphertext(kp, b"first message");
    let bad2 = bad_ciphertext(kp, b"second message");
    let a = kp
        .decrypt_pkcs1v15(&bad1)
        .expect("bad padding must not be an error");
    let b = kp.decrypt_pkcs1v15(&bad1).unwrap();
    assert_eq!(a, b, "synthetic message must be deterministic");
    assert_ne!(a.as_slice(), b"first message");
    let c = kp.decrypt_pkcs1v15(&bad2).unwrap();
    // Distinct ciphertexts give independent synthetic messages (they collide only if
    // both happen to be empty, p ≈ 1/246²).
    assert_ne!(a, c);
    // All-zero block and a block starting 00 01 (signature padding) are also accepted.
    let spki = kp.public_spki_der().unwrap();
    let mut block = vec![0xFFu8; 256];
    block[0] = 0;
    block[1] = 1;
    block[200] = 0;
    for blk in [vec![0u8; 256], block] {
        let ct = raw_encrypt_block(&spki, &blk).unwrap();
        assert!(kp.decrypt_pkcs1v15(&ct).is_ok());
    }
    // The synthetic message depends on the private key, not only the ciphertext.
    let other = RsaKeyPair::from_pkcs8_der(&kp.to_pkcs8_der().unwrap()).unwrap();
    assert_eq!(other.decrypt_pkcs1v15(&bad1).unwrap(), a);
}

#[test]
fn wrong_length_and_too_large_values() {
    let kp = key();
    let ct = kp.encrypt_pkcs1v15(b"x").unwrap();
    for len in [0usize, 255, 257, 512] {
        let mut v = ct.clone();
        v.resize(len, 0);
        match kp.decrypt_pkcs1v15(&v) {
            Err(DecryptError::WrongLength { expected: 256, got }) => assert_eq!(got, len),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            kp.decrypt_oaep_sha256(&v),
            Err(DecryptError::WrongLength { .. })
        ));
    }
    // 0xFF.. is larger than n: public information, so an error is fine.
    assert!(matches!(
        kp.decrypt_pkcs1v15(&[0xFF; 256]),
        Err(DecryptError::Invalid)
    ));
}

#[test]
fn oaep_sha256_round_trip() {
    let kp = key();
    for msg in [&b""[..], b"correct horse", &[7u8; 190][..]] {
        let ct = kp.encrypt_oaep_sha256(msg).unwrap();
        assert_eq!(ct.len(), 256);
        assert_eq!(kp.decrypt_oaep_sha256(&ct).unwrap().as_slice(), msg);
    }
    // 256 - 2*32 - 2 = 190 bytes is the OAEP-SHA-256 limit for RSA-2048.
    assert!(kp.encrypt_oaep_sha256(&[7u8; 191]).is_err());
    // A PKCS#1 v1.5 ciphertext is not valid OAEP, and OAEP has no implicit rejection.
    let v15 = kp.encrypt_pkcs1v15(b"x").unwrap();
    assert!(matches!(
        kp.decrypt_oaep_sha256(&v15),
        Err(DecryptError::Invalid)
    ));
    let mut ct = kp.encrypt_oaep_sha256(b"x").unwrap();
    ct[100] ^= 1;
    assert!(matches!(
        kp.decrypt_oaep_sha256(&ct),
        Err(DecryptError::Invalid)
    ));
}
