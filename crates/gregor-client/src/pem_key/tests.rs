//! Keys made once with openssl 3 (`genpkey` P-256; `pkcs8 -topk8 -v2 aes-256-cbc`
//! and `ec -aes128` with the password "hunter2"); cert.pem is plain.pem's
//! self-signed certificate (`req -x509`).

use super::private_key;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::PrivateKeyDer;

const PLAIN: &str = include_str!("testdata/plain.pem");
const ENCRYPTED: &str = include_str!("testdata/enc.pem");
const LEGACY: &str = include_str!("testdata/legacy.pem");
/// `pkcs8 -topk8 -v1 PBE-SHA1-3DES`: a PKCS#12 scheme, not PBES2.
const PKCS12_3DES: &str = include_str!("testdata/pkcs12-3des.pem");

#[test]
fn decrypts_openssl_pkcs8_with_the_right_password() {
    let key = private_key(ENCRYPTED, Some("hunter2")).unwrap().unwrap();
    let plain = PrivateKeyDer::from_pem_slice(PLAIN.as_bytes()).unwrap();
    assert_eq!(key.secret_der(), plain.secret_der());
}

#[test]
fn wrong_password_is_a_one_line_error() {
    let err = private_key(ENCRYPTED, Some("hunter3"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("wrong ssl.key.password"), "{err}");
    assert!(!err.contains('\n'));
}

#[test]
fn encrypted_key_needs_a_password() {
    let err = private_key(ENCRYPTED, None).unwrap_err().to_string();
    assert!(err.contains("set ssl.key.password"), "{err}");
}

#[test]
fn password_with_a_plain_key_is_refused() {
    let err = private_key(PLAIN, Some("hunter2")).unwrap_err().to_string();
    assert!(err.contains("not encrypted"), "{err}");
    assert!(private_key(PLAIN, None).unwrap().is_some());
}

#[test]
fn legacy_openssl_encryption_is_refused() {
    let err = private_key(LEGACY, Some("hunter2"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("legacy"), "{err}");
}

#[test]
fn no_key_is_none() {
    assert!(private_key("", None).unwrap().is_none());
}

#[test]
fn non_pbes2_schemes_are_refused_by_name() {
    let err = private_key(PKCS12_3DES, Some("hunter2")).unwrap_err();
    assert!(!err.password);
    assert!(err.message.contains("PBES2"), "{err}");
}

/// About one wrong password in 256 leaves valid CBC padding and garbage
/// plaintext; those must read as a wrong password too, not a bad file.
#[test]
fn every_wrong_password_is_reported_as_one() {
    for i in 0..1500 {
        let password = format!("wrong-{i}");
        let err = private_key(ENCRYPTED, Some(&password))
            .unwrap_err()
            .to_string();
        assert!(err.contains("wrong ssl.key.password"), "{password}: {err}");
    }
}
