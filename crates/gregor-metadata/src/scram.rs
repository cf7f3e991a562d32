//! The controller's side of SCRAM users (Kafka's ScramControlManager):
//! deciding AlterUserScramCredentials against the image. The request never
//! carries a password: the client sends the salt and SaltedPassword, and
//! the caller derives StoredKey/ServerKey (crypto lives with the broker).

use crate::{MetadataImage, MetadataRecord};
use gregor_protocol::error_codes::{
    DUPLICATE_RESOURCE, NONE, RESOURCE_NOT_FOUND, UNACCEPTABLE_CREDENTIAL,
    UNSUPPORTED_SASL_MECHANISM,
};
use std::collections::{BTreeMap, BTreeSet};

/// Wire ids of the SCRAM mechanisms (Kafka's `ScramMechanism` type byte).
pub const SCRAM_SHA_256: i8 = 1;
pub const SCRAM_SHA_512: i8 = 2;

/// Kafka's bounds on SCRAM iterations: `ScramMechanism.minIterations()` (4096
/// for both) and `ScramControlManager.MAX_ITERATIONS`.
pub const MIN_ITERATIONS: i32 = 4096;
pub const MAX_ITERATIONS: i32 = 16384;

/// The SASL mechanism name of a wire id.
pub fn mechanism_name(mechanism: i8) -> Option<&'static str> {
    match mechanism {
        SCRAM_SHA_256 => Some("SCRAM-SHA-256"),
        SCRAM_SHA_512 => Some("SCRAM-SHA-512"),
        _ => None,
    }
}

/// The wire id of a SASL mechanism name.
pub fn mechanism_id(name: &str) -> Option<i8> {
    match name {
        "SCRAM-SHA-256" => Some(SCRAM_SHA_256),
        "SCRAM-SHA-512" => Some(SCRAM_SHA_512),
        _ => None,
    }
}

pub struct Deletion {
    pub name: String,
    pub mechanism: i8,
}

pub struct Upsertion {
    pub name: String,
    pub mechanism: i8,
    pub iterations: i32,
    pub salt: Vec<u8>,
    pub salted_password: Vec<u8>,
}

/// One user's outcome, as AlterUserScramCredentials reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserResult {
    pub user: String,
    pub error_code: i16,
    pub error_message: Option<String>,
}

/// StoredKey and ServerKey of a SaltedPassword for a mechanism.
pub type Derive<'a> = &'a dyn Fn(i8, &[u8]) -> (Vec<u8>, Vec<u8>);

