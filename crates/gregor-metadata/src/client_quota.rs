//! Client quotas (Kafka's ClientQuotaControlManager and ClientQuotasImage):
//! deciding AlterClientQuotas against the image and answering
//! DescribeClientQuotas filters. Pure functions of the image and request.

use crate::{MetadataImage, MetadataRecord};
use gregor_protocol::error_codes::{INVALID_REQUEST, NONE, UNSUPPORTED_VERSION};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

pub const USER: &str = "user";
pub const CLIENT_ID: &str = "client-id";
pub const IP: &str = "ip";

pub const PRODUCER_BYTE_RATE: &str = "producer_byte_rate";
pub const CONSUMER_BYTE_RATE: &str = "consumer_byte_rate";
pub const REQUEST_PERCENTAGE: &str = "request_percentage";
pub const CONTROLLER_MUTATION_RATE: &str = "controller_mutation_rate";
pub const CONNECTION_CREATION_RATE: &str = "connection_creation_rate";

/// Entity type to name; a `None` name is the type's `<default>`.
pub type QuotaEntity = BTreeMap<String, Option<String>>;

/// A quota value. Compared by bits so records and images stay `Eq`.
#[derive(Debug, Clone, Copy)]
pub struct QuotaValue(pub f64);

impl PartialEq for QuotaValue {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}
impl Eq for QuotaValue {}

/// How a quota key's value must look (Kafka's QuotaConfig types).
#[derive(Clone, Copy, PartialEq, Eq)]
enum KeyType {
    Int,
    Long,
    Double,
}

fn key_type(entity: &QuotaEntity, key: &str) -> Option<KeyType> {
    if entity.contains_key(IP) {
        return (key == CONNECTION_CREATION_RATE).then_some(KeyType::Int);
    }
    match key {
        PRODUCER_BYTE_RATE | CONSUMER_BYTE_RATE => Some(KeyType::Long),
        REQUEST_PERCENTAGE | CONTROLLER_MUTATION_RATE => Some(KeyType::Double),
        _ => None,
    }
}

/// One entry of AlterClientQuotas: the entity as sent (type, name) and
/// its (key, value) ops, a `None` value removing the key.
pub struct Alteration {
    pub entity: Vec<(String, Option<String>)>,
    pub ops: Vec<(String, Option<f64>)>,
}

/// One entry's outcome, in request order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterResult {
    pub code: i16,
    pub message: Option<String>,
}

fn refuse(message: impl Into<String>) -> AlterResult {
    AlterResult {
        code: INVALID_REQUEST,
        message: Some(message.into()),
    }
}

/// Kafka's validateEntity + configKeysForEntityType.
fn validate_entity(sent: &[(String, Option<String>)]) -> Result<QuotaEntity, AlterResult> {
    if sent.is_empty() {
        return Err(refuse("Invalid empty client quota entity"));
    }
    let mut entity = QuotaEntity::new();
    for (kind, name) in sent {
        if entity.contains_key(kind) {
            return Err(refuse(format!(
                "Invalid client quota entity, duplicate entity entry {kind}"
            )));
        }
        if ![USER, CLIENT_ID, IP].contains(&kind.as_str()) {
            return Err(refuse(format!(
                "Unhandled client quota entity type: {kind}"
            )));
        }
        if name.as_deref() == Some("") {
            return Err(refuse(format!("Empty {kind} not supported")));
        }
        entity.insert(kind.clone(), name.clone());
    }
    if let Some(ip) = entity.get(IP) {
        if entity.len() > 1 {
            // Kafka's message, missing space included.
            return Err(refuse(
                "Invalid quota entity combination, IP entity shouldnot be combined with User or ClientId",
            ));
        }
        // Kafka resolves host names too; Gregor takes literal addresses only.
        if let Some(ip) = ip {
            if ip.parse::<IpAddr>().is_err() {
                return Err(refuse(format!(
                    "{ip} is not a valid IP or resolvable host."
                )));
            }
        }
    }
    Ok(entity)
}

fn validate_value(entity: &QuotaEntity, key: &str, value: f64) -> Result<(), AlterResult> {
    let Some(kind) = key_type(entity, key) else {
        return Err(refuse(format!("Invalid configuration key {key}")));
    };
    // NaN fails this too.
    if value.is_nan() || value <= 0.0 {
        return Err(refuse(format!("Quota {key} must be greater than 0")));
    }
    let integral = match kind {
        KeyType::Double => return Ok(()),
        KeyType::Int if value > i32::MAX as f64 => {
            return Err(refuse(format!(
                "Proposed value for {key} is too large for an INT."
            )))
        }
        KeyType::Long if value > i64::MAX as f64 => {
            return Err(refuse(format!(
                "Proposed value for {key} is too large for a LONG."
            )))
        }
        _ => (value % 1.0).abs() <= 1e-6,
    };
    if integral {
        Ok(())
    } else {
        Err(refuse(format!("{key} cannot be a fractional value.")))
    }
}

