//! Compacted topics as tables on the admin HTTP endpoint, and their
//! compaction status, for operators and `gregor topic get` /
//! `gregor topic describe`.
//!
//! - `GET /topics/{t}/compaction`: per-partition compaction status;
//! - `GET /topics/{t}/partitions/{p}/keys/{key}`: the latest record of a
//!   key (value, headers, offset, timestamp as JSON).
//!
//! 404 for a topic or partition not hosted here or an absent or deleted
//! key, 400 for a topic that is not compacted.

use crate::clock::now_ms;
use crate::replica_manager::{Partition, ReplicaManager};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use gregor_log::cleaner::{KeyIndex, KeyLookup};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

/// Default bound on the memory of all key indexes together
/// (`gregor.admin.key.index.bytes`).
pub const DEFAULT_KEY_INDEX_BYTES: usize = 64 * 1024 * 1024;

struct CachedIndex {
    /// The partition it indexes: a deleted and re-created one is new.
    partition: Weak<Partition>,
    index: KeyIndex,
    last_used: u64,
}

/// Key indexes of the partitions looked up, least recently used evicted
/// beyond the byte budget (one partition may use all of it).
struct IndexCache {
    budget: usize,
    entries: HashMap<(String, i32), CachedIndex>,
    clock: u64,
}

impl IndexCache {
    fn lookup(
        &mut self,
        partition: &Arc<Partition>,
        key: &[u8],
    ) -> Result<Option<KeyLookup>, String> {
        self.clock += 1;
        let id = (partition.topic.clone(), partition.index);
        let budget = self.budget;
        let entry = self
            .entries
            .entry(id.clone())
            .or_insert_with(|| CachedIndex {
                partition: Arc::downgrade(partition),
                index: KeyIndex::new(budget),
                last_used: 0,
            });
        if !entry
            .partition
            .upgrade()
            .is_some_and(|p| Arc::ptr_eq(&p, partition))
        {
            entry.partition = Arc::downgrade(partition);
            entry.index = KeyIndex::new(budget);
        }
        entry.last_used = self.clock;
        let found = partition
            .lookup_key(&mut entry.index, key)
            .map_err(|e| e.to_string())?;
        self.evict(&id);
        Ok(found)
    }

    fn evict(&mut self, keep: &(String, i32)) {
        let mut total: usize = self.entries.values().map(|e| e.index.memory_bytes()).sum();
        while total > self.budget {
            let victim = self
                .entries
                .iter()
                .filter(|(id, _)| *id != keep)
                .min_by_key(|(_, e)| e.last_used)
                .map(|(id, _)| id.clone());
            let Some(victim) = victim else { break };
            if let Some(e) = self.entries.remove(&victim) {
                total = total.saturating_sub(e.index.memory_bytes());
            }
        }
    }
}

#[derive(Clone)]
struct AdminState {
    replicas: Arc<ReplicaManager>,
    indexes: Arc<Mutex<IndexCache>>,
}

fn error(status: StatusCode, message: String) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// The topic's hosted partitions, or the 404 / 400 answer.
fn compacted_partitions(
    replicas: &ReplicaManager,
    topic: &str,
) -> Result<Vec<Arc<Partition>>, Response> {
    let mut partitions: Vec<Arc<Partition>> = replicas
        .all_partitions()
        .into_iter()
        .filter(|p| p.topic == topic)
        .collect();
    if partitions.is_empty() {
        return Err(error(
            StatusCode::NOT_FOUND,
            format!("unknown topic '{topic}' (or no partition of it on this broker)"),
        ));
    }
    partitions.sort_by_key(|p| p.index);
    Ok(partitions)
}

fn not_compacted(topic: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        format!("topic '{topic}' is not compacted (cleanup.policy has no 'compact')"),
    )
}

