//! The in-process controller: decides metadata changes (pure functions in
//! `gregor-metadata`), commits them to the metadata quorum, publishes the
//! new image and brings the local partitions in line with it.

use crate::replica_manager::ReplicaManager;
use gregor_metadata::controller::{self, ControllerError, NewTopic, TopicDefaults};
use gregor_metadata::membership::{
    BrokerRegistration, Heartbeat, HeartbeatTracker, DEFAULT_SESSION_TIMEOUT_MS,
};
use gregor_metadata::{
    decode_batch, encode_batch, ConfigResource, Endpoint, MetadataImage, MetadataRecord,
};
use gregor_protocol::error_codes::KAFKA_STORAGE_ERROR;
use gregor_raft::{MetadataLog, QuorumError};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};
use uuid::Uuid;

pub struct Controller {
    log: Mutex<Option<MetadataLog>>,
    /// The unused rest of this broker's current producer-id block: [next, end).
    producer_ids: Mutex<(i64, i64)>,
    image: RwLock<Arc<MetadataImage>>,
    /// Broker sessions, as the active controller tracks them.
    membership: Mutex<HeartbeatTracker>,
    defaults: TopicDefaults,
    replicas: Arc<ReplicaManager>,
}

/// Opens the metadata log under `log_dir` and replays it into the image it
/// describes. The quorum only hands back bytes; decoding them is ours. Each
/// log entry is one metadata change (a batch of records).
pub fn open_metadata_log(
    log_dir: &Path,
    recover: bool,
) -> Result<(MetadataLog, MetadataImage), QuorumError> {
    let mut image = MetadataImage::default();
    let log = MetadataLog::open(log_dir, recover, |offset, value| {
        image.apply_entry(offset, &decode_batch(value)?);
        Ok(())
    })?;
    Ok((log, image))
}

impl Controller {
    pub fn new(
        log: MetadataLog,
        image: MetadataImage,
        defaults: TopicDefaults,
        replicas: Arc<ReplicaManager>,
    ) -> Controller {
        Controller {
            log: Mutex::new(Some(log)),
            producer_ids: Mutex::new((0, 0)),
            image: RwLock::new(Arc::new(image)),
            membership: Mutex::new(HeartbeatTracker::new(DEFAULT_SESSION_TIMEOUT_MS, false)),
            defaults,
            replicas,
        }
    }