/// Kafka's `alterCredentials`: a user named twice in one request (in either
/// list, whatever the mechanism) fails with DUPLICATE_RESOURCE; the rest are
/// validated one by one, and the valid changes commit together. Results
/// list the deletions, then the upsertions, then the failures.
pub fn alter(
    image: &MetadataImage,
    deletions: &[Deletion],
    upsertions: &[Upsertion],
    derive: Derive<'_>,
) -> (Vec<MetadataRecord>, Vec<UserResult>) {
    // Failures by user, in the order they were found.
    let mut failed: BTreeMap<String, (i16, &'static str)> = BTreeMap::new();
    let mut failed_order: Vec<String> = Vec::new();
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    let mut fail = |failed: &mut BTreeMap<String, (i16, &'static str)>,
                    name: &str,
                    code: i16,
                    message: &'static str| {
        if failed.insert(name.to_string(), (code, message)).is_none() {
            failed_order.push(name.to_string());
        }
    };
    let duplicate = "A user credential cannot be altered twice in the same request";
    let mut kept_deletions: Vec<&Deletion> = Vec::new();
    for d in deletions {
        let name = d.name.as_str();
        if failed.contains_key(name) {
            continue;
        }
        if !seen.insert(name) {
            fail(&mut failed, name, DUPLICATE_RESOURCE, duplicate);
            continue;
        }
        let exists = image
            .scram_credentials
            .get(name)
            .is_some_and(|c| c.contains_key(&d.mechanism));
        match check_name_and_mechanism(name, d.mechanism) {
            Err((code, message)) => fail(&mut failed, name, code, message),
            Ok(()) if !exists => fail(
                &mut failed,
                name,
                RESOURCE_NOT_FOUND,
                "Attempt to delete a user credential that does not exist",
            ),
            Ok(()) => kept_deletions.push(d),
        }
    }
    let mut kept_upsertions: Vec<&Upsertion> = Vec::new();
    for u in upsertions {
        let name = u.name.as_str();
        if failed.contains_key(name) {
            continue;
        }
        if !seen.insert(name) {
            fail(&mut failed, name, DUPLICATE_RESOURCE, duplicate);
            continue;
        }
        let check = check_name_and_mechanism(name, u.mechanism).and(check_iterations(u.iterations));
        match check {
            Err((code, message)) => fail(&mut failed, name, code, message),
            Ok(()) => kept_upsertions.push(u),
        }
    }
    let ok = |user: &str| UserResult {
        user: user.to_string(),
        error_code: NONE,
        error_message: None,
    };
    let mut records = Vec::new();
    let mut results = Vec::new();
    // A name that failed later (a duplicate) takes none of its changes.
    for d in kept_deletions
        .into_iter()
        .filter(|d| !failed.contains_key(d.name.as_str()))
    {
        records.push(MetadataRecord::RemoveUserScramCredential {
            name: d.name.clone(),
            mechanism: d.mechanism,
        });
        results.push(ok(&d.name));
    }
    for u in kept_upsertions
        .into_iter()
        .filter(|u| !failed.contains_key(u.name.as_str()))
    {
        let (stored_key, server_key) = derive(u.mechanism, &u.salted_password);
        records.push(MetadataRecord::UserScramCredential {
            name: u.name.clone(),
            mechanism: u.mechanism,
            salt: u.salt.clone(),
            stored_key,
            server_key,
            iterations: u.iterations,
        });
        results.push(ok(&u.name));
    }
    for name in failed_order {
        if let Some(&(code, message)) = failed.get(&name) {
            results.push(UserResult {
                user: name,
                error_code: code,
                error_message: Some(message.to_string()),
            });
        }
    }
    (records, results)
}

fn check_iterations(iterations: i32) -> Result<(), (i16, &'static str)> {
    if iterations < MIN_ITERATIONS {
        Err((UNACCEPTABLE_CREDENTIAL, "Too few iterations"))
    } else if iterations > MAX_ITERATIONS {
        Err((UNACCEPTABLE_CREDENTIAL, "Too many iterations"))
    } else {
        Ok(())
    }
}

fn check_name_and_mechanism(name: &str, mechanism: i8) -> Result<(), (i16, &'static str)> {
    if name.is_empty() {
        return Err((UNACCEPTABLE_CREDENTIAL, "Username must not be empty"));
    }
    if mechanism_name(mechanism).is_none() {
        return Err((UNSUPPORTED_SASL_MECHANISM, "Unknown SCRAM mechanism"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn derive(mechanism: i8, salted: &[u8]) -> (Vec<u8>, Vec<u8>) {
        (vec![mechanism as u8], salted.to_vec())
    }

    fn up(name: &str, mechanism: i8, iterations: i32) -> Upsertion {
        Upsertion {
            name: name.into(),
            mechanism,
            iterations,
            salt: b"salt".to_vec(),
            salted_password: b"sp".to_vec(),
        }
    }

    fn del(name: &str, mechanism: i8) -> Deletion {
        Deletion {
            name: name.into(),
            mechanism,
        }
    }

    fn codes(results: &[UserResult]) -> Vec<(&str, i16)> {
        results
            .iter()
            .map(|r| (r.user.as_str(), r.error_code))
            .collect()
    }

    #[test]
    fn upserts_with_derived_keys() {
        let image = MetadataImage::default();
        let (records, results) = alter(&image, &[], &[up("alice", 1, 8192)], &derive);
        assert_eq!(codes(&results), vec![("alice", NONE)]);
        assert_eq!(
            records,
            vec![MetadataRecord::UserScramCredential {
                name: "alice".into(),
                mechanism: 1,
                salt: b"salt".to_vec(),
                stored_key: vec![1],
                server_key: b"sp".to_vec(),
                iterations: 8192,
            }]
        );
    }

    #[test]
    fn refuses_what_kafka_refuses() {
        let mut image = MetadataImage::default();
        image.apply(0, &alter(&image, &[], &[up("bob", 2, 4096)], &derive).0[0]);
        let (records, results) = alter(
            &image,
            &[del("bob", 1), del("carol", 1), del("", 1), del("dave", 3)],
            &[
                up("erin", 1, 4095),
                up("frank", 2, 16385),
                up("gina", 1, 4096),
                up("gina", 2, 4096),
                up("hal", 9, 4096),
                up("bob", 2, 4096),
            ],
            &derive,
        );
        assert_eq!(
            codes(&results),
            vec![
                ("bob", RESOURCE_NOT_FOUND),
                ("carol", RESOURCE_NOT_FOUND),
                ("", UNACCEPTABLE_CREDENTIAL),
                ("dave", UNSUPPORTED_SASL_MECHANISM),
                ("erin", UNACCEPTABLE_CREDENTIAL),
                ("frank", UNACCEPTABLE_CREDENTIAL),
                ("gina", DUPLICATE_RESOURCE),
                ("hal", UNSUPPORTED_SASL_MECHANISM),
            ]
        );
        assert!(records.is_empty());
        let (records, results) = alter(&image, &[del("bob", 2)], &[], &derive);
        assert_eq!(codes(&results), vec![("bob", NONE)]);
        image.apply(1, &records[0]);
        assert!(image.scram_credentials.is_empty());
    }

    #[test]
    fn a_user_deleted_and_upserted_in_one_request_is_a_duplicate() {
        let mut image = MetadataImage::default();
        image.apply(0, &alter(&image, &[], &[up("bob", 1, 4096)], &derive).0[0]);
        let (records, results) = alter(&image, &[del("bob", 1)], &[up("bob", 2, 4096)], &derive);
        assert!(records.is_empty());
        assert_eq!(codes(&results), vec![("bob", DUPLICATE_RESOURCE)]);
    }
}