async fn compaction(State(state): State<AdminState>, Path(topic): Path<String>) -> Response {
    let partitions = match compacted_partitions(&state.replicas, &topic) {
        Ok(p) => p,
        Err(response) => return response,
    };
    let now = now_ms();
    let mut out = Vec::new();
    for partition in partitions {
        let status = match partition.compaction_status(now) {
            Ok(Some(status)) => status,
            Ok(None) => return not_compacted(&topic),
            Err(err) => return error(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()),
        };
        let history = state
            .replicas
            .clean_history
            .get(&topic, partition.index)
            .unwrap_or_default();
        out.push(json!({
            "partition": partition.index,
            "dirty_ratio": status.dirty_ratio,
            "cleanable_ratio": status.cleanable_ratio,
            "clean_bytes": status.clean_bytes,
            "dirty_bytes": status.dirty_bytes,
            "cleanable_bytes": status.cleanable_bytes,
            "cleaned_up_to_offset": status.cleaned_up_to_offset,
            "eligible": status.eligible,
            "next_eligible_ms": status.next_eligible_ms,
            "cleans": history.cleans,
            "last_clean_ms": (history.cleans > 0).then_some(history.last_clean_ms),
            "last_bytes_reclaimed": history.last_bytes_reclaimed,
            "total_bytes_reclaimed": history.total_bytes_reclaimed,
        }));
    }
    Json(json!({ "topic": topic, "now_ms": now, "partitions": out })).into_response()
}

fn text_or_null(bytes: Option<&[u8]>) -> Value {
    match bytes.map(std::str::from_utf8) {
        Some(Ok(s)) => Value::String(s.to_string()),
        _ => Value::Null,
    }
}

async fn key(
    State(state): State<AdminState>,
    Path((topic, partition, key)): Path<(String, i32, String)>,
) -> Response {
    let partitions = match compacted_partitions(&state.replicas, &topic) {
        Ok(p) => p,
        Err(response) => return response,
    };
    let Some(partition) = partitions.into_iter().find(|p| p.index == partition) else {
        return error(
            StatusCode::NOT_FOUND,
            format!("unknown partition {topic}-{partition} (or not on this broker)"),
        );
    };
    let index = partition.index;
    let indexes = state.indexes.clone();
    let key_bytes = key.clone().into_bytes();
    // Catching the index up reads the log: off the async workers.
    let found = tokio::task::spawn_blocking(move || {
        indexes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .lookup(&partition, &key_bytes)
    })
    .await;
    let b64 = base64::engine::general_purpose::STANDARD;
    match found {
        Ok(Ok(Some(KeyLookup::Found(record)))) => Json(json!({
            "topic": topic,
            "partition": index,
            "offset": record.offset,
            "timestamp": record.timestamp,
            "key": key,
            "value": text_or_null(record.value.as_deref()),
            "value_base64": record.value.as_deref().map(|v| b64.encode(v)),
            "headers": record.headers.iter().map(|h| json!({
                "key": h.key,
                "value": text_or_null(h.value.as_deref()),
            })).collect::<Vec<_>>(),
        }))
        .into_response(),
        Ok(Ok(Some(KeyLookup::Deleted { offset }))) => error(
            StatusCode::NOT_FOUND,
            format!("key '{key}' not found (deleted by a tombstone at offset {offset})"),
        ),
        Ok(Ok(Some(KeyLookup::Absent))) => {
            error(StatusCode::NOT_FOUND, format!("key '{key}' not found"))
        }
        Ok(Ok(None)) => not_compacted(&topic),
        Ok(Err(err)) => error(StatusCode::INTERNAL_SERVER_ERROR, err),
        Err(err) => error(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()),
    }
}

/// The table routes over the broker's partitions, with key indexes bounded
/// by `key_index_bytes` together.
pub(super) fn router(replicas: Arc<ReplicaManager>, key_index_bytes: usize) -> Router {
    let state = AdminState {
        replicas,
        indexes: Arc::new(Mutex::new(IndexCache {
            budget: key_index_bytes,
            entries: HashMap::new(),
            clock: 0,
        })),
    };
    Router::new()
        .route("/topics/{topic}/compaction", get(compaction))
        .route(
            "/topics/{topic}/partitions/{partition}/keys/{key}",
            get(key),
        )
        .with_state(state)
}
