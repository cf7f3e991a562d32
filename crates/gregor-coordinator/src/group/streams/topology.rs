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

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subtopology {
    pub id: String,
    pub source_topics: Vec<String>,
    pub repartition_sinks: Vec<String>,
    pub repartition_sources: Vec<TopicInfo>,
    pub changelogs: Vec<TopicInfo>,
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
