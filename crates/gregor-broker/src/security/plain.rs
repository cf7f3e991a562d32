//! SASL/PLAIN (RFC 4616): `[authzid] NUL authcid NUL password`, checked
//! against the SCRAM credential store (Kafka checks static JAAS users; one
//! store for both means no JAAS files). Messages are Kafka's PlainSaslServer's.

use super::scram::{self, Mechanism};
use gregor_metadata::MetadataImage;

/// Why a PLAIN token was refused; the text is what the client is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlainError(pub String);

/// The authenticated user name, or why not. `static_users` (name,
/// password) come from the listener's JAAS config and are checked first.
pub fn authenticate(
    image: &MetadataImage,
    static_users: &[(String, String)],
    token: &[u8],
) -> Result<String, PlainError> {
    let fail = |m: &str| Err(PlainError(m.to_string()));
    let Ok(token) = std::str::from_utf8(token) else {
        return fail("Authentication failed: Invalid username or password");
    };
    let parts: Vec<&str> = token.split('\u{0}').collect();
    let [authzid, user, password] = parts[..] else {
        return fail(&format!(
            "Invalid SASL/PLAIN response: expected 3 tokens, got {}",
            parts.len()
        ));
    };
    if user.is_empty() {
        return fail("Authentication failed: username not specified");
    }
    if password.is_empty() {
        return fail("Authentication failed: password not specified");
    }
    if !authzid.is_empty() && authzid != user {
        return fail(
            "Authentication failed: Client requested an authorization id that is different from username",
        );
    }
    let static_match = static_users.iter().any(|(name, expected)| {
        name == user && scram::constant_time_eq(expected.as_bytes(), password.as_bytes())
    });
    if static_match {
        return Ok(user.to_string());
    }
    let matches = image
        .scram_credentials
        .get(user)
        .is_some_and(|credentials| {
            credentials.iter().any(|(id, credential)| {
                Mechanism::from_id(*id)
                    .is_some_and(|m| scram::password_matches(m, credential, password.as_bytes()))
            })
        });
    if !matches {
        return fail("Authentication failed: Invalid username or password");
    }
    Ok(user.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use gregor_metadata::MetadataRecord;

    fn image() -> MetadataImage {
        let mut image = MetadataImage::default();
        let c = scram::new_credential(Mechanism::Sha512, "alice-secret", None, 4096);
        image.apply(
            0,
            &MetadataRecord::UserScramCredential {
                name: "alice".into(),
                mechanism: 2,
                salt: c.salt,
                stored_key: c.stored_key,
                server_key: c.server_key,
                iterations: c.iterations,
            },
        );
        image
    }

    #[test]
    fn checks_the_scram_store() {
        let image = image();
        assert_eq!(
            authenticate(&image, &[], b"\0alice\0alice-secret"),
            Ok("alice".into())
        );
        assert_eq!(
            authenticate(&image, &[], b"alice\0alice\0alice-secret"),
            Ok("alice".into())
        );
        let invalid = Err(PlainError(
            "Authentication failed: Invalid username or password".into(),
        ));
        assert_eq!(authenticate(&image, &[], b"\0alice\0wrong"), invalid);
        assert_eq!(authenticate(&image, &[], b"\0bob\0alice-secret"), invalid);
        assert_eq!(authenticate(&image, &[], b"\0alice\0\xff"), invalid);
    }

    #[test]
    fn static_users_come_first() {
        let image = image();
        let users = [("broker".to_string(), "b-pw".to_string())];
        assert_eq!(
            authenticate(&image, &users, b"\0broker\0b-pw"),
            Ok("broker".into())
        );
        assert!(authenticate(&image, &users, b"\0broker\0nope").is_err());
        assert_eq!(
            authenticate(&image, &users, b"\0alice\0alice-secret"),
            Ok("alice".into())
        );
    }

    #[test]
    fn refuses_malformed_tokens() {
        let image = image();
        let message = |t: &[u8]| authenticate(&image, &[], t).unwrap_err().0;
        assert_eq!(
            message(b""),
            "Invalid SASL/PLAIN response: expected 3 tokens, got 1"
        );
        assert_eq!(
            message(b"\0a\0b\0c"),
            "Invalid SASL/PLAIN response: expected 3 tokens, got 4"
        );
        assert_eq!(
            message(b"\0\0pw"),
            "Authentication failed: username not specified"
        );
        assert_eq!(
            message(b"\0alice\0"),
            "Authentication failed: password not specified"
        );
        assert!(message(b"bob\0alice\0alice-secret").contains("authorization id"));
    }
}