/// AlterClientQuotas: each entry validated on its own; an entity named
/// twice fails its later entries, a key named twice fails its entry, any
/// bad key or value fails the whole entry (no partial change). The records
/// of the valid entries commit together.
pub fn alter(
    image: &MetadataImage,
    alterations: &[Alteration],
) -> (Vec<MetadataRecord>, Vec<AlterResult>) {
    let mut records = Vec::new();
    let mut results = Vec::with_capacity(alterations.len());
    let mut seen: BTreeSet<QuotaEntity> = BTreeSet::new();
    for alteration in alterations {
        let outcome = (|| {
            let entity = validate_entity(&alteration.entity)?;
            if !seen.insert(entity.clone()) {
                return Err(refuse(format!("Ignoring duplicate entity {entity:?}")));
            }
            let mut keys = BTreeSet::new();
            for (key, _) in &alteration.ops {
                if !keys.insert(key.as_str()) {
                    return Err(refuse(format!(
                        "Duplicate quota key {key} not updating quota for this entity"
                    )));
                }
            }
            let empty = BTreeMap::new();
            let current = image.client_quotas.get(&entity).unwrap_or(&empty);
            let mut out = Vec::new();
            for (key, value) in &alteration.ops {
                match value {
                    None if current.contains_key(key) => out.push(MetadataRecord::ClientQuota {
                        entity: entity.clone(),
                        key: key.clone(),
                        value: None,
                    }),
                    None => {}
                    Some(v) => {
                        validate_value(&entity, key, *v)?;
                        if current.get(key) != Some(&QuotaValue(*v)) {
                            out.push(MetadataRecord::ClientQuota {
                                entity: entity.clone(),
                                key: key.clone(),
                                value: Some(QuotaValue(*v)),
                            });
                        }
                    }
                }
            }
            Ok(out)
        })();
        match outcome {
            Ok(out) => {
                records.extend(out);
                results.push(AlterResult {
                    code: NONE,
                    message: None,
                });
            }
            Err(result) => results.push(result),
        }
    }
    (records, results)
}

/// A DescribeClientQuotas filter component's match type (wire values).
pub const MATCH_EXACT: i8 = 0;
pub const MATCH_DEFAULT: i8 = 1;
pub const MATCH_SPECIFIED: i8 = 2;

/// An entity DescribeClientQuotas found, with its quotas.
pub type Described<'a> = (&'a QuotaEntity, &'a BTreeMap<String, QuotaValue>);

pub struct FilterComponent {
    pub entity_type: String,
    pub match_type: i8,
    pub name: Option<String>,
}

