//! Offset reset as `kafka-consumer-groups --reset-offsets`: a plan (the
//! dry run: current → new offset per partition) and its execution as an
//! OffsetCommit through the group coordinator, so it persists as a
//! client's commit does. Only an Empty group may be reset, Kafka's rule.

use super::data as groups;
use super::offsets::{self, TopicPartition, EARLIEST, LATEST};
use crate::console::call::{call_at, kafka_error};
use crate::console::call::{conflict, unexpected};
use crate::console::{ConsoleError, Ctx};
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::{
    GroupId, OffsetCommitRequest, RequestKind, ResponseKind, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use std::collections::BTreeMap;

/// Where to move the offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetSpec {
    Earliest,
    Latest,
    /// An absolute offset, clamped to the log's range as Kafka's tool does.
    Offset(i64),
    /// The first offset whose record is at or after this time (ms); the
    /// log end when there is none.
    Timestamp(i64),
    /// Current offset plus this (negative: back), clamped to the log.
    ShiftBy(i64),
}

impl ResetSpec {
    /// From a form: `kind` is earliest, latest, offset, timestamp or
    /// shift-by; the three last need an integer `value`.
    pub fn parse(kind: &str, value: Option<&str>) -> Result<ResetSpec, ConsoleError> {
        let number = |what: &str| -> Result<i64, ConsoleError> {
            let raw = value
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| {
                    ConsoleError::bad_request(format!("a reset to {what} needs a value"))
                })?;
            raw.parse::<i64>().map_err(|_| {
                ConsoleError::bad_request(format!("{what} must be an integer, not {raw:?}"))
            })
        };
        match kind {
            "earliest" => Ok(ResetSpec::Earliest),
            "latest" => Ok(ResetSpec::Latest),
            "offset" => {
                let offset = number("offset")?;
                if offset < 0 {
                    return Err(ConsoleError::bad_request("offset must not be negative"));
                }
                Ok(ResetSpec::Offset(offset))
            }
            "timestamp" => {
                let raw = value.unwrap_or("");
                crate::console::fmt::parse_time(raw)
                    .map(ResetSpec::Timestamp)
                    .ok_or_else(|| {
                        ConsoleError::bad_request(format!(
                            "timestamp {raw:?} is neither ms since the epoch nor \
                             YYYY-MM-DDTHH:MM[:SS] (UTC)"
                        ))
                    })
            }
            "shift-by" => Ok(ResetSpec::ShiftBy(number("shift-by")?)),
            other => Err(ConsoleError::bad_request(format!(
                "unknown reset {other:?}: earliest, latest, offset, timestamp or shift-by"
            ))),
        }
    }
}

/// Which partitions to reset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every partition the group has committed for (`--all-topics`).
    AllTopics,
    /// `--topic t`: every partition of the topic.
    Topic(String),
    /// `--topic t:0,2`.
    Partitions(String, Vec<i32>),
}

impl Scope {
    /// Kafka's `--topic` syntax; empty means all topics.
    pub fn parse(raw: &str) -> Result<Scope, ConsoleError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Ok(Scope::AllTopics);
        }
        let Some((topic, list)) = raw.split_once(':') else {
            return Ok(Scope::Topic(raw.to_string()));
        };
        let partitions = list
            .split(',')
            .map(|p| {
                p.trim().parse::<i32>().map_err(|_| {
                    ConsoleError::bad_request(format!("partition {p:?} is not a number"))
                })
            })
            .collect::<Result<Vec<i32>, _>>()?;
        if topic.is_empty() {
            return Err(ConsoleError::bad_request(
                "a topic name is needed before ':'",
            ));
        }
        Ok(Scope::Partitions(topic.to_string(), partitions))
    }
}

/// One partition of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetRow {
    pub topic: String,
    pub partition: i32,
    pub current: Option<i64>,
    pub new: i64,
}

/// The dry run: what `execute` would commit. Refused unless the group is
/// Empty.
pub async fn plan(
    ctx: &Ctx,
    group_id: &str,
    scope: &Scope,
    spec: ResetSpec,
) -> Result<Vec<ResetRow>, ConsoleError> {
    let group = groups::list_one(ctx, group_id).await?;
    if group.state != "Empty" {
        return Err(conflict(format!(
            "Assignments can only be reset if the group '{group_id}' is inactive, \
             but the current state is {}.",
            group.state
        )));
    }
    let committed = offsets::committed(ctx, group_id).await?;
    let partitions = scope_partitions(ctx, scope, &committed)?;
    let earliest = known(offsets::list(ctx, &partitions, EARLIEST).await?)?;
    let latest = known(offsets::list(ctx, &partitions, LATEST).await?)?;
    let at_time = match spec {
        ResetSpec::Timestamp(ts) => Some(offsets::list(ctx, &partitions, ts).await?),
        _ => None,
    };
    let mut rows = Vec::with_capacity(partitions.len());
    for tp in partitions {
        let current = committed.get(&tp).copied();
        let low = earliest.get(&tp).copied().unwrap_or(0);
        let high = latest.get(&tp).copied().unwrap_or(0);
        let new = match spec {
            ResetSpec::Earliest => low,
            ResetSpec::Latest => high,
            ResetSpec::Offset(offset) => offset.clamp(low, high),
            ResetSpec::ShiftBy(by) => current.unwrap_or(high).saturating_add(by).clamp(low, high),
            ResetSpec::Timestamp(_) => match at_time.as_ref().and_then(|m| m.get(&tp)) {
                Some(Ok(Some(offset))) => *offset,
                Some(Err(code)) => {
                    return Err(kafka_error(
                        *code,
                        &format!("looking up {}-{} by timestamp", tp.0, tp.1),
                    ))
                }
                // No record at or after the time: the log end.
                _ => high,
            },
        };
        rows.push(ResetRow {
            topic: tp.0,
            partition: tp.1,
            current,
            new,
        });
    }
    Ok(rows)
}

