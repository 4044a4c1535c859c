//! Interoperability with the clients ISC users actually run: the `openssl` CLI and
//! Java's `Cipher.getInstance("RSA/ECB/PKCS1Padding")` with `X509EncodedKeySpec`
//! (the seed documents' code). Each encrypts to our `public_key_base64()`; we decrypt.
//!
//! Missing tools skip loudly, unless PASSBROKER_REQUIRE_SERVICES=1 (CI), where they fail.

use std::path::Path;
use std::process::Command;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use passbroker_crypto::{KeyBits, RsaKeyPair};

const NON_ASCII: &str = "pässwörd-€-日本語-🔐";

fn require_services() -> bool {
    std::env::var("PASSBROKER_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

/// True if `tool` can be started; otherwise skips (returns false) or fails.
fn have(tool: &str, version_arg: &str) -> bool {
    let ok = Command::new(tool)
        .arg(version_arg)
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            !require_services(),
            "{tool} not found but PASSBROKER_REQUIRE_SERVICES=1"
        );
        eprintln!("\n***** SKIP: {tool} not found *****\n");
    }
    ok
}

fn run(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn write_pub_pem(kp: &RsaKeyPair, dir: &Path) -> std::path::PathBuf {
    let der = STANDARD.decode(kp.public_key_base64().unwrap()).unwrap();
    let pem = openssl::pkey::PKey::public_key_from_der(&der)
        .unwrap()
        .public_key_to_pem()
        .unwrap();
    let path = dir.join("pub.pem");
    std::fs::write(&path, pem).unwrap();
    path
}

/// `openssl pkeyutl -encrypt` of `password` (plus `extra` options), base64-encoded as
/// a client would send it. Err(stderr) if the CLI refuses.
fn cli_encrypt(dir: &Path, pem: &Path, password: &[u8], extra: &[&str]) -> Result<String, String> {
    let pw = dir.join("pw.txt");
    let ct = dir.join("ct.bin");
    std::fs::write(&pw, password).unwrap();
    let _ = std::fs::remove_file(&ct);
    let out = Command::new("openssl")
        .args(["pkeyutl", "-encrypt", "-pubin", "-inkey"])
        .arg(pem)
        .args(extra)
        .arg("-in")
        .arg(&pw)
        .arg("-out")
        .arg(&ct)
        .output()
        .unwrap();
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let b64 = run(Command::new("openssl")
        .args(["base64", "-A", "-in"])
        .arg(&ct));
    Ok(String::from_utf8(b64.stdout).unwrap().trim().to_string())
}

#[test]
fn openssl_cli_pkcs1v15_and_oaep() {
    if !have("openssl", "version") {
        return;
    }
    let kp = RsaKeyPair::generate(KeyBits::B2048).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pem = write_pub_pem(&kp, dir.path());

    let long: Vec<u8> = (0..245u32).map(|i| b'a' + (i % 26) as u8).collect();
    for pw in [&b"Correct-Horse-9"[..], NON_ASCII.as_bytes(), &long[..]] {
        let b64 = cli_encrypt(dir.path(), &pem, pw, &[]).unwrap();
        let ct = STANDARD.decode(b64).unwrap();
        assert_eq!(ct.len(), 256);
        assert_eq!(kp.decrypt_pkcs1v15(&ct).unwrap().as_slice(), pw);
    }
    let too_long = [b'x'; 246];
    assert!(
        cli_encrypt(dir.path(), &pem, &too_long, &[]).is_err(),
        "openssl must refuse 246 bytes for RSA-2048 PKCS#1 v1.5"
    );

    let oaep = [
        "-pkeyopt",
        "rsa_padding_mode:oaep",
        "-pkeyopt",
        "rsa_oaep_md:sha256",
        "-pkeyopt",
        "rsa_mgf1_md:sha256",
    ];
    for pw in [&b"Correct-Horse-9"[..], NON_ASCII.as_bytes()] {
        let ct = STANDARD
            .decode(cli_encrypt(dir.path(), &pem, pw, &oaep).unwrap())
            .unwrap();
        assert_eq!(kp.decrypt_oaep_sha256(&ct).unwrap().as_slice(), pw);
    }
}

/// The seed's Java code, verbatim in its crypto calls. The password is read from a
/// file as UTF-8 so the test does not depend on the JVM's argv encoding.
const JAVA: &str = r#"
import javax.crypto.Cipher;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.security.KeyFactory;
import java.security.PublicKey;
import java.security.spec.X509EncodedKeySpec;
import java.util.Base64;

public class Enc {
  static String encrypt(String publicKey, String toEncrypt) throws Exception {
    byte[] publicKeyBytes = Base64.getDecoder().decode(publicKey);
    byte[] encryptedBytes = encryptRsa(publicKeyBytes, toEncrypt.getBytes("UTF-8"));
    return Base64.getEncoder().encodeToString(encryptedBytes);
  }

  private static byte[] encryptRsa(byte[] publicKeyBytes, byte[] toEncryptBytes) throws Exception {
    PublicKey key = KeyFactory.getInstance("RSA").generatePublic(new X509EncodedKeySpec(publicKeyBytes));
    String transformation = "RSA/ECB/PKCS1Padding";
    Cipher cipher = Cipher.getInstance(transformation);
    cipher.init(1, key);
    return cipher.doFinal(toEncryptBytes);
  }

  public static void main(String[] args) throws Exception {
    String publicKey = new String(Files.readAllBytes(Paths.get(args[0])), StandardCharsets.US_ASCII).trim();
    for (int i = 1; i < args.length; i++) {
      String pw = new String(Files.readAllBytes(Paths.get(args[i])), StandardCharsets.UTF_8);
      System.out.println(encrypt(publicKey, pw));
    }
  }
}
"#;

#[test]
fn java_seed_client_pkcs1v15() {
    if !have("javac", "-version") || !have("java", "-version") {
        return;
    }
    let kp = RsaKeyPair::generate(KeyBits::B2048).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("Enc.java"), JAVA).unwrap();
    std::fs::write(d.join("pub.b64"), kp.public_key_base64().unwrap()).unwrap();
    let long: String = "ab€".repeat(49); // 49 * 5 = 245 UTF-8 bytes
    assert_eq!(long.len(), 245);
    let passwords = ["Correct-Horse-9", NON_ASCII, long.as_str()];
    let mut args = vec![d.join("pub.b64")];
    for (i, pw) in passwords.iter().enumerate() {
        let p = d.join(format!("pw{i}.txt"));
        std::fs::write(&p, pw).unwrap();
        args.push(p);
    }
    run(Command::new("javac")
        .arg("-d")
        .arg(d)
        .arg(d.join("Enc.java")));
    let out = run(Command::new("java")
        .arg("-cp")
        .arg(d)
        .arg("Enc")
        .args(&args));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), passwords.len(), "{stdout}");
    for (line, pw) in lines.iter().zip(passwords) {
        let ct = STANDARD.decode(line.trim()).unwrap();
        assert_eq!(kp.decrypt_pkcs1v15(&ct).unwrap().as_slice(), pw.as_bytes());
    }
}
