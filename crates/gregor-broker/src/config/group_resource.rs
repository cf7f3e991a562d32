//! Kafka 4.4's GROUP config resource (`GroupConfig`, resource type 32):
//! the per-group overrides of the broker's `group.*` settings that
//! `kafka-configs --entity-type groups` sets. Names, types, defaults (the
//! broker's values), validation order and messages are Kafka 4.4.0's, read
//! out of its `GroupConfig` class and checked against a running 4.4 broker.

use super::BrokerConfig;
use gregor_coordinator::share::ShareGroupConfig;
use gregor_metadata::topic_config::ConfigType;
use gregor_protocol::error_codes;
use std::collections::BTreeMap;

/// A refusal: (error code, message).
pub type Refusal = (i16, String);

/// One group config as Kafka's `GroupConfig.CONFIG_DEF` defines it.
#[derive(Debug, Clone, Copy)]
pub struct GroupConfigDef {
    pub name: &'static str,
    pub kind: ConfigType,
    /// Kafka's default when the broker setting is unknown to Gregor.
    pub default: &'static str,
    /// `ConfigDef.Range.atLeast` of the definition, if any.
    pub at_least: Option<i64>,
    /// The broker setting the default comes from (Kafka's synonym).
    pub broker_synonym: Option<&'static str>,
    /// Kafka's `defineInternal`: settable, but described only when set.
    pub internal: bool,
    pub doc: &'static str,
}

use ConfigType::{Boolean, Int, List, Long, String as Str};

const fn def(
    name: &'static str,
    kind: ConfigType,
    default: &'static str,
    at_least: Option<i64>,
    broker_synonym: Option<&'static str>,
    doc: &'static str,
) -> GroupConfigDef {
    GroupConfigDef {
        name,
        kind,
        default,
        at_least,
        broker_synonym,
        internal: false,
        doc,
    }
}

const fn internal(mut d: GroupConfigDef) -> GroupConfigDef {
    d.internal = true;
    d
}

pub const SHARE_AUTO_OFFSET_RESET: &str = "share.auto.offset.reset";
pub const SHARE_ISOLATION_LEVEL: &str = "share.isolation.level";
const RACK_TAGS: &str = "streams.rack.aware.assignment.tags";
const ASSIGNOR_NAME: &str = "streams.assignor.name";
const DLQ_TOPIC: &str = "errors.deadletterqueue.topic.name";

