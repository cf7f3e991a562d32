//! The share-partition state persister, with the operations of Kafka's
//! `Persister` interface (initialize, read, write, read summary, delete).
//! The share-partition leader and the group coordinator call it; it keeps
//! the state where it survives the leader: in `__share_group_state`,
//! through the share coordinator that leads the key's state partition.
//!
//! When this broker leads that partition the local service is called;
//! otherwise the Initialize/Read/Write/Delete/ReadShareGroupStateSummary
//! RPC goes to its leader over the inter-broker listener (Kafka's
//! `DefaultStatePersister` + `PersisterStateManager`). NOT_COORDINATOR,
//! COORDINATOR_LOAD_IN_PROGRESS and COORDINATOR_NOT_AVAILABLE (the
//! coordinator moved, is loading, or the topic is being created) are
//! retried for a bounded time, looking the coordinator up again each time.
//!
//! `in_memory()` keeps the placeholder behaviour (no durability) for unit
//! tests of the callers.

use super::state_service::ShareStateService;
use crate::cluster::broker_channel::BrokerChannel;
use crate::controller::Controller;
use gregor_coordinator::share::coordinator::{
    ReadAnswer, ShareStateError, SummaryAnswer, WriteRequest, READ_UNINITIALIZED,
};
use gregor_coordinator::share::{PersistedBatch, PersistedShareState, ShareKey};
use gregor_metadata::MetadataImage;
use gregor_protocol::error_codes;
use gregor_protocol::generated::read_share_group_state_summary_request as sum_rq;
use gregor_protocol::generated::read_share_group_state_summary_response as sum_rs;
use gregor_protocol::generated::write_share_group_state_request as write_rq;
use gregor_protocol::generated::write_share_group_state_response as write_rs;
use kafka_protocol::messages::{
    delete_share_group_state_request as del_rq, initialize_share_group_state_request as init_rq,
    read_share_group_state_request as read_rq, ApiKey, DeleteShareGroupStateRequest,
    DeleteShareGroupStateResponse, InitializeShareGroupStateRequest,
    InitializeShareGroupStateResponse, ReadShareGroupStateRequest, ReadShareGroupStateResponse,
};
use kafka_protocol::protocol::{Decodable, Encodable};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A Kafka error code from the persister (e.g. FENCED_STATE_EPOCH,
/// FENCED_LEADER_EPOCH, COORDINATOR_NOT_AVAILABLE).
pub type ErrorCode = i16;

/// The summary DescribeShareGroupOffsets needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateSummary {
    pub state_epoch: i32,
    pub leader_epoch: i32,
    pub start_offset: i64,
    pub delivery_complete_count: i32,
}

/// How long a persister call keeps retrying a coordinator that moved or
/// is loading, and the pause between tries.
const RETRY_FOR: Duration = Duration::from_secs(10);
const RETRY_BACKOFF: Duration = Duration::from_millis(100);

/// The newest versions the persister sends: WriteShareGroupState and
/// ReadShareGroupStateSummary v1 carry the delivery-complete count
/// (KIP-1226), which the share lag of DescribeShareGroupOffsets needs; a
/// coordinator that only speaks v0 gets v0 (the count is then unknown).
/// Kafka 4.4 has only v0 of the other three.
const WRITE_NEWEST: i16 = 1;
const SUMMARY_NEWEST: i16 = 1;
const V0: i16 = 0;

pub struct Persister {
    backend: Backend,
}

impl Default for Persister {
    fn default() -> Self {
        Persister::in_memory()
    }
}

enum Backend {
    InMemory(Mutex<HashMap<ShareKey, PersistedShareState>>),
    Durable(Box<Durable>),
}

struct Durable {
    service: Arc<ShareStateService>,
    controller: Arc<Controller>,
    channel: BrokerChannel,
    node_id: i32,
}

