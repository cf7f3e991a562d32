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
        "index.interval.bytes",
        Int,
        "4096",
        Some("log.index.interval.bytes"),
        "Bytes between offset index entries.",
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
    let def = find(name).ok_or_else(|| format!("Unknown topic config name: {name}"))?;
    let invalid = |why: &str| {
        Err(format!(
            "Invalid value {value} for configuration {name}: {why}"
        ))
    };
    let number = |min: i64| -> Result<(), String> {
        match value.trim().parse::<i64>() {
            Ok(n) if n >= min => Ok(()),
            Ok(_) => invalid(&format!("Value must be at least {min}")),
            Err(_) => invalid("Not a number"),
        }
    };
    match name {
        "cleanup.policy" => {
            let ok = !value.trim().is_empty()
                && value
                    .split(',')
                    .all(|p| matches!(p.trim(), "delete" | "compact"));
            if ok {
                Ok(())
            } else {
                invalid("String must be one of: compact, delete")
            }
        }
        "compression.type" => match value {
            "uncompressed" | "zstd" | "lz4" | "snappy" | "gzip" | "producer" => Ok(()),
            _ => invalid("String must be one of: uncompressed, zstd, lz4, snappy, gzip, producer"),
        },
        "message.timestamp.type" => match value {
            "CreateTime" | "LogAppendTime" => Ok(()),
            _ => invalid("String must be one of: CreateTime, LogAppendTime"),
        },
        // Kafka 4.0 raised the floor of segment.bytes to 1 MiB.
        "segment.bytes" => number(1024 * 1024).and_then(|_| fits_int(value, name)),
        "segment.index.bytes" => number(4).and_then(|_| fits_int(value, name)),
        "retention.ms" | "retention.bytes" => number(-1),
        "min.insync.replicas" | "segment.ms" | "flush.messages" | "flush.ms" => number(1),
        "min.cleanable.dirty.ratio" => match value.trim().parse::<f64>() {
            Ok(r) if (0.0..=1.0).contains(&r) => Ok(()),
            _ => invalid("Value must be between 0 and 1"),
        },
        _ => match def.kind {
            Boolean => match value {
                "true" | "false" => Ok(()),
                _ => invalid("Expected value to be either true or false"),
            },
            Int => number(0).and_then(|_| fits_int(value, name)),
            Long => number(0),
            _ => Ok(()),
        },
    }
}

fn fits_int(value: &str, name: &str) -> Result<(), String> {
    value.trim().parse::<i32>().map(|_| ()).map_err(|_| {
        format!("Invalid value {value} for configuration {name}: Not a 32-bit integer")
    })
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
        assert!(
            find("message.downconversion.enable").is_none(),
            "removed in Kafka 4.0"
        );
    }

    #[test]
    fn validation_names_the_key() {
        assert!(validate("retention.ms", "86400000").is_ok());
        assert!(validate("retention.ms", "-1").is_ok());
        assert!(validate("cleanup.policy", "compact,delete").is_ok());
        assert!(validate("compression.type", "zstd").is_ok());
        for (key, bad) in [
            ("retention.ms", "soon"),
            ("retention.ms", "-2"),
            ("cleanup.policy", "shred"),
            ("compression.type", "brotli"),
            ("segment.bytes", "100"),
            ("preallocate", "yes"),
            ("min.cleanable.dirty.ratio", "2"),
            ("no.such.config", "1"),
        ] {
            let err = validate(key, bad).unwrap_err();
            assert!(err.contains(key), "{err}");
        }
    }
}
