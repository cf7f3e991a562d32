//! Kafka's `kafka-storage format --add-scram` syntax for users a new
//! cluster starts with: `SCRAM-SHA-256=[name=alice,password=alice-secret]`,
//! optionally with `iterations=8192` and `salt="..."` (base64), or with
//! `saltedpassword="..."` (base64, needs the salt) instead of the password.
//! Values may be double-quoted (then they may hold `,` and `]`).

use super::scram::{self, Mechanism};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use gregor_metadata::scram::{MAX_ITERATIONS, MIN_ITERATIONS};
use gregor_metadata::MetadataRecord;
use std::path::Path;

const DEFAULT_ITERATIONS: i32 = 4096;

/// Where `gregor storage format --add-scram` leaves the credentials, in the
/// metadata dir, for the first controller change of the new cluster
/// (Kafka's bootstrap.checkpoint plays this part). A metadata batch.
pub const BOOTSTRAP_FILE: &str = "bootstrap-scram.records";

pub fn write_file(dir: &Path, records: &[MetadataRecord]) -> std::io::Result<()> {
    std::fs::write(
        dir.join(BOOTSTRAP_FILE),
        gregor_metadata::encode_batch(records),
    )
}

/// The records in `dir`'s bootstrap file; none when there is no file.
pub fn read_file(dir: &Path) -> std::io::Result<Vec<MetadataRecord>> {
    match std::fs::read(dir.join(BOOTSTRAP_FILE)) {
        Ok(bytes) => gregor_metadata::decode_batch(&bytes).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: {e}", dir.join(BOOTSTRAP_FILE).display()),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Parses one `MECHANISM=[key=value,...]` into a credential record.
pub fn parse(text: &str) -> Result<MetadataRecord, String> {
    let text = text.trim();
    let (mechanism_name, rest) = text.split_once('=').ok_or_else(|| {
        format!(
            "expected MECHANISM=[name=...,password=...], got '{}'",
            redact(text)
        )
    })?;
    let mechanism = Mechanism::from_name(mechanism_name.trim())
        .ok_or_else(|| format!("The add-scram mechanism {mechanism_name} is not supported."))?;
    let body = rest
        .trim()
        .strip_prefix('[')
        .and_then(|b| b.strip_suffix(']'))
        .ok_or("expected the credential in [...]")?;
    let mut name = None;
    let mut password = None;
    let mut salt = None;
    let mut salted_password = None;
    let mut iterations = DEFAULT_ITERATIONS;
    for field in split_unquoted(body, ',') {
        let (key, value) = field
            .split_once('=')
            .ok_or_else(|| format!("expected key=value in [...], got '{}'", redact(&field)))?;
        let value = unquote(value.trim());
        match key.trim() {
            "name" => name = Some(value),
            "password" => password = Some(value),
            "salt" => {
                salt = Some(
                    BASE64
                        .decode(&value)
                        .map_err(|_| "salt is not valid base64".to_string())?,
                )
            }
            "saltedpassword" => {
                salted_password = Some(
                    BASE64
                        .decode(&value)
                        .map_err(|_| "saltedpassword is not valid base64".to_string())?,
                )
            }
            "iterations" => {
                iterations = value
                    .parse()
                    .map_err(|_| format!("iterations '{value}' is not a number"))?
            }
            other => return Err(format!("unknown key '{other}' in an add-scram credential")),
        }
    }
    let name = name
        .filter(|n| !n.is_empty())
        .ok_or("You must supply 'name' to add-scram")?;
    if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
        return Err(format!(
            "The 'iterations' value must be >= {MIN_ITERATIONS} and <= {MAX_ITERATIONS} for add-scram"
        ));
    }
    let credential = match (password, salted_password) {
        (Some(_), Some(_)) => {
            return Err(
                "You must only supply one of 'password' or 'saltedpassword' to add-scram".into(),
            )
        }
        (Some(password), None) => {
            scram::new_credential(mechanism, &password, salt, iterations as u32)
        }
        (None, Some(salted)) => {
            let salt = salt.ok_or("You must supply 'salt' with 'saltedpassword' to add-scram")?;
            let (stored_key, server_key) = scram::derive_keys(mechanism, &salted);
            gregor_metadata::ScramCredential {
                salt,
                stored_key,
                server_key,
                iterations,
            }
        }
        (None, None) => {
            return Err("You must supply one of 'password' or 'saltedpassword' to add-scram".into())
        }
    };
    Ok(MetadataRecord::UserScramCredential {
        name,
        mechanism: mechanism.id(),
        salt: credential.salt,
        stored_key: credential.stored_key,
        server_key: credential.server_key,
        iterations: credential.iterations,
    })
}

/// Several credentials separated by `;` (the `sasl.bootstrap.scram` setting).
pub fn parse_all(text: &str) -> Result<Vec<MetadataRecord>, String> {
    split_unquoted(text, ';')
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(parse)
        .collect()
}

/// Splits on `separator` outside double quotes.
fn split_unquoted(text: &str, separator: char) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            c if c == separator && !quoted => parts.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    parts.push(current);
    parts
}

