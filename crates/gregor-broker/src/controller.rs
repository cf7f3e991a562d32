//! The controller as handlers see it: the metadata image this node has
//! applied, and metadata changes. A change is decided by a pure function
//! in `gregor-metadata` against the latest image and committed through the
//! quorum when this node is the active controller (it leads the quorum);
//! otherwise the change is refused with NOT_CONTROLLER and the caller
//! forwards the request to the active controller (or, for the few changes
//! a broker makes on its own behalf, this module forwards them).

use crate::cluster::controller_channel::ControllerChannel;
use crate::cluster::metadata_plane::{CommitError, MetadataPlane};
use gregor_metadata::alter_partition::{alter_isr_records, check_sender, IsrChange};
use gregor_metadata::controller::{self, ControllerError, NewTopic, TopicDefaults};
use gregor_metadata::membership::{
    Arrivals, BrokerRegistration, Heartbeat, HeartbeatReply, HeartbeatTracker,
};
use gregor_metadata::{
    encode_batch, ConfigResource, MetadataImage, MetadataRecord, PartitionImage,
};
use gregor_protocol::error_codes::{KAFKA_STORAGE_ERROR, NOT_CONTROLLER, REQUEST_TIMED_OUT};
use gregor_raft::kraft::Role;
use kafka_protocol::messages::{
    AllocateProducerIdsRequest, ApiKey, BrokerId, RequestKind, ResponseKind,
};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use uuid::Uuid;

mod leadership;
pub use leadership::LeadershipSettings;

/// How long a change may wait to be committed and applied.
const COMMIT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long after a broker's connection closed its listeners are probed.
const DEPARTURE_GRACE: Duration = Duration::from_millis(20);

/// How long a probe of a departed broker's listener may take: a live but
/// slow or unreachable broker is never taken for a dead one.
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);

/// AllocateProducerIds v0 is all Kafka has.
const ALLOCATE_PRODUCER_IDS_VERSION: i16 = 0;
const CREATE_TOPICS_VERSION: i16 = 7;

pub struct Controller {
    plane: Arc<MetadataPlane>,
    /// Whether this node is a quorum voter that can become active.
    is_controller: bool,
    /// Serialises changes and holds what only the active controller
    /// knows; rebuilt whenever this node starts a new term as leader.
    state: Mutex<ActiveState>,
    /// When each broker's latest heartbeat arrived, written before the
    /// heartbeat waits for `state`: session expiry counts a heartbeat still
    /// queued behind slow changes (as Kafka's trackBrokerHeartbeat).
    arrivals: Mutex<Arrivals>,
    /// The unused rest of this broker's current producer-id block: [next, end).
    producer_ids: Mutex<(i64, i64)>,
    defaults: TopicDefaults,
    session_timeout_ms: i64,
    channel: Arc<ControllerChannel>,
    leadership: LeadershipSettings,
    /// When the leadership timers last ran (rebalance, unclean election).
    leadership_timers: Mutex<leadership::Timers>,
    /// Records a new cluster starts with (bootstrap SCRAM users), written
    /// with its first metadata change.
    bootstrap: Vec<MetadataRecord>,
}

struct ActiveState {
    /// The quorum epoch the tracker belongs to.
    epoch: Option<u32>,
    heartbeats: HeartbeatTracker,
}

impl Controller {
    pub fn new(
        plane: Arc<MetadataPlane>,
        is_controller: bool,
        defaults: TopicDefaults,
        session_timeout_ms: i64,
        channel: Arc<ControllerChannel>,
    ) -> Controller {
        Controller {
            plane,
            is_controller,
            state: Mutex::new(ActiveState {
                epoch: None,
                heartbeats: HeartbeatTracker::new(session_timeout_ms, false),
            }),
            arrivals: Mutex::new(Arrivals::new()),
            producer_ids: Mutex::new((0, 0)),
            defaults,
            session_timeout_ms,
            channel,
            leadership: LeadershipSettings::default(),
            leadership_timers: Mutex::new(leadership::Timers::default()),
            bootstrap: Vec::new(),
        }
    }

