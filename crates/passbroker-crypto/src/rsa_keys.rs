//! RSA key pairs whose public half ISC clients encrypt passwords to
//! (`query-password-info` → `publicKey`, product.md §1).
//!
//! PKCS#1 v1.5 decryption must not be a padding oracle (Bleichenbacher / Marvin).
//! OpenSSL ≥ 3.2 implements implicit rejection (draft-irtf-cfrg-rsa-guidance): a
//! ciphertext with bad padding decrypts to a synthetic message derived from the
//! private key and the ciphertext, with no error and (ideally) no timing difference.
//! It is on by default for every fresh `EVP_PKEY_CTX`; the only way to turn it off is
//! the `rsa_pkcs1_implicit_rejection` ctx parameter, which this crate never sets (the
//! safe `openssl` bindings do not even expose it). Because older OpenSSL builds
//! silently fall back to explicit rejection, [`implicit_rejection_self_test`] checks
//! the behaviour at start-up.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use openssl::error::ErrorStack;
use openssl::pkey::{Id, PKey, Private};
use openssl::pkey_ctx::PkeyCtx;
use openssl::rsa::{Padding, Rsa};
use zeroize::Zeroizing;

/// First OpenSSL release with implicit rejection for PKCS#1 v1.5 decryption.
const OPENSSL_IMPLICIT_REJECTION: i64 = 0x3020_0000;

/// Supported RSA modulus sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyBits {
    B2048,
    B3072,
    B4096,
}

impl KeyBits {
    pub fn bits(self) -> u32 {
        match self {
            KeyBits::B2048 => 2048,
            KeyBits::B3072 => 3072,
            KeyBits::B4096 => 4096,
        }
    }

    pub fn from_bits(bits: u32) -> Option<Self> {
        match bits {
            2048 => Some(KeyBits::B2048),
            3072 => Some(KeyBits::B3072),
            4096 => Some(KeyBits::B4096),
            _ => None,
        }
    }
}

/// Decryption / key errors. `Invalid` is deliberately detail-free: it must not tell an
/// attacker anything about the plaintext (with implicit rejection it only happens for
/// a ciphertext numerically ≥ n, or an OAEP failure).
#[derive(Debug, thiserror::Error)]
pub enum DecryptError {
    #[error("ciphertext has the wrong length: expected {expected} bytes, got {got}")]
    WrongLength { expected: usize, got: usize },
    #[error("ciphertext cannot be decrypted")]
    Invalid,
    #[error("RSA key error: {0}")]
    Key(String),
}

fn key_err(what: &str) -> impl Fn(ErrorStack) -> DecryptError + '_ {
    move |e| DecryptError::Key(format!("{what}: {e}"))
}

/// An RSA private key, parsed once and kept in memory (OpenSSL frees it with
/// `OPENSSL_clear_free`). `PKey` is reference counted and thread-safe, so one pair can
/// serve every request thread.
#[derive(Clone)]
pub struct RsaKeyPair {
    pkey: PKey<Private>,
}

impl fmt::Debug for RsaKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RsaKeyPair([redacted], bits={})", self.bits())
    }
}

impl RsaKeyPair {
    pub fn generate(bits: KeyBits) -> Result<RsaKeyPair, DecryptError> {
        let rsa = Rsa::generate(bits.bits()).map_err(key_err("generate"))?;
        let pkey = PKey::from_rsa(rsa).map_err(key_err("generate"))?;
        Ok(RsaKeyPair { pkey })
    }

