//! Sends the ISR changes partition leaders decide (AlterPartition v3) to
//! the active controller and hands the answers back to the partitions, as
//! Kafka's `AlterPartitionManager`. Each change is one task, retried with
//! backoff while the controller cannot be reached or is not the active
//! one; the leader state allows one change in flight per partition.

use crate::replica::leader::{CommittedState, IsrRequest};
use crate::replica_manager::ReplicaManager;
use crate::server::Broker;
use gregor_protocol::error_codes;
use kafka_protocol::messages::alter_partition_request::{BrokerState, PartitionData, TopicData};
use kafka_protocol::messages::{
    AlterPartitionRequest, AlterPartitionResponse, ApiKey, BrokerId, RequestKind, ResponseKind,
};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use uuid::Uuid;

/// AlterPartition with topic ids and broker epochs (KIP-903).
pub const ALTER_PARTITION_VERSION: i16 = 3;

const INITIAL_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// One ISR change to send.
#[derive(Debug, Clone)]
pub struct IsrWork {
    pub topic: String,
    pub topic_id: Uuid,
    pub partition: i32,
    pub leader_epoch: i32,
    /// The ISR the change starts from (what it shrinks or expands).
    pub committed_isr: Vec<i32>,
    pub request: IsrRequest,
}

/// The queue partitions put their ISR changes on; the sender task takes
/// the receiving end once.
#[derive(Clone)]
pub struct IsrOutbox {
    sender: mpsc::UnboundedSender<IsrWork>,
    receiver: Arc<Mutex<Option<mpsc::UnboundedReceiver<IsrWork>>>>,
}

impl Default for IsrOutbox {
    fn default() -> Self {
        let (sender, receiver) = mpsc::unbounded_channel();
        IsrOutbox {
            sender,
            receiver: Arc::new(Mutex::new(Some(receiver))),
        }
    }
}

impl IsrOutbox {
    pub fn send(&self, work: IsrWork) {
        // No receiver only after shutdown, when nothing is sent any more.
        let _ = self.sender.send(work);
    }

    fn take_receiver(&self) -> Option<mpsc::UnboundedReceiver<IsrWork>> {
        self.receiver
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }
}

/// Runs until the broker shuts down: one task per ISR change.
pub async fn run(broker: Arc<Broker>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let Some(mut receiver) = broker.replicas.isr_outbox().take_receiver() else {
        return;
    };
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            work = receiver.recv() => match work {
                Some(work) => {
                    tasks.spawn(send(broker.clone(), work));
                }
                None => break,
            },
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    tasks.abort_all();
}

/// Whether the change is still wanted: the partition is still led here in
/// the same leader epoch, from the same partition epoch.
fn still_wanted(replicas: &ReplicaManager, work: &IsrWork) -> bool {
    replicas
        .partition(&work.topic, work.partition)
        .filter(|p| p.topic_id == work.topic_id)
        .and_then(|p| p.committed_state())
        .is_some_and(|c| {
            c.leader_epoch == work.leader_epoch && c.partition_epoch == work.request.partition_epoch
        })
}

fn request_for(broker_id: i32, broker_epoch: i64, work: &IsrWork) -> AlterPartitionRequest {
    let new_isr = work
        .request
        .new_isr
        .iter()
        .map(|&(id, epoch)| {
            BrokerState::default()
                .with_broker_id(BrokerId(id))
                .with_broker_epoch(epoch)
        })
        .collect();
    let partition = PartitionData::default()
        .with_partition_index(work.partition)
        .with_leader_epoch(work.request.leader_epoch)
        .with_new_isr_with_epochs(new_isr)
        .with_partition_epoch(work.request.partition_epoch);
    AlterPartitionRequest::default()
        .with_broker_id(BrokerId(broker_id))
        .with_broker_epoch(broker_epoch)
        .with_topics(vec![TopicData::default()
            .with_topic_id(work.topic_id)
            .with_partitions(vec![partition])])
}

/// What to do with an answer.
enum Outcome {
    Committed(CommittedState),
    /// Refused for good: the leader goes back to its committed ISR.
    Refused(i16),
    Retry(String),
}

fn outcome(response: &AlterPartitionResponse, work: &IsrWork, replicas: Vec<i32>) -> Outcome {
    if response.error_code != error_codes::NONE {
        // NOT_CONTROLLER, STALE_BROKER_EPOCH (our registration not yet in
        // the controller's image), ...: Kafka retries the whole request.
        return Outcome::Retry(format!("error code {}", response.error_code));
    }
    let answer = response
        .topics
        .iter()
        .filter(|t| t.topic_id == work.topic_id)
        .flat_map(|t| t.partitions.iter())
        .find(|p| p.partition_index == work.partition);
    let Some(answer) = answer else {
        return Outcome::Retry("no answer for the partition".into());
    };
    match answer.error_code {
        error_codes::NONE => Outcome::Committed(CommittedState {
            leader_epoch: answer.leader_epoch,
            partition_epoch: answer.partition_epoch,
            replicas,
            isr: answer.isr.iter().map(|b| b.0).collect(),
        }),
        // The controller is behind this leader: ask again.
        error_codes::NOT_CONTROLLER | error_codes::REQUEST_TIMED_OUT => {
            Outcome::Retry(format!("partition error code {}", answer.error_code))
        }
        code => Outcome::Refused(code),
    }
}

async fn send(broker: Arc<Broker>, work: IsrWork) {
    let node_id = broker.config.node_id;
    let mut backoff = INITIAL_BACKOFF;
    loop {
        if !still_wanted(&broker.replicas, &work) {
            return;
        }
        let image = broker.controller.image();
        let broker_epoch = image.brokers.get(&node_id).map_or(-1, |b| b.epoch);
        let result = match broker.controller.active_controller() {
            Some(active) => {
                let body = RequestKind::AlterPartition(request_for(node_id, broker_epoch, &work));
                broker
                    .controller
                    .channel()
                    .call(
                        active,
                        ApiKey::AlterPartition,
                        ALTER_PARTITION_VERSION,
                        body,
                    )
                    .await
            }
            None => Err(anyhow::anyhow!("no active controller")),
        };
        let Some(partition) = broker.replicas.partition(&work.topic, work.partition) else {
            return;
        };
        let replicas = partition.leadership().replicas;
        let now = crate::clock::now_ms();
        let decided = match result {
            Ok(ResponseKind::AlterPartition(response)) => outcome(&response, &work, replicas),
            Ok(_) => Outcome::Retry("unexpected response".into()),
            Err(err) => Outcome::Retry(format!("{err:#}")),
        };
        match decided {
            Outcome::Committed(state) => {
                tracing::info!(topic = %work.topic, partition = work.partition, isr = ?state.isr, partition_epoch = state.partition_epoch, "ISR updated");
                // Counted as Kafka's IsrShrinksPerSec / IsrExpandsPerSec:
                // when the controller accepts the leader's own change.
                broker
                    .replicas
                    .isr_churn()
                    .record(&work.committed_isr, &state.isr);
                partition.apply_isr_answer(work.leader_epoch, state, now);
                return;
            }
            Outcome::Refused(code) => {
                tracing::info!(topic = %work.topic, partition = work.partition, code, "ISR change refused");
                partition.isr_change_failed(work.leader_epoch, now);
                return;
            }
            Outcome::Retry(why) => {
                tracing::debug!(topic = %work.topic, partition = work.partition, %why, "ISR change to be retried");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}
