//! The broker's fetch sessions and Kafka's rules for a fetch's session
//! metadata (`FetchManager.newContext`): which requests open, continue or
//! close a session, and which are refused with FETCH_SESSION_ID_NOT_FOUND,
//! INVALID_FETCH_SESSION_EPOCH or FETCH_SESSION_TOPIC_ID_ERROR.
//!
//! Pure state: the caller passes the time and a source of session ids, and
//! keeps the cache behind a lock. A fetch takes the lock twice, briefly:
//! [`SessionCache::begin`] before reading and `finish_*` after, never while
//! it waits for data.

use super::session::{next_epoch, FetchSession, PartitionKey, FINAL_EPOCH, INITIAL_EPOCH};
use super::FetchTarget;
use gregor_protocol::error_codes;
use gregor_protocol::fetch_response::{PartitionOut, RecordsLen};
use kafka_protocol::protocol::StrBytes;
use std::collections::HashMap;
use uuid::Uuid;

/// How long a session must sit unused before any newcomer may evict it
/// (Kafka's `MIN_INCREMENTAL_FETCH_SESSION_EVICTION_MS`, not configurable).
pub const EVICTION_MS: i64 = 120_000;

/// A fetch's session fields, with its partitions.
pub struct SessionRequest {
    pub session_id: i32,
    pub epoch: i32,
    /// Fetch v13+: partitions are named by topic id.
    pub uses_topic_ids: bool,
    /// From a follower (replica id >= 0).
    pub privileged: bool,
    pub targets: Vec<FetchTarget>,
    pub forgotten: Vec<PartitionKey>,
}

/// What a fetch reads and how its answer relates to a session.
#[derive(Debug, PartialEq)]
pub enum Begin {
    /// Refused: answer this top-level error with session id 0 and nothing else.
    Error(i16),
    /// Read the request's partitions, answer all of them, session id 0.
    Sessionless(Vec<FetchTarget>),
    /// Read the request's partitions, answer all of them and offer a new
    /// session ([`SessionCache::finish_full`]).
    Full(Vec<FetchTarget>),
    /// Read every partition of the session; answer the changed ones
    /// ([`SessionCache::finish_incremental`]).
    Incremental {
        session_id: i32,
        request_epoch: i32,
        targets: Vec<FetchTarget>,
    },
}

/// An incremental fetch's answer, or the error it must get instead.
pub type Incremental<R> = Result<(Vec<FetchTarget>, Vec<PartitionOut<R>>), i16>;

pub struct SessionCache {
    max_entries: usize,
    sessions: HashMap<i32, FetchSession>,
}