/// In Kafka 4.4's definition order (which is also its validation order).
pub const GROUP_CONFIGS: &[GroupConfigDef] = &[
    def("consumer.session.timeout.ms", Int, "45000", Some(1), Some("group.consumer.session.timeout.ms"),
        "The timeout to detect client failures when using the consumer group protocol."),
    def("consumer.heartbeat.interval.ms", Int, "5000", Some(1), Some("group.consumer.heartbeat.interval.ms"),
        "The heartbeat interval given to the members of a consumer group."),
    def("consumer.assignment.interval.ms", Int, "1000", Some(0), Some("group.consumer.assignment.interval.ms"),
        "The interval between assignment updates for a consumer group."),
    internal(def("consumer.assignor.offload.enable", Boolean, "true", None, Some("group.consumer.assignor.offload.enable"),
        "Whether to offload consumer group assignment to a group coordinator background thread.")),
    def("share.session.timeout.ms", Int, "45000", Some(1), Some("group.share.session.timeout.ms"),
        "The timeout to detect client failures when using the share group protocol."),
    def("share.heartbeat.interval.ms", Int, "5000", Some(1), Some("group.share.heartbeat.interval.ms"),
        "The heartbeat interval given to the members of a share group."),
    def("share.record.lock.duration.ms", Int, "30000", Some(1000), Some("group.share.record.lock.duration.ms"),
        "The record acquisition lock duration in milliseconds for share groups."),
    def("share.delivery.count.limit", Int, "5", Some(2), Some("group.share.delivery.count.limit"),
        "The maximum number of delivery attempts for a record delivered to a share group."),
    def("share.partition.max.record.locks", Int, "2000", Some(100), Some("group.share.partition.max.record.locks"),
        "Share-group record lock limit per share-partition."),
    def(SHARE_AUTO_OFFSET_RESET, Str, "latest", None, None,
        "The strategy to initialize the share-partition start offset: earliest, latest or by_duration:<ISO8601 duration>."),
    def(SHARE_ISOLATION_LEVEL, Str, "read_uncommitted", None, None,
        "Controls how to read records written transactionally (read_committed or read_uncommitted)."),
    def("share.renew.acknowledge.enable", Boolean, "true", None, None,
        "Whether the renew acknowledge type is enabled for the share group."),
    def("share.assignment.interval.ms", Int, "1000", Some(0), Some("group.share.assignment.interval.ms"),
        "The interval between assignment updates for a share group."),
    internal(def("share.assignor.offload.enable", Boolean, "true", None, Some("group.share.assignor.offload.enable"),
        "Whether to offload share group assignment to a group coordinator background thread.")),
    def("streams.session.timeout.ms", Int, "45000", Some(1), Some("group.streams.session.timeout.ms"),
        "The timeout to detect client failures when using the streams group protocol."),
    def("streams.heartbeat.interval.ms", Int, "5000", Some(1), Some("group.streams.heartbeat.interval.ms"),
        "The heartbeat interval given to the members."),
    def("streams.num.standby.replicas", Int, "0", Some(0), Some("group.streams.num.standby.replicas"),
        "The number of standby replicas for each task."),
    def("streams.initial.rebalance.delay.ms", Int, "3000", Some(0), Some("group.streams.initial.rebalance.delay.ms"),
        "The amount of time the group coordinator will wait for more streams clients to join a new group before performing the first rebalance."),
    def("streams.assignment.interval.ms", Int, "1000", Some(0), Some("group.streams.assignment.interval.ms"),
        "The interval between assignment updates for a streams group."),
    internal(def("streams.assignor.offload.enable", Boolean, "true", None, Some("group.streams.assignor.offload.enable"),
        "Whether to offload streams group assignment to a group coordinator background thread.")),
    internal(def("streams.task.offset.interval.ms", Int, "60000", Some(1), Some("group.streams.task.offset.interval.ms"),
        "The interval in which the warmup task changelog offsets on a client are updated on the broker.")),
    internal(def("streams.num.warmup.replicas", Int, "2", Some(0), Some("group.streams.num.warmup.replicas"),
        "The maximum number of warmup task replicas.")),
    def(RACK_TAGS, List, "", None, Some("group.streams.rack.aware.assignment.tags"),
        "List of client tag keys used to distribute standby replicas across Kafka Streams instances."),
    internal(def("streams.acceptable.recovery.lag", Long, "10000", Some(0), Some("group.streams.acceptable.recovery.lag"),
        "The maximum acceptable lag for a client to be considered caught-up enough to receive an active task assignment.")),
    def(ASSIGNOR_NAME, Str, "sticky", None, Some("group.streams.assignors"),
        "The task assignor to use for this streams group, by short name from the broker's group.streams.assignors."),
    def(DLQ_TOPIC, Str, "", None, None,
        "The name of the topic to be used as the dead-letter queue (DLQ) topic for this share group. If blank (the default), the group does not have a DLQ topic."),
    def("errors.deadletterqueue.copy.record.enable", Boolean, "false", None, None,
        "When writing onto the dead-letter queue topic, whether to copy the original record onto the DLQ topic, or just write a record containing the context information headers."),
];

pub fn find(name: &str) -> Option<&'static GroupConfigDef> {
    GROUP_CONFIGS.iter().find(|d| d.name == name)
}

/// Where a group config's default comes from: the broker's `group.*`
/// settings. The whole broker config knows them all; a share group's
/// settings (`ShareGroupConfig`) know the `group.share.*` ones, which are
/// all the share configs fall back to, so the share-partition code can ask
/// for its group's values without the broker config.
pub trait BrokerDefaults {
    /// The broker's value of `setting`; `None` when unknown or unset.
    fn setting(&self, setting: &str) -> Option<String>;
}