/// One persister operation, local or as an RPC.
enum Op<'a> {
    Initialize { state_epoch: i32, start_offset: i64 },
    Read { leader_epoch: i32 },
    Write(&'a WriteRequest),
    Summary,
    Delete,
}

/// What an operation answered.
enum Answer {
    Done,
    Read(ReadAnswer),
    Summary(SummaryAnswer),
}

impl Persister {
    /// State in memory only (tests of the callers).
    pub fn in_memory() -> Persister {
        Persister {
            backend: Backend::InMemory(Mutex::new(HashMap::new())),
        }
    }

    /// State in `__share_group_state`, through `service` when this broker
    /// coordinates a key and over `channel` to the coordinator otherwise.
    pub fn durable(
        service: Arc<ShareStateService>,
        controller: Arc<Controller>,
        channel: BrokerChannel,
        node_id: i32,
    ) -> Persister {
        Persister {
            backend: Backend::Durable(Box::new(Durable {
                service,
                controller,
                channel,
                node_id,
            })),
        }
    }

    /// The local share coordinator (the RPC handlers serve it), if durable.
    pub fn service(&self) -> Option<&Arc<ShareStateService>> {
        match &self.backend {
            Backend::Durable(d) => Some(&d.service),
            Backend::InMemory(_) => None,
        }
    }

    /// Creates `__share_group_state` unless it exists (FindCoordinator
    /// with key type SHARE).
    pub fn ensure_state_topic(&self) -> Result<(), ErrorCode> {
        match &self.backend {
            Backend::Durable(d) => d.service.ensure_topic(),
            Backend::InMemory(_) => Err(error_codes::COORDINATOR_NOT_AVAILABLE),
        }
    }

    /// Follows the leadership of `__share_group_state` partitions (the
    /// metadata image hook).
    pub fn on_image(&self, image: &gregor_metadata::MetadataImage) {
        if let Backend::Durable(d) = &self.backend {
            d.service.on_image(image);
        }
    }

    /// Creates (or re-creates, with a higher `state_epoch`) the state of a
    /// share-partition at `start_offset` (-1: decided by the leader from
    /// `share.auto.offset.reset` on first load), with no in-flight batches.
    pub async fn initialize(
        &self,
        key: &ShareKey,
        state_epoch: i32,
        start_offset: i64,
    ) -> Result<(), ErrorCode> {
        match &self.backend {
            Backend::InMemory(states) => {
                lock(states).insert(
                    key.clone(),
                    PersistedShareState {
                        state_epoch,
                        leader_epoch: 0,
                        start_offset,
                        delivery_complete_count: if start_offset == -1 { -1 } else { 0 },
                        batches: Vec::new(),
                    },
                );
                Ok(())
            }
            Backend::Durable(d) => d
                .call(
                    key,
                    Op::Initialize {
                        state_epoch,
                        start_offset,
                    },
                )
                .await
                .map(|_| ())
                .map_err(|e| e.code),
        }
    }

    /// The state of a share-partition, `None` if it was never initialized.
    /// A read by a newer leader epoch fences older leaders from then on.
    /// `delivery_complete_count` is -1 (ReadShareGroupState does not carry
    /// it) and `leader_epoch` is the reader's.
    pub async fn read(
        &self,
        key: &ShareKey,
        leader_epoch: i32,
    ) -> Result<Option<PersistedShareState>, ErrorCode> {
        match &self.backend {
            Backend::InMemory(states) => Ok(lock(states).get(key).cloned()),
            Backend::Durable(d) => match d.call(key, Op::Read { leader_epoch }).await {
                Ok(Answer::Read(a)) => Ok(Some(PersistedShareState {
                    state_epoch: a.state_epoch,
                    leader_epoch,
                    start_offset: a.start_offset,
                    delivery_complete_count: -1,
                    batches: a.batches,
                })),
                Ok(_) => Err(error_codes::UNKNOWN_SERVER_ERROR),
                Err(e)
                    if e.code == error_codes::INVALID_REQUEST
                        && e.message == Some(READ_UNINITIALIZED) =>
                {
                    Ok(None)
                }
                Err(e) => Err(e.code),
            },
        }
    }