/// Kafka's ClientQuotasImage.describe: entities matching every component
/// (exact name, `<default>`, or any name of the type); with `strict`, the
/// entity has no other types. Errors are (code, message) for the whole
/// request.
pub fn describe<'a>(
    image: &'a MetadataImage,
    components: &[FilterComponent],
    strict: bool,
) -> Result<Vec<Described<'a>>, (i16, String)> {
    let bad = |m: String| (INVALID_REQUEST, m);
    // type -> Some(exact name or None for default) / None for any name
    let mut wanted: BTreeMap<&str, Option<Option<&str>>> = BTreeMap::new();
    for c in components {
        let kind = c.entity_type.as_str();
        if kind.is_empty() {
            return Err(bad("Invalid empty entity type.".into()));
        }
        if wanted.contains_key(kind) {
            return Err(bad(format!(
                "Entity type {kind} cannot appear more than once in the filter."
            )));
        }
        if ![USER, CLIENT_ID, IP].contains(&kind) {
            return Err((
                UNSUPPORTED_VERSION,
                format!("Unsupported entity type {kind}"),
            ));
        }
        let matcher = match (c.match_type, c.name.as_deref()) {
            (MATCH_EXACT, Some(name)) => Some(Some(name)),
            (MATCH_EXACT, None) => {
                return Err(bad(
                    "Request specified MATCH_TYPE_EXACT, but set match string to null".into(),
                ))
            }
            (MATCH_DEFAULT, None) => Some(None),
            (MATCH_SPECIFIED, None) => None,
            (MATCH_DEFAULT, Some(_)) => {
                return Err(bad(
                    "Request specified MATCH_TYPE_DEFAULT, but also specified a match string"
                        .into(),
                ))
            }
            (MATCH_SPECIFIED, Some(_)) => {
                return Err(bad(
                    "Request specified MATCH_TYPE_SPECIFIED, but also specified a match string"
                        .into(),
                ))
            }
            (other, _) => {
                return Err((
                    UNSUPPORTED_VERSION,
                    format!("Unsupported match type {other}"),
                ))
            }
        };
        wanted.insert(kind, matcher);
    }
    if wanted.contains_key(IP) && (wanted.contains_key(USER) || wanted.contains_key(CLIENT_ID)) {
        return Err(bad("Invalid entity filter component combination. IP filter component should not be used with user or clientId filter component.".into()));
    }
    Ok(image
        .client_quotas
        .iter()
        .filter(|(entity, _)| {
            if strict && entity.len() != wanted.len() {
                return false;
            }
            wanted
                .iter()
                .all(|(kind, matcher)| match entity.get(*kind) {
                    None => false,
                    Some(name) => match matcher {
                        None => true,
                        Some(want) => name.as_deref() == *want,
                    },
                })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entity(parts: &[(&str, Option<&str>)]) -> Vec<(String, Option<String>)> {
        parts
            .iter()
            .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
            .collect()
    }

    fn apply(image: &mut MetadataImage, records: &[MetadataRecord]) {
        for r in records {
            image.apply(0, r);
        }
    }

    fn set(parts: &[(&str, Option<&str>)], key: &str, value: Option<f64>) -> Alteration {
        Alteration {
            entity: entity(parts),
            ops: vec![(key.to_string(), value)],
        }
    }

    #[test]
    fn alter_validates_as_kafka() {
        let image = MetadataImage::default();
        let (records, results) = alter(
            &image,
            &[
                set(&[], PRODUCER_BYTE_RATE, Some(1.0)),
                set(&[("group", Some("g"))], PRODUCER_BYTE_RATE, Some(1.0)),
                set(&[("user", Some(""))], PRODUCER_BYTE_RATE, Some(1.0)),
                set(&[("user", Some("a"))], "bogus", Some(1.0)),
                set(&[("user", Some("b"))], PRODUCER_BYTE_RATE, Some(1.5)),
                set(
                    &[("user", Some("a")), ("ip", None)],
                    PRODUCER_BYTE_RATE,
                    Some(1.0),
                ),
                set(
                    &[("ip", Some("not an ip"))],
                    CONNECTION_CREATION_RATE,
                    Some(1.0),
                ),
                set(&[("user", Some("c"))], REQUEST_PERCENTAGE, Some(12.5)),
                set(&[("user", Some("c"))], PRODUCER_BYTE_RATE, Some(100.0)),
            ],
        );
        let codes: Vec<i16> = results.iter().map(|r| r.code).collect();
        let r = INVALID_REQUEST;
        assert_eq!(codes, vec![r, r, r, r, r, r, r, NONE, r]);
        assert_eq!(
            results[3].message.as_deref(),
            Some("Invalid configuration key bogus")
        );
        assert_eq!(
            results[4].message.as_deref(),
            Some("producer_byte_rate cannot be a fractional value.")
        );
        // The last one names the same entity again.
        assert_eq!(records.len(), 1);
    }

    #[test]
    fn alter_writes_only_changes_and_removes() {
        let mut image = MetadataImage::default();
        let user = [("user", Some("a")), ("client-id", None)];
        let (records, _) = alter(&image, &[set(&user, PRODUCER_BYTE_RATE, Some(1024.0))]);
        assert_eq!(records.len(), 1);
        apply(&mut image, &records);
        let (records, _) = alter(&image, &[set(&user, PRODUCER_BYTE_RATE, Some(1024.0))]);
        assert!(records.is_empty());
        let (records, _) = alter(&image, &[set(&user, CONSUMER_BYTE_RATE, None)]);
        assert!(records.is_empty());
        let (records, results) = alter(&image, &[set(&user, PRODUCER_BYTE_RATE, None)]);
        assert_eq!(results[0].code, NONE);
        apply(&mut image, &records);
        assert!(image.client_quotas.is_empty());
    }

    #[test]
    fn describe_filters_as_kafka() {
        let mut image = MetadataImage::default();
        let (records, _) = alter(
            &image,
            &[
                set(&[("user", Some("a"))], PRODUCER_BYTE_RATE, Some(1.0)),
                set(&[("user", None)], PRODUCER_BYTE_RATE, Some(2.0)),
                set(
                    &[("user", Some("a")), ("client-id", Some("c"))],
                    PRODUCER_BYTE_RATE,
                    Some(3.0),
                ),
                set(&[("client-id", Some("c"))], PRODUCER_BYTE_RATE, Some(4.0)),
            ],
        );
        apply(&mut image, &records);
        let c = |kind: &str, match_type, name: Option<&str>| FilterComponent {
            entity_type: kind.into(),
            match_type,
            name: name.map(str::to_string),
        };
        let count = |components: &[FilterComponent], strict| {
            describe(&image, components, strict).map(|v| v.len())
        };
        assert_eq!(count(&[], false), Ok(4));
        assert_eq!(count(&[c(USER, MATCH_EXACT, Some("a"))], false), Ok(2));
        assert_eq!(count(&[c(USER, MATCH_EXACT, Some("a"))], true), Ok(1));
        assert_eq!(count(&[c(USER, MATCH_DEFAULT, None)], false), Ok(1));
        assert_eq!(count(&[c(USER, MATCH_SPECIFIED, None)], true), Ok(2));
        assert_eq!(count(&[c(CLIENT_ID, MATCH_SPECIFIED, None)], false), Ok(2));
        assert!(count(
            &[c(USER, MATCH_DEFAULT, None), c(USER, MATCH_DEFAULT, None)],
            false
        )
        .is_err());
        assert!(count(&[c("group", MATCH_DEFAULT, None)], false).is_err());
        assert!(count(&[c(USER, MATCH_EXACT, None)], false).is_err());
        assert!(count(
            &[c(IP, MATCH_DEFAULT, None), c(USER, MATCH_DEFAULT, None)],
            false
        )
        .is_err());
    }
}
