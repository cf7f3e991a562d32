//! Broker membership decisions of the active controller: registration,
//! heartbeats, session expiry and controlled shutdown, after Kafka's
//! `ClusterControlManager`, `BrokerHeartbeatManager` and
//! `ReplicationControlManager`.
//!
//! The metadata image holds what every node agrees on (registrations,
//! fencing, leaders); the [`HeartbeatTracker`] holds what only the active
//! controller knows and need not survive it (when each broker was last heard
//! from, how far its metadata got). A new active controller starts a fresh
//! tracker: every broker gets a full session from then, as in Kafka. Time
//! is always passed in (`now_ms`), so all of it is testable without clocks.

use crate::controller::ControllerError;
use crate::election::{leads_any, reelect_for, remove_unclean_for, Change};
use crate::record::Endpoint;
use crate::{MetadataImage, MetadataRecord};
use gregor_protocol::error_codes;
use std::collections::BTreeMap;
use uuid::Uuid;

/// When each broker's latest heartbeat reached the active controller, by
/// broker id: (broker epoch, ms). Kept apart from the [`HeartbeatTracker`]
/// because it is written as a heartbeat arrives, before the heartbeat waits
/// its turn for a decision, as Kafka's controller tracks contact times.
pub type Arrivals = BTreeMap<i32, (i64, i64)>;

/// Kafka's `broker.session.timeout.ms` default.
pub const DEFAULT_SESSION_TIMEOUT_MS: i64 = 9000;

/// A BrokerRegistration request, as far as the controller decides on it
/// (the cluster id check is the caller's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerRegistration {
    pub id: i32,
    pub incarnation_id: Uuid,
    pub listeners: Vec<Endpoint>,
    pub rack: Option<String>,
    /// The broker epoch the process last shut down cleanly at (Kafka's
    /// PreviousBrokerEpoch), -1 when it did not: a restart that does not
    /// name its last registration's epoch was unclean.
    pub previous_broker_epoch: i64,
}

/// A BrokerHeartbeat request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heartbeat {
    pub id: i32,
    pub epoch: i64,
    /// The offset of the last metadata entry the broker has applied.
    pub current_metadata_offset: i64,
    pub want_fence: bool,
    pub want_shutdown: bool,
}

/// The BrokerHeartbeat response's flags, as they stand once the records
/// that come with it are committed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeartbeatReply {
    pub is_caught_up: bool,
    pub is_fenced: bool,
    pub in_controlled_shutdown: bool,
    pub should_shutdown: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Fenced,
    Unfenced,
    ControlledShutdown,
    ShutdownNow,
}

#[derive(Debug, Clone)]
struct Session {
    /// The registration this session belongs to; `None` between deciding a
    /// registration and seeing it in the image.
    epoch: Option<i64>,
    incarnation_id: Uuid,
    last_contact_ms: i64,
    /// Heard from by this controller (not merely found in the image): only
    /// such a session blocks another incarnation from registering.
    heard: bool,
    metadata_offset: i64,
    controlled_shutdown_offset: Option<i64>,
}

/// The active controller's in-memory view of broker liveness.
#[derive(Debug, Clone)]
pub struct HeartbeatTracker {
    session_timeout_ms: i64,
    /// `unclean.leader.election.enable` for topics that do not set it.
    unclean_leader_election: bool,
    sessions: BTreeMap<i32, Session>,
}

fn refuse(code: i16, message: String) -> ControllerError {
    ControllerError { code, message }
}

impl HeartbeatTracker {
    pub fn new(session_timeout_ms: i64, unclean_leader_election: bool) -> HeartbeatTracker {
        HeartbeatTracker {
            session_timeout_ms,
            unclean_leader_election,
            sessions: BTreeMap::new(),
        }
    }

    /// The session of the broker's current registration in `image`; one
    /// first seen here starts now (a fresh controller's grace period).
    fn session(&mut self, image: &MetadataImage, id: i32, now_ms: i64) -> Option<&mut Session> {
        let broker = image.brokers.get(&id)?;
        let fresh = Session {
            epoch: Some(broker.epoch),
            incarnation_id: broker.incarnation_id,
            last_contact_ms: now_ms,
            heard: false,
            metadata_offset: -1,
            controlled_shutdown_offset: None,
        };
        let session = self.sessions.entry(id).or_insert_with(|| fresh.clone());
        match session.epoch {
            Some(epoch) if epoch == broker.epoch => {}
            // The registration this controller decided is now in the image.
            None if session.incarnation_id == broker.incarnation_id => {
                session.epoch = Some(broker.epoch);
            }
            _ => *session = fresh,
        }
        Some(session)
    }