fn unquote(value: &str) -> String {
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value)
        .to_string()
}

/// Error messages never repeat a password.
fn redact(text: &str) -> String {
    if text.contains("password") {
        "(hidden)".to_string()
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gregor_metadata::MetadataImage;

    #[test]
    fn parses_kafka_storage_syntax() {
        let record = parse("SCRAM-SHA-256=[name=alice,password=alice-secret]").unwrap();
        let mut image = MetadataImage::default();
        image.apply(0, &record);
        let c = &image.scram_credentials["alice"][&1];
        assert_eq!(c.iterations, 4096);
        assert!(scram::password_matches(
            Mechanism::Sha256,
            c,
            b"alice-secret"
        ));

        let record =
            parse(r#"SCRAM-SHA-512=[name="bob",iterations=8192,salt="c2FsdA==",password="p,w]"]"#)
                .unwrap();
        let MetadataRecord::UserScramCredential {
            name,
            mechanism,
            salt,
            iterations,
            ..
        } = &record
        else {
            panic!()
        };
        assert_eq!(
            (name.as_str(), *mechanism, salt.as_slice(), *iterations),
            ("bob", 2, &b"salt"[..], 8192)
        );
        image.apply(1, &record);
        assert!(scram::password_matches(
            Mechanism::Sha512,
            &image.scram_credentials["bob"][&2],
            b"p,w]"
        ));

        let salted = scram::salted_password(Mechanism::Sha256, b"pw", b"salt", 4096);
        let text = format!(
            "SCRAM-SHA-256=[name=carol,salt=\"c2FsdA==\",saltedpassword=\"{}\"]",
            BASE64.encode(&salted)
        );
        image.apply(2, &parse(&text).unwrap());
        assert!(scram::password_matches(
            Mechanism::Sha256,
            &image.scram_credentials["carol"][&1],
            b"pw"
        ));
    }

    #[test]
    fn parses_several_and_refuses_bad_ones() {
        let all =
            parse_all("SCRAM-SHA-256=[name=a,password=x]; SCRAM-SHA-512=[name=b,password=y];")
                .unwrap();
        assert_eq!(all.len(), 2);
        assert!(parse_all("").unwrap().is_empty());
        for bad in [
            "SCRAM-SHA-1=[name=a,password=x]",
            "SCRAM-SHA-256=[password=x]",
            "SCRAM-SHA-256=[name=a]",
            "SCRAM-SHA-256=[name=a,password=x,iterations=100]",
            "SCRAM-SHA-256=[name=a,password=x,iterations=20000]",
            "SCRAM-SHA-256=[name=a,saltedpassword=AAAA]",
            "SCRAM-SHA-256=[name=a,password=x,color=red]",
            "SCRAM-SHA-256=name=a",
            "nothing",
        ] {
            let err = parse(bad).unwrap_err();
            assert!(!err.contains("password=x"), "{err}");
        }
    }
}