    /// Records to write with the first metadata change of a new cluster,
    /// as `kafka-storage format` puts them in the bootstrap checkpoint.
    pub fn with_bootstrap(mut self, records: Vec<MetadataRecord>) -> Controller {
        self.bootstrap = records;
        self
    }

    /// The leadership timers and the unclean election default
    /// (`unclean.leader.election.enable`) this controller applies.
    pub fn with_leadership(mut self, settings: LeadershipSettings) -> Controller {
        self.leadership = settings;
        self
    }

    /// The current metadata image (a consistent snapshot).
    pub fn image(&self) -> Arc<MetadataImage> {
        self.plane.image()
    }

    pub fn plane(&self) -> &Arc<MetadataPlane> {
        &self.plane
    }

    pub fn channel(&self) -> &Arc<ControllerChannel> {
        &self.channel
    }

    /// The active controller's id, if one is known.
    pub fn active_controller(&self) -> Option<i32> {
        let status = self.plane.status();
        // A leader that resigned still names itself for its epoch, but can
        // no longer commit: until a successor is known there is none.
        if status.leader == Some(self.plane.node_id()) && status.role != Role::Leader {
            return None;
        }
        status.leader
    }

    /// Whether this node is the active controller.
    pub fn is_active(&self) -> bool {
        self.is_controller && self.active_controller() == Some(self.plane.node_id())
    }

