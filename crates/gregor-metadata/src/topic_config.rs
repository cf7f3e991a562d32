//! The topic-level configs Gregor knows, under Kafka's names, with their
//! types, defaults and the broker config each one inherits from.

/// The type of a config value, as DescribeConfigs reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    Boolean,
    String,
    Int,
    Short,
    Long,
    Double,
    List,
    Class,
    Password,
}

impl ConfigType {
    /// The `config_type` code of DescribeConfigs v3+ (1 BOOLEAN .. 9 PASSWORD).
    pub fn code(self) -> i8 {
        match self {
            ConfigType::Boolean => 1,
            ConfigType::String => 2,
            ConfigType::Int => 3,
            ConfigType::Short => 4,
            ConfigType::Long => 5,
            ConfigType::Double => 6,
            ConfigType::List => 7,
            ConfigType::Class => 8,
            ConfigType::Password => 9,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicConfigDef {
    pub name: &'static str,
    pub kind: ConfigType,
    /// Kafka's default, used when neither the topic nor the broker sets it.
    pub default: &'static str,
    /// The broker config this topic config falls back to (e.g.
    /// `retention.ms` -> `log.retention.ms`), if any.
    pub broker_synonym: Option<&'static str>,
    pub doc: &'static str,
}

use std::collections::BTreeMap;
use ConfigType::{Boolean, Double, Int, List, Long, String as Str};

const fn def(
    name: &'static str,
    kind: ConfigType,
    default: &'static str,
    broker_synonym: Option<&'static str>,
    doc: &'static str,
) -> TopicConfigDef {
    TopicConfigDef {
        name,
        kind,
        default,
        broker_synonym,
        doc,
    }
}

/// Kafka 4's topic configs (those removed in 4.0 are not accepted).
const TOPIC_CONFIGS: &[TopicConfigDef] = &[
    def(
        "cleanup.policy",
        List,
        "delete",
        Some("log.cleanup.policy"),
        "delete and/or compact old segments.",
    ),
    def(
        "compression.type",
        Str,
        "producer",
        Some("compression.type"),
        "Codec of stored batches.",
    ),
    def(
        "compression.gzip.level",
        Int,
        "-1",
        Some("compression.gzip.level"),
        "gzip level when the broker compresses (-1: codec default).",
    ),
    def(
        "compression.lz4.level",
        Int,
        "9",
        Some("compression.lz4.level"),
        "lz4 level when the broker compresses.",
    ),
    def(
        "compression.zstd.level",
        Int,
        "3",
        Some("compression.zstd.level"),
        "zstd level when the broker compresses.",
    ),
    def(
        "delete.retention.ms",
        Long,
        "86400000",
        Some("log.cleaner.delete.retention.ms"),
        "How long tombstones are kept on compacted topics.",
    ),
    def(
        "file.delete.delay.ms",
        Long,
        "60000",
        Some("log.segment.delete.delay.ms"),
        "Delay before a deleted segment file is removed.",
    ),
    def(
        "flush.messages",
        Long,
        "9223372036854775807",
        Some("log.flush.interval.messages"),
        "fsync after this many messages.",
    ),
    def(
        "flush.ms",
        Long,
        "9223372036854775807",
        Some("log.flush.interval.ms"),
        "fsync when data is this old.",
    ),
    def(
        "follower.replication.throttled.replicas",
        List,
        "",
        None,
        "Replicas (partition:broker,... or *) whose fetching is throttled on the follower.",
    ),
    def(
        "index.interval.bytes",
        Int,
        "4096",
        Some("log.index.interval.bytes"),
        "Bytes between offset index entries.",
    ),
    def(
        "leader.replication.throttled.replicas",
        List,
        "",
        None,
        "Replicas (partition:broker,... or *) throttled on the leader.",
    ),
    def(
        "max.compaction.lag.ms",
        Long,
        "9223372036854775807",
        Some("log.cleaner.max.compaction.lag.ms"),
        "Longest a record stays uncompacted.",
    ),
    def(
        "max.message.bytes",
        Int,
        "1048588",
        Some("message.max.bytes"),
        "Largest record batch accepted.",
    ),
    def(
        "message.timestamp.after.max.ms",
        Long,
        "3600000",
        Some("log.message.timestamp.after.max.ms"),
        "How far in the future a record timestamp may be.",
    ),
    def(
        "message.timestamp.before.max.ms",
        Long,
        "9223372036854775807",
        Some("log.message.timestamp.before.max.ms"),
        "How far in the past a record timestamp may be.",
    ),
    def(
        "message.timestamp.type",
        Str,
        "CreateTime",
        Some("log.message.timestamp.type"),
        "CreateTime or LogAppendTime.",
    ),
    def(
        "min.cleanable.dirty.ratio",
        Double,
        "0.5",
        Some("log.cleaner.min.cleanable.ratio"),
        "Dirty ratio that makes a log eligible for compaction.",
    ),
    def(
        "min.compaction.lag.ms",
        Long,
        "0",
        Some("log.cleaner.min.compaction.lag.ms"),
        "Shortest time a record stays uncompacted.",
    ),
    def(
        "min.insync.replicas",
        Int,
        "1",
        Some("min.insync.replicas"),
        "In-sync replicas needed for acks=all.",
    ),
    def(
        "preallocate",
        Boolean,
        "false",
        Some("log.preallocate"),
        "Preallocate segment files.",
    ),
    def(
        "retention.bytes",
        Long,
        "-1",
        Some("log.retention.bytes"),
        "Partition size beyond which old segments are deleted.",
    ),
    def(
        "retention.ms",
        Long,
        "604800000",
        Some("log.retention.ms"),
        "How long data is kept; -1 keeps it forever.",
    ),
    def(
        "segment.bytes",
        Int,
        "1073741824",
        Some("log.segment.bytes"),
        "Segment file size.",
    ),
    def(
        "segment.index.bytes",
        Int,
        "10485760",
        Some("log.index.size.max.bytes"),
        "Offset index file size.",
    ),
    def(
        "segment.jitter.ms",
        Long,
        "0",
        Some("log.roll.jitter.ms"),
        "Random jitter subtracted from segment.ms.",
    ),
    def(
        "segment.ms",
        Long,
        "604800000",
        Some("log.roll.ms"),
        "Segment age before it rolls.",
    ),
    def(
        "unclean.leader.election.enable",
        Boolean,
        "false",
        Some("unclean.leader.election.enable"),
        "Allow out-of-sync replicas to become leader.",
    ),
];

/// Every topic config Gregor accepts.
pub fn topic_configs() -> &'static [TopicConfigDef] {
    TOPIC_CONFIGS
}

pub fn find(name: &str) -> Option<&'static TopicConfigDef> {
    topic_configs().iter().find(|d| d.name == name)
}

/// Checks a value for a topic config: known name, parseable, in range.
/// Errors are one-line messages naming the key (INVALID_CONFIG on the wire).
pub fn validate(name: &str, value: &str) -> Result<(), String> {
    canonical(name, value).map(|_| ())
}

/// Validates like [`validate`] and returns the form to store: trimmed,
/// booleans in lower case, numbers without a sign or leading zeros, list
/// items joined by bare commas. Kafka's parser is this lenient too, so
/// whatever Java tools send is accepted, while the stored value stays
/// trivially parseable by the broker.
pub fn canonical(name: &str, value: &str) -> Result<String, String> {
    let def = find(name).ok_or_else(|| format!("Unknown topic config name: {name}"))?;
    let invalid = |why: &str| format!("Invalid value {value} for configuration {name}: {why}");
    let trimmed = value.trim();
    if name.ends_with(".replication.throttled.replicas") {
        // Stored as given (items trimmed), as Kafka keeps the value it validated.
        return throttled_replicas(name, value).map(|_| {
            let items: Vec<&str> = trimmed.split(',').map(str::trim).collect();
            items.join(",")
        });
    }
    match def.kind {
        Boolean => {
            if trimmed.eq_ignore_ascii_case("true") {
                Ok("true".into())
            } else if trimmed.eq_ignore_ascii_case("false") {
                Ok("false".into())
            } else {
                Err(invalid("Expected value to be either true or false"))
            }
        }
        Int | Long => {
            let n = if def.kind == Int {
                trimmed.parse::<i32>().map(i64::from)
            } else {
                trimmed.parse::<i64>()
            };
            let n = n.map_err(|_| {
                invalid(if def.kind == Int {
                    "Expected value to be a 32-bit integer"
                } else {
                    "Expected value to be a 64-bit integer"
                })
            })?;
            check_range(name, n).map_err(|why| invalid(&why))?;
            Ok(n.to_string())
        }
        Double => match trimmed.parse::<f64>() {
            Ok(r) if (0.0..=1.0).contains(&r) => Ok(trimmed.to_string()),
            Ok(_) => Err(invalid("Value must be between 0 and 1")),
            Err(_) => Err(invalid("Expected value to be a double")),
        },
        List => {
            let allowed = allowed_values(name);
            let items: Vec<&str> = trimmed.split(',').map(str::trim).collect();
            // An empty policy would leave the log with neither deletion nor
            // compaction; refuse it rather than guess.
            if items.iter().any(|i| !allowed.contains(i)) {
                return Err(invalid(&format!(
                    "String must be one of: {}",
                    allowed.join(", ")
                )));
            }
            Ok(items.join(","))
        }
        _ => {
            let allowed = allowed_values(name);
            if allowed.is_empty() || allowed.contains(&trimmed) {
                Ok(trimmed.to_string())
            } else {
                Err(invalid(&format!(
                    "String must be one of: {}",
                    allowed.join(", ")
                )))
            }
        }
    }
}

/// A `*.replication.throttled.replicas` list: `None` for "*" (every
/// replica), else the (partition, broker) pairs ("" is none). Errors are
/// Kafka's `ThrottledReplicaListValidator` message.
pub fn throttled_replicas(
    name: &str,
    value: &str,
) -> Result<Option<std::collections::BTreeSet<(i32, i32)>>, String> {
    let trimmed = value.trim();
    if trimmed == "*" {
        return Ok(None);
    }
    let bad = || {
        format!(
            "Invalid value {value} for configuration {name}: {name} must be the literal '*' or a \
             list of replicas in the following format: [partitionId]:[brokerId],[partitionId]:[brokerId],..."
        )
    };
    let mut set = std::collections::BTreeSet::new();
    for item in trimmed.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (partition, broker) = item.split_once(':').ok_or_else(bad)?;
        let partition = partition.trim().parse::<i32>().map_err(|_| bad())?;
        let broker = broker.trim().parse::<i32>().map_err(|_| bad())?;
        if partition < 0 || broker < 0 {
            return Err(bad());
        }
        set.insert((partition, broker));
    }
    Ok(Some(set))
}