impl BrokerDefaults for ShareGroupConfig {
    fn setting(&self, setting: &str) -> Option<String> {
        let value = match setting {
            "group.share.session.timeout.ms" => self.session_timeout_ms,
            "group.share.min.session.timeout.ms" => self.min_session_timeout_ms,
            "group.share.max.session.timeout.ms" => self.max_session_timeout_ms,
            "group.share.heartbeat.interval.ms" => self.heartbeat_interval_ms,
            "group.share.min.heartbeat.interval.ms" => self.min_heartbeat_interval_ms,
            "group.share.max.heartbeat.interval.ms" => self.max_heartbeat_interval_ms,
            "group.share.record.lock.duration.ms" => self.record_lock_duration_ms,
            "group.share.min.record.lock.duration.ms" => self.min_record_lock_duration_ms,
            "group.share.max.record.lock.duration.ms" => self.max_record_lock_duration_ms,
            "group.share.delivery.count.limit" => self.delivery_count_limit,
            "group.share.min.delivery.count.limit" => self.min_delivery_count_limit,
            "group.share.max.delivery.count.limit" => self.max_delivery_count_limit,
            "group.share.partition.max.record.locks" => self.partition_max_record_locks,
            "group.share.min.partition.max.record.locks" => self.min_partition_max_record_locks,
            "group.share.max.partition.max.record.locks" => self.max_partition_max_record_locks,
            _ => return None,
        };
        Some(value.to_string())
    }
}

impl BrokerDefaults for BrokerConfig {
    fn setting(&self, setting: &str) -> Option<String> {
        self.group_share.setting(setting).or_else(|| {
            let value = self.value(setting).trim();
            (!value.is_empty()).then(|| value.to_string())
        })
    }
}

/// The broker's value of `setting`, or Kafka's default when Gregor does
/// not know the setting (or it is unset).
fn broker_setting(config: &impl BrokerDefaults, setting: &str, fallback: &str) -> String {
    config
        .setting(setting)
        .unwrap_or_else(|| fallback.to_string())
}

/// The registered streams assignors (`group.streams.assignors`).
fn streams_assignors(config: &impl BrokerDefaults) -> Vec<String> {
    broker_setting(config, "group.streams.assignors", "sticky")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// What a group gets when it does not set `def`: the broker's value.
pub fn default_value(config: &impl BrokerDefaults, def: &GroupConfigDef) -> String {
    match def.broker_synonym {
        // Kafka's default assignor is the first one registered.
        Some("group.streams.assignors") => streams_assignors(config)
            .into_iter()
            .next()
            .unwrap_or_else(|| def.default.to_string()),
        Some(setting) => broker_setting(config, setting, def.default),
        None => def.default.to_string(),
    }
}

/// The value of one group config for `group`: its override, else the
/// broker's. For the group coordinators, share partitions and the like.
pub fn effective(
    config: &impl BrokerDefaults,
    group_configs: &BTreeMap<String, BTreeMap<String, String>>,
    group: &str,
    name: &str,
) -> Option<String> {
    let def = find(name)?;
    Some(
        group_configs
            .get(group)
            .and_then(|c| c.get(name))
            .cloned()
            .unwrap_or_else(|| default_value(config, def)),
    )
}

/// [`effective`] of an INT config as a number. An override that does not
/// parse (validation refuses those) gives the broker's value.
pub fn effective_int(
    config: &impl BrokerDefaults,
    group_configs: &BTreeMap<String, BTreeMap<String, String>>,
    group: &str,
    name: &str,
) -> Option<i32> {
    let def = find(name)?;
    let int = |v: &str| v.trim().parse::<i32>().ok();
    group_configs
        .get(group)
        .and_then(|c| c.get(name))
        .and_then(|v| int(v))
        .or_else(|| int(&default_value(config, def)))
}

/// How a share-partition without state picks its start offset
/// (`share.auto.offset.reset`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OffsetReset {
    Latest,
    Earliest,
    /// The first offset at or after now minus this many ms.
    ByDuration(i64),
}