    /// Decides with `decide` against the latest image and, unless
    /// `validate_only`, commits the records and waits until they are
    /// applied here. Holding the state lock for the whole step serialises
    /// changes, so each decision sees every change before it.
    fn change<T>(
        &self,
        validate_only: bool,
        decide: impl FnOnce(
            &MetadataImage,
            &mut HeartbeatTracker,
        ) -> Result<(Vec<MetadataRecord>, T), ControllerError>,
    ) -> Result<(Vec<MetadataRecord>, T, Option<u64>), ControllerError> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let status = self.plane.status();
        if !self.is_controller || status.leader != Some(self.plane.node_id()) {
            return Err(not_controller());
        }
        if state.epoch != Some(status.epoch) {
            // A new term: every broker gets a fresh session, as in Kafka.
            state.epoch = Some(status.epoch);
            state.heartbeats =
                HeartbeatTracker::new(self.session_timeout_ms, self.leadership.unclean_default);
        }
        // Decide on everything committed before: a new leader first applies
        // what its predecessors committed.
        if !self
            .plane
            .wait_applied(status.high_watermark, COMMIT_TIMEOUT)
        {
            return Err(timed_out());
        }
        let current = self.image();
        let (records, value) = decide(&current, &mut state.heartbeats)?;
        if validate_only || records.is_empty() {
            return Ok((records, value, None));
        }
        let batch = if current.next_offset == 0 {
            // The first change of a newly formatted cluster finalizes the
            // feature levels it starts at, as `kafka-storage format` does
            // (Kafka 4.4 turns eligible leader replicas on for new clusters).
            let mut batch = vec![MetadataRecord::FeatureLevel {
                name: gregor_metadata::elr::FEATURE.to_string(),
                level: gregor_metadata::elr::DEFAULT_LEVEL,
            }];
            batch.extend(self.bootstrap.iter().cloned());
            batch.extend(records.iter().cloned());
            encode_batch(&batch)
        } else {
            encode_batch(&records)
        };
        let offset = self
            .plane
            .commit(batch, COMMIT_TIMEOUT)
            .map_err(commit_error)?;
        Ok((records, value, Some(offset)))
    }

    fn simple_change(
        &self,
        validate_only: bool,
        decide: impl FnOnce(&MetadataImage) -> Result<Vec<MetadataRecord>, ControllerError>,
    ) -> Result<Vec<MetadataRecord>, ControllerError> {
        self.change(validate_only, |image, _| Ok((decide(image)?, ())))
            .map(|(records, (), _)| records)
    }

    /// BrokerRegistration: the new broker epoch (the registration's offset).
    pub fn register_broker(&self, request: &BrokerRegistration) -> Result<i64, ControllerError> {
        let now = crate::clock::now_ms();
        let (_, (), offset) = self.change(false, |image, heartbeats| {
            Ok((heartbeats.register_broker(image, request, now)?, ()))
        })?;
        offset.map(|o| o as i64).ok_or_else(|| ControllerError {
            code: error_codes_unknown(),
            message: "the registration was not written".into(),
        })
    }

    /// BrokerHeartbeat: the reply, once any fencing change it caused is
    /// committed.
    pub fn heartbeat(&self, request: &Heartbeat) -> Result<HeartbeatReply, ControllerError> {
        let now = crate::clock::now_ms();
        self.arrivals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(request.id, (request.epoch, now));
        self.change(false, |image, heartbeats| {
            heartbeats.heartbeat(image, request, now)
        })
        .map(|(_, reply, _)| reply)
    }

    /// ControllerRegistration: records where controller `id` listens.
    pub fn register_controller(
        &self,
        id: i32,
        incarnation_id: Uuid,
        listeners: Vec<gregor_metadata::Endpoint>,
    ) -> Result<(), ControllerError> {
        self.simple_change(false, |_| {
            Ok(gregor_metadata::membership::register_controller(
                id,
                incarnation_id,
                listeners,
            ))
        })
        .map(|_| ())
    }

    /// Fences brokers whose sessions expired (the active controller's timer).
    pub fn expire_sessions(&self) {
        if !self.is_active() {
            return;
        }
        let now = crate::clock::now_ms();
        let result = self.change(false, |image, heartbeats| {
            let arrivals = self
                .arrivals
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            Ok((heartbeats.expire(image, now, &arrivals), ()))
        });
        if let Err(err) = result {
            tracing::debug!(code = err.code, message = %err.message, "session expiry not applied");
        }
    }

    /// A broker's heartbeat connection to this controller closed. When
    /// nothing listens any more on any endpoint it registered, its process
    /// is gone (kill -9 closes its connections and its listening sockets
    /// together), so it is fenced now rather than after
    /// `broker.session.timeout.ms`: its partitions fail over in
    /// milliseconds. A paused or cut-off broker still holds its listening
    /// sockets (connections are not refused), so it keeps its session and
    /// is fenced only when the session expires, as in Kafka. Blocking (it
    /// connects and commits): call it off the async runtime.
    pub fn broker_connection_closed(&self, id: i32, epoch: i64) {
        if !self.is_active() {
            return;
        }
        let image = self.image();
        let Some(broker) = image.brokers.get(&id) else {
            return;
        };
        if broker.fenced || broker.epoch != epoch {
            return;
        }
        // Let a dying process finish closing its sockets.
        std::thread::sleep(DEPARTURE_GRACE);
        let gone = !broker.listeners.is_empty()
            && broker
                .listeners
                .iter()
                .all(|e| u16::try_from(e.port).is_ok_and(|port| nothing_listens(&e.host, port)));
        if !gone {
            return;
        }
        let now = crate::clock::now_ms();
        let result = self.change(false, |image, heartbeats| {
            Ok((heartbeats.fence_departed(image, id, epoch, now), ()))
        });
        match result {
            Ok((records, (), _)) if !records.is_empty() => {
                tracing::info!(broker = id, epoch, "fenced a broker whose process is gone (connection closed, its listeners refuse connections)");
            }
            Ok(_) => {}
            Err(err) => {
                tracing::debug!(broker = id, code = err.code, message = %err.message, "departed broker not fenced");
            }
        }
    }

    /// Creates a topic; returns its id. A broker that is not the active
    /// controller forwards the creation (auto-created and internal topics).
    pub fn create_topic(
        &self,
        topic: &NewTopic,
        validate_only: bool,
    ) -> Result<Uuid, ControllerError> {
        let id = Uuid::new_v4();
        match self.simple_change(validate_only, |image| {
            controller::create_topic(image, topic, self.defaults, id)
        }) {
            Err(err) if err.code == NOT_CONTROLLER => {
                self.forward_create_topic(topic, validate_only)
            }
            other => other.map(|_| id),
        }
    }

    /// Creates the topics of one CreateTopics as one metadata change (see
    /// [`controller::create_topics`]): each topic's id or its refusal; an
    /// error for the whole request. A broker that is not the active
    /// controller forwards each topic.
    pub fn create_topics(
        &self,
        topics: &[NewTopic],
        validate_only: bool,
    ) -> Result<Vec<Result<Uuid, ControllerError>>, ControllerError> {
        if topics.is_empty() {
            return Ok(Vec::new());
        }
        let decided = self.change(validate_only, |image, _| {
            controller::create_topics(image, topics, self.defaults, Uuid::new_v4)
        });
        match decided {
            Err(err) if err.code == NOT_CONTROLLER => Ok(topics
                .iter()
                .map(|topic| self.forward_create_topic(topic, validate_only))
                .collect()),
            other => other.map(|(_, results, _)| results),
        }
    }

    /// CreateAcls: one result per ACL (`None` = created or already there).
    pub fn create_acls(
        &self,
        acls: &[gregor_metadata::acl::AclBinding],
    ) -> Result<Vec<gregor_metadata::acl_control::CreateResult>, ControllerError> {
        self.change(false, |image, _| {
            Ok(gregor_metadata::acl_control::create_acls(
                image,
                acls,
                Uuid::new_v4,
            ))
        })
        .map(|(_, results, _)| results)
    }

    /// DeleteAcls: per filter, the ACLs removed.
    pub fn delete_acls(
        &self,
        filters: &[gregor_metadata::acl::AclFilter],
    ) -> Result<Vec<gregor_metadata::acl_control::DeleteResult>, ControllerError> {
        self.change(false, |image, _| {
            Ok(gregor_metadata::acl_control::delete_acls(image, filters))
        })
        .map(|(_, results, _)| results)
    }

    pub fn delete_topic(&self, name: &str) -> Result<(), ControllerError> {
        self.simple_change(false, |image| controller::delete_topic(image, name))
            .map(|_| ())
    }

    pub fn create_partitions(
        &self,
        name: &str,
        count: i32,
        assignments: Option<&[Vec<i32>]>,
        validate_only: bool,
    ) -> Result<(), ControllerError> {
        self.simple_change(validate_only, |image| {
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
        self.simple_change(validate_only, |image| {
            controller::alter_topic_configs(image, name, changes)
        })?;
        if !validate_only && changes.iter().any(|(k, _)| k == leadership::UNCLEAN_KEY) {
            self.elect_unclean_leaders();
        }
        Ok(())
    }

    /// AlterUserScramCredentials, decided as Kafka's ScramControlManager;
    /// `derive` turns a SaltedPassword into StoredKey/ServerKey.
    pub fn alter_scram_credentials(
        &self,
        deletions: &[gregor_metadata::scram::Deletion],
        upsertions: &[gregor_metadata::scram::Upsertion],
        derive: gregor_metadata::scram::Derive<'_>,
    ) -> Result<Vec<gregor_metadata::scram::UserResult>, ControllerError> {
        self.change(false, |image, _| {
            Ok(gregor_metadata::scram::alter(
                image, deletions, upsertions, derive,
            ))
        })
        .map(|(_, results, _)| results)
    }

    /// AlterClientQuotas, decided as Kafka's ClientQuotaControlManager; the
    /// results follow the request's entries.
    pub fn alter_client_quotas(
        &self,
        alterations: &[gregor_metadata::client_quota::Alteration],
        validate_only: bool,
    ) -> Result<Vec<gregor_metadata::client_quota::AlterResult>, ControllerError> {
        self.change(validate_only, |image, _| {
            Ok(gregor_metadata::client_quota::alter(image, alterations))
        })
        .map(|(_, results, _)| results)
    }

    /// UpdateFeatures of `eligible.leader.replicas.version` (KIP-966).
    pub fn set_elr_level(&self, level: i16, validate_only: bool) -> Result<(), ControllerError> {
        self.simple_change(validate_only, |image| {
            Ok(gregor_metadata::elr::set_level(image, level))
        })
        .map(|_| ())
    }

    /// Dynamic broker config changes for `resource` (a broker or the
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
        self.simple_change(validate_only, |image| {
            let empty = BTreeMap::new();
            let current = match resource {
                ConfigResource::Broker(id) => image.broker_configs.get(id).unwrap_or(&empty),
                ConfigResource::Group(group) => image.group_configs.get(group).unwrap_or(&empty),
                ConfigResource::ClientMetrics(name) => {
                    image.client_metrics_configs.get(name).unwrap_or(&empty)
                }
                _ => &image.broker_default_configs,
            };
            let changes =
                decide(current).map_err(|(code, message)| ControllerError { code, message })?;
            let records = controller::alter_broker_configs(resource, &changes)?;
            Ok(gregor_metadata::elr::with_min_isr_effects(image, records))
        })
        .map_err(|e| (e.code, e.message))?;
        if !validate_only {
            // A cluster-wide unclean.leader.election.enable may now allow
            // leaderless partitions a leader.
            self.elect_unclean_leaders();
        }
        Ok(())
    }

    /// AlterPartition from partition leader `broker`: each change decided
    /// by Kafka's validation against the latest image, the accepted ones
    /// committed together. The whole request fails with
    /// STALE_BROKER_EPOCH when the sender's registration is not current.
    pub fn alter_partition(
        &self,
        broker: i32,
        broker_epoch: i64,
        changes: &[IsrChange],
        api_version: i16,
    ) -> Result<Vec<Result<PartitionImage, i16>>, ControllerError> {
        self.change(false, |image, _| {
            check_sender(image, broker, broker_epoch).map_err(|code| ControllerError {
                code,
                message: format!("broker {broker} epoch {broker_epoch} is not current"),
            })?;
            let mut records = Vec::new();
            let mut results = Vec::with_capacity(changes.len());
            for change in changes {
                // An ISR change that brings in the last target replica of a
                // reassignment also finishes it, in the same entry.
                match alter_isr_records(image, broker, change, api_version) {
                    Ok((changed, state)) => {
                        records.extend(changed);
                        results.push(Ok(state));
                    }
                    Err(code) => results.push(Err(code)),
                }
            }
            Ok((records, results))
        })
        .map(|(_, results, _)| results)
    }

    /// A block of producer ids for `broker` (AllocateProducerIds): its
    /// first id. Blocks are recorded in the metadata log, so no id is ever
    /// handed out twice, on any broker, across restarts.
    pub fn allocate_producer_ids(&self, broker: i32) -> Result<i64, ControllerError> {
        self.change(false, |image, _| {
            let (first, records) = controller::allocate_producer_ids(image, broker);
            Ok((records, first))
        })
        .map(|(_, first, _)| first)
    }

    /// A producer id never handed out before.
    pub fn next_producer_id(&self, broker: i32) -> Result<i64, ControllerError> {
        let mut block = self.producer_ids.lock().unwrap_or_else(|p| p.into_inner());
        if block.0 >= block.1 {
            let start = match self.allocate_producer_ids(broker) {
                Err(err) if err.code == NOT_CONTROLLER => self.forward_allocate(broker)?,
                other => other?,
            };
            *block = (start, start + controller::PRODUCER_ID_BLOCK_SIZE);
        }
        let id = block.0;
        block.0 += 1;
        Ok(id)
    }

    pub fn defaults(&self) -> TopicDefaults {
        self.defaults
    }

    /// The offset just past the last metadata entry applied here.
    pub fn metadata_end_offset(&self) -> Option<i64> {
        Some(self.plane.applied() as i64)
    }

    pub fn shutdown(&self) {
        self.plane.shutdown();
    }

    /// Sends a request to the active controller from a synchronous caller.
    fn forward(
        &self,
        key: ApiKey,
        version: i16,
        body: RequestKind,
    ) -> Result<ResponseKind, ControllerError> {
        let leader = self.active_controller().ok_or_else(not_controller)?;
        if leader == self.plane.node_id() {
            // Leadership moved while deciding: the client retries.
            return Err(not_controller());
        }
        let channel = self.channel.clone();
        self.plane
            .block_on(
                async move { channel.call(leader, key, version, body).await },
                COMMIT_TIMEOUT,
            )
            .ok_or_else(timed_out)?
            .map_err(|err| {
                // Routine while a new controller is elected; clients retry.
                tracing::debug!(
                    ?key,
                    controller = leader,
                    "cannot reach the active controller: {err:#}"
                );
                ControllerError {
                    code: NOT_CONTROLLER,
                    message: format!("cannot reach the active controller: {err:#}"),
                }
            })
    }

    fn forward_create_topic(
        &self,
        topic: &NewTopic,
        validate_only: bool,
    ) -> Result<Uuid, ControllerError> {
        let request = crate::handlers::create_topics::request_for(topic, validate_only);
        let response = self.forward(
            ApiKey::CreateTopics,
            CREATE_TOPICS_VERSION,
            RequestKind::CreateTopics(request),
        )?;
        let ResponseKind::CreateTopics(response) = response else {
            return Err(not_controller());
        };
        let result = response.topics.first().ok_or_else(not_controller)?;
        if result.error_code != 0 {
            return Err(ControllerError {
                code: result.error_code,
                message: result
                    .error_message
                    .as_ref()
                    .map(|m| m.to_string())
                    .unwrap_or_default(),
            });
        }
        Ok(result.topic_id)
    }

    fn forward_allocate(&self, broker: i32) -> Result<i64, ControllerError> {
        let epoch = self.image().brokers.get(&broker).map_or(-1, |b| b.epoch);
        let request = AllocateProducerIdsRequest::default()
            .with_broker_id(BrokerId(broker))
            .with_broker_epoch(epoch);
        let response = self.forward(
            ApiKey::AllocateProducerIds,
            ALLOCATE_PRODUCER_IDS_VERSION,
            RequestKind::AllocateProducerIds(request),
        )?;
        let ResponseKind::AllocateProducerIds(response) = response else {
            return Err(not_controller());
        };
        if response.error_code != 0 {
            return Err(ControllerError {
                code: response.error_code,
                message: "the controller refused a producer id block".into(),
            });
        }
        Ok(response.producer_id_start.0)
    }
}