impl SessionCache {
    /// A cache of at most `max_entries` sessions
    /// (`max.incremental.fetch.session.cache.slots`; 0 turns sessions off).
    pub fn new(max_entries: usize) -> SessionCache {
        SessionCache {
            max_entries,
            sessions: HashMap::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    pub fn get(&self, id: i32) -> Option<&FetchSession> {
        self.sessions.get(&id)
    }

    /// Decides what a fetch reads from its session fields. A full request
    /// (epoch 0 or -1) closes the session it names; an incremental one must
    /// name a live session at its expected epoch, which then advances.
    pub fn begin(
        &mut self,
        request: SessionRequest,
        now_ms: i64,
        resolve: impl Fn(&Uuid) -> Option<StrBytes>,
    ) -> Begin {
        if request.epoch == INITIAL_EPOCH || request.epoch == FINAL_EPOCH {
            if request.session_id != 0 {
                self.sessions.remove(&request.session_id);
            }
            return if request.epoch == FINAL_EPOCH {
                Begin::Sessionless(request.targets)
            } else {
                Begin::Full(request.targets)
            };
        }
        let Some(session) = self.sessions.get_mut(&request.session_id) else {
            return Begin::Error(error_codes::FETCH_SESSION_ID_NOT_FOUND);
        };
        if session.epoch != request.epoch {
            return Begin::Error(error_codes::INVALID_FETCH_SESSION_EPOCH);
        }
        if session.uses_topic_ids != request.uses_topic_ids {
            return Begin::Error(error_codes::FETCH_SESSION_TOPIC_ID_ERROR);
        }
        session.update(&request.targets, &request.forgotten);
        if session.partitions.is_empty() {
            // Everything forgotten: the session ends, the fetch reads
            // whatever the request itself named.
            self.sessions.remove(&request.session_id);
            return Begin::Sessionless(request.targets);
        }
        session.last_used_ms = now_ms;
        session.epoch = next_epoch(session.epoch);
        Begin::Incremental {
            session_id: session.id,
            request_epoch: request.epoch,
            targets: session.targets(resolve),
        }
    }

    /// After a full fetch: opens a session over its partitions if there is
    /// room (or a session to evict). Returns the session id for the
    /// response, 0 when none was created. `new_id` proposes random ids.
    #[allow(clippy::too_many_arguments)]
    pub fn finish_full<R: RecordsLen>(
        &mut self,
        targets: &[FetchTarget],
        answers: &[PartitionOut<R>],
        uses_topic_ids: bool,
        privileged: bool,
        now_ms: i64,
        mut new_id: impl FnMut() -> i32,
    ) -> i32 {
        if self.sessions.len() >= self.max_entries
            && !self.try_evict(privileged, targets.len(), now_ms)
        {
            return 0;
        }
        let id = loop {
            let id = new_id();
            if id > 0 && !self.sessions.contains_key(&id) {
                break id;
            }
        };
        let session =
            FetchSession::from_full_fetch(id, privileged, uses_topic_ids, now_ms, targets, answers);
        self.sessions.insert(id, session);
        id
    }

    /// After an incremental fetch: the answers to send (changed partitions
    /// only), or INVALID_FETCH_SESSION_EPOCH when another request of the
    /// session got in between (a duplicate), or FETCH_SESSION_ID_NOT_FOUND
    /// when the session was evicted meanwhile.
    pub fn finish_incremental<R: RecordsLen>(
        &mut self,
        session_id: i32,
        request_epoch: i32,
        targets: Vec<FetchTarget>,
        answers: Vec<PartitionOut<R>>,
    ) -> Incremental<R> {
        let Some(session) = self.sessions.get_mut(&session_id) else {
            return Err(error_codes::FETCH_SESSION_ID_NOT_FOUND);
        };
        if session.epoch != next_epoch(request_epoch) {
            return Err(error_codes::INVALID_FETCH_SESSION_EPOCH);
        }
        Ok(session.select_changed(targets, answers))
    }

    /// Kafka's eviction rules for a newcomer of `size` partitions: first a
    /// session unused for [`EVICTION_MS`]; otherwise the least valuable
    /// evictable session (unprivileged before privileged, then fewest
    /// partitions) if it is worth no more than the newcomer. Sessions
    /// younger than `EVICTION_MS` are only evictable by followers, and only
    /// if they are consumers' sessions.
    fn try_evict(&mut self, privileged: bool, size: usize, now_ms: i64) -> bool {
        let stale = self
            .sessions
            .values()
            .min_by_key(|s| (s.last_used_ms, s.id))
            .filter(|s| now_ms - s.last_used_ms > EVICTION_MS)
            .map(|s| s.id);
        if let Some(id) = stale {
            self.sessions.remove(&id);
            return true;
        }
        let old = |s: &FetchSession| now_ms - s.creation_ms > EVICTION_MS;
        let victim = self
            .sessions
            .values()
            .filter(|s| old(s) || (privileged && !s.privileged))
            .map(|s| (s.privileged, s.partitions.len(), s.id))
            .min();
        match victim {
            // Kafka's order breaks ties by id and the newcomer's is 0: it
            // must be strictly more valuable.
            Some(key) if (privileged, size) > (key.0, key.1) => {
                self.sessions.remove(&key.2);
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fetch::fixtures::{answer, target};

    fn request(session_id: i32, epoch: i32, targets: Vec<FetchTarget>) -> SessionRequest {
        SessionRequest {
            session_id,
            epoch,
            uses_topic_ids: false,
            privileged: false,
            targets,
            forgotten: Vec::new(),
        }
    }

    fn no_names(_: &Uuid) -> Option<StrBytes> {
        None
    }

    /// Opens a session over partitions `0..n` at `now`, with id `id`.
    fn open(cache: &mut SessionCache, id: i32, n: i32, now: i64) -> i32 {
        let targets: Vec<_> = (0..n).map(|p| target("t", p, 0)).collect();
        let Begin::Full(targets) = cache.begin(request(0, 0, targets), now, no_names) else {
            panic!("not a full fetch")
        };
        let answers: Vec<_> = (0..n).map(|p| answer(p, 0, 0)).collect();
        cache.finish_full(&targets, &answers, false, false, now, || id)
    }

    #[test]
    fn a_full_fetch_opens_a_session_that_incremental_fetches_continue() {
        let mut cache = SessionCache::new(10);
        assert_eq!(open(&mut cache, 42, 3, 0), 42);
        // Epoch 1 names no partition: the fetch reads all three.
        let Begin::Incremental {
            session_id,
            request_epoch,
            targets,
        } = cache.begin(request(42, 1, vec![]), 5, no_names)
        else {
            panic!()
        };
        assert_eq!((session_id, request_epoch, targets.len()), (42, 1, 3));
        let answers = vec![answer(0, 0, 0), answer(1, 4, 10), answer(2, 0, 0)];
        let (kept, _) = cache.finish_incremental(42, 1, targets, answers).unwrap();
        assert_eq!(kept.iter().map(|t| t.partition).collect::<Vec<_>>(), [1]);
        // The same epoch again is a stale request; the next one is 2.
        assert_eq!(
            cache.begin(request(42, 1, vec![]), 6, no_names),
            Begin::Error(error_codes::INVALID_FETCH_SESSION_EPOCH)
        );
        assert!(matches!(
            cache.begin(request(42, 2, vec![target("t", 1, 4)]), 7, no_names),
            Begin::Incremental { .. }
        ));
        assert_eq!(cache.get(42).unwrap().epoch, 3);
        let key = PartitionKey::of(&target("t", 1, 0), false);
        let session = cache.get(42).unwrap();
        assert_eq!(session.partitions.get(&key).unwrap().fetch_offset, 4);
    }

    #[test]
    fn unknown_sessions_and_id_mismatches_are_refused() {
        let mut cache = SessionCache::new(10);
        assert_eq!(
            cache.begin(request(99, 1, vec![]), 0, no_names),
            Begin::Error(error_codes::FETCH_SESSION_ID_NOT_FOUND)
        );
        // Session 0 with a non-initial epoch is no session either.
        assert_eq!(
            cache.begin(request(0, 3, vec![]), 0, no_names),
            Begin::Error(error_codes::FETCH_SESSION_ID_NOT_FOUND)
        );
        open(&mut cache, 5, 1, 0);
        let mut by_id = request(5, 1, vec![]);
        by_id.uses_topic_ids = true;
        assert_eq!(
            cache.begin(by_id, 0, no_names),
            Begin::Error(error_codes::FETCH_SESSION_TOPIC_ID_ERROR)
        );
    }

    #[test]
    fn full_requests_close_the_session_they_name() {
        let mut cache = SessionCache::new(10);
        open(&mut cache, 5, 1, 0);
        // Epoch 0 with the old id: closed, and a new full fetch begins.
        assert!(matches!(
            cache.begin(request(5, 0, vec![target("t", 0, 0)]), 1, no_names),
            Begin::Full(_)
        ));
        assert!(cache.get(5).is_none());
        open(&mut cache, 6, 1, 0);
        // Epoch -1: closed and no new session.
        assert!(matches!(
            cache.begin(
                request(6, FINAL_EPOCH, vec![target("t", 0, 0)]),
                1,
                no_names
            ),
            Begin::Sessionless(_)
        ));
        assert!(cache.is_empty());
    }

    #[test]
    fn forgetting_every_partition_ends_the_session() {
        let mut cache = SessionCache::new(10);
        open(&mut cache, 5, 1, 0);
        let mut forget_all = request(5, 1, vec![]);
        forget_all.forgotten = vec![PartitionKey::of(&target("t", 0, 0), false)];
        assert_eq!(
            cache.begin(forget_all, 1, no_names),
            Begin::Sessionless(vec![])
        );
        assert!(cache.is_empty());
    }

    #[test]
    fn a_duplicate_in_flight_makes_the_later_answer_an_epoch_error() {
        let mut cache = SessionCache::new(10);
        open(&mut cache, 5, 1, 0);
        let Begin::Incremental { targets, .. } = cache.begin(request(5, 1, vec![]), 1, no_names)
        else {
            panic!()
        };
        // Another request of the session (epoch 2) got in before we answered.
        assert!(matches!(
            cache.begin(request(5, 2, vec![]), 2, no_names),
            Begin::Incremental { .. }
        ));
        assert_eq!(
            cache.finish_incremental(5, 1, targets, vec![answer(0, 1, 0)]),
            Err(error_codes::INVALID_FETCH_SESSION_EPOCH)
        );
    }

    #[test]
    fn zero_slots_means_no_sessions() {
        let mut cache = SessionCache::new(0);
        assert_eq!(open(&mut cache, 5, 3, 0), 0);
        assert!(cache.is_empty());
    }

    #[test]
    fn a_full_cache_evicts_stale_then_smaller_old_sessions_only() {
        let mut cache = SessionCache::new(2);
        assert_eq!(open(&mut cache, 1, 5, 0), 1);
        assert_eq!(open(&mut cache, 2, 2, 1_000), 2);
        // Both young and in use: a newcomer cannot evict either.
        assert_eq!(open(&mut cache, 3, 10, 2_000), 0);
        // Session 1 is used, session 2 goes stale.
        let begin = cache.begin(request(1, 1, vec![]), EVICTION_MS + 1_500, no_names);
        assert!(matches!(begin, Begin::Incremental { .. }));
        assert_eq!(open(&mut cache, 3, 1, EVICTION_MS + 1_500), 3);
        assert!(cache.get(2).is_none());
        // Session 1 (5 partitions) is old but not stale: a bigger newcomer
        // evicts it, a smaller or equal one does not (session 3 is too young).
        let later = EVICTION_MS + 2_000;
        assert_eq!(open(&mut cache, 4, 4, later), 0);
        assert_eq!(open(&mut cache, 4, 5, later), 0);
        assert_eq!(open(&mut cache, 4, 6, later), 4);
        assert!(cache.get(1).is_none());
        assert!(cache.get(3).is_some());
    }
}