/// Kafka's `ShareGroupAutoOffsetResetStrategy.fromString` of a (trimmed)
/// value: `earliest`, `latest` (both lower case, as Kafka compares them)
/// or `by_duration:` and a non-negative ISO-8601 duration; `None` for
/// anything else. Validation and the share partitions both read it here.
pub fn parse_offset_reset(value: &str) -> Option<OffsetReset> {
    match value.trim() {
        "earliest" => Some(OffsetReset::Earliest),
        "latest" => Some(OffsetReset::Latest),
        v => v
            .strip_prefix("by_duration:")
            .and_then(parse_iso_duration_ms)
            .filter(|ms| *ms >= 0)
            .map(OffsetReset::ByDuration),
    }
}

fn invalid(message: String) -> Refusal {
    (error_codes::INVALID_CONFIG, message)
}

fn bad_value(name: &str, value: &str, why: &str) -> Refusal {
    invalid(format!(
        "Invalid value {value} for configuration {name}: {why}"
    ))
}

/// Kafka's `ConfigDef.parse` of one value: its type, then its validator.
fn parse(def: &GroupConfigDef, value: &str) -> Result<Option<i64>, Refusal> {
    let trimmed = value.trim();
    let number = match def.kind {
        Int => Some(
            trimmed
                .parse::<i32>()
                .map(i64::from)
                .map_err(|_| bad_value(def.name, value, "Not a number of type INT"))?,
        ),
        Long => Some(
            trimmed
                .parse::<i64>()
                .map_err(|_| bad_value(def.name, value, "Not a number of type LONG"))?,
        ),
        Boolean => {
            if !trimmed.eq_ignore_ascii_case("true") && !trimmed.eq_ignore_ascii_case("false") {
                return Err(bad_value(
                    def.name,
                    value,
                    "Expected value to be either true or false",
                ));
            }
            None
        }
        _ => None,
    };
    if let (Some(n), Some(min)) = (number, def.at_least) {
        if n < min {
            return Err(bad_value(
                def.name,
                value,
                &format!("Value must be at least {min}"),
            ));
        }
    }
    match def.name {
        SHARE_AUTO_OFFSET_RESET if parse_offset_reset(trimmed).is_none() => Err(bad_value(
            def.name,
            value,
            &format!(
                "Invalid value `{trimmed}` for configuration {}. The value must be either 'earliest', 'latest' or of the format 'by_duration:<PnDTnHnMn.nS>'.",
                def.name
            ),
        )),
        SHARE_ISOLATION_LEVEL if !["read_committed", "read_uncommitted"].contains(&trimmed) => {
            Err(bad_value(
                def.name,
                value,
                "String must be one of: read_committed, read_uncommitted",
            ))
        }
        _ => Ok(number),
    }
}

/// Java's `Duration.parse` for `[-]PnDTnHnMn.nS` (case-insensitive); the
/// length in milliseconds.
pub fn parse_iso_duration_ms(text: &str) -> Option<i64> {
    let upper = text.trim().to_ascii_uppercase();
    let (negative, rest) = match upper.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, upper.strip_prefix('+').unwrap_or(&upper)),
    };
    let rest = rest.strip_prefix('P')?;
    let (days, time) = match rest.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (rest, None),
    };
    let mut total: f64 = 0.0;
    let mut any = false;
    if !days.is_empty() {
        let n = days.strip_suffix('D')?;
        total += n.parse::<i64>().ok()? as f64 * 86_400_000.0;
        any = true;
    }
    if let Some(mut t) = time {
        if t.is_empty() {
            return None;
        }
        for (unit, ms) in [('H', 3_600_000.0), ('M', 60_000.0), ('S', 1_000.0)] {
            if let Some(pos) = t.find(unit) {
                let n = &t[..pos];
                let value: f64 = if unit == 'S' {
                    n.parse().ok()?
                } else {
                    n.parse::<i64>().ok()? as f64
                };
                total += value * ms;
                t = &t[pos + 1..];
                any = true;
            }
        }
        if !t.is_empty() {
            return None;
        }
    }
    if !any {
        return None;
    }
    let ms = total as i64;
    Some(if negative { -ms } else { ms })
}