/// The values an enumerated (string or list) config accepts; empty: any.
fn allowed_values(name: &str) -> &'static [&'static str] {
    match name {
        "cleanup.policy" => &["compact", "delete"],
        "compression.type" => &["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"],
        "message.timestamp.type" => &["CreateTime", "LogAppendTime"],
        _ => &[],
    }
}

/// Kafka 4.0's range for each numeric topic config.
fn check_range(name: &str, n: i64) -> Result<(), String> {
    let (min, max) = match name {
        // KIP-1030 raised the floor from 14 bytes to 1 MiB in Kafka 4.0.
        "segment.bytes" => (1024 * 1024, i64::MAX),
        "segment.index.bytes" => (4, i64::MAX),
        "segment.ms" | "flush.messages" | "max.compaction.lag.ms" | "min.insync.replicas" => {
            (1, i64::MAX)
        }
        "retention.ms" => (-1, i64::MAX),
        // Negative means unlimited; Kafka accepts any value.
        "retention.bytes" => (i64::MIN, i64::MAX),
        // gzip's "use the codec default" sentinel sits outside its range.
        "compression.gzip.level" if n == -1 => return Ok(()),
        "compression.gzip.level" => (1, 9),
        "compression.lz4.level" => (1, 17),
        "compression.zstd.level" => (-131072, 22),
        _ => (0, i64::MAX),
    };
    if n < min {
        Err(format!("Value must be at least {min}"))
    } else if n > max {
        Err(format!("Value must be no more than {max}"))
    } else {
        Ok(())
    }
}