    /// The current metadata image (a consistent snapshot).
    pub fn image(&self) -> Arc<MetadataImage> {
        self.image.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Decides with `decide` against the current image and, unless
    /// `validate_only`, commits the records as one log entry and applies
    /// them; returns the entry's offset (`None` when nothing was written).
    /// Holding the log lock for the whole step serialises metadata changes.
    fn change(
        &self,
        validate_only: bool,
        decide: impl FnOnce(&MetadataImage) -> Result<Vec<MetadataRecord>, ControllerError>,
    ) -> Result<Option<i64>, ControllerError> {
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        let current = self.image();
        let records = decide(&current)?;
        if validate_only || records.is_empty() {
            return Ok(None);
        }
        let log = log
            .as_mut()
            .ok_or_else(|| storage_error("controller is shut down"))?;
        let offset = log
            .commit(&[encode_batch(&records)])
            .map_err(|e| storage_error(&e.to_string()))?;
        let mut next = (*current).clone();
        next.apply_entry(offset, &records);
        let next = Arc::new(next);
        *self.image.write().unwrap_or_else(|p| p.into_inner()) = next.clone();
        if let Err(err) = self.replicas.reconcile(&next) {
            tracing::error!(%err, "could not apply metadata change to local logs");
            return Err(storage_error(&err.to_string()));
        }
        Ok(Some(offset))
    }

    fn membership(&self) -> std::sync::MutexGuard<'_, HeartbeatTracker> {
        self.membership.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers this broker process (a new incarnation, so a new epoch)
    /// and, since its own controller has just applied the registration and
    /// so is caught up with it, unfences it at once; returns the epoch.
    pub fn register_broker(
        &self,
        id: i32,
        listeners: Vec<Endpoint>,
        rack: Option<String>,
    ) -> Result<i64, ControllerError> {
        let request = BrokerRegistration {
            id,
            incarnation_id: Uuid::new_v4(),
            listeners,
            rack,
        };
        let now = now_ms();
        let epoch = self
            .change(false, |image| {
                self.membership().register_broker(image, &request, now)
            })?
            .ok_or_else(|| storage_error("the broker registration was not written"))?;
        let heartbeat = Heartbeat {
            id,
            epoch,
            current_metadata_offset: epoch,
            want_fence: false,
            want_shutdown: false,
        };
        self.change(false, |image| {
            let (records, _) = self.membership().heartbeat(image, &heartbeat, now)?;
            Ok(records)
        })?;
        Ok(epoch)
    }

    /// Creates a topic; returns its id.
    pub fn create_topic(
        &self,
        topic: &NewTopic,
        validate_only: bool,
    ) -> Result<Uuid, ControllerError> {
        let id = Uuid::new_v4();
        self.change(validate_only, |image| {
            controller::create_topic(image, topic, self.defaults, id)
        })?;
        Ok(id)
    }

    pub fn delete_topic(&self, name: &str) -> Result<(), ControllerError> {
        self.change(false, |image| controller::delete_topic(image, name))
            .map(|_| ())
    }

    pub fn create_partitions(
        &self,
        name: &str,
        count: i32,
        assignments: Option<&[Vec<i32>]>,
        validate_only: bool,
    ) -> Result<(), ControllerError> {
        self.change(validate_only, |image| {
            controller::create_partitions(image, name, count, assignments)
        })
        .map(|_| ())
    }

    pub fn alter_topic_configs(
        &self,
        name: &str,
        changes: &[(String, Option<String>)],
        validate_only: bool,
    ) -> Result<(), ControllerError> {
        self.change(validate_only, |image| {
            controller::alter_topic_configs(image, name, changes)
        })
        .map(|_| ())
    }

    /// Dynamic broker config changes for `resource` (this broker or the
    /// cluster default): `decide` turns its current dynamic configs into
    /// (key, new value) changes or a refusal (code, message).
    pub fn alter_broker_configs(
        &self,
        resource: &ConfigResource,
        validate_only: bool,
        decide: impl FnOnce(
            &BTreeMap<String, String>,
        ) -> Result<Vec<(String, Option<String>)>, (i16, String)>,
    ) -> Result<(), (i16, String)> {
        self.change(validate_only, |image| {
            let empty = BTreeMap::new();
            let current = match resource {
                ConfigResource::Broker(id) => image.broker_configs.get(id).unwrap_or(&empty),
                _ => &image.broker_default_configs,
            };
            let changes =
                decide(current).map_err(|(code, message)| ControllerError { code, message })?;
            controller::alter_broker_configs(resource, &changes)
        })
        .map(|_| ())
        .map_err(|e| (e.code, e.message))
    }

    /// A producer id never handed out before, on this broker or any other,
    /// before or after a restart: ids come from blocks recorded in the
    /// metadata log.
    pub fn next_producer_id(&self, broker: i32) -> Result<i64, ControllerError> {
        let mut block = self.producer_ids.lock().unwrap_or_else(|p| p.into_inner());
        if block.0 >= block.1 {
            let mut start = 0;
            self.change(false, |image| {
                let (first, records) = controller::allocate_producer_ids(image, broker);
                start = first;
                Ok(records)
            })?;
            *block = (start, start + controller::PRODUCER_ID_BLOCK_SIZE);
        }
        let id = block.0;
        block.0 += 1;
        Ok(id)
    }

    pub fn defaults(&self) -> TopicDefaults {
        self.defaults
    }

    /// The metadata log's end offset (every commit is fsynced, so it is
    /// also the high watermark); `None` once shut down.
    pub fn metadata_end_offset(&self) -> Option<i64> {
        let log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        log.as_ref().map(|l| l.end_offset())
    }

    pub fn shutdown(&self) {
        if let Some(log) = self.log.lock().unwrap_or_else(|p| p.into_inner()).take() {
            if let Err(err) = log.close() {
                tracing::error!(%err, "closing the metadata log failed");
            }
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn storage_error(message: &str) -> ControllerError {
    ControllerError {
        code: KAFKA_STORAGE_ERROR,
        message: message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_image_is_rebuilt_from_the_records_committed_before() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, image) = open_metadata_log(dir.path(), false).unwrap();
        assert!(image.topics.is_empty());
        let id = Uuid::from_u128(1);
        let records = [
            MetadataRecord::Topic {
                name: "t".into(),
                id,
            },
            MetadataRecord::Partition {
                topic_id: id,
                partition: 0,
                replicas: vec![1],
                isr: vec![1],
                leader: 1,
                leader_epoch: 0,
                partition_epoch: 0,
            },
        ];
        log.commit(&[encode_batch(&records)]).unwrap();
        drop(log); // a crash: no close

        let (_, image) = open_metadata_log(dir.path(), true).unwrap();
        assert_eq!(image.topics.keys().collect::<Vec<_>>(), vec!["t"]);
        assert_eq!(image.topic("t").unwrap().partitions.len(), 1);
    }

    #[test]
    fn logs_written_one_record_per_entry_still_replay() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = open_metadata_log(dir.path(), false).unwrap();
        let id = Uuid::from_u128(1);
        let topic = MetadataRecord::Topic {
            name: "t".into(),
            id,
        };
        let remove = MetadataRecord::RemoveTopic { id };
        log.commit(&[topic.encode()]).unwrap();
        log.commit(&[encode_batch(&[remove, topic])]).unwrap();
        log.close().unwrap();
        let (_, image) = open_metadata_log(dir.path(), false).unwrap();
        assert_eq!(image.topic("t").unwrap().id, id);
        assert_eq!(image.next_offset, 2);
    }

    #[test]
    fn an_undecodable_record_stops_the_replay() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = open_metadata_log(dir.path(), false).unwrap();
        log.commit(&[bytes::Bytes::from_static(&[99, 0, 1])])
            .unwrap();
        log.close().unwrap();
        assert!(matches!(
            open_metadata_log(dir.path(), false),
            Err(QuorumError::Corrupt { offset: 0, .. })
        ));
    }
}