    /// Writes the state of a share-partition: `state.batches` are the
    /// runs whose state changed (merged over the stored ones, each offset
    /// keeping the highest delivery count and state), the start offset
    /// moves forward to `state.start_offset`. Fenced with
    /// FENCED_LEADER_EPOCH / FENCED_STATE_EPOCH for older epochs;
    /// INVALID_REQUEST if the key was never initialized.
    pub async fn write(&self, key: &ShareKey, state: PersistedShareState) -> Result<(), ErrorCode> {
        match &self.backend {
            Backend::InMemory(states) => {
                let mut states = lock(states);
                let entry = states.entry(key.clone()).or_default();
                let start = state.start_offset.max(entry.start_offset);
                let batches = gregor_coordinator::share::coordinator::combiner::combine(
                    &entry.batches,
                    &state.batches,
                    start,
                );
                *entry = PersistedShareState {
                    batches,
                    start_offset: start,
                    ..state
                };
                Ok(())
            }
            Backend::Durable(d) => {
                let request = WriteRequest {
                    state_epoch: state.state_epoch,
                    leader_epoch: state.leader_epoch,
                    start_offset: state.start_offset,
                    delivery_complete_count: state.delivery_complete_count,
                    batches: state.batches,
                };
                d.call(key, Op::Write(&request))
                    .await
                    .map(|_| ())
                    .map_err(|e| e.code)
            }
        }
    }

    /// The start offset and epochs of a share-partition, `None` if never
    /// initialized or never given a start offset (Kafka answers an unknown
    /// key start offset -1, epochs 0).
    pub async fn read_summary(&self, key: &ShareKey) -> Result<Option<StateSummary>, ErrorCode> {
        match &self.backend {
            Backend::InMemory(states) => Ok(lock(states).get(key).map(|s| StateSummary {
                state_epoch: s.state_epoch,
                leader_epoch: s.leader_epoch,
                start_offset: s.start_offset,
                delivery_complete_count: s.delivery_complete_count,
            })),
            Backend::Durable(d) => match d.call(key, Op::Summary).await {
                Ok(Answer::Summary(s)) => {
                    let unknown = s.start_offset == -1 && s.state_epoch == 0 && s.leader_epoch == 0;
                    Ok((!unknown).then_some(StateSummary {
                        state_epoch: s.state_epoch,
                        leader_epoch: s.leader_epoch,
                        start_offset: s.start_offset,
                        delivery_complete_count: s.delivery_complete_count,
                    }))
                }
                Ok(_) => Err(error_codes::UNKNOWN_SERVER_ERROR),
                Err(e) => Err(e.code),
            },
        }
    }

    /// Forgets a share-partition's state (the group or its offsets were
    /// deleted).
    pub async fn delete(&self, key: &ShareKey) -> Result<(), ErrorCode> {
        match &self.backend {
            Backend::InMemory(states) => {
                lock(states).remove(key);
                Ok(())
            }
            Backend::Durable(d) => d
                .call(key, Op::Delete)
                .await
                .map(|_| ())
                .map_err(|e| e.code),
        }
    }
}

fn lock(
    states: &Mutex<HashMap<ShareKey, PersistedShareState>>,
) -> std::sync::MutexGuard<'_, HashMap<ShareKey, PersistedShareState>> {
    // A poisoned map is still consistent: every update is one insert.
    states.lock().unwrap_or_else(|e| e.into_inner())
}

fn retriable(code: i16) -> bool {
    matches!(
        code,
        error_codes::NOT_COORDINATOR
            | error_codes::COORDINATOR_LOAD_IN_PROGRESS
            | error_codes::COORDINATOR_NOT_AVAILABLE
    )
}