    fn valid(&self, session: &Session, now_ms: i64) -> bool {
        session.heard
            && now_ms
                <= session
                    .last_contact_ms
                    .saturating_add(self.session_timeout_ms)
    }

    /// Whether broker `id` was heard from within the session timeout.
    pub fn has_valid_session(&self, id: i32, now_ms: i64) -> bool {
        self.sessions
            .get(&id)
            .is_some_and(|s| self.valid(s, now_ms))
    }

    /// Decides a BrokerRegistration: DUPLICATE_BROKER_REGISTRATION while
    /// another incarnation of the id holds a live session; otherwise a
    /// RegisterBroker record (fenced; its epoch will be the entry's offset).
    /// A broker that was registered before loses its leaderships and ISR
    /// places in the same change, since its new process starts fenced.
    pub fn register_broker(
        &mut self,
        image: &MetadataImage,
        request: &BrokerRegistration,
        now_ms: i64,
    ) -> Result<Vec<MetadataRecord>, ControllerError> {
        if let Some(existing) = image.brokers.get(&request.id) {
            let live = self
                .sessions
                .get(&request.id)
                .is_some_and(|s| self.valid(s, now_ms));
            if live && existing.incarnation_id != request.incarnation_id {
                return Err(refuse(
                    error_codes::DUPLICATE_BROKER_REGISTRATION,
                    "Another broker is registered with that broker id.".into(),
                ));
            }
        }
        let mut change = Change::new(image);
        change.push(MetadataRecord::RegisterBroker {
            id: request.id,
            incarnation_id: request.incarnation_id,
            listeners: request.listeners.clone(),
            rack: request.rack.clone(),
        });
        if let Some(existing) = image.brokers.get(&request.id) {
            if request.previous_broker_epoch != existing.epoch {
                // First out of the ELRs it was in (Kafka's unclean shutdown
                // handling), then out of the ISRs as any restart: a broker
                // that crashed while in the ISR may still be elected, as it
                // is in Kafka, where a quick restart leaves it the leader.
                remove_unclean_for(&mut change, request.id, self.unclean_leader_election);
            }
            reelect_for(&mut change, request.id, true, self.unclean_leader_election);
        }
        self.sessions.insert(
            request.id,
            Session {
                epoch: None,
                incarnation_id: request.incarnation_id,
                last_contact_ms: now_ms,
                heard: true,
                metadata_offset: -1,
                controlled_shutdown_offset: None,
            },
        );
        Ok(change.records)
    }

