//! A streams group's topology (as the first member registered it) and
//! what it means against the current topics: how many tasks each
//! subtopology has, which internal topics (repartition, changelog) are
//! missing and with how many partitions they must be created, and the
//! status to tell members while the group cannot run (Kafka's
//! `ConfiguredTopology` / `InternalTopicManager`).

use crate::group::consumer::Topics;
use std::collections::BTreeMap;

/// KIP-1071 status codes (StreamsGroupHeartbeatResponse `Status`).
pub const STALE_TOPOLOGY: i8 = 0;
pub const MISSING_SOURCE_TOPICS: i8 = 1;
pub const INCORRECTLY_PARTITIONED_TOPICS: i8 = 2;
pub const MISSING_INTERNAL_TOPICS: i8 = 3;
pub const SHUTDOWN_APPLICATION: i8 = 4;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicInfo {
    pub name: String,
    /// 0: derived (changelogs always; repartition topics without a count).
    pub partitions: i32,
    /// 0: the broker default.
    pub replication_factor: i16,
    pub configs: Vec<(String, String)>,
}

/// Topics of one subtopology that must have the same partition count
/// (joins): indices into its source topics and repartition source topics,
/// as the topology carries them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CopartitionGroup {
    pub source_topics: Vec<i16>,
    /// Indices into the subtopology's source topic regexes: kept, but, as in
    /// Kafka 4.4, regexes are not resolved, so they take no part.
    pub source_topic_regex: Vec<i16>,
    pub repartition_sources: Vec<i16>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subtopology {
    pub id: String,
    pub source_topics: Vec<String>,
    /// Source topic patterns: stored and persisted as the member sent them;
    /// Kafka 4.4's coordinator does not resolve them either.
    pub source_topic_regex: Vec<String>,
    pub repartition_sinks: Vec<String>,
    pub repartition_sources: Vec<TopicInfo>,
    pub changelogs: Vec<TopicInfo>,
    pub copartition_groups: Vec<CopartitionGroup>,
}