fn code_only(code: i16) -> ShareStateError {
    ShareStateError {
        code,
        message: None,
    }
}

impl Durable {
    /// Runs `op` at the key's coordinator, retrying a coordinator that
    /// moved, is loading or is not there yet.
    async fn call(&self, key: &ShareKey, op: Op<'_>) -> Result<Answer, ShareStateError> {
        let deadline = tokio::time::Instant::now() + RETRY_FOR;
        loop {
            let result = self.try_once(key, &op).await;
            match result {
                Err(e) if retriable(e.code) && tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(RETRY_BACKOFF).await;
                }
                other => return other,
            }
        }
    }

    async fn try_once(&self, key: &ShareKey, op: &Op<'_>) -> Result<Answer, ShareStateError> {
        let image = self.controller.image();
        let Some(leader) = ShareStateService::coordinator_of(&image, key) else {
            // First use: create the topic; its shards load as leaders come up.
            self.service.ensure_topic().map_err(code_only)?;
            return Err(code_only(error_codes::COORDINATOR_NOT_AVAILABLE));
        };
        if leader == self.node_id {
            return self.local(key, op).await;
        }
        self.remote(&image, leader, key, op).await
    }

    async fn local(&self, key: &ShareKey, op: &Op<'_>) -> Result<Answer, ShareStateError> {
        let s = &self.service;
        Ok(match op {
            Op::Initialize {
                state_epoch,
                start_offset,
            } => {
                s.initialize(key, *state_epoch, *start_offset).await?;
                Answer::Done
            }
            Op::Read { leader_epoch } => Answer::Read(s.read(key, *leader_epoch).await?),
            Op::Write(request) => {
                s.write(key, request).await?;
                Answer::Done
            }
            Op::Summary => Answer::Summary(s.read_summary(key).await?),
            Op::Delete => {
                s.delete(key).await?;
                Answer::Done
            }
        })
    }
}

impl Durable {
    /// Runs `op` at the coordinator `leader` (another broker) over the
    /// inter-broker channel.
    async fn remote(
        &self,
        image: &MetadataImage,
        leader: i32,
        key: &ShareKey,
        op: &Op<'_>,
    ) -> Result<Answer, ShareStateError> {
        match op {
            Op::Initialize {
                state_epoch,
                start_offset,
            } => {
                let request = initialize_request(key, *state_epoch, *start_offset);
                let response: InitializeShareGroupStateResponse = self
                    .send(
                        image,
                        leader,
                        ApiKey::InitializeShareGroupState,
                        V0,
                        &request,
                    )
                    .await?;
                key_result!(response, key).map(|_| Answer::Done)
            }
            Op::Read { leader_epoch } => {
                let request = read_request(key, *leader_epoch);
                let response: ReadShareGroupStateResponse = self
                    .send(image, leader, ApiKey::ReadShareGroupState, V0, &request)
                    .await?;
                read_answer(key, &response)
            }
            Op::Write(w) => {
                let request = write_request(key, w);
                let response: write_rs::WriteShareGroupStateResponse = self
                    .send(
                        image,
                        leader,
                        ApiKey::WriteShareGroupState,
                        WRITE_NEWEST,
                        &request,
                    )
                    .await?;
                key_result!(response, key).map(|_| Answer::Done)
            }
            Op::Summary => {
                let request = summary_request(key);
                let response: sum_rs::ReadShareGroupStateSummaryResponse = self
                    .send(
                        image,
                        leader,
                        ApiKey::ReadShareGroupStateSummary,
                        SUMMARY_NEWEST,
                        &request,
                    )
                    .await?;
                summary_answer(key, &response)
            }
            Op::Delete => {
                let request = delete_request(key);
                let response: DeleteShareGroupStateResponse = self
                    .send(image, leader, ApiKey::DeleteShareGroupState, V0, &request)
                    .await?;
                key_result!(response, key).map(|_| Answer::Done)
            }
        }
    }

