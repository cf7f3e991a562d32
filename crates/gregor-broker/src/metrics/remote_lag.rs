//! The lag of partitions this broker holds no replica of, for `/metrics`:
//! their leaders are asked (see [`super::leader_reads`]) over fresh
//! inter-broker connections, all leaders at once, within [`BUDGET`]. A
//! leader that does not answer in time leaves its partitions without lag
//! (the series are absent, never stale); nothing is kept between scrapes.

use super::lag::GroupLag;
use super::leader_reads::{self, Tp};
use crate::server::Broker;
use gregor_client::Connection;
use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

/// The longest the remote reads may add to a scrape.
pub const BUDGET: Duration = Duration::from_secs(2);
const CONNECT_TIMEOUT: Duration = Duration::from_millis(1000);
const REQUEST_TIMEOUT: Duration = Duration::from_millis(1500);

/// What one leader answered.
#[derive(Default)]
struct Answers {
    bounds: HashMap<Tp, (i64, i64)>,
    timestamps: HashMap<(Tp, i64), i64>,
}

/// One scrape's connection to a leader.
struct Peer {
    node: i32,
    connection: Mutex<Connection>,
}

impl leader_reads::AskLeader for Peer {
    async fn send(&self, api_key: ApiKey, version: i16, body: RequestKind) -> Option<ResponseKind> {
        let mut connection = self.connection.lock().await;
        match connection.send(api_key, version, body).await {
            Ok((response, _)) => Some(response),
            Err(err) => {
                tracing::debug!(node = self.node, %err, "lag read from a partition leader failed");
                None
            }
        }
    }
}

/// Fills in end offset, lag and lag in seconds of every partition in
/// `lags` that has none (no replica here) from the partition's leader.
pub async fn fill(broker: &Arc<Broker>, lags: &mut [GroupLag]) {
    let image = broker.controller.image();
    let me = broker.config.node_id;
    // Committed offsets by partition, by leader.
    let mut wanted: BTreeMap<i32, BTreeMap<Tp, BTreeSet<i64>>> = BTreeMap::new();
    for p in lags.iter().flat_map(|g| g.partitions.iter()) {
        if p.end_offset.is_some() {
            continue;
        }
        let leader = image
            .topic(&p.topic)
            .and_then(|t| t.partitions.get(&p.partition))
            .map_or(-1, |s| s.leader);
        if leader < 0 || leader == me {
            continue;
        }
        wanted
            .entry(leader)
            .or_default()
            .entry((p.topic.clone(), p.partition))
            .or_default()
            .insert(p.committed_offset);
    }
    if wanted.is_empty() {
        return;
    }
    let mut reads = tokio::task::JoinSet::new();
    for (leader, partitions) in wanted {
        let broker = broker.clone();
        let image = image.clone();
        reads.spawn(async move {
            let connection = broker
                .peer_reads
                .open(&image, leader, CONNECT_TIMEOUT, REQUEST_TIMEOUT)
                .await;
            let connection = match connection {
                Ok(c) => c,
                Err(err) => {
                    tracing::debug!(node = leader, %err, "cannot reach a partition leader for lag");
                    return Answers::default();
                }
            };
            let peer = Peer {
                node: leader,
                connection: Mutex::new(connection),
            };
            read_leader(&peer, &partitions).await
        });
    }
    let mut answers = Answers::default();
    let deadline = tokio::time::Instant::now() + BUDGET;
    // Past the deadline the rest are dropped with the JoinSet (aborted).
    while let Ok(Some(done)) = tokio::time::timeout_at(deadline, reads.join_next()).await {
        if let Ok(a) = done {
            answers.bounds.extend(a.bounds);
            answers.timestamps.extend(a.timestamps);
        }
    }
    for p in lags.iter_mut().flat_map(|g| g.partitions.iter_mut()) {
        if p.end_offset.is_some() {
            continue;
        }
        let tp = (p.topic.clone(), p.partition);
        let Some(bounds) = answers.bounds.get(&tp).copied() else {
            continue;
        };
        p.end_offset = Some(bounds.1);
        p.lag = Some((bounds.1 - p.committed_offset).max(0));
        p.lag_seconds =
            leader_reads::lag_seconds(&tp, p.committed_offset, bounds, &answers.timestamps);
    }
}

async fn read_leader(peer: &Peer, partitions: &BTreeMap<Tp, BTreeSet<i64>>) -> Answers {
    let tps: Vec<Tp> = partitions.keys().cloned().collect();
    let bounds = leader_reads::bounds(peer, &tps).await;
    let positions: BTreeSet<(Tp, i64)> = partitions
        .iter()
        .filter_map(|(tp, committed)| {
            let b = bounds.get(tp)?;
            Some(leader_reads::positions(tp, *b, committed.iter().copied()))
        })
        .flatten()
        .collect();
    let timestamps = leader_reads::timestamps(peer, &positions).await;
    Answers { bounds, timestamps }
}