impl Subtopology {
    /// The topic names of a copartition group; None for an index out of range.
    fn copartitioned(&self, group: &CopartitionGroup) -> Option<Vec<&str>> {
        let at = |i: i16| usize::try_from(i).ok();
        let sources = group.source_topics.iter().map(|i| {
            at(*i)
                .and_then(|i| self.source_topics.get(i))
                .map(String::as_str)
        });
        let repartition = group.repartition_sources.iter().map(|i| {
            at(*i)
                .and_then(|i| self.repartition_sources.get(i))
                .map(|t| t.name.as_str())
        });
        sources.chain(repartition).collect()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topology {
    pub epoch: i32,
    pub subtopologies: Vec<Subtopology>,
}

/// An internal topic the broker must create for the group to run.
#[derive(Clone, Debug, PartialEq)]
pub struct MissingTopic {
    pub name: String,
    pub partitions: i32,
    pub replication_factor: i16,
    pub configs: Vec<(String, String)>,
}

/// The topology against the topics: tasks per subtopology when the group
/// can run, else why not.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Configured {
    /// Subtopology id -> number of tasks (partitions). Empty when not ready.
    pub tasks: BTreeMap<String, i32>,
    /// (code, detail) for members, empty when ready.
    pub status: Vec<(i8, String)>,
    pub missing_internal: Vec<MissingTopic>,
}

impl Configured {
    pub fn is_ready(&self) -> bool {
        self.status.is_empty()
    }
}

/// Why a topology is refused at registration (STREAMS_INVALID_TOPOLOGY).
pub fn validate(topology: &Topology) -> Result<(), String> {
    let mut ids = std::collections::BTreeSet::new();
    for sub in &topology.subtopologies {
        if !ids.insert(sub.id.as_str()) {
            return Err(format!("Duplicate subtopology id {}.", sub.id));
        }
    }
    let sources: std::collections::BTreeSet<&str> = topology
        .subtopologies
        .iter()
        .flat_map(|s| s.repartition_sources.iter().map(|t| t.name.as_str()))
        .collect();
    for sub in &topology.subtopologies {
        for sink in &sub.repartition_sinks {
            if !sources.contains(sink.as_str()) {
                return Err(format!(
                    "Repartition sink topic {sink} of subtopology {} is not the source of any subtopology.",
                    sub.id
                ));
            }
        }
        for group in &sub.copartition_groups {
            if sub.copartitioned(group).is_none() {
                return Err(format!(
                    "Copartition group of subtopology {} refers to a topic index that does not exist.",
                    sub.id
                ));
            }
        }
    }
    Ok(())
}

/// Java's `TreeMap.toString()` of topic -> partitions, as Kafka's messages show it.
fn java_map(counts: &BTreeMap<&str, i32>) -> String {
    let pairs: Vec<String> = counts.iter().map(|(t, n)| format!("{t}={n}")).collect();
    format!("{{{}}}", pairs.join(", "))
}

/// Kafka's `CopartitionedTopicsEnforcer`: the topics of each copartition
/// group must have one partition count. External topics decide it (and
/// must agree); a group of repartition topics only takes the count of its
/// fixed ones (which must agree) or else the largest. Flexible repartition
/// topics are set to that count; a fixed one that differs is an error.
fn enforce_copartitioning<'t>(
    topology: &'t Topology,
    topics: &dyn Topics,
    repartition: &mut BTreeMap<&'t str, i32>,
) -> Result<(), String> {
    let fixed: std::collections::BTreeSet<&str> = topology
        .subtopologies
        .iter()
        .flat_map(|s| s.repartition_sources.iter())
        .filter(|t| t.partitions > 0)
        .map(|t| t.name.as_str())
        .collect();
    let is_repartition: std::collections::BTreeSet<&str> = topology
        .subtopologies
        .iter()
        .flat_map(|s| s.repartition_sources.iter().map(|t| t.name.as_str()))
        .collect();
    for sub in &topology.subtopologies {
        for group in &sub.copartition_groups {
            let Some(names) = sub.copartitioned(group) else {
                continue;
            };
            let count = |t: &str, repartition: &BTreeMap<&str, i32>| {
                repartition
                    .get(t)
                    .copied()
                    .or_else(|| topics.by_name(t).map(|(_, n)| n))
                    .unwrap_or(0)
            };
            let internal: BTreeMap<&str, i32> = names
                .iter()
                .filter(|t| is_repartition.contains(**t))
                .map(|t| (*t, count(t, repartition)))
                .collect();
            let external: BTreeMap<&str, i32> = names
                .iter()
                .filter(|t| !is_repartition.contains(**t))
                .map(|t| (*t, count(t, repartition)))
                .collect();
            let same = |m: &BTreeMap<&str, i32>| -> Result<Option<i32>, String> {
                let mut values = m.values();
                let first = values.next().copied();
                if values.any(|n| Some(*n) != first) {
                    return Err(format!(
                        "Following topics do not have the same number of partitions: [{}]",
                        java_map(m)
                    ));
                }
                Ok(first)
            };
            let n = if external.is_empty() {
                let fixed_here: BTreeMap<&str, i32> = internal
                    .iter()
                    .filter(|(t, _)| fixed.contains(**t))
                    .map(|(t, n)| (*t, *n))
                    .collect();
                match same(&fixed_here)? {
                    Some(n) => n,
                    None => internal.values().copied().max().unwrap_or(0),
                }
            } else {
                same(&external)?.unwrap_or(0)
            };
            for (t, had) in internal {
                if fixed.contains(t) && had != n {
                    return Err(format!("Number of partitions [{had}] of repartition topic [{t}] doesn't match number of partitions [{n}] of the source topic."));
                }
                repartition.insert(t, n);
            }
        }
    }
    Ok(())
}