/// Kafka's `GroupConfig.validate` of a group's configs as they would be
/// after a change (every key, old and new): names, then types and
/// validators, then bounds from the broker's `group.*` settings.
pub fn validate(configs: &BTreeMap<String, String>, config: &BrokerConfig) -> Result<(), Refusal> {
    for name in configs.keys() {
        if find(name).is_none() {
            return Err(invalid(format!("Unknown group config name: {name}")));
        }
    }
    if let Some(tags) = configs.get(RACK_TAGS) {
        let tags: Vec<&str> = tags
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .collect();
        let mut seen = std::collections::BTreeSet::new();
        if tags.iter().any(|t| !seen.insert(*t)) {
            return Err(invalid(format!(
                "{RACK_TAGS} must not contain duplicate tag keys."
            )));
        }
    }
    let mut numbers: BTreeMap<&str, i64> = BTreeMap::new();
    for def in GROUP_CONFIGS {
        if let Some(value) = configs.get(def.name) {
            if let Some(n) = parse(def, value)? {
                numbers.insert(def.name, n);
            }
        }
    }
    let setting = |name: &str, fallback: i64| -> i64 {
        broker_setting(config, name, &fallback.to_string())
            .parse()
            .unwrap_or(fallback)
    };
    let range = |name: &str, min: &str, max: &str, defaults: (i64, i64)| -> Result<(), Refusal> {
        let Some(&value) = numbers.get(name) else {
            return Ok(());
        };
        let (lo, hi) = (setting(min, defaults.0), setting(max, defaults.1));
        if value < lo || value > hi {
            return Err(invalid(format!(
                "{name} must be in the range {lo} to {hi} inclusive."
            )));
        }
        Ok(())
    };
    range(
        "consumer.heartbeat.interval.ms",
        "group.consumer.min.heartbeat.interval.ms",
        "group.consumer.max.heartbeat.interval.ms",
        (5000, 15000),
    )?;
    range(
        "consumer.session.timeout.ms",
        "group.consumer.min.session.timeout.ms",
        "group.consumer.max.session.timeout.ms",
        (45000, 60000),
    )?;
    range(
        "consumer.assignment.interval.ms",
        "group.consumer.min.assignment.interval.ms",
        "group.consumer.max.assignment.interval.ms",
        (0, 15000),
    )?;
    range(
        "share.heartbeat.interval.ms",
        "group.share.min.heartbeat.interval.ms",
        "group.share.max.heartbeat.interval.ms",
        (5000, 15000),
    )?;
    range(
        "share.session.timeout.ms",
        "group.share.min.session.timeout.ms",
        "group.share.max.session.timeout.ms",
        (45000, 60000),
    )?;
    range(
        "share.record.lock.duration.ms",
        "group.share.min.record.lock.duration.ms",
        "group.share.max.record.lock.duration.ms",
        (15000, 3_600_000),
    )?;
    range(
        "share.delivery.count.limit",
        "group.share.min.delivery.count.limit",
        "group.share.max.delivery.count.limit",
        (2, 10),
    )?;
    range(
        "share.partition.max.record.locks",
        "group.share.min.partition.max.record.locks",
        "group.share.max.partition.max.record.locks",
        (100, 10000),
    )?;
    range(
        "share.assignment.interval.ms",
        "group.share.min.assignment.interval.ms",
        "group.share.max.assignment.interval.ms",
        (0, 15000),
    )?;
    range(
        "streams.heartbeat.interval.ms",
        "group.streams.min.heartbeat.interval.ms",
        "group.streams.max.heartbeat.interval.ms",
        (5000, 15000),
    )?;
    range(
        "streams.session.timeout.ms",
        "group.streams.min.session.timeout.ms",
        "group.streams.max.session.timeout.ms",
        (45000, 60000),
    )?;
    let at_most = |name: &str, max: &str, default: i64| -> Result<(), Refusal> {
        let hi = setting(max, default);
        match numbers.get(name) {
            Some(&v) if v > hi => Err(invalid(format!(
                "{name} must be less than or equal to {hi}"
            ))),
            _ => Ok(()),
        }
    };
    at_most(
        "streams.num.standby.replicas",
        "group.streams.max.standby.replicas",
        2,
    )?;
    range(
        "streams.assignment.interval.ms",
        "group.streams.min.assignment.interval.ms",
        "group.streams.max.assignment.interval.ms",
        (0, 15000),
    )?;
    let lo = setting("group.streams.min.task.offset.interval.ms", 15000);
    if let Some(&v) = numbers.get("streams.task.offset.interval.ms") {
        if v < lo {
            return Err(invalid(format!(
                "streams.task.offset.interval.ms must be greater than or equal to {lo}"
            )));
        }
    }
    at_most(
        "streams.num.warmup.replicas",
        "group.streams.max.warmup.replicas",
        20,
    )?;
    if let Some(name) = configs.get(ASSIGNOR_NAME) {
        let registered = streams_assignors(config);
        if !registered.iter().any(|a| a == name) {
            return Err(invalid(format!(
                "{ASSIGNOR_NAME} '{name}' is not a registered task assignor. Registered assignors are: [{}].",
                registered.join(", ")
            )));
        }
    }
    for kind in ["consumer", "share", "streams"] {
        let session = format!("{kind}.session.timeout.ms");
        let heartbeat = format!("{kind}.heartbeat.interval.ms");
        if !numbers.contains_key(session.as_str()) && !numbers.contains_key(heartbeat.as_str()) {
            continue;
        }
        let value = |name: &str| -> i64 {
            numbers.get(name).copied().unwrap_or_else(|| {
                find(name)
                    .map(|d| default_value(config, d))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0)
            })
        };
        if value(&session) <= value(&heartbeat) {
            return Err(invalid(format!(
                "{session} must be greater than {heartbeat}"
            )));
        }
    }
    if let Some(topic) = configs.get(DLQ_TOPIC) {
        if !topic.is_empty() && topic.starts_with("__") {
            return Err(invalid(format!(
                "{DLQ_TOPIC}: DLQ topic name must not start with '__'"
            )));
        }
    }
    Ok(())
}

