//! SCRAM users: DescribeUserScramCredentials (answered from this node's
//! metadata image, as Kafka's brokers answer from their ScramImage) and
//! AlterUserScramCredentials (the active controller's; other brokers
//! forward it).

use super::str_bytes;
use crate::security::scram::{self, Mechanism};
use crate::server::Broker;
use gregor_metadata::scram::{Deletion, Upsertion};
use gregor_metadata::MetadataImage;
use gregor_protocol::error_codes::{DUPLICATE_RESOURCE, NONE, RESOURCE_NOT_FOUND};
use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResult,
};
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse,
    DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse,
};
use std::collections::BTreeMap;

/// Kafka's ScramImage.describe: every user when none is named; a user
/// named twice is DUPLICATE_RESOURCE, an unknown one RESOURCE_NOT_FOUND.
pub fn describe(
    image: &MetadataImage,
    request: DescribeUserScramCredentialsRequest,
) -> DescribeUserScramCredentialsResponse {
    // name -> named more than once
    let mut users: BTreeMap<String, bool> = BTreeMap::new();
    match request.users.as_deref() {
        None | Some([]) => {
            for name in image.scram_credentials.keys() {
                users.insert(name.clone(), false);
            }
        }
        Some(named) => {
            for user in named {
                let name = user.name.to_string();
                let twice = users.contains_key(&name);
                users.insert(name, twice);
            }
        }
    }
    let results = users
        .into_iter()
        .map(|(name, twice)| {
            let result = DescribeUserScramCredentialsResult::default().with_user(str_bytes(&name));
            if twice {
                return result.with_error_code(DUPLICATE_RESOURCE).with_error_message(Some(
                    str_bytes(&format!(
                        "Cannot describe SCRAM credentials for the same user twice in a single request: {name}"
                    )),
                ));
            }
            match image.scram_credentials.get(&name) {
                Some(credentials) if !credentials.is_empty() => result
                    .with_error_code(NONE)
                    .with_credential_infos(
                        credentials
                            .iter()
                            .map(|(mechanism, c)| {
                                CredentialInfo::default()
                                    .with_mechanism(*mechanism)
                                    .with_iterations(c.iterations)
                            })
                            .collect(),
                    ),
                _ => result
                    .with_error_code(RESOURCE_NOT_FOUND)
                    .with_error_message(Some(str_bytes(&format!(
                        "attemptToDescribeUserThatDoesNotExist: {name}"
                    )))),
            }
        })
        .collect();
    DescribeUserScramCredentialsResponse::default()
        .with_error_code(NONE)
        .with_results(results)
}

pub fn alter(
    broker: &Broker,
    request: AlterUserScramCredentialsRequest,
) -> AlterUserScramCredentialsResponse {
    let deletions: Vec<Deletion> = request
        .deletions
        .iter()
        .map(|d| Deletion {
            name: d.name.to_string(),
            mechanism: d.mechanism,
        })
        .collect();
    let upsertions: Vec<Upsertion> = request
        .upsertions
        .iter()
        .map(|u| Upsertion {
            name: u.name.to_string(),
            mechanism: u.mechanism,
            iterations: u.iterations,
            salt: u.salt.to_vec(),
            salted_password: u.salted_password.to_vec(),
        })
        .collect();
    // Only called for mechanisms the decision accepted.
    let derive = |mechanism: i8, salted: &[u8]| match Mechanism::from_id(mechanism) {
        Some(m) => scram::derive_keys(m, salted),
        None => (Vec::new(), Vec::new()),
    };
    let results = match broker
        .controller
        .alter_scram_credentials(&deletions, &upsertions, &derive)
    {
        Ok(results) => results
            .into_iter()
            .map(|r| {
                AlterUserScramCredentialsResult::default()
                    .with_user(str_bytes(&r.user))
                    .with_error_code(r.error_code)
                    .with_error_message(r.error_message.as_deref().map(str_bytes))
            })
            .collect(),
        // Not committed (e.g. NOT_CONTROLLER): every user gets the error.
        Err(err) => deletions
            .iter()
            .map(|d| &d.name)
            .chain(upsertions.iter().map(|u| &u.name))
            .map(|name| {
                AlterUserScramCredentialsResult::default()
                    .with_user(str_bytes(name))
                    .with_error_code(err.code)
                    .with_error_message(Some(str_bytes(&err.message)))
            })
            .collect(),
    };
    AlterUserScramCredentialsResponse::default().with_results(results)
}