    /// One RPC to `leader` at the newest version both speak (at most
    /// `newest`); a failed exchange is COORDINATOR_NOT_AVAILABLE, which the
    /// caller retries (the coordinator may be restarting or moving).
    async fn send<Rq: Encodable, Rs: Decodable>(
        &self,
        image: &MetadataImage,
        leader: i32,
        api: ApiKey,
        newest: i16,
        request: &Rq,
    ) -> Result<Rs, ShareStateError> {
        self.channel
            .call_message(image, leader, api, newest, request)
            .await
            .map(|(response, _version)| response)
            .map_err(|err| {
                tracing::debug!(coordinator = leader, ?api, %err, "share state RPC failed");
                code_only(error_codes::COORDINATOR_NOT_AVAILABLE)
            })
    }
}

/// The key's partition result in a coordinator's answer, or the error it
/// carries. A macro because each RPC's response has its own types, all
/// with the same field names (results, topic_id, partitions, partition,
/// error_code, error_message).
macro_rules! key_result {
    ($response:expr, $key:expr) => {
        match $response
            .results
            .iter()
            .filter(|t| t.topic_id == $key.topic_id)
            .flat_map(|t| &t.partitions)
            .find(|p| p.partition == $key.partition)
        {
            None => Err(code_only(error_codes::UNKNOWN_SERVER_ERROR)),
            Some(p) if p.error_code != error_codes::NONE => {
                Err(remote_error(p.error_code, p.error_message.as_deref()))
            }
            Some(p) => Ok(p),
        }
    };
}
use key_result;

fn initialize_request(
    key: &ShareKey,
    state_epoch: i32,
    start_offset: i64,
) -> InitializeShareGroupStateRequest {
    InitializeShareGroupStateRequest::default()
        .with_group_id(key.group_id.clone().into())
        .with_topics(vec![init_rq::InitializeStateData::default()
            .with_topic_id(key.topic_id)
            .with_partitions(vec![init_rq::PartitionData::default()
                .with_partition(key.partition)
                .with_state_epoch(state_epoch)
                .with_start_offset(start_offset)])])
}

fn read_request(key: &ShareKey, leader_epoch: i32) -> ReadShareGroupStateRequest {
    ReadShareGroupStateRequest::default()
        .with_group_id(key.group_id.clone().into())
        .with_topics(vec![read_rq::ReadStateData::default()
            .with_topic_id(key.topic_id)
            .with_partitions(vec![read_rq::PartitionData::default()
                .with_partition(key.partition)
                .with_leader_epoch(leader_epoch)])])
}

fn delete_request(key: &ShareKey) -> DeleteShareGroupStateRequest {
    DeleteShareGroupStateRequest::default()
        .with_group_id(key.group_id.clone().into())
        .with_topics(vec![del_rq::DeleteStateData::default()
            .with_topic_id(key.topic_id)
            .with_partitions(vec![
                del_rq::PartitionData::default().with_partition(key.partition)
            ])])
}