/// Plans, then commits the new offsets as the group's (OffsetCommit with
/// no member, as Kafka's admin client does); returns what was committed.
pub async fn execute(
    ctx: &Ctx,
    group_id: &str,
    scope: &Scope,
    spec: ResetSpec,
) -> Result<Vec<ResetRow>, ConsoleError> {
    let rows = plan(ctx, group_id, scope, spec).await?;
    let mut by_topic: BTreeMap<&str, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
    for row in &rows {
        by_topic.entry(&row.topic).or_default().push(
            OffsetCommitRequestPartition::default()
                .with_partition_index(row.partition)
                .with_committed_offset(row.new)
                .with_committed_leader_epoch(-1)
                .with_committed_metadata(Some(StrBytes::from_static_str(""))),
        );
    }
    let request = OffsetCommitRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group_id.to_string())))
        .with_generation_id_or_member_epoch(-1)
        .with_member_id(StrBytes::from_static_str(""))
        .with_retention_time_ms(-1)
        .with_topics(
            by_topic
                .into_iter()
                .map(|(topic, partitions)| {
                    OffsetCommitRequestTopic::default()
                        .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                        .with_partitions(partitions)
                })
                .collect(),
        );
    // The group's coordinator keeps its offsets.
    let coordinator = super::data::coordinator_of(ctx, group_id).await?;
    let response = match call_at(ctx, coordinator, RequestKind::OffsetCommit(request)).await? {
        ResponseKind::OffsetCommit(response) => response,
        _ => return Err(unexpected("OffsetCommit")),
    };
    for topic in &response.topics {
        for p in &topic.partitions {
            if p.error_code != 0 {
                return Err(kafka_error(
                    p.error_code,
                    &format!("committing {}-{}", topic.name.as_str(), p.partition_index),
                ));
            }
        }
    }
    Ok(rows)
}

/// The partitions a scope names, checked against the topic metadata.
fn scope_partitions(
    ctx: &Ctx,
    scope: &Scope,
    committed: &BTreeMap<TopicPartition, i64>,
) -> Result<Vec<TopicPartition>, ConsoleError> {
    let image = ctx.broker().controller.image();
    let partitions_of = |topic: &str| -> Result<Vec<i32>, ConsoleError> {
        let t = image
            .topic(topic)
            .ok_or_else(|| ConsoleError::not_found(format!("topic {topic} does not exist")))?;
        Ok(t.partitions.keys().copied().collect())
    };
    let out: Vec<TopicPartition> = match scope {
        Scope::AllTopics => committed.keys().cloned().collect(),
        Scope::Topic(topic) => partitions_of(topic)?
            .into_iter()
            .map(|p| (topic.clone(), p))
            .collect(),
        Scope::Partitions(topic, wanted) => {
            let existing = partitions_of(topic)?;
            if let Some(missing) = wanted.iter().find(|p| !existing.contains(p)) {
                return Err(ConsoleError::not_found(format!(
                    "partition {topic}-{missing} does not exist"
                )));
            }
            wanted.iter().map(|&p| (topic.clone(), p)).collect()
        }
    };
    if out.is_empty() {
        return Err(ConsoleError::bad_request(
            "nothing to reset: the group has no committed offsets (name a topic)",
        ));
    }
    Ok(out)
}

/// ListOffsets answers, every partition known or the first refusal.
fn known(
    listed: BTreeMap<TopicPartition, Result<Option<i64>, i16>>,
) -> Result<BTreeMap<TopicPartition, i64>, ConsoleError> {
    let mut out = BTreeMap::new();
    for (tp, found) in listed {
        match found {
            Ok(Some(offset)) => {
                out.insert(tp, offset);
            }
            Ok(None) => {}
            Err(code) => {
                return Err(kafka_error(
                    code,
                    &format!("listing offsets of {}-{}", tp.0, tp.1),
                ))
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_as_the_tool_names_them() {
        assert_eq!(
            ResetSpec::parse("earliest", None).ok(),
            Some(ResetSpec::Earliest)
        );
        assert_eq!(
            ResetSpec::parse("offset", Some(" 7 ")).ok(),
            Some(ResetSpec::Offset(7))
        );
        assert_eq!(
            ResetSpec::parse("shift-by", Some("-3")).ok(),
            Some(ResetSpec::ShiftBy(-3))
        );
        assert_eq!(
            ResetSpec::parse("offset", None).map_err(|e| e.status.as_u16()),
            Err(400)
        );
        assert_eq!(
            ResetSpec::parse("offset", Some("x")).map_err(|e| e.status.as_u16()),
            Err(400)
        );
        assert_eq!(
            ResetSpec::parse("offset", Some("-1")).map_err(|e| e.status.as_u16()),
            Err(400)
        );
        assert_eq!(
            ResetSpec::parse("sideways", None).map_err(|e| e.status.as_u16()),
            Err(400)
        );
    }

    #[test]
    fn scopes_parse_kafka_topic_syntax() {
        assert_eq!(Scope::parse("").ok(), Some(Scope::AllTopics));
        assert_eq!(Scope::parse("t").ok(), Some(Scope::Topic("t".into())));
        assert_eq!(
            Scope::parse("t:0, 2").ok(),
            Some(Scope::Partitions("t".into(), vec![0, 2]))
        );
        assert_eq!(Scope::parse("t:a").map_err(|e| e.status.as_u16()), Err(400));
        assert_eq!(Scope::parse(":1").map_err(|e| e.status.as_u16()), Err(400));
    }
}