/// A consumer group's (KIP-848) settings with its GROUP config overrides
/// applied (`None` when it has none).
pub fn consumer_config(
    base: &gregor_coordinator::group::consumer::ConsumerGroupConfig,
    set: Option<&BTreeMap<String, String>>,
) -> Option<gregor_coordinator::group::consumer::ConsumerGroupConfig> {
    let set = set?;
    let int = |key: &str| set.get(key).and_then(|v| v.trim().parse::<i32>().ok());
    let session = int("consumer.session.timeout.ms");
    let heartbeat = int("consumer.heartbeat.interval.ms");
    if session.is_none() && heartbeat.is_none() {
        return None;
    }
    let mut config = base.clone();
    config.session_timeout_ms = session.unwrap_or(config.session_timeout_ms);
    config.heartbeat_interval_ms = heartbeat.unwrap_or(config.heartbeat_interval_ms);
    Some(config)
}

/// A streams group's settings with its GROUP config overrides applied
/// (`None` when it has none): what its coordinator uses for it.
pub fn streams_config(
    base: &gregor_coordinator::group::streams::StreamsGroupConfig,
    set: Option<&BTreeMap<String, String>>,
) -> Option<gregor_coordinator::group::streams::StreamsGroupConfig> {
    let set = set?;
    let int = |key: &str| set.get(key).and_then(|v| v.trim().parse::<i64>().ok());
    let mut config = base.clone();
    let mut changed = false;
    if let Some(v) = int("streams.session.timeout.ms").and_then(|v| i32::try_from(v).ok()) {
        config.session_timeout_ms = v;
        changed = true;
    }
    if let Some(v) = int("streams.heartbeat.interval.ms").and_then(|v| i32::try_from(v).ok()) {
        config.heartbeat_interval_ms = v;
        changed = true;
    }
    if let Some(v) = int("streams.num.standby.replicas").and_then(|v| usize::try_from(v).ok()) {
        config.num_standby_replicas = v;
        changed = true;
    }
    if let Some(v) = int("streams.task.offset.interval.ms").and_then(|v| i32::try_from(v).ok()) {
        config.task_offset_interval_ms = v;
        changed = true;
    }
    if let Some(v) = int("streams.acceptable.recovery.lag") {
        config.acceptable_recovery_lag = v;
        changed = true;
    }
    changed.then_some(config)
}

