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
use crate::election::{leads_any, reelect_for, Change};
use crate::record::Endpoint;
use crate::{MetadataImage, MetadataRecord};
use gregor_protocol::error_codes;
use std::collections::BTreeMap;
use uuid::Uuid;

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
        if image.brokers.contains_key(&request.id) {
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
    /// members. Empty when nobody expired.
    pub fn expire(&mut self, image: &MetadataImage, now_ms: i64) -> Vec<MetadataRecord> {
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
            if now_ms <= session.last_contact_ms.saturating_add(timeout) {
                continue;
            }
            session.heard = false;
            session.controlled_shutdown_offset = None;
            change.push(MetadataRecord::BrokerRegistrationChange {
                id,
                epoch,
                fenced: Some(true),
                in_controlled_shutdown: false,
            });
            reelect_for(&mut change, id, true, self.unclean_leader_election);
        }
        change.records
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