fn not_controller() -> ControllerError {
    ControllerError {
        code: NOT_CONTROLLER,
        message: "This node is not the active controller.".into(),
    }
}

fn timed_out() -> ControllerError {
    ControllerError {
        code: REQUEST_TIMED_OUT,
        message: "The metadata change was not committed in time.".into(),
    }
}

fn error_codes_unknown() -> i16 {
    KAFKA_STORAGE_ERROR
}

fn commit_error(err: CommitError) -> ControllerError {
    match err {
        CommitError::NotLeader(_) => not_controller(),
        CommitError::TimedOut => timed_out(),
        CommitError::Unavailable(message) => ControllerError {
            code: KAFKA_STORAGE_ERROR,
            message,
        },
    }
}

/// True only when `host:port` resolves and every address actively refuses
/// a connection: nothing listens there. Timeouts and other errors say
/// nothing about the process, so they count as "maybe alive".
fn nothing_listens(host: &str, port: u16) -> bool {
    use std::net::{TcpStream, ToSocketAddrs};
    let Ok(addresses) = (host, port).to_socket_addrs() else {
        return false;
    };
    let addresses: Vec<_> = addresses.collect();
    !addresses.is_empty()
        && addresses.iter().all(|address| {
            matches!(
                TcpStream::connect_timeout(address, PROBE_TIMEOUT),
                Err(err) if err.kind() == std::io::ErrorKind::ConnectionRefused
            )
        })
}
