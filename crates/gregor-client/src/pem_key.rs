//! The private key of a PEM key store, decrypted when Kafka's
//! `ssl.key.password` is set. Shared by the CLI and the broker so both
//! accept the same keys with the same errors.
//!
//! As Kafka's PEM store: an encrypted key is PKCS#8
//! ("ENCRYPTED PRIVATE KEY", PBES2 as `openssl pkcs8 -topk8 -v2 aes-256-cbc`
//! writes) and needs the password; a password with an unencrypted key is an
//! error, not silently ignored.

use pkcs8::der::Document;
use pkcs8::{EncryptedPrivateKeyInfo, PrivateKeyInfo};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

const ENCRYPTED_BEGIN: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----";
const ENCRYPTED_END: &str = "-----END ENCRYPTED PRIVATE KEY-----";

/// Why a key cannot be read: one line; `password` when the fix is in
/// `ssl.key.password` rather than in the PEM.
#[derive(Debug)]
pub struct KeyError {
    pub password: bool,
    pub message: String,
}

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

fn pem_error(message: impl Into<String>) -> KeyError {
    KeyError {
        password: false,
        message: message.into(),
    }
}

fn password_error(message: impl Into<String>) -> KeyError {
    KeyError {
        password: true,
        message: message.into(),
    }
}

/// The first private key in `text`, or `None` when it holds none.
pub fn private_key(
    text: &str,
    password: Option<&str>,
) -> Result<Option<PrivateKeyDer<'static>>, KeyError> {
    if text.contains("Proc-Type: 4,ENCRYPTED") {
        // Kafka reads PKCS#8 only; the legacy OpenSSL form is not PKCS#8.
        return Err(pem_error(
            "the key uses the legacy OpenSSL encryption: convert it to \
             encrypted PKCS#8 (openssl pkcs8 -topk8 -v2 aes-256-cbc)",
        ));
    }
    if let Some(start) = text.find(ENCRYPTED_BEGIN) {
        let Some(password) = password else {
            return Err(password_error(
                "the private key is encrypted: set ssl.key.password",
            ));
        };
        return decrypt(&text[start..], password).map(Some);
    }
    if !text.contains("PRIVATE KEY-----") {
        return Ok(None);
    }
    if password.is_some() {
        return Err(password_error(
            "ssl.key.password is set but the private key is not encrypted (remove the password)",
        ));
    }
    PrivateKeyDer::from_pem_slice(text.as_bytes())
        .map(Some)
        .map_err(|e| pem_error(format!("bad PEM private key: {e}")))
}

fn decrypt(text: &str, password: &str) -> Result<PrivateKeyDer<'static>, KeyError> {
    let end = text
        .find(ENCRYPTED_END)
        .ok_or_else(|| pem_error("the encrypted private key has no END line"))?;
    let block = &text[..end + ENCRYPTED_END.len()];
    let (_, der) = Document::from_pem(block)
        .map_err(|e| pem_error(format!("bad PEM encrypted private key: {e}")))?;
    // pkcs5 knows PBES2 only: another scheme (PKCS#12's PBE-SHA1-3DES,
    // PBES1) fails to parse here.
    let info = EncryptedPrivateKeyInfo::try_from(der.as_bytes()).map_err(|e| {
        pem_error(format!(
            "unreadable encrypted private key ({e}): Gregor reads PBES2 keys \
             (openssl pkcs8 -topk8 -v2 aes-256-cbc)"
        ))
    })?;
    let wrong = || password_error("cannot decrypt the private key: wrong ssl.key.password");
    let plain = info.decrypt(password).map_err(|e| match e {
        // pkcs5 reports bad CBC padding (a wrong password) as EncryptFailed.
        pkcs8::Error::EncryptedPrivateKey(
            pkcs8::pkcs5::Error::DecryptFailed | pkcs8::pkcs5::Error::EncryptFailed,
        ) => wrong(),
        // The padding came out right by chance (about one wrong password in
        // 256) and the garbage plaintext is not DER: the outer structure was
        // read above, so only the decrypted bytes can be malformed.
        pkcs8::Error::Asn1(_) | pkcs8::Error::KeyMalformed => wrong(),
        other => pem_error(format!("cannot decrypt the private key: {other}")),
    })?;
    // CBC padding can come out right by chance with a wrong password; the
    // plaintext must also be a PKCS#8 key.
    PrivateKeyInfo::try_from(plain.as_bytes()).map_err(|_| wrong())?;
    Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        plain.as_bytes().to_vec(),
    )))
}

#[cfg(test)]
mod tests;