    /// Unencrypted PKCS#8 DER (what `to_pkcs8_der` writes; stored wrapped under the
    /// master key). Only RSA keys of at least 2048 bits are accepted.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<RsaKeyPair, DecryptError> {
        let pkey = PKey::private_key_from_pkcs8(der)
            .map_err(|_| DecryptError::Key("not a valid PKCS#8 private key".into()))?;
        if pkey.id() != Id::RSA {
            return Err(DecryptError::Key("PKCS#8 key is not an RSA key".into()));
        }
        let rsa = pkey.rsa().map_err(key_err("read RSA key"))?;
        if !rsa.check_key().map_err(key_err("check RSA key"))? {
            return Err(DecryptError::Key("RSA key is inconsistent".into()));
        }
        if pkey.bits() < 2048 {
            return Err(DecryptError::Key(format!(
                "RSA key has {} bits; at least 2048 required",
                pkey.bits()
            )));
        }
        Ok(RsaKeyPair { pkey })
    }

    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, DecryptError> {
        self.pkey
            .private_key_to_pkcs8()
            .map(Zeroizing::new)
            .map_err(key_err("encode PKCS#8"))
    }

    /// DER SubjectPublicKeyInfo (Java's `X509EncodedKeySpec`).
    pub fn public_spki_der(&self) -> Result<Vec<u8>, DecryptError> {
        self.pkey
            .public_key_to_der()
            .map_err(key_err("encode SPKI"))
    }

    /// Standard base64 of the SPKI DER on one line: ISC's `publicKey` field.
    pub fn public_key_base64(&self) -> Result<String, DecryptError> {
        Ok(STANDARD.encode(self.public_spki_der()?))
    }

    /// Modulus length in bytes, which is also the exact ciphertext length.
    pub fn modulus_bytes(&self) -> usize {
        self.pkey.size()
    }

    pub fn bits(&self) -> u32 {
        self.pkey.bits()
    }

    /// PKCS#1 v1.5 decryption with implicit rejection: for any ciphertext of exactly
    /// `modulus_bytes()` length (and numerically < n) it returns Ok; bad padding yields
    /// a deterministic synthetic message. Only a wrong length (or a value >= modulus)
    /// is an Err (that is public information).
    pub fn decrypt_pkcs1v15(&self, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, DecryptError> {
        self.decrypt(ciphertext, |ctx| ctx.set_rsa_padding(Padding::PKCS1))
    }

    /// RSA-OAEP with SHA-256 for both the label hash and MGF1 (WebCrypto's RSA-OAEP
    /// with hash SHA-256), empty label.
    pub fn decrypt_oaep_sha256(
        &self,
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, DecryptError> {
        self.decrypt(ciphertext, set_oaep_sha256)
    }

    /// Client-side PKCS#1 v1.5 encryption to this key (tests, self-test, tools).
    pub fn encrypt_pkcs1v15(&self, plaintext: &[u8]) -> Result<Vec<u8>, DecryptError> {
        self.encrypt(plaintext, |ctx| ctx.set_rsa_padding(Padding::PKCS1))
    }

    /// Client-side RSA-OAEP (SHA-256/MGF1-SHA-256) encryption to this key.
    pub fn encrypt_oaep_sha256(&self, plaintext: &[u8]) -> Result<Vec<u8>, DecryptError> {
        self.encrypt(plaintext, set_oaep_sha256)
    }

    fn decrypt(
        &self,
        ciphertext: &[u8],
        setup: impl FnOnce(&mut PkeyCtx<Private>) -> Result<(), ErrorStack>,
    ) -> Result<Zeroizing<Vec<u8>>, DecryptError> {
        let k = self.modulus_bytes();
        if ciphertext.len() != k {
            return Err(DecryptError::WrongLength {
                expected: k,
                got: ciphertext.len(),
            });
        }
        // A fresh ctx per call: cheap next to the modular exponentiation, and it
        // guarantees default (implicit rejection on) parameters every time.
        let mut ctx = PkeyCtx::new(&self.pkey).map_err(key_err("create ctx"))?;
        ctx.decrypt_init().map_err(key_err("decrypt init"))?;
        setup(&mut ctx).map_err(key_err("set padding"))?;
        // Written by OpenSSL in place: the plaintext never exists outside a
        // zeroizing buffer (truncate keeps the capacity, which is zeroized on drop).
        let mut out = Zeroizing::new(vec![0u8; k]);
        let n = ctx
            .decrypt(ciphertext, Some(out.as_mut_slice()))
            .map_err(|_| DecryptError::Invalid)?;
        out.truncate(n);
        Ok(out)
    }

    fn encrypt(
        &self,
        plaintext: &[u8],
        setup: impl FnOnce(&mut PkeyCtx<Private>) -> Result<(), ErrorStack>,
    ) -> Result<Vec<u8>, DecryptError> {
        // Encryption only uses the public half (n, e) of the key.
        let mut ctx = PkeyCtx::new(&self.pkey).map_err(key_err("create ctx"))?;
        ctx.encrypt_init().map_err(key_err("encrypt init"))?;
        setup(&mut ctx).map_err(key_err("set padding"))?;
        let mut out = Vec::new();
        ctx.encrypt_to_vec(plaintext, &mut out)
            .map_err(|_| DecryptError::Invalid)?;
        Ok(out)
    }
}

fn set_oaep_sha256<T>(ctx: &mut PkeyCtx<T>) -> Result<(), ErrorStack> {
    ctx.set_rsa_padding(Padding::PKCS1_OAEP)?;
    ctx.set_rsa_oaep_md(openssl::md::Md::sha256())?;
    ctx.set_rsa_mgf1_md(openssl::md::Md::sha256())
}

/// Raw RSA (no padding) encryption of a full-size block: how the self-test, the tests
/// and the Marvin tool craft ciphertexts whose padding is wrong on purpose.
pub fn raw_encrypt_block(public_spki_der: &[u8], block: &[u8]) -> Result<Vec<u8>, DecryptError> {
    let public = PKey::public_key_from_der(public_spki_der).map_err(key_err("read SPKI"))?;
    let mut ctx = PkeyCtx::new(&public).map_err(key_err("create ctx"))?;
    ctx.encrypt_init().map_err(key_err("encrypt init"))?;
    ctx.set_rsa_padding(Padding::NONE)
        .map_err(key_err("set padding"))?;
    let mut out = Vec::new();
    ctx.encrypt_to_vec(block, &mut out)
        .map_err(|_| DecryptError::Invalid)?;
    Ok(out)
}

/// A `k`-byte block that is *almost* PKCS#1 v1.5 type 2 but has block type `0x03`
/// (`00 03 PS 00 M`), so the padding check must fail while everything else looks right.
pub fn bad_padding_block(k: usize, message: &[u8]) -> Vec<u8> {
    let mut block = vec![0u8; k];
    if k >= message.len() + 11 {
        block[1] = 0x03;
        let ps_end = k - message.len() - 1;
        for (i, b) in block[2..ps_end].iter_mut().enumerate() {
            *b = (0x5A ^ (i as u8)) | 1; // non-zero filler
        }
        block[ps_end + 1..].copy_from_slice(message);
    }
    block
}

/// Start-up self-test of implicit rejection; `Err` explains what is wrong and that
/// PKCS#1 v1.5 decryption would be a padding oracle with the linked OpenSSL.
pub fn implicit_rejection_self_test() -> Result<(), String> {
    let version = openssl::version::version();
    if openssl::version::number() < OPENSSL_IMPLICIT_REJECTION {
        return Err(format!(
            "linked {version} predates OpenSSL 3.2 and rejects bad PKCS#1 v1.5 padding \
             explicitly (a Bleichenbacher padding oracle); build with the vendored OpenSSL"
        ));
    }
    let fail = |what: &str| format!("RSA implicit-rejection self-test failed ({version}): {what}");
    let kp = RsaKeyPair::generate(KeyBits::B2048).map_err(|e| fail(&e.to_string()))?;
    let k = kp.modulus_bytes();

    let msg = b"passbroker self-test";
    let good = kp.encrypt_pkcs1v15(msg).map_err(|e| fail(&e.to_string()))?;
    match kp.decrypt_pkcs1v15(&good) {
        Ok(pt) if pt.as_slice() == msg => {}
        _ => return Err(fail("a valid ciphertext did not round-trip")),
    }

    let spki = kp.public_spki_der().map_err(|e| fail(&e.to_string()))?;
    let bad =
        raw_encrypt_block(&spki, &bad_padding_block(k, msg)).map_err(|e| fail(&e.to_string()))?;
    let first = kp.decrypt_pkcs1v15(&bad).map_err(|_| {
        fail("bad padding was rejected explicitly (padding oracle); implicit rejection is off")
    })?;
    let second = kp
        .decrypt_pkcs1v15(&bad)
        .map_err(|_| fail("second decryption of a bad-padding ciphertext failed"))?;
    if first != second {
        return Err(fail(
            "the synthetic message for bad padding is not deterministic",
        ));
    }
    if first.as_slice() == msg {
        return Err(fail("a block with type 03 was accepted as valid padding"));
    }
    Ok(())
}