/// DescribeConfigs' sources for GROUP resources.
pub const DYNAMIC_GROUP_CONFIG: i8 = 8;
pub const DEFAULT_CONFIG: i8 = 5;

/// One described group config: the value and its synonyms, highest first
/// (the group's override, then the broker setting it falls back to).
pub struct GroupEntry {
    pub name: &'static str,
    pub value: String,
    pub source: i8,
    pub synonyms: Vec<(&'static str, String, i8)>,
    pub kind: ConfigType,
    pub doc: &'static str,
}

/// What DescribeConfigs reports for one group, as Kafka 4.4 does: every
/// public config, and the internal ones only when the group sets them.
pub fn describe(config: &BrokerConfig, set: Option<&BTreeMap<String, String>>) -> Vec<GroupEntry> {
    GROUP_CONFIGS
        .iter()
        .filter_map(|def| {
            let own = set.and_then(|s| s.get(def.name));
            if def.internal && own.is_none() {
                return None;
            }
            let default = default_value(config, def);
            let mut synonyms = Vec::new();
            if let Some(v) = own {
                synonyms.push((def.name, v.clone(), DYNAMIC_GROUP_CONFIG));
            }
            synonyms.push((
                def.broker_synonym.unwrap_or(def.name),
                default.clone(),
                DEFAULT_CONFIG,
            ));
            let (value, source) = match own {
                Some(v) => (v.clone(), DYNAMIC_GROUP_CONFIG),
                None => (default, DEFAULT_CONFIG),
            };
            Some(GroupEntry {
                name: def.name,
                value,
                source,
                synonyms,
                kind: def.kind,
                doc: def.doc,
            })
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn configs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn refusal(pairs: &[(&str, &str)]) -> String {
        let config = BrokerConfig::from_settings(BTreeMap::new()).unwrap();
        validate(&configs(pairs), &config).unwrap_err().1
    }

    #[test]
    fn kafka_messages_for_bad_values() {
        assert_eq!(refusal(&[("nope", "1")]), "Unknown group config name: nope");
        assert_eq!(
            refusal(&[("share.delivery.count.limit", "abc")]),
            "Invalid value abc for configuration share.delivery.count.limit: Not a number of type INT"
        );
        assert_eq!(
            refusal(&[("share.delivery.count.limit", "1")]),
            "Invalid value 1 for configuration share.delivery.count.limit: Value must be at least 2"
        );
        assert_eq!(
            refusal(&[("share.delivery.count.limit", "11")]),
            "share.delivery.count.limit must be in the range 2 to 10 inclusive."
        );
        assert_eq!(
            refusal(&[("consumer.heartbeat.interval.ms", "50000")]),
            "consumer.heartbeat.interval.ms must be in the range 5000 to 15000 inclusive."
        );
        assert_eq!(
            refusal(&[("streams.num.standby.replicas", "3")]),
            "streams.num.standby.replicas must be less than or equal to 2"
        );
        assert!(refusal(&[("share.auto.offset.reset", "sometimes")]).contains("by_duration"));
        assert!(refusal(&[("streams.assignor.name", "foo")]).contains("[sticky]"));
    }

    #[test]
    fn good_values_pass() {
        let config = BrokerConfig::from_settings(BTreeMap::new()).unwrap();
        for pairs in [
            &[("share.auto.offset.reset", "earliest")][..],
            &[("share.auto.offset.reset", "by_duration:PT1H")],
            &[("share.auto.offset.reset", "by_duration:P1DT2H30M1.5S")],
            &[("consumer.session.timeout.ms", "50000")],
            &[("share.isolation.level", "read_committed")],
            &[("streams.num.warmup.replicas", "3")],
        ] {
            assert!(validate(&configs(pairs), &config).is_ok(), "{pairs:?}");
        }
        assert!(validate(
            &configs(&[("share.auto.offset.reset", "by_duration:-PT1H")]),
            &config
        )
        .is_err());
    }

    #[test]
    fn offset_reset_is_read_as_kafka_reads_it() {
        assert_eq!(
            parse_offset_reset(" earliest "),
            Some(OffsetReset::Earliest)
        );
        assert_eq!(
            parse_offset_reset("by_duration:pt1h30m"),
            Some(OffsetReset::ByDuration(5_400_000))
        );
        // AutoOffsetResetStrategy.fromString compares the lower-case names
        // and the `by_duration:` prefix as they are; only the duration is
        // case-insensitive (Duration.parse).
        for refused in [
            "EARLIEST",
            "Latest",
            "BY_DURATION:PT1H",
            "none",
            "by_duration:",
            "by_duration:P",
        ] {
            assert_eq!(parse_offset_reset(refused), None, "{refused}");
            assert!(refusal(&[(SHARE_AUTO_OFFSET_RESET, refused)]).contains("by_duration"));
        }
    }

    #[test]
    fn effective_values_fall_back_to_the_broker() {
        let config = BrokerConfig::from_settings(
            [(
                "group.share.delivery.count.limit".to_string(),
                "7".to_string(),
            )]
            .into_iter()
            .collect(),
        )
        .unwrap();
        let mut set = BTreeMap::new();
        set.insert(
            "g".to_string(),
            configs(&[("share.record.lock.duration.ms", "20000")]),
        );
        for name in [
            "share.delivery.count.limit",
            "share.record.lock.duration.ms",
            "share.partition.max.record.locks",
            SHARE_AUTO_OFFSET_RESET,
            SHARE_ISOLATION_LEVEL,
        ] {
            // The share settings alone give what the whole config gives.
            assert_eq!(
                effective(&config.group_share, &set, "g", name),
                effective(&config, &set, "g", name),
                "{name}"
            );
        }
        assert_eq!(
            effective_int(&config, &set, "g", "share.delivery.count.limit"),
            Some(7)
        );
        assert_eq!(
            effective_int(&config, &set, "g", "share.record.lock.duration.ms"),
            Some(20_000)
        );
        assert_eq!(effective(&config, &set, "g", "nope"), None);
    }

    #[test]
    fn describe_lists_public_configs_with_broker_defaults() {
        let config = BrokerConfig::from_settings(BTreeMap::new()).unwrap();
        let set = configs(&[
            ("consumer.session.timeout.ms", "50000"),
            ("streams.num.warmup.replicas", "3"),
        ]);
        let entries = describe(&config, Some(&set));
        let get = |n: &str| entries.iter().find(|e| e.name == n);
        let session = get("consumer.session.timeout.ms").unwrap();
        assert_eq!(
            (session.value.as_str(), session.source),
            ("50000", DYNAMIC_GROUP_CONFIG)
        );
        assert_eq!(
            session.synonyms[1],
            (
                "group.consumer.session.timeout.ms",
                "45000".to_string(),
                DEFAULT_CONFIG
            )
        );
        assert_eq!(get("streams.assignor.name").unwrap().value, "sticky");
        assert!(get("streams.num.warmup.replicas").is_some());
        assert!(get("streams.acceptable.recovery.lag").is_none());
    }
}