/// A write carrying the delivery-complete count (sent at v1; v0 drops it).
fn write_request(key: &ShareKey, w: &WriteRequest) -> write_rq::WriteShareGroupStateRequest {
    let batches = w
        .batches
        .iter()
        .map(|b| write_rq::StateBatch {
            first_offset: b.first_offset,
            last_offset: b.last_offset,
            delivery_state: b.delivery_state.code(),
            delivery_count: b.delivery_count,
            ..Default::default()
        })
        .collect();
    write_rq::WriteShareGroupStateRequest {
        group_id: key.group_id.clone(),
        topics: vec![write_rq::WriteStateData {
            topic_id: key.topic_id,
            partitions: vec![write_rq::PartitionData {
                partition: key.partition,
                state_epoch: w.state_epoch,
                leader_epoch: w.leader_epoch,
                start_offset: w.start_offset,
                delivery_complete_count: w.delivery_complete_count,
                state_batches: batches,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn summary_request(key: &ShareKey) -> sum_rq::ReadShareGroupStateSummaryRequest {
    sum_rq::ReadShareGroupStateSummaryRequest {
        group_id: key.group_id.clone(),
        topics: vec![sum_rq::ReadStateSummaryData {
            topic_id: key.topic_id,
            partitions: vec![sum_rq::PartitionData {
                partition: key.partition,
                leader_epoch: 0,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// An error from a remote coordinator, keeping the uninitialized-read
/// message the caller recognises.
fn remote_error(code: i16, message: Option<&str>) -> ShareStateError {
    let message = (message == Some(READ_UNINITIALIZED)).then_some(READ_UNINITIALIZED);
    ShareStateError { code, message }
}

fn read_answer(
    key: &ShareKey,
    response: &ReadShareGroupStateResponse,
) -> Result<Answer, ShareStateError> {
    let p = key_result!(response, key)?;
    let batches = p
        .state_batches
        .iter()
        .map(|b| {
            PersistedBatch::from_wire(
                b.first_offset,
                b.last_offset,
                b.delivery_state,
                b.delivery_count,
            )
        })
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| code_only(error_codes::UNKNOWN_SERVER_ERROR))?;
    Ok(Answer::Read(ReadAnswer {
        state_epoch: p.state_epoch,
        start_offset: p.start_offset,
        batches,
    }))
}

/// A summary; the delivery-complete count is -1 in a v0 answer.
fn summary_answer(
    key: &ShareKey,
    response: &sum_rs::ReadShareGroupStateSummaryResponse,
) -> Result<Answer, ShareStateError> {
    let p = key_result!(response, key)?;
    Ok(Answer::Summary(SummaryAnswer {
        initialized: true,
        state_epoch: p.state_epoch,
        leader_epoch: p.leader_epoch,
        start_offset: p.start_offset,
        delivery_complete_count: p.delivery_complete_count,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use gregor_coordinator::share::DeliveryState;
    use kafka_protocol::messages::read_share_group_state_response as read_rs;
    use kafka_protocol::protocol::StrBytes;

    fn key() -> ShareKey {
        ShareKey {
            group_id: "g".into(),
            topic_id: uuid::Uuid::from_u128(7),
            partition: 2,
        }
    }

    #[test]
    fn a_forwarded_write_carries_the_key_epochs_batches_and_count() {
        let request = WriteRequest {
            state_epoch: 3,
            leader_epoch: 5,
            start_offset: 10,
            delivery_complete_count: 4,
            batches: vec![PersistedBatch {
                first_offset: 10,
                last_offset: 12,
                delivery_state: DeliveryState::Acknowledged,
                delivery_count: 2,
            }],
        };
        let w = write_request(&key(), &request);
        assert_eq!(w.group_id, "g");
        let p = &w.topics[0].partitions[0];
        assert_eq!(w.topics[0].topic_id, uuid::Uuid::from_u128(7));
        assert_eq!(
            (
                p.partition,
                p.state_epoch,
                p.leader_epoch,
                p.start_offset,
                p.delivery_complete_count
            ),
            (2, 3, 5, 10, 4)
        );
        let b = &p.state_batches[0];
        assert_eq!(
            (
                b.first_offset,
                b.last_offset,
                b.delivery_state,
                b.delivery_count
            ),
            (10, 12, 2, 2)
        );
        // v1 carries the count on the wire, v0 cannot.
        let decoded = |version| {
            let mut buf = bytes::BytesMut::new();
            w.encode(&mut buf, version).unwrap();
            write_rq::WriteShareGroupStateRequest::decode(&mut buf.freeze(), version).unwrap()
        };
        assert_eq!(
            decoded(1).topics[0].partitions[0].delivery_complete_count,
            4
        );
        assert_eq!(
            decoded(0).topics[0].partitions[0].delivery_complete_count,
            -1
        );
    }

    fn read_response(code: i16, message: Option<&str>) -> ReadShareGroupStateResponse {
        ReadShareGroupStateResponse::default().with_results(vec![
            read_rs::ReadStateResult::default()
                .with_topic_id(uuid::Uuid::from_u128(7))
                .with_partitions(vec![read_rs::PartitionResult::default()
                    .with_partition(2)
                    .with_error_code(code)
                    .with_error_message(message.map(|m| StrBytes::from_string(m.into())))
                    .with_state_epoch(1)
                    .with_start_offset(40)
                    .with_state_batches(vec![read_rs::StateBatch::default()
                        .with_first_offset(40)
                        .with_last_offset(41)
                        .with_delivery_state(4)
                        .with_delivery_count(3)])]),
        ])
    }

    #[test]
    fn a_remote_read_answer_maps_back() {
        let Ok(Answer::Read(a)) = read_answer(&key(), &read_response(0, None)) else {
            panic!("not a read answer")
        };
        assert_eq!((a.state_epoch, a.start_offset), (1, 40));
        assert_eq!(a.batches[0].delivery_state, DeliveryState::Archived);
        // The uninitialized read keeps its message (the persister answers None).
        let Err(e) = read_answer(
            &key(),
            &read_response(error_codes::INVALID_REQUEST, Some(READ_UNINITIALIZED)),
        ) else {
            panic!("not an error")
        };
        assert_eq!(e.message, Some(READ_UNINITIALIZED));
        let Err(e) = read_answer(
            &key(),
            &read_response(error_codes::FENCED_LEADER_EPOCH, None),
        ) else {
            panic!("not an error")
        };
        assert_eq!(e.code, error_codes::FENCED_LEADER_EPOCH);
        // An answer for another key is not ours.
        let other = ShareKey {
            partition: 3,
            ..key()
        };
        assert!(read_answer(&other, &read_response(0, None)).is_err());
    }

    #[test]
    fn a_remote_summary_keeps_the_delivery_complete_count() {
        let response = |count| sum_rs::ReadShareGroupStateSummaryResponse {
            results: vec![sum_rs::ReadStateSummaryResult {
                topic_id: uuid::Uuid::from_u128(7),
                partitions: vec![sum_rs::PartitionResult {
                    partition: 2,
                    state_epoch: 1,
                    leader_epoch: 6,
                    start_offset: 40,
                    delivery_complete_count: count,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let Ok(Answer::Summary(s)) = summary_answer(&key(), &response(9)) else {
            panic!("not a summary")
        };
        assert_eq!(
            (s.start_offset, s.leader_epoch, s.delivery_complete_count),
            (40, 6, 9)
        );
    }

    #[tokio::test]
    async fn in_memory_writes_merge_as_kafka() {
        let p = Persister::in_memory();
        p.initialize(&key(), 0, 0).await.unwrap();
        let batch = |f, l, s, c| PersistedBatch {
            first_offset: f,
            last_offset: l,
            delivery_state: s,
            delivery_count: c,
        };
        let state = |start, batches| PersistedShareState {
            state_epoch: 0,
            leader_epoch: 1,
            start_offset: start,
            delivery_complete_count: -1,
            batches,
        };
        p.write(
            &key(),
            state(0, vec![batch(0, 9, DeliveryState::Available, 2)]),
        )
        .await
        .unwrap();
        p.write(
            &key(),
            state(3, vec![batch(5, 6, DeliveryState::Acknowledged, 1)]),
        )
        .await
        .unwrap();
        let read = p.read(&key(), 1).await.unwrap().unwrap();
        // The higher delivery count keeps 5-6; offsets below 3 are gone.
        assert_eq!(read.start_offset, 3);
        assert_eq!(read.batches, vec![batch(3, 9, DeliveryState::Available, 2)]);
    }
}
