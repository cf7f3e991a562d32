//! The authorization audit trail (beyond Kafka, whose audit is a log4j
//! logger): denials, and allowed decisions when
//! `gregor.authorizer.audit.allow=true`, go as JSON records to the internal
//! topic `__gregor_authz_audit`, keyed by principal.
//!
//! The request path never waits for it: decisions go into a bounded queue
//! and a background task appends them to a partition of the audit topic
//! this broker leads. When the queue is full, or the broker leads no audit
//! partition, events are dropped and counted (`dropped`), never blocking.

use crate::clock::now_ms;
use crate::internal_topics;
use crate::server::Broker;
use bytes::Bytes;
use gregor_metadata::acl::{Action, Decision, PatternType, Rule};
use gregor_metadata::controller::NewTopic;
use kafka_protocol::messages::ApiKey;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// Where the audit trail goes.
pub const AUDIT_TOPIC: &str = "__gregor_authz_audit";
/// Decisions waiting to be written; beyond this they are dropped.
const QUEUE: usize = 10_000;
/// Decisions written per batch.
const BATCH: usize = 500;
/// How often dropped audit records are reported.
const WARN_EVERY: Duration = Duration::from_secs(60);
/// How long the audit topic keeps records (7 days, Kafka's default retention).
const RETENTION_MS: &str = "604800000";

/// One decision, as recorded.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub principal: String,
    pub json: String,
}

impl AuditEvent {
    pub fn new(
        principal: &str,
        host: &str,
        api: ApiKey,
        action: Action<'_>,
        decision: &Decision,
    ) -> AuditEvent {
        let (acl, rule) = match &decision.rule {
            Rule::Acl(acl) => (
                serde_json::json!({
                    "resource_type": acl.resource_type.name(),
                    "resource_name": acl.resource_name,
                    "pattern_type": acl.pattern_type.name(),
                    "principal": acl.principal,
                    "host": acl.host,
                    "operation": acl.operation.name(),
                    "permission": acl.permission.name(),
                }),
                "acl",
            ),
            Rule::SuperUser => (serde_json::Value::Null, "super_user"),
            Rule::NoAclOnResource { .. } => (serde_json::Value::Null, "no_acl_on_resource"),
            Rule::NoMatchingAcl => (serde_json::Value::Null, "no_matching_acl"),
        };
        let json = serde_json::json!({
            "time_ms": now_ms(),
            "principal": principal,
            "host": host,
            "api": format!("{api:?}"),
            "operation": action.operation.name(),
            "resource_type": action.resource_type.name(),
            "resource_name": action.resource_name,
            "pattern_type": PatternType::Literal.name(),
            "allowed": decision.allowed,
            "rule": rule,
            "acl": acl,
            "reason": decision.rule.to_string(),
        })
        .to_string();
        AuditEvent {
            principal: principal.to_string(),
            json,
        }
    }
}

pub struct AuditLog {
    tx: Option<mpsc::Sender<AuditEvent>>,
    rx: Mutex<Option<mpsc::Receiver<AuditEvent>>>,
    dropped: AtomicU64,
    written: Arc<AtomicU64>,
}

impl AuditLog {
    pub fn new(enabled: bool) -> AuditLog {
        let (tx, rx) = if enabled {
            let (tx, rx) = mpsc::channel(QUEUE);
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        AuditLog {
            tx,
            rx: Mutex::new(rx),
            dropped: AtomicU64::new(0),
            written: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Queues an event; drops (and counts) it when the writer is behind.
    pub fn push(&self, event: AuditEvent) {
        let Some(tx) = &self.tx else { return };
        if tx.try_send(event).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Events lost to a full queue or to no led audit partition.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    fn take_receiver(&self) -> Option<mpsc::Receiver<AuditEvent>> {
        self.rx.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// The writer task: drains the queue into the audit topic until shutdown.
pub async fn run(broker: Arc<Broker>, mut shutdown: watch::Receiver<bool>) {
    let log = broker.authorizer.audit_log();
    let Some(mut rx) = log.take_receiver() else {
        return;
    };
    let mut batch = Vec::with_capacity(BATCH);
    let mut last_warning: Option<std::time::Instant> = None;
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            n = rx.recv_many(&mut batch, BATCH) => {
                if n == 0 {
                    return;
                }
            }
        }
        let events = std::mem::take(&mut batch);
        let count = events.len() as u64;
        match write(&broker, &events).await {
            Ok(()) => {
                log.written.fetch_add(count, Ordering::Relaxed);
            }
            Err(reason) => {
                log.dropped.fetch_add(count, Ordering::Relaxed);
                // Once a minute at most: a broker leading no audit partition
                // drops every batch.
                if last_warning.is_none_or(|t| t.elapsed() >= WARN_EVERY) {
                    last_warning = Some(std::time::Instant::now());
                    tracing::warn!(
                        count,
                        dropped_total = log.dropped(),
                        %reason,
                        "authorization audit records dropped"
                    );
                }
            }
        }
    }
}

async fn write(broker: &Broker, events: &[AuditEvent]) -> Result<(), String> {
    let image = broker.controller.image();
    if image.topic(AUDIT_TOPIC).is_none() {
        create_topic(broker).await?;
        // The new partitions need a moment to get their leaders here.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let image = broker.controller.image();
    let led = internal_topics::led_partitions(
        &image,
        &broker.replicas,
        AUDIT_TOPIC,
        broker.config.node_id,
    );
    let Some((&partition, _)) = led.iter().next() else {
        return Err("this broker leads no audit partition".to_string());
    };
    let records: Vec<(Bytes, Option<Bytes>)> = events
        .iter()
        .map(|e| {
            (
                Bytes::from(e.principal.clone().into_bytes()),
                Some(Bytes::from(e.json.clone().into_bytes())),
            )
        })
        .collect();
    internal_topics::append_local(
        &broker.replicas,
        AUDIT_TOPIC,
        partition,
        None,
        &records,
        None,
    )
    .map(|_| ())
    .map_err(|code| format!("append refused with error {code}"))
}

/// One partition per active broker (each writes to one it leads), a
/// time-retained (not compacted) topic.
async fn create_topic(broker: &Broker) -> Result<(), String> {
    let image = broker.controller.image();
    let brokers = image.unfenced_brokers().count().max(1);
    let topic = NewTopic {
        name: AUDIT_TOPIC.to_string(),
        num_partitions: brokers as i32,
        replication_factor: brokers.min(3) as i16,
        assignments: Vec::new(),
        configs: vec![
            ("cleanup.policy".to_string(), "delete".to_string()),
            ("retention.ms".to_string(), RETENTION_MS.to_string()),
        ],
    };
    let controller = broker.controller.clone();
    let created = tokio::task::spawn_blocking(move || controller.create_topic(&topic, false)).await;
    match created {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) if e.code == gregor_protocol::error_codes::TOPIC_ALREADY_EXISTS => Ok(()),
        Ok(Err(e)) => Err(e.message),
        Err(e) => Err(e.to_string()),
    }
}
