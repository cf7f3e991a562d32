//! Share sessions (KIP-932; Kafka's `ShareSessionCache`): per (group,
//! member), the share-partitions a consumer fetches from this broker and the
//! epoch its next request must carry. Epoch 0 opens (or reopens) a session,
//! -1 closes it, anything else must be the session's next epoch.

use gregor_protocol::error_codes;
use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use uuid::Uuid;

/// The epoch that opens a session.
pub const INITIAL_EPOCH: i32 = 0;
/// The epoch that closes a session.
pub const FINAL_EPOCH: i32 = -1;

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionKey {
    pub group_id: String,
    pub member_id: String,
}

/// (topic id, partition)
pub type TopicIdPartition = (Uuid, i32);

#[derive(Clone, Debug)]
struct ShareSession {
    /// The epoch the next request must carry.
    next_epoch: i32,
    partitions: BTreeSet<TopicIdPartition>,
    /// The connection that opened it: its records are released when it
    /// drops.
    connection: SocketAddr,
}

/// What a request may do with its session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionUse {
    /// Fetch these partitions (the session's, after adds/forgets).
    Fetch(Vec<TopicIdPartition>),
    /// The session was closed: release the member's records in these
    /// partitions after applying the request's acknowledgements.
    Closed(Vec<TopicIdPartition>),
}

#[derive(Debug)]
pub struct ShareSessionCache {
    sessions: HashMap<SessionKey, ShareSession>,
    max_sessions: usize,
}

impl ShareSessionCache {
    pub fn new(max_sessions: usize) -> ShareSessionCache {
        ShareSessionCache {
            sessions: HashMap::new(),
            max_sessions,
        }
    }

    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// A ShareFetch's session step (Kafka's `newContext`). An opening
    /// fetch may not carry acknowledgements (INVALID_REQUEST) and replaces
    /// an earlier session of the member; the epoch advances on success.
    pub fn fetch(
        &mut self,
        key: &SessionKey,
        epoch: i32,
        has_acknowledgements: bool,
        added: &[TopicIdPartition],
        forgotten: &[TopicIdPartition],
        connection: SocketAddr,
    ) -> Result<SessionUse, i16> {
        match epoch {
            INITIAL_EPOCH => {
                if has_acknowledgements {
                    return Err(error_codes::INVALID_REQUEST);
                }
                self.sessions.remove(key);
                if self.sessions.len() >= self.max_sessions {
                    return Err(error_codes::SHARE_SESSION_LIMIT_REACHED);
                }
                let partitions: BTreeSet<_> = added.iter().copied().collect();
                let fetch = partitions.iter().copied().collect();
                self.sessions.insert(
                    key.clone(),
                    ShareSession {
                        next_epoch: 1,
                        partitions,
                        connection,
                    },
                );
                Ok(SessionUse::Fetch(fetch))
            }
            FINAL_EPOCH => self.close(key),
            _ => {
                let session = self.next(key, epoch)?;
                session.partitions.extend(added.iter().copied());
                for p in forgotten {
                    session.partitions.remove(p);
                }
                Ok(SessionUse::Fetch(
                    session.partitions.iter().copied().collect(),
                ))
            }
        }
    }

    /// A ShareAcknowledge's session step: it needs an open session (epoch 0
    /// is INVALID_SHARE_SESSION_EPOCH); -1 closes it.
    pub fn acknowledge(&mut self, key: &SessionKey, epoch: i32) -> Result<SessionUse, i16> {
        match epoch {
            INITIAL_EPOCH => Err(error_codes::INVALID_SHARE_SESSION_EPOCH),
            FINAL_EPOCH => self.close(key),
            _ => {
                let session = self.next(key, epoch)?;
                Ok(SessionUse::Fetch(
                    session.partitions.iter().copied().collect(),
                ))
            }
        }
    }