/// Works out task counts and missing topics. Repartition topics without a
/// partition count get the task count of the subtopology writing to them;
/// changelogs get their subtopology's.
pub fn configure(topology: &Topology, topics: &dyn Topics) -> Configured {
    let mut out = Configured::default();
    let missing_sources: Vec<&str> = topology
        .subtopologies
        .iter()
        .flat_map(|s| s.source_topics.iter())
        .filter(|t| topics.by_name(t).is_none())
        .map(String::as_str)
        .collect();
    if !missing_sources.is_empty() {
        out.status.push((
            MISSING_SOURCE_TOPICS,
            format!("Source topics {} are missing.", missing_sources.join(", ")),
        ));
        return out;
    }
    // Partition counts of repartition topics, fixed by the topology or
    // derived from their writers, to a fixed point (each pass resolves at
    // least one more, or nothing more can be).
    let mut repartition: BTreeMap<&str, i32> = BTreeMap::new();
    for sub in &topology.subtopologies {
        for t in &sub.repartition_sources {
            if t.partitions > 0 {
                repartition.insert(&t.name, t.partitions);
            }
        }
    }
    let mut tasks: BTreeMap<&str, i32> = BTreeMap::new();
    for _ in 0..=topology.subtopologies.len() {
        for sub in &topology.subtopologies {
            let mut counts = sub
                .source_topics
                .iter()
                .filter_map(|t| topics.by_name(t).map(|(_, n)| n))
                .chain(
                    sub.repartition_sources
                        .iter()
                        .filter_map(|t| repartition.get(t.name.as_str()).copied()),
                );
            let all_known = sub
                .repartition_sources
                .iter()
                .all(|t| repartition.contains_key(t.name.as_str()));
            if let Some(n) = counts.by_ref().max() {
                if all_known {
                    tasks.insert(&sub.id, n);
                    for sink in &sub.repartition_sinks {
                        repartition.entry(sink.as_str()).or_insert(n);
                    }
                }
            }
        }
    }
    if tasks.len() < topology.subtopologies.len() {
        out.status.push((
            MISSING_SOURCE_TOPICS,
            "The number of partitions of some repartition topics cannot be derived.".to_string(),
        ));
        return out;
    }
    if let Err(detail) = enforce_copartitioning(topology, topics, &mut repartition) {
        out.status.push((INCORRECTLY_PARTITIONED_TOPICS, detail));
        return out;
    }
    // Copartitioning may have raised a repartition topic's count: each
    // subtopology has as many tasks as its widest input.
    for sub in &topology.subtopologies {
        let widest = sub
            .source_topics
            .iter()
            .filter_map(|t| topics.by_name(t).map(|(_, n)| n))
            .chain(
                sub.repartition_sources
                    .iter()
                    .filter_map(|t| repartition.get(t.name.as_str()).copied()),
            )
            .max();
        if let Some(n) = widest {
            tasks.insert(&sub.id, n);
        }
    }
    let mut wrong = Vec::new();
    let mut check = |info: &TopicInfo, partitions: i32, out: &mut Configured| match topics
        .by_name(&info.name)
    {
        None => out.missing_internal.push(MissingTopic {
            name: info.name.clone(),
            partitions,
            replication_factor: info.replication_factor,
            configs: info.configs.clone(),
        }),
        Some((_, n)) if n != partitions => wrong.push(info.name.clone()),
        Some(_) => {}
    };
    for sub in &topology.subtopologies {
        let n = tasks.get(sub.id.as_str()).copied().unwrap_or(0);
        for t in &sub.repartition_sources {
            let partitions = repartition.get(t.name.as_str()).copied().unwrap_or(n);
            check(t, partitions, &mut out);
        }
        for t in &sub.changelogs {
            check(t, n, &mut out);
        }
    }
    if !out.missing_internal.is_empty() {
        let names: Vec<&str> = out
            .missing_internal
            .iter()
            .map(|t| t.name.as_str())
            .collect();
        out.status.push((
            MISSING_INTERNAL_TOPICS,
            format!("Internal topics are missing: [{}]", names.join(", ")),
        ));
    }
    if !wrong.is_empty() {
        out.status.push((
            INCORRECTLY_PARTITIONED_TOPICS,
            format!(
                "Internal topics {} have the wrong number of partitions.",
                wrong.join(", ")
            ),
        ));
    }
    if out.status.is_empty() {
        out.tasks = tasks.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    }
    out
}
