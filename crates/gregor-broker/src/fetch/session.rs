//! One incremental fetch session (KIP-227): the partitions a fetcher reads,
//! with the request parameters it last sent for each and what the broker
//! last told it, so later requests only carry changes and responses only
//! carry partitions that changed.

use super::FetchTarget;
use gregor_protocol::error_codes;
use gregor_protocol::fetch_response::{PartitionOut, RecordsLen};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

/// No session (requests and responses outside sessions).
pub const INVALID_SESSION_ID: i32 = 0;
/// A full request that opens a new session.
pub const INITIAL_EPOCH: i32 = 0;
/// A full request that closes its session and opens none.
pub const FINAL_EPOCH: i32 = -1;

/// The epoch after `epoch`, as Kafka's `FetchMetadata.nextEpoch`: the
/// sequence wraps to 1 (0 means "new session"), and stays final once final.
pub fn next_epoch(epoch: i32) -> i32 {
    if epoch < 0 {
        FINAL_EPOCH
    } else if epoch == i32::MAX {
        1
    } else {
        epoch + 1
    }
}

/// How a session names a partition: by topic id from Fetch v13, by topic
/// name before (the other field is then nil / empty), as Kafka compares
/// cached partitions.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PartitionKey {
    pub topic_id: Uuid,
    pub topic_name: StrBytes,
    pub partition: i32,
}

impl PartitionKey {
    pub fn new(uses_topic_ids: bool, topic_id: Uuid, name: &StrBytes, partition: i32) -> Self {
        if uses_topic_ids {
            PartitionKey {
                topic_id,
                topic_name: StrBytes::default(),
                partition,
            }
        } else {
            PartitionKey {
                topic_id: Uuid::nil(),
                topic_name: name.clone(),
                partition,
            }
        }
    }

    pub fn of(target: &FetchTarget, uses_topic_ids: bool) -> Self {
        let name = target.topic_name.clone().unwrap_or_default();
        PartitionKey::new(uses_topic_ids, target.topic_id, &name, target.partition)
    }
}

/// A partition of a session: the fetcher's last request parameters and the
/// high watermark and log start offset the broker last answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedPartition {
    pub fetch_offset: i64,
    pub partition_max_bytes: i32,
    pub current_leader_epoch: i32,
    pub last_fetched_epoch: i32,
    pub high_watermark: i64,
    pub log_start_offset: i64,
}

impl CachedPartition {
    /// A partition the fetcher just added: nothing answered yet, so the
    /// first response always carries it.
    fn requested(target: &FetchTarget) -> Self {
        CachedPartition {
            fetch_offset: target.fetch_offset,
            partition_max_bytes: target.partition_max_bytes,
            current_leader_epoch: target.current_leader_epoch,
            last_fetched_epoch: target.last_fetched_epoch,
            high_watermark: -1,
            log_start_offset: -1,
        }
    }

    /// Kafka's `maybeUpdateResponseData`: whether an incremental response
    /// must carry this partition (new records, a changed high watermark or
    /// log start offset, or an error), remembering what it carries. After an
    /// error the cached high watermark is -1 so the partition is sent again
    /// once the error is gone.
    pub fn must_respond<R: RecordsLen>(&mut self, answer: &PartitionOut<R>) -> bool {
        let has_records = answer.records.as_ref().is_some_and(|r| r.records_len() > 0);
        let mut must = has_records;
        if self.high_watermark != answer.high_watermark {
            must = true;
            self.high_watermark = answer.high_watermark;
        }
        if self.log_start_offset != answer.log_start_offset {
            must = true;
            self.log_start_offset = answer.log_start_offset;
        }
        if answer.error_code != error_codes::NONE {
            self.high_watermark = -1;
            must = true;
        }
        must || answer.preferred_read_replica >= 0
    }
}

/// One session. Partition order matters: reads follow it and a partition
/// that returned records moves to the back, so under a tight `max_bytes`
/// every partition gets its turn (Kafka does the same).
#[derive(Debug, Clone)]
pub struct FetchSession {
    pub id: i32,
    /// Sessions of followers, which consumers' sessions cannot evict.
    pub privileged: bool,
    pub uses_topic_ids: bool,
    pub creation_ms: i64,
    pub last_used_ms: i64,
    /// The epoch the next request must carry.
    pub epoch: i32,
    pub partitions: IndexMap<PartitionKey, CachedPartition>,
}