    /// Drops every session opened over `connection`, returning them with
    /// their partitions so the members' records can be released.
    pub fn connection_closed(
        &mut self,
        connection: SocketAddr,
    ) -> Vec<(SessionKey, Vec<TopicIdPartition>)> {
        let keys: Vec<SessionKey> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.connection == connection)
            .map(|(k, _)| k.clone())
            .collect();
        keys.into_iter()
            .filter_map(|k| {
                let session = self.sessions.remove(&k)?;
                Some((k, session.partitions.into_iter().collect()))
            })
            .collect()
    }

    /// Whether any member of `group_id` has a session here.
    pub fn has_group(&self, group_id: &str) -> bool {
        self.sessions.keys().any(|k| k.group_id == group_id)
    }

    /// Forgets a member's session (it left its group).
    pub fn remove(&mut self, key: &SessionKey) -> bool {
        self.sessions.remove(key).is_some()
    }

    fn close(&mut self, key: &SessionKey) -> Result<SessionUse, i16> {
        match self.sessions.remove(key) {
            Some(session) => Ok(SessionUse::Closed(session.partitions.into_iter().collect())),
            None => Err(error_codes::SHARE_SESSION_NOT_FOUND),
        }
    }

    fn next(&mut self, key: &SessionKey, epoch: i32) -> Result<&mut ShareSession, i16> {
        let session = self
            .sessions
            .get_mut(key)
            .ok_or(error_codes::SHARE_SESSION_NOT_FOUND)?;
        if session.next_epoch != epoch {
            return Err(error_codes::INVALID_SHARE_SESSION_EPOCH);
        }
        // Kafka's nextEpoch: after i32::MAX comes 1 (0 and -1 are reserved).
        session.next_epoch = if epoch == i32::MAX { 1 } else { epoch + 1 };
        Ok(session)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(member: &str) -> SessionKey {
        SessionKey {
            group_id: "g".into(),
            member_id: member.into(),
        }
    }

    fn conn(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    const T: Uuid = Uuid::from_u128(7);

    #[test]
    fn epochs_open_advance_and_close() {
        let mut cache = ShareSessionCache::new(10);
        let opened = cache.fetch(&key("a"), 0, false, &[(T, 0)], &[], conn(1));
        assert_eq!(opened, Ok(SessionUse::Fetch(vec![(T, 0)])));
        assert_eq!(
            cache.fetch(&key("a"), 2, false, &[], &[], conn(1)),
            Err(error_codes::INVALID_SHARE_SESSION_EPOCH)
        );
        let next = cache.fetch(&key("a"), 1, true, &[(T, 1)], &[(T, 0)], conn(1));
        assert_eq!(next, Ok(SessionUse::Fetch(vec![(T, 1)])));
        assert_eq!(
            cache.acknowledge(&key("a"), 2),
            Ok(SessionUse::Fetch(vec![(T, 1)]))
        );
        assert_eq!(
            cache.acknowledge(&key("a"), -1),
            Ok(SessionUse::Closed(vec![(T, 1)]))
        );
        assert_eq!(
            cache.acknowledge(&key("a"), 3),
            Err(error_codes::SHARE_SESSION_NOT_FOUND)
        );
        assert_eq!(
            cache.fetch(&key("a"), -1, false, &[], &[], conn(1)),
            Err(error_codes::SHARE_SESSION_NOT_FOUND)
        );
    }

    #[test]
    fn opening_rules() {
        let mut cache = ShareSessionCache::new(1);
        assert_eq!(
            cache.fetch(&key("a"), 0, true, &[(T, 0)], &[], conn(1)),
            Err(error_codes::INVALID_REQUEST)
        );
        assert_eq!(
            cache.acknowledge(&key("a"), 0),
            Err(error_codes::INVALID_SHARE_SESSION_EPOCH)
        );
        cache
            .fetch(&key("a"), 0, false, &[(T, 0)], &[], conn(1))
            .unwrap();
        assert_eq!(
            cache.fetch(&key("b"), 0, false, &[(T, 0)], &[], conn(2)),
            Err(error_codes::SHARE_SESSION_LIMIT_REACHED)
        );
        // the same member reopening replaces its session
        cache
            .fetch(&key("a"), 0, false, &[(T, 3)], &[], conn(1))
            .unwrap();
        assert_eq!(cache.len(), 1);
        assert_eq!(
            cache.acknowledge(&key("a"), 1),
            Ok(SessionUse::Fetch(vec![(T, 3)]))
        );
    }

    #[test]
    fn dropping_a_connection_closes_its_sessions() {
        let mut cache = ShareSessionCache::new(10);
        cache
            .fetch(&key("a"), 0, false, &[(T, 0)], &[], conn(1))
            .unwrap();
        cache
            .fetch(&key("b"), 0, false, &[(T, 1)], &[], conn(2))
            .unwrap();
        assert_eq!(
            cache.connection_closed(conn(1)),
            vec![(key("a"), vec![(T, 0)])]
        );
        assert_eq!(cache.len(), 1);
    }
}