/// Checks the rules that span several configs of one topic (the merged
/// result of a change), as Kafka's `LogConfig.validateValues` does.
pub fn validate_combination(configs: &BTreeMap<String, String>) -> Result<(), String> {
    let long = |name: &str, default: i64| {
        configs
            .get(name)
            .and_then(|v| v.trim().parse::<i64>().ok())
            .unwrap_or(default)
    };
    let min_lag = long("min.compaction.lag.ms", 0);
    let max_lag = long("max.compaction.lag.ms", i64::MAX);
    if min_lag > max_lag {
        return Err(format!(
            "conflict topic config setting min.compaction.lag.ms ({min_lag}) > max.compaction.lag.ms ({max_lag})"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod throttle_tests {
    use super::*;

    #[test]
    fn throttled_replica_lists_are_star_or_partition_broker_pairs() {
        let name = "leader.replication.throttled.replicas";
        assert_eq!(canonical(name, "*").unwrap(), "*");
        assert_eq!(canonical(name, "0:1, 1:2").unwrap(), "0:1,1:2");
        assert_eq!(canonical(name, "").unwrap(), "");
        for bad in ["x", "0:", "0:1,*", "a:1"] {
            assert!(canonical(name, bad).is_err(), "{bad}");
        }
        assert!(canonical("follower.replication.throttled.replicas", "3:4").is_ok());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_defaults_and_synonyms() {
        assert_eq!(find("retention.ms").unwrap().default, "604800000");
        assert_eq!(
            find("retention.ms").unwrap().broker_synonym,
            Some("log.retention.ms")
        );
        assert_eq!(find("max.message.bytes").unwrap().default, "1048588");
        assert_eq!(
            find("message.timestamp.after.max.ms").unwrap().default,
            "3600000",
            "KIP-1030 default in 4.0"
        );
        assert!(
            find("message.downconversion.enable").is_none(),
            "removed in Kafka 4.0"
        );
        for def in topic_configs() {
            assert!(
                validate(def.name, def.default).is_ok(),
                "default of {} must be valid",
                def.name
            );
        }
    }

    #[test]
    fn validation_names_the_key() {
        assert!(validate("retention.ms", "86400000").is_ok());
        assert!(validate("retention.ms", "-1").is_ok());
        assert!(validate("retention.bytes", "-5").is_ok());
        assert!(validate("flush.ms", "0").is_ok());
        assert!(validate("cleanup.policy", "compact,delete").is_ok());
        assert!(validate("compression.type", "zstd").is_ok());
        assert!(validate("segment.bytes", "1048576").is_ok());
        assert!(validate("compression.gzip.level", "-1").is_ok());
        assert!(validate("compression.zstd.level", "-5").is_ok());
        for (key, bad) in [
            ("retention.ms", "soon"),
            ("retention.ms", "-2"),
            ("cleanup.policy", "shred"),
            ("cleanup.policy", ""),
            ("compression.type", "brotli"),
            ("compression.type", "ZSTD"),
            ("message.timestamp.type", "Whenever"),
            ("segment.bytes", "1048575"),
            ("segment.bytes", "4294967296"),
            ("segment.ms", "0"),
            ("flush.messages", "0"),
            ("max.compaction.lag.ms", "0"),
            ("min.insync.replicas", "0"),
            ("max.message.bytes", "-1"),
            ("preallocate", "yes"),
            ("min.cleanable.dirty.ratio", "2"),
            ("min.cleanable.dirty.ratio", "half"),
            ("compression.gzip.level", "0"),
            ("compression.lz4.level", "18"),
            ("compression.zstd.level", "23"),
            ("no.such.config", "1"),
        ] {
            let err = validate(key, bad).unwrap_err();
            assert!(err.contains(key), "{err}");
        }
    }

    #[test]
    fn canonical_forms_are_what_the_broker_parses() {
        assert_eq!(canonical("retention.ms", " +100 ").unwrap(), "100");
        assert_eq!(canonical("preallocate", "TRUE").unwrap(), "true");
        assert_eq!(
            canonical("cleanup.policy", " compact , delete").unwrap(),
            "compact,delete"
        );
        assert_eq!(canonical("compression.type", " lz4").unwrap(), "lz4");
    }

    #[test]
    fn compaction_lags_must_not_cross() {
        let mut configs = BTreeMap::new();
        configs.insert("max.compaction.lag.ms".to_string(), "10".to_string());
        assert!(validate_combination(&configs).is_ok());
        configs.insert("min.compaction.lag.ms".to_string(), "11".to_string());
        let err = validate_combination(&configs).unwrap_err();
        assert!(err.contains("min.compaction.lag.ms"), "{err}");
    }
}