impl FetchSession {
    /// A session over the partitions of a full fetch and their answers.
    pub fn from_full_fetch<R: RecordsLen>(
        id: i32,
        privileged: bool,
        uses_topic_ids: bool,
        now_ms: i64,
        targets: &[FetchTarget],
        answers: &[PartitionOut<R>],
    ) -> FetchSession {
        let mut partitions = IndexMap::with_capacity(targets.len());
        for (target, answer) in targets.iter().zip(answers) {
            let cached = CachedPartition {
                fetch_offset: target.fetch_offset,
                partition_max_bytes: target.partition_max_bytes,
                current_leader_epoch: target.current_leader_epoch,
                last_fetched_epoch: target.last_fetched_epoch,
                high_watermark: answer.high_watermark,
                log_start_offset: answer.log_start_offset,
            };
            partitions.insert(PartitionKey::of(target, uses_topic_ids), cached);
        }
        FetchSession {
            id,
            privileged,
            uses_topic_ids,
            creation_ms: now_ms,
            last_used_ms: now_ms,
            epoch: next_epoch(INITIAL_EPOCH),
            partitions,
        }
    }

    /// Applies an incremental request: its partitions are added or their
    /// parameters replaced, then the forgotten ones removed.
    pub fn update(&mut self, targets: &[FetchTarget], forgotten: &[PartitionKey]) {
        for target in targets {
            let key = PartitionKey::of(target, self.uses_topic_ids);
            match self.partitions.get_mut(&key) {
                Some(cached) => {
                    cached.fetch_offset = target.fetch_offset;
                    cached.partition_max_bytes = target.partition_max_bytes;
                    cached.current_leader_epoch = target.current_leader_epoch;
                    cached.last_fetched_epoch = target.last_fetched_epoch;
                }
                None => {
                    self.partitions
                        .insert(key, CachedPartition::requested(target));
                }
            }
        }
        for key in forgotten {
            self.partitions.shift_remove(key);
        }
    }

    /// What to read for this session, in session order. `resolve` names
    /// topics of id-based sessions (`None`: the id names no topic now); it
    /// is asked once per run of partitions of the same topic.
    pub fn targets(&self, resolve: impl Fn(&Uuid) -> Option<StrBytes>) -> Vec<FetchTarget> {
        let mut last: Option<(Uuid, Option<StrBytes>)> = None;
        let mut out = Vec::with_capacity(self.partitions.len());
        for (key, cached) in &self.partitions {
            let topic_name = if !self.uses_topic_ids {
                Some(key.topic_name.clone())
            } else {
                match &last {
                    Some((id, name)) if *id == key.topic_id => name.clone(),
                    _ => {
                        let name = resolve(&key.topic_id);
                        last = Some((key.topic_id, name.clone()));
                        name
                    }
                }
            };
            out.push(FetchTarget {
                topic_id: key.topic_id,
                topic_name,
                partition: key.partition,
                fetch_offset: cached.fetch_offset,
                partition_max_bytes: cached.partition_max_bytes,
                current_leader_epoch: cached.current_leader_epoch,
                last_fetched_epoch: cached.last_fetched_epoch,
            });
        }
        out
    }