    /// Decides a BrokerHeartbeat (STALE_BROKER_EPOCH for an unknown broker
    /// or another registration's epoch). A fenced broker is unfenced once
    /// its metadata has reached its own registration; an unfenced one asking
    /// to shut down enters controlled shutdown while it leads anything and
    /// may shut down once it leads nothing and every active broker has seen
    /// that; one asking to be fenced is.
    pub fn heartbeat(
        &mut self,
        image: &MetadataImage,
        request: &Heartbeat,
        now_ms: i64,
    ) -> Result<(Vec<MetadataRecord>, HeartbeatReply), ControllerError> {
        let id = request.id;
        let Some(broker) = image.brokers.get(&id) else {
            return Err(refuse(
                error_codes::STALE_BROKER_EPOCH,
                format!("No broker registration found for broker id {id}"),
            ));
        };
        if broker.epoch != request.epoch {
            return Err(refuse(
                error_codes::STALE_BROKER_EPOCH,
                format!(
                    "Expected broker epoch {}, but got broker epoch {}",
                    broker.epoch, request.epoch
                ),
            ));
        }
        let current = if broker.fenced {
            State::Fenced
        } else if broker.in_controlled_shutdown {
            State::ControlledShutdown
        } else {
            State::Unfenced
        };
        let caught_up = request.current_metadata_offset >= broker.epoch;
        let next = match current {
            State::Fenced if request.want_shutdown => State::ShutdownNow,
            State::Fenced if !request.want_fence && caught_up => State::Unfenced,
            State::Fenced => State::Fenced,
            State::Unfenced if request.want_fence && request.want_shutdown => State::ShutdownNow,
            State::Unfenced if request.want_fence => State::Fenced,
            State::Unfenced if request.want_shutdown && leads_any(image, id) => {
                State::ControlledShutdown
            }
            State::Unfenced if request.want_shutdown => State::ShutdownNow,
            State::Unfenced => State::Unfenced,
            State::ControlledShutdown | State::ShutdownNow => {
                self.controlled_shutdown_state(image, id, now_ms)
            }
        };

        let mut change = Change::new(image);
        let change_record = |fenced: Option<bool>, in_controlled_shutdown: bool| {
            MetadataRecord::BrokerRegistrationChange {
                id,
                epoch: broker.epoch,
                fenced,
                in_controlled_shutdown,
            }
        };
        match next {
            _ if next == current => {}
            State::Unfenced => {
                change.push(change_record(Some(false), false));
                reelect_for(&mut change, id, false, self.unclean_leader_election);
            }
            State::ControlledShutdown => {
                change.push(change_record(None, true));
                reelect_for(&mut change, id, true, self.unclean_leader_election);
            }
            State::Fenced | State::ShutdownNow if !broker.fenced => {
                change.push(change_record(Some(true), false));
                reelect_for(&mut change, id, true, self.unclean_leader_election);
            }
            State::Fenced | State::ShutdownNow => {}
        }

        let fenced = matches!(next, State::Fenced | State::ShutdownNow);
        if let Some(session) = self.session(image, id, now_ms) {
            session.last_contact_ms = now_ms;
            session.heard = next != State::ShutdownNow;
            session.metadata_offset = request.current_metadata_offset;
            if fenced {
                session.controlled_shutdown_offset = None;
            }
        }
        let reply = HeartbeatReply {
            is_caught_up: caught_up,
            is_fenced: fenced,
            in_controlled_shutdown: next == State::ControlledShutdown,
            should_shutdown: next == State::ShutdownNow,
        };
        Ok((change.records, reply))
    }

    /// A broker in controlled shutdown may go once it leads nothing and
    /// every active broker has applied the metadata that says so.
    fn controlled_shutdown_state(&mut self, image: &MetadataImage, id: i32, now_ms: i64) -> State {
        if leads_any(image, id) {
            return State::ControlledShutdown;
        }
        let last_offset = image.next_offset - 1;
        let Some(session) = self.session(image, id, now_ms) else {
            return State::ControlledShutdown;
        };
        let shutdown_offset = *session
            .controlled_shutdown_offset
            .get_or_insert(last_offset);
        let active: Vec<i32> = image
            .brokers
            .values()
            .filter(|b| b.is_active())
            .map(|b| b.id)
            .collect();
        let lowest = active
            .into_iter()
            .filter_map(|b| self.session(image, b, now_ms).map(|s| s.metadata_offset))
            .min()
            .unwrap_or(i64::MAX);
        if shutdown_offset <= lowest {
            State::ShutdownNow
        } else {
            State::ControlledShutdown
        }
    }

    /// Fences every unfenced broker not heard from for the session timeout
    /// (Kafka's stale-broker fencing), moving its leaderships to active ISR
    /// members. A heartbeat counts from when it reached the controller
    /// (`arrivals`), not from when it was decided: one queued behind slow
    /// metadata changes still keeps its broker's session. Empty when nobody
    /// expired.
    pub fn expire(
        &mut self,
        image: &MetadataImage,
        now_ms: i64,
        arrivals: &Arrivals,
    ) -> Vec<MetadataRecord> {
        let unfenced: Vec<(i32, i64)> = image
            .brokers
            .values()
            .filter(|b| !b.fenced)
            .map(|b| (b.id, b.epoch))
            .collect();
        let mut change = Change::new(image);
        for (id, epoch) in unfenced {
            let timeout = self.session_timeout_ms;
            let Some(session) = self.session(image, id, now_ms) else {
                continue;
            };
            let arrived = arrivals
                .get(&id)
                .filter(|(at_epoch, _)| *at_epoch == epoch)
                .map_or(i64::MIN, |(_, at)| *at);
            if now_ms <= session.last_contact_ms.max(arrived).saturating_add(timeout) {
                continue;
            }
            self.fence_into(&mut change, image, id, epoch, now_ms);
        }
        change.records
    }

