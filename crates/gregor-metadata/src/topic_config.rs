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

/// Every topic config Gregor accepts.
pub fn topic_configs() -> &'static [TopicConfigDef] {
    todo!("gregor-metadata: topic config table")
}

pub fn find(name: &str) -> Option<&'static TopicConfigDef> {
    topic_configs().iter().find(|d| d.name == name)
}

/// Checks a value for a topic config: known name, parseable, in range.
/// Errors are one-line messages naming the key (INVALID_CONFIG on the wire).
pub fn validate(name: &str, value: &str) -> Result<(), String> {
    let _ = (name, value);
    todo!("gregor-metadata: validate topic config")
}