    /// Keeps the answers an incremental response must carry (with their
    /// targets), updating the cache; partitions that returned records move
    /// to the back of the session.
    pub fn select_changed<R: RecordsLen>(
        &mut self,
        targets: Vec<FetchTarget>,
        answers: Vec<PartitionOut<R>>,
    ) -> (Vec<FetchTarget>, Vec<PartitionOut<R>>) {
        let mut kept_targets = Vec::new();
        let mut kept_answers = Vec::new();
        for (target, answer) in targets.into_iter().zip(answers) {
            let key = PartitionKey::of(&target, self.uses_topic_ids);
            let Some(cached) = self.partitions.get_mut(&key) else {
                continue;
            };
            if !cached.must_respond(&answer) {
                continue;
            }
            let has_records = answer.records.as_ref().is_some_and(|r| r.records_len() > 0);
            if has_records {
                if let Some(cached) = self.partitions.shift_remove(&key) {
                    self.partitions.insert(key, cached);
                }
            }
            kept_targets.push(target);
            kept_answers.push(answer);
        }
        (kept_targets, kept_answers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fetch::fixtures::{answer, target};

    fn order(session: &FetchSession) -> Vec<i32> {
        session.partitions.keys().map(|k| k.partition).collect()
    }

    #[test]
    fn epochs_count_up_wrap_to_one_and_stay_final() {
        assert_eq!(next_epoch(0), 1);
        assert_eq!(next_epoch(41), 42);
        assert_eq!(next_epoch(i32::MAX), 1);
        assert_eq!(next_epoch(-1), -1);
    }

    #[test]
    fn incremental_answers_carry_only_what_changed() {
        let targets: Vec<_> = (0..3).map(|p| target("t", p, 0)).collect();
        let answers: Vec<_> = (0..3).map(|p| answer(p, 10, 0)).collect();
        let mut session = FetchSession::from_full_fetch(7, false, false, 0, &targets, &answers);
        assert_eq!(session.epoch, 1);

        // Nothing new: nothing to say.
        let same: Vec<_> = (0..3).map(|p| answer(p, 10, 0)).collect();
        let (kept, _) = session.select_changed(session.targets(|_| None), same);
        assert!(kept.is_empty());

        // Partition 1 grew (records and a new high watermark); partition 2
        // only moved its high watermark; partition 0 failed.
        let mut changed = vec![answer(0, 10, 0), answer(1, 12, 100), answer(2, 11, 0)];
        changed[0].error_code = 6;
        let (kept, answers) = session.select_changed(session.targets(|_| None), changed);
        assert_eq!(
            kept.iter().map(|t| t.partition).collect::<Vec<_>>(),
            [0, 1, 2]
        );
        assert_eq!(answers[1].high_watermark, 12);
        // The partition with records went to the back.
        assert_eq!(order(&session), [0, 2, 1]);

        // The failed partition comes back once healthy (its cached high
        // watermark was reset), the others are quiet again.
        let healthy = vec![answer(0, 10, 0), answer(2, 11, 0), answer(1, 12, 0)];
        let (kept, _) = session.select_changed(session.targets(|_| None), healthy);
        assert_eq!(kept.iter().map(|t| t.partition).collect::<Vec<_>>(), [0]);
    }

    #[test]
    fn updates_add_replace_and_forget_partitions() {
        let targets = vec![target("t", 0, 5), target("t", 1, 5)];
        let answers = vec![answer(0, 10, 0), answer(1, 10, 0)];
        let mut session = FetchSession::from_full_fetch(7, false, false, 0, &targets, &answers);
        let forget = PartitionKey::of(&target("t", 0, 0), false);
        session.update(&[target("t", 1, 9), target("u", 0, 3)], &[forget]);
        let now = session.targets(|_| None);
        let summary: Vec<_> = now
            .iter()
            .map(|t| {
                (
                    t.topic_name.clone().unwrap().to_string(),
                    t.partition,
                    t.fetch_offset,
                )
            })
            .collect();
        assert_eq!(summary, [("t".to_string(), 1, 9), ("u".to_string(), 0, 3)]);
        // The new partition has never been answered, so it must be sent.
        let (kept, _) = session.select_changed(now, vec![answer(1, 10, 0), answer(0, 0, 0)]);
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].topic_name.as_deref(), Some("u"));
    }

    #[test]
    fn id_sessions_key_by_topic_id_and_resolve_names_when_read() {
        let id = Uuid::from_u128(9);
        let by_id = FetchTarget {
            topic_id: id,
            topic_name: Some(StrBytes::from_static_str("old")),
            partition: 0,
            fetch_offset: 0,
            partition_max_bytes: 1,
            current_leader_epoch: -1,
            last_fetched_epoch: -1,
        };
        let session =
            FetchSession::from_full_fetch(1, false, true, 0, &[by_id], &[answer(0, 0, 0)]);
        let key = session.partitions.keys().next().unwrap();
        assert_eq!((key.topic_id, key.topic_name.as_str()), (id, ""));
        let targets = session.targets(|_| Some(StrBytes::from_static_str("new")));
        assert_eq!(targets[0].topic_name.as_deref(), Some("new"));
        assert_eq!(session.targets(|_| None)[0].topic_name, None);
    }
}