    /// Fences broker `id` at once if `epoch` is still its registration and
    /// it is unfenced: the controller has seen its process go (its
    /// connection closed and nothing listens where it registered), so
    /// waiting out the session would only delay the failover. Empty when
    /// the broker is already fenced or registered again since.
    pub fn fence_departed(
        &mut self,
        image: &MetadataImage,
        id: i32,
        epoch: i64,
        now_ms: i64,
    ) -> Vec<MetadataRecord> {
        let current = image
            .brokers
            .get(&id)
            .is_some_and(|b| !b.fenced && b.epoch == epoch);
        if !current {
            return Vec::new();
        }
        let mut change = Change::new(image);
        self.fence_into(&mut change, image, id, epoch, now_ms);
        change.records
    }

    /// Fences `id` in `change` and moves its leaderships (and ISR places)
    /// to the other active replicas.
    fn fence_into(
        &mut self,
        change: &mut Change,
        image: &MetadataImage,
        id: i32,
        epoch: i64,
        now_ms: i64,
    ) {
        if let Some(session) = self.session(image, id, now_ms) {
            session.heard = false;
            session.controlled_shutdown_offset = None;
        }
        change.push(MetadataRecord::BrokerRegistrationChange {
            id,
            epoch,
            fenced: Some(true),
            in_controlled_shutdown: false,
        });
        reelect_for(change, id, true, self.unclean_leader_election);
    }

    /// Decides an UnregisterBroker (BROKER_ID_NOT_REGISTERED if unknown):
    /// the broker leaves every ISR it can and its registration goes.
    pub fn unregister_broker(
        &mut self,
        image: &MetadataImage,
        id: i32,
    ) -> Result<Vec<MetadataRecord>, ControllerError> {
        let Some(broker) = image.brokers.get(&id) else {
            return Err(refuse(
                error_codes::BROKER_ID_NOT_REGISTERED,
                format!("Broker ID {id} is not currently registered"),
            ));
        };
        let mut change = Change::new(image);
        change.push(MetadataRecord::UnregisterBroker {
            id,
            epoch: broker.epoch,
        });
        reelect_for(&mut change, id, true, self.unclean_leader_election);
        self.sessions.remove(&id);
        Ok(change.records)
    }
}

/// Decides a ControllerRegistration: the controller's listeners, listed by
/// DescribeCluster for the controller endpoint type.
pub fn register_controller(
    id: i32,
    incarnation_id: Uuid,
    listeners: Vec<Endpoint>,
) -> Vec<MetadataRecord> {
    vec![MetadataRecord::RegisterController {
        id,
        incarnation_id,
        listeners,
    }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::{create_topic, NewTopic, TopicDefaults};
    use gregor_protocol::error_codes::{
        BROKER_ID_NOT_REGISTERED, DUPLICATE_BROKER_REGISTRATION, STALE_BROKER_EPOCH,
    };

    /// An image and a tracker, committing each change as the next entry.
    struct Cluster {
        image: MetadataImage,
        tracker: HeartbeatTracker,
        now: i64,
    }

    impl Cluster {
        fn new() -> Cluster {
            Cluster {
                image: MetadataImage::default(),
                tracker: HeartbeatTracker::new(DEFAULT_SESSION_TIMEOUT_MS, false),
                now: 1_000,
            }
        }

        fn commit(&mut self, records: &[MetadataRecord]) -> i64 {
            let offset = self.image.next_offset;
            self.image.apply_entry(offset, records);
            offset
        }

        fn register(&mut self, id: i32, incarnation: u128) -> Result<i64, ControllerError> {
            self.restart(id, incarnation, -1)
        }

        /// A registration naming the epoch the process shut down cleanly at.
        fn restart(
            &mut self,
            id: i32,
            incarnation: u128,
            previous_broker_epoch: i64,
        ) -> Result<i64, ControllerError> {
            let request = BrokerRegistration {
                id,
                incarnation_id: Uuid::from_u128(incarnation),
                listeners: vec![],
                rack: None,
                previous_broker_epoch,
            };
            let records = self
                .tracker
                .register_broker(&self.image, &request, self.now)?;
            Ok(self.commit(&records))
        }

        fn beat(&mut self, id: i32, fence: bool, shutdown: bool) -> HeartbeatReply {
            let epoch = self.image.brokers[&id].epoch;
            let request = Heartbeat {
                id,
                epoch,
                current_metadata_offset: self.image.next_offset - 1,
                want_fence: fence,
                want_shutdown: shutdown,
            };
            let (records, reply) = self
                .tracker
                .heartbeat(&self.image, &request, self.now)
                .unwrap();
            if !records.is_empty() {
                self.commit(&records);
            }
            reply
        }

        fn up(&mut self, id: i32) -> i64 {
            let epoch = self.register(id, id as u128).unwrap();
            assert!(!self.beat(id, false, false).is_fenced);
            epoch
        }

        fn topic(&mut self, name: &str, partitions: i32, rf: i16) {
            let topic = NewTopic {
                name: name.into(),
                num_partitions: partitions,
                replication_factor: rf,
                assignments: vec![],
                configs: vec![],
            };
            let defaults = TopicDefaults {
                num_partitions: 1,
                replication_factor: 1,
            };
            let id = Uuid::from_u128(self.image.next_offset as u128 + 100);
            let records = create_topic(&self.image, &topic, defaults, id).unwrap();
            self.commit(&records);
        }

        fn leaders(&self, name: &str) -> Vec<i32> {
            self.image.topics[name]
                .partitions
                .values()
                .map(|p| p.leader)
                .collect()
        }
    }

    #[test]
    fn brokers_register_fenced_and_are_unfenced_once_caught_up() {
        let mut c = Cluster::new();
        let epoch = c.register(1, 1).unwrap();
        assert_eq!(c.image.brokers[&1].epoch, epoch);
        assert!(c.image.brokers[&1].fenced);
        let behind = Heartbeat {
            id: 1,
            epoch,
            current_metadata_offset: epoch - 1,
            want_fence: false,
            want_shutdown: false,
        };
        let (records, reply) = c.tracker.heartbeat(&c.image, &behind, c.now).unwrap();
        assert!(records.is_empty());
        assert!(reply.is_fenced && !reply.is_caught_up);
        let reply = c.beat(1, false, false);
        assert!(!reply.is_fenced && reply.is_caught_up && !reply.should_shutdown);
        assert!(!c.image.brokers[&1].fenced);
        assert_eq!(c.image.unfenced_brokers().count(), 1);
    }

    #[test]
    fn heartbeats_need_the_current_epoch() {
        let mut c = Cluster::new();
        let epoch = c.up(1);
        let stale = Heartbeat {
            id: 1,
            epoch: epoch + 5,
            current_metadata_offset: 0,
            want_fence: false,
            want_shutdown: false,
        };
        let err = c.tracker.heartbeat(&c.image, &stale, c.now).unwrap_err();
        assert_eq!(err.code, STALE_BROKER_EPOCH);
        assert_eq!(
            err.message,
            format!(
                "Expected broker epoch {epoch}, but got broker epoch {}",
                epoch + 5
            )
        );
        let unknown = Heartbeat { id: 9, ..stale };
        let err = c.tracker.heartbeat(&c.image, &unknown, c.now).unwrap_err();
        assert_eq!(
            (err.code, err.message.as_str()),
            (
                STALE_BROKER_EPOCH,
                "No broker registration found for broker id 9"
            )
        );
    }

    #[test]
    fn another_incarnation_waits_for_the_old_session_to_expire() {
        let mut c = Cluster::new();
        let first = c.up(1);
        let err = c.register(1, 99).unwrap_err();
        assert_eq!(err.code, DUPLICATE_BROKER_REGISTRATION);
        assert_eq!(
            err.message,
            "Another broker is registered with that broker id."
        );
        // The same incarnation may register again (a lost response), with a new epoch.
        let again = c.register(1, 1).unwrap();
        assert!(again > first);
        c.now += DEFAULT_SESSION_TIMEOUT_MS + 1;
        let third = c.register(1, 99).unwrap();
        assert!(third > again);
        assert_eq!(c.image.brokers[&1].incarnation_id, Uuid::from_u128(99));
        // A fresh controller has heard from nobody: no session blocks a restart.
        c.tracker = HeartbeatTracker::new(DEFAULT_SESSION_TIMEOUT_MS, false);
        assert!(c.register(1, 100).is_ok());
    }

    #[test]
    fn silent_brokers_are_fenced_and_lose_leadership_until_back() {
        let mut c = Cluster::new();
        for id in 1..=3 {
            c.up(id);
        }
        c.topic("t", 3, 3);
        assert_eq!(c.leaders("t"), vec![1, 2, 3]);
        c.now += 5_000;
        c.beat(1, false, false);
        c.beat(3, false, false);
        assert!(c
            .tracker
            .expire(&c.image, c.now, &Arrivals::new())
            .is_empty());
        c.now += 5_000;
        c.beat(1, false, false);
        c.beat(3, false, false);
        let records = c.tracker.expire(&c.image, c.now, &Arrivals::new());
        c.commit(&records);
        assert!(c.image.brokers[&2].fenced);
        let t = &c.image.topics["t"];
        let p1 = &t.partitions[&1];
        assert_eq!((p1.leader, p1.leader_epoch, p1.partition_epoch), (3, 1, 1));
        assert!(t.partitions.values().all(|p| !p.isr.contains(&2)));
        assert_eq!(
            t.partitions[&0].leader_epoch, 0,
            "followers leaving the ISR keep the leader epoch"
        );
        assert!(
            c.tracker
                .expire(&c.image, c.now, &Arrivals::new())
                .is_empty(),
            "fenced once"
        );
        // Back: caught up, unfenced, but not in any ISR (the leaders re-add it).
        assert!(!c.beat(2, false, false).is_fenced);
        assert_eq!(c.leaders("t"), vec![1, 3, 3]);
    }

    #[test]
    fn a_heartbeat_that_arrived_but_waits_for_its_decision_keeps_the_session() {
        let mut c = Cluster::new();
        for id in 1..=2 {
            c.up(id);
        }
        let epoch = c.image.brokers[&2].epoch;
        c.now += DEFAULT_SESSION_TIMEOUT_MS - 1_000;
        // Broker 2's heartbeat reached the controller now, but is still
        // queued behind other changes when the session check runs.
        let arrivals = Arrivals::from([(2, (epoch, c.now))]);
        c.now += 2_000;
        c.beat(1, false, false);
        assert!(c.tracker.expire(&c.image, c.now, &arrivals).is_empty());
        // An arrival under an older registration does not count.
        let stale = Arrivals::from([(2, (epoch - 1, c.now))]);
        let records = c.tracker.expire(&c.image, c.now, &stale);
        c.commit(&records);
        assert!(c.image.brokers[&2].fenced);
        assert!(!c.image.brokers[&1].fenced);
    }

    #[test]
    fn a_departed_broker_is_fenced_at_once_but_only_its_current_registration() {
        let mut c = Cluster::new();
        for id in 1..=3 {
            c.up(id);
        }
        c.topic("t", 3, 3);
        let epoch = c.image.brokers[&2].epoch;
        assert!(
            c.tracker
                .fence_departed(&c.image, 2, epoch - 1, c.now)
                .is_empty(),
            "an older registration"
        );
        let records = c.tracker.fence_departed(&c.image, 2, epoch, c.now);
        c.commit(&records);
        assert!(c.image.brokers[&2].fenced);
        assert_eq!(c.leaders("t"), vec![1, 3, 3]);
        assert!(c.image.topics["t"]
            .partitions
            .values()
            .all(|p| !p.isr.contains(&2)));
        assert!(
            c.tracker
                .fence_departed(&c.image, 2, epoch, c.now)
                .is_empty(),
            "fenced once"
        );
    }

    #[test]
    fn the_last_isr_member_comes_back_as_leader() {
        let mut c = Cluster::new();
        c.up(1);
        c.up(2);
        c.topic("t", 2, 1);
        assert_eq!(c.leaders("t"), vec![1, 2]);
        c.beat(1, true, false);
        assert!(c.image.brokers[&1].fenced);
        assert_eq!(c.leaders("t"), vec![-1, 2]);
        assert_eq!(c.image.topics["t"].partitions[&0].isr, vec![1]);
        assert!(!c.beat(1, false, false).is_fenced);
        assert_eq!(c.leaders("t"), vec![1, 2]);
        assert_eq!(c.image.topics["t"].partitions[&0].leader_epoch, 2);
    }

    #[test]
    fn only_a_clean_restart_keeps_a_broker_in_the_elr() {
        let mut c = Cluster::new();
        c.commit(&[MetadataRecord::FeatureLevel {
            name: crate::elr::FEATURE.into(),
            level: 1,
        }]);
        for id in 1..=3 {
            c.up(id);
        }
        c.topic("t", 1, 3);
        c.commit(&[MetadataRecord::Config {
            resource: crate::ConfigResource::Topic("t".into()),
            name: "min.insync.replicas".into(),
            value: Some("2".into()),
        }]);
        let epochs: Vec<i64> = (1..=3).map(|id| c.image.brokers[&id].epoch).collect();
        for id in 1..=3 {
            c.beat(id, true, false);
        }
        let p = |c: &Cluster| c.image.topics["t"].partitions[&0].clone();
        assert_eq!((p(&c).leader, p(&c).isr.len(), p(&c).elr.len()), (-1, 0, 2));
        let (clean, unclean) = (p(&c).elr[0], p(&c).elr[1]);
        c.now += DEFAULT_SESSION_TIMEOUT_MS + 1;
        // The unclean one restarts first: out of the ELR, into the last known ELR.
        c.restart(unclean, 50, -1).unwrap();
        assert_eq!(
            (p(&c).elr, p(&c).last_known_elr),
            (vec![clean], vec![unclean])
        );
        assert!(!c.beat(unclean, false, false).is_fenced);
        assert_eq!(p(&c).leader, -1, "not eligible any more");
        // The clean one names its last epoch: it stays eligible and leads.
        let last = epochs[(clean - 1) as usize];
        c.restart(clean, 51, last).unwrap();
        assert_eq!(p(&c).elr, vec![clean]);
        assert!(!c.beat(clean, false, false).is_fenced);
        assert_eq!((p(&c).leader, p(&c).isr), (clean, vec![clean]));
    }

    #[test]
    fn controlled_shutdown_moves_leadership_first() {
        let mut c = Cluster::new();
        for id in 1..=3 {
            c.up(id);
        }
        c.topic("t", 3, 2);
        let reply = c.beat(1, false, true);
        assert!(reply.in_controlled_shutdown && !reply.should_shutdown && !reply.is_fenced);
        assert!(c.image.brokers[&1].in_controlled_shutdown);
        assert!(!c.leaders("t").contains(&1));
        assert!(!c.image.unfenced_brokers().all(|b| b.is_active()));
        // The others have not yet seen the move: wait.
        assert!(!c.beat(1, false, true).should_shutdown);
        c.beat(2, false, false);
        c.beat(3, false, false);
        let reply = c.beat(1, false, true);
        assert!(reply.should_shutdown && reply.is_fenced);
        assert!(c.image.brokers[&1].fenced);
        // Nothing new goes to a broker shutting down; a restart registers anew.
        let epoch = c.register(1, 7).unwrap();
        assert_eq!(c.image.brokers[&1].epoch, epoch);
        assert!(!c.image.brokers[&1].in_controlled_shutdown);
        // A broker leading nothing may go at once.
        c.up(4);
        assert!(c.beat(4, false, true).should_shutdown);
    }

    #[test]
    fn a_broker_fenced_during_controlled_shutdown_can_come_back() {
        let mut c = Cluster::new();
        c.up(1);
        c.up(2);
        c.topic("t", 2, 2);
        assert!(c.beat(1, false, true).in_controlled_shutdown);
        c.now += DEFAULT_SESSION_TIMEOUT_MS + 1;
        c.beat(2, false, false);
        let records = c.tracker.expire(&c.image, c.now, &Arrivals::new());
        c.commit(&records);
        assert!(c.image.brokers[&1].fenced);
        let reply = c.beat(1, false, false);
        assert!(!reply.is_fenced && !reply.in_controlled_shutdown);
        assert!(c.image.is_active(1));
    }

    #[test]
    fn unregistering_and_controllers() {
        let mut c = Cluster::new();
        c.up(1);
        c.up(2);
        c.topic("t", 1, 2);
        let records = c.tracker.unregister_broker(&c.image, 1).unwrap();
        c.commit(&records);
        assert!(!c.image.brokers.contains_key(&1));
        let p = &c.image.topics["t"].partitions[&0];
        assert_eq!((p.leader, p.isr.clone()), (2, vec![2]));
        let err = c.tracker.unregister_broker(&c.image, 1).unwrap_err();
        assert_eq!(err.code, BROKER_ID_NOT_REGISTERED);

        let endpoint = Endpoint {
            name: "CONTROLLER".into(),
            host: "127.0.0.11".into(),
            port: 9093,
            security_protocol: 0,
        };
        let records = register_controller(3000, Uuid::from_u128(1), vec![endpoint.clone()]);
        c.commit(&records);
        assert_eq!(c.image.controllers[&3000].listeners, vec![endpoint]);
    }
}
