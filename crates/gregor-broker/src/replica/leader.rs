//! A partition leader's replication state, as a pure state machine: no
//! locks, no I/O, time passed in. It follows Kafka's `Partition` (leader
//! side): each follower's log end offset learnt from its fetches, the high
//! watermark as the smallest log end over the ISR, ISR shrinks after
//! `replica.lag.time.max.ms` and expansions once a follower has caught up,
//! each as one AlterPartition request in flight at a time (KIP-497).

use std::collections::BTreeMap;

/// A follower's log end offset before its first fetch to this leader.
pub const UNKNOWN_OFFSET: i64 = -1;

/// The partition's state as the controller committed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedState {
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
}

/// The settings the leader works with (topic and broker configs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaderConfig {
    pub min_insync_replicas: usize,
    pub replica_lag_time_max_ms: i64,
}

/// What the leader knows of one follower.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Follower {
    log_end_offset: i64,
    /// The last time the follower had fetched everything the leader had.
    last_caught_up_ms: i64,
    /// The leader's log end and the time at the follower's previous fetch:
    /// a fetch reaching that log end proves it was caught up back then.
    last_fetch_leader_leo: i64,
    last_fetch_ms: i64,
    /// Whether the follower's broker could join the ISR at its last fetch
    /// (active, right broker epoch).
    eligible: bool,
}

impl Follower {
    fn new(leader_leo: i64, in_sync: bool, now_ms: i64) -> Follower {
        // Kafka starts ISR members as caught up now, so a new leader does
        // not shrink them before they had the time to fetch.
        Follower {
            log_end_offset: UNKNOWN_OFFSET,
            last_caught_up_ms: if in_sync { now_ms } else { 0 },
            last_fetch_leader_leo: if in_sync { leader_leo } else { UNKNOWN_OFFSET },
            last_fetch_ms: if in_sync { now_ms } else { 0 },
            eligible: in_sync,
        }
    }

    fn is_caught_up(&self, leader_leo: i64, now_ms: i64, lag_max_ms: i64) -> bool {
        self.log_end_offset == leader_leo || now_ms - self.last_caught_up_ms <= lag_max_ms
    }
}

/// An AlterPartition the leader wants sent (one at a time per partition).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsrRequest {
    pub leader_epoch: i32,
    /// The partition epoch the change is based on.
    pub partition_epoch: i32,
    /// The proposed ISR, each member with its broker epoch (-1: unknown).
    pub new_isr: Vec<(i32, i64)>,
}

/// A follower's fetch as the leader sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowerFetch {
    pub replica_id: i32,
    pub fetch_offset: i64,
    /// The broker epoch the follower sent (-1 before Fetch v15).
    pub broker_epoch: i64,
    /// The follower's broker is active (unfenced, not shutting down) and,
    /// when `broker_epoch` is set, registered with that epoch.
    pub eligible: bool,
}

/// What a change did: whether the high watermark moved, and an ISR
/// change to send to the controller.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Effects {
    pub high_watermark_moved: bool,
    pub isr_request: Option<IsrRequest>,
}

/// Whether an acks=all produce that needs `required_offset` is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckState {
    Waiting,
    Done,
    /// The high watermark passed the batch, but the ISR is below
    /// `min.insync.replicas`: NOT_ENOUGH_REPLICAS_AFTER_APPEND.
    DoneUnderMinIsr,
}

/// An ISR follower as a replica selector sees it (KIP-392).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowerView {
    pub id: i32,
    pub log_end_offset: i64,
    pub since_caught_up_ms: i64,
}

/// The leader's log end and its ISR followers (KIP-392).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadReplicaViews {
    pub leader_log_end: i64,
    pub followers: Vec<FollowerView>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderState {
    local_id: i32,
    committed: CommittedState,
    /// The ISR of the AlterPartition in flight.
    pending_isr: Option<Vec<i32>>,
    followers: BTreeMap<i32, Follower>,
    /// Broker epochs followers sent, for the AlterPartition's ISR.
    broker_epochs: BTreeMap<i32, i64>,
    log_end_offset: i64,
    high_watermark: i64,
    /// The log end when this leader epoch began: a follower below it has
    /// not got every record of earlier epochs and may not join the ISR.
    epoch_start_offset: i64,
    config: LeaderConfig,
}

impl LeaderState {
    /// A new leader for `committed.leader_epoch`, its log ending at
    /// `log_end_offset` with `high_watermark` known (checkpointed or
    /// learnt as a follower).
    pub fn new(
        local_id: i32,
        committed: CommittedState,
        log_end_offset: i64,
        high_watermark: i64,
        config: LeaderConfig,
        now_ms: i64,
    ) -> LeaderState {
        let followers = committed
            .replicas
            .iter()
            .filter(|&&r| r != local_id)
            .map(|&r| {
                let in_sync = committed.isr.contains(&r);
                (r, Follower::new(log_end_offset, in_sync, now_ms))
            })
            .collect();
        let mut state = LeaderState {
            local_id,
            committed,
            pending_isr: None,
            followers,
            broker_epochs: BTreeMap::new(),
            log_end_offset,
            high_watermark: high_watermark.min(log_end_offset),
            epoch_start_offset: log_end_offset,
            config,
        };
        state.maybe_advance_high_watermark(now_ms);
        state
    }

    pub fn high_watermark(&self) -> i64 {
        self.high_watermark
    }

    pub fn leader_epoch(&self) -> i32 {
        self.committed.leader_epoch
    }

    /// The log end offset when this leader epoch began.
    pub fn epoch_start_offset(&self) -> i64 {
        self.epoch_start_offset
    }

    pub fn committed(&self) -> &CommittedState {
        &self.committed
    }

    pub fn isr_change_in_flight(&self) -> bool {
        self.pending_isr.is_some()
    }

    /// The ISR as far as the high watermark is concerned: while a change is
    /// in flight, every replica in either the old or the new ISR (KIP-497).
    pub fn maximal_isr(&self) -> Vec<i32> {
        let mut isr = self.committed.isr.clone();
        if let Some(pending) = &self.pending_isr {
            for r in pending {
                if !isr.contains(r) {
                    isr.push(*r);
                }
            }
        }
        isr
    }

    /// `min.insync.replicas` bounded by the replica count, as Kafka's
    /// `effectiveMinIsr`.
    pub fn effective_min_isr(&self) -> usize {
        self.config
            .min_insync_replicas
            .min(self.committed.replicas.len().max(1))
    }

    pub fn is_under_min_isr(&self) -> bool {
        self.committed.isr.len() < self.effective_min_isr()
    }

    /// A follower's log end offset as last fetched (tests, DescribeLogDirs).
    pub fn follower_log_end(&self, replica: i32) -> Option<i64> {
        self.followers.get(&replica).map(|f| f.log_end_offset)
    }

    /// KIP-392's view of the ISR followers a consumer could read from.
    pub fn read_replica_views(&self, now_ms: i64) -> ReadReplicaViews {
        let followers = self
            .followers
            .iter()
            .filter(|(id, _)| self.committed.isr.contains(id))
            .map(|(id, f)| FollowerView {
                id: *id,
                log_end_offset: f.log_end_offset,
                since_caught_up_ms: now_ms - f.last_caught_up_ms,
            })
            .collect();
        ReadReplicaViews {
            leader_log_end: self.log_end_offset,
            followers,
        }
    }

    pub fn set_config(&mut self, config: LeaderConfig, now_ms: i64) -> Effects {
        self.config = config;
        self.effects(now_ms)
    }

    /// The leader's own log grew (or was written by the leader in any way).
    pub fn on_local_append(&mut self, log_end_offset: i64, now_ms: i64) -> Effects {
        self.log_end_offset = self.log_end_offset.max(log_end_offset);
        self.effects(now_ms)
    }

    /// A follower fetched from `fetch_offset`: everything below it is in
    /// its log. Non-replicas are refused before this is called.
    pub fn on_follower_fetch(&mut self, fetch: FollowerFetch, now_ms: i64) -> Effects {
        let leader_leo = self.log_end_offset;
        let Some(follower) = self.followers.get_mut(&fetch.replica_id) else {
            return Effects::default();
        };
        // Kafka's `Replica.updateFetchStateOrThrow`.
        if fetch.fetch_offset >= leader_leo {
            follower.last_caught_up_ms = follower.last_caught_up_ms.max(now_ms);
        } else if fetch.fetch_offset >= follower.last_fetch_leader_leo {
            follower.last_caught_up_ms = follower.last_caught_up_ms.max(follower.last_fetch_ms);
        }
        follower.log_end_offset = fetch.fetch_offset;
        follower.last_fetch_leader_leo = leader_leo;
        follower.last_fetch_ms = now_ms;
        follower.eligible = fetch.eligible;
        self.broker_epochs
            .insert(fetch.replica_id, fetch.broker_epoch);
        let mut effects = Effects {
            isr_request: self.maybe_expand(fetch.replica_id),
            ..Effects::default()
        };
        effects.high_watermark_moved = self.maybe_advance_high_watermark(now_ms);
        effects
    }

    /// Re-checks from the metadata whether each follower's broker may be
    /// in the ISR, as Kafka's `isReplicaIsrEligible` asks its metadata
    /// cache each time: a follower whose broker was fenced or is shutting
    /// down stops holding the high watermark back at once, instead of for
    /// `replica.lag.time.max.ms` after its last fetch. `is_eligible` gets
    /// the broker epoch of the follower's last fetch, if any.
    pub fn refresh_eligibility(
        &mut self,
        is_eligible: impl Fn(i32, Option<i64>) -> bool,
        now_ms: i64,
    ) -> Effects {
        for (&id, follower) in self.followers.iter_mut() {
            follower.eligible = is_eligible(id, self.broker_epochs.get(&id).copied());
        }
        self.effects(now_ms)
    }

    /// Periodic check: ISR members that have not caught up within
    /// `replica.lag.time.max.ms` leave the ISR.
    pub fn tick(&mut self, now_ms: i64) -> Effects {
        let mut effects = Effects::default();
        if self.pending_isr.is_none() {
            let lag = self.config.replica_lag_time_max_ms;
            let leader_leo = self.log_end_offset;
            let out_of_sync: Vec<i32> = self
                .committed
                .isr
                .iter()
                .filter(|&&r| r != self.local_id)
                .filter(|r| {
                    self.followers
                        .get(r)
                        .is_none_or(|f| !f.is_caught_up(leader_leo, now_ms, lag))
                })
                .copied()
                .collect();
            if !out_of_sync.is_empty() {
                let new_isr: Vec<i32> = self
                    .committed
                    .isr
                    .iter()
                    .filter(|r| !out_of_sync.contains(r))
                    .copied()
                    .collect();
                // A shrink is not in the maximal ISR: until it commits, the
                // leaving replicas still count (KIP-497).
                effects.isr_request = Some(self.propose(new_isr));
            }
        }
        effects.high_watermark_moved = self.maybe_advance_high_watermark(now_ms);
        effects
    }

    /// The controller's committed state for this partition (an
    /// AlterPartition answer or a newer image). Stale states are ignored.
    /// Returns false when the state belongs to another leader epoch: the
    /// caller then makes a new leader state (or stops leading).
    pub fn apply_committed(&mut self, committed: CommittedState, now_ms: i64) -> (bool, Effects) {
        if committed.leader_epoch != self.committed.leader_epoch {
            return (false, Effects::default());
        }
        if committed.partition_epoch < self.committed.partition_epoch {
            return (true, Effects::default());
        }
        if committed.partition_epoch > self.committed.partition_epoch {
            // Whatever was in flight was decided (or overtaken).
            self.pending_isr = None;
        }
        for &r in &committed.replicas {
            if r != self.local_id && !self.followers.contains_key(&r) {
                let in_sync = committed.isr.contains(&r);
                self.followers
                    .insert(r, Follower::new(self.log_end_offset, in_sync, now_ms));
            }
        }
        self.followers.retain(|r, _| committed.replicas.contains(r));
        self.committed = committed;
        (true, self.effects(now_ms))
    }

    /// The AlterPartition in flight failed for good (refused by the
    /// controller): back to the committed ISR, to be proposed again.
    pub fn isr_change_failed(&mut self, now_ms: i64) -> Effects {
        self.pending_isr = None;
        self.effects(now_ms)
    }

    /// Whether the records below `required_offset` are committed.
    pub fn ack_state(&self, required_offset: i64) -> AckState {
        if self.high_watermark < required_offset {
            AckState::Waiting
        } else if self.maximal_isr().len() < self.effective_min_isr() {
            AckState::DoneUnderMinIsr
        } else {
            AckState::Done
        }
    }

    fn effects(&mut self, now_ms: i64) -> Effects {
        Effects {
            high_watermark_moved: self.maybe_advance_high_watermark(now_ms),
            isr_request: None,
        }
    }

    fn propose(&mut self, new_isr: Vec<i32>) -> IsrRequest {
        let request = IsrRequest {
            leader_epoch: self.committed.leader_epoch,
            partition_epoch: self.committed.partition_epoch,
            new_isr: new_isr
                .iter()
                .map(|&r| (r, self.broker_epochs.get(&r).copied().unwrap_or(-1)))
                .collect(),
        };
        self.pending_isr = Some(new_isr);
        request
    }

    /// Kafka's `maybeExpandIsr`: a follower outside the ISR that has every
    /// committed record and every record of earlier leader epochs joins.
    fn maybe_expand(&mut self, replica: i32) -> Option<IsrRequest> {
        if self.pending_isr.is_some() || self.committed.isr.contains(&replica) {
            return None;
        }
        let follower = self.followers.get(&replica)?;
        let caught_up = follower.log_end_offset >= self.high_watermark
            && follower.log_end_offset >= self.epoch_start_offset;
        if !caught_up || !follower.eligible {
            return None;
        }
        let mut new_isr = self.committed.isr.clone();
        new_isr.push(replica);
        Some(self.propose(new_isr))
    }

    /// Kafka's `maybeIncrementLeaderHW`: the smallest log end over the
    /// maximal ISR and over caught-up eligible followers about to join
    /// it; not while the ISR is below `min.insync.replicas`. Never back.
    fn maybe_advance_high_watermark(&mut self, now_ms: i64) -> bool {
        if self.is_under_min_isr() {
            return false;
        }
        let maximal = self.maximal_isr();
        let lag = self.config.replica_lag_time_max_ms;
        let mut candidate = self.log_end_offset;
        for (id, follower) in &self.followers {
            let joining =
                follower.eligible && follower.is_caught_up(self.log_end_offset, now_ms, lag);
            if maximal.contains(id) || joining {
                candidate = candidate.min(follower.log_end_offset);
            }
        }
        if candidate > self.high_watermark {
            self.high_watermark = candidate;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAG: i64 = 30_000;

    fn committed(replicas: &[i32], isr: &[i32]) -> CommittedState {
        CommittedState {
            leader_epoch: 5,
            partition_epoch: 10,
            replicas: replicas.to_vec(),
            isr: isr.to_vec(),
        }
    }

    fn config(min_isr: usize) -> LeaderConfig {
        LeaderConfig {
            min_insync_replicas: min_isr,
            replica_lag_time_max_ms: LAG,
        }
    }

    fn fetch(replica: i32, offset: i64) -> FollowerFetch {
        FollowerFetch {
            replica_id: replica,
            fetch_offset: offset,
            broker_epoch: 100 + i64::from(replica),
            eligible: true,
        }
    }

    fn leader(replicas: &[i32], isr: &[i32], min_isr: usize) -> LeaderState {
        LeaderState::new(1, committed(replicas, isr), 0, 0, config(min_isr), 0)
    }

    #[test]
    fn a_sole_replica_commits_at_once() {
        let mut state = leader(&[1], &[1], 1);
        assert!(state.on_local_append(5, 1).high_watermark_moved);
        assert_eq!(state.high_watermark(), 5);
        assert_eq!(state.ack_state(5), AckState::Done);
    }

    #[test]
    fn a_new_leader_starts_from_its_known_high_watermark_and_never_above_its_log() {
        let state = LeaderState::new(1, committed(&[1, 2], &[1, 2]), 10, 7, config(1), 0);
        assert_eq!(state.high_watermark(), 7);
        let state = LeaderState::new(1, committed(&[1, 2], &[1, 2]), 10, 50, config(1), 0);
        assert_eq!(state.high_watermark(), 10);
        // A sole ISR member commits its whole log as it takes over.
        let state = LeaderState::new(1, committed(&[1, 2], &[1]), 10, 3, config(1), 0);
        assert_eq!(state.high_watermark(), 10);
    }

    #[test]
    fn the_high_watermark_is_the_smallest_log_end_in_the_isr() {
        let mut state = leader(&[1, 2, 3], &[1, 2, 3], 1);
        state.on_local_append(10, 1);
        assert_eq!(state.high_watermark(), 0, "followers' log ends are unknown");
        state.on_follower_fetch(fetch(2, 6), 2);
        assert_eq!(state.high_watermark(), 0);
        assert!(state.on_follower_fetch(fetch(3, 4), 3).high_watermark_moved);
        assert_eq!(state.high_watermark(), 4);
        assert_eq!(state.ack_state(5), AckState::Waiting);
        state.on_follower_fetch(fetch(3, 10), 4);
        assert_eq!(state.high_watermark(), 6);
        state.on_follower_fetch(fetch(2, 10), 5);
        assert_eq!(state.high_watermark(), 10);
        assert_eq!(state.ack_state(10), AckState::Done);
    }

    #[test]
    fn the_high_watermark_never_goes_back() {
        let mut state = leader(&[1, 2], &[1, 2], 1);
        state.on_local_append(10, 1);
        state.on_follower_fetch(fetch(2, 8), 2);
        assert_eq!(state.high_watermark(), 8);
        // A follower that truncated fetches from lower down.
        assert!(!state.on_follower_fetch(fetch(2, 3), 3).high_watermark_moved);
        assert_eq!(state.high_watermark(), 8);
    }

    #[test]
    fn no_progress_while_the_isr_is_below_min_insync_replicas() {
        let mut state = leader(&[1, 2, 3], &[1], 2);
        assert!(state.is_under_min_isr());
        state.on_local_append(10, 1);
        assert_eq!(state.high_watermark(), 0);
        // Replica 2 catches up: the ISR grows, and only once it is
        // committed does the high watermark move.
        let effects = state.on_follower_fetch(fetch(2, 10), 2);
        assert_eq!(state.high_watermark(), 0);
        let request = effects.isr_request.expect("expansion");
        assert_eq!(request.new_isr, vec![(1, -1), (2, 102)]);
        let (same_epoch, effects) = state.apply_committed(
            CommittedState {
                partition_epoch: 11,
                ..committed(&[1, 2, 3], &[1, 2])
            },
            3,
        );
        assert!(same_epoch && effects.high_watermark_moved);
        assert_eq!(state.high_watermark(), 10);
    }

    #[test]
    fn min_insync_above_the_replica_count_is_bounded_by_it() {
        let mut state = leader(&[1], &[1], 3);
        assert_eq!(state.effective_min_isr(), 1);
        state.on_local_append(4, 1);
        assert_eq!(state.high_watermark(), 4);
    }

    #[test]
    fn a_lagging_follower_is_shrunk_out_after_the_lag_time() {
        let mut state = leader(&[1, 2, 3], &[1, 2, 3], 1);
        state.on_local_append(10, 0);
        state.on_follower_fetch(fetch(2, 10), 100);
        state.on_follower_fetch(fetch(3, 5), 100);
        assert_eq!(state.tick(LAG).isr_request, None, "within the lag time");
        // Replica 2 keeps up; replica 3 stops fetching.
        state.on_follower_fetch(fetch(2, 10), LAG + 50);
        let request = state.tick(LAG + 1).isr_request.expect("shrink");
        assert_eq!(request.new_isr, vec![(1, -1), (2, 102)]);
        assert_eq!((request.leader_epoch, request.partition_epoch), (5, 10));
        // While the shrink is in flight, 3 still holds the HW back.
        assert_eq!(state.high_watermark(), 5);
        assert!(state.isr_change_in_flight());
        assert_eq!(
            state.tick(LAG + 2).isr_request,
            None,
            "one change at a time"
        );
        let (_, effects) = state.apply_committed(
            CommittedState {
                partition_epoch: 11,
                ..committed(&[1, 2, 3], &[1, 2])
            },
            LAG + 3,
        );
        assert!(effects.high_watermark_moved);
        assert_eq!(state.high_watermark(), 10);
    }

    #[test]
    fn a_follower_at_the_log_end_stays_in_sync_without_fetching() {
        let mut state = leader(&[1, 2], &[1, 2], 1);
        state.on_local_append(10, 0);
        state.on_follower_fetch(fetch(2, 10), 1);
        assert_eq!(state.tick(10 * LAG).isr_request, None);
    }

    #[test]
    fn a_follower_fetching_but_never_reaching_the_log_end_is_shrunk() {
        let mut state = leader(&[1, 2], &[1, 2], 1);
        let mut leo = 10;
        state.on_local_append(leo, 0);
        // Each fetch reaches what the leader had at the one before... until
        // it falls behind that too.
        state.on_follower_fetch(fetch(2, 10), 1);
        leo += 10;
        state.on_local_append(leo, 2);
        state.on_follower_fetch(fetch(2, 15), LAG / 2);
        state.on_follower_fetch(fetch(2, 18), LAG + 10);
        assert!(state.tick(LAG + 10).isr_request.is_some());
    }

    #[test]
    fn a_new_leader_gives_its_isr_the_lag_time_to_fetch() {
        let mut state = LeaderState::new(1, committed(&[1, 2], &[1, 2]), 10, 0, config(1), 1000);
        assert_eq!(state.tick(1000 + LAG).isr_request, None);
        assert!(state.tick(1001 + LAG).isr_request.is_some());
    }

    #[test]
    fn expansion_needs_the_high_watermark_and_the_epoch_start() {
        // The leader took over at log end 10 with HW 4.
        let mut state = LeaderState::new(1, committed(&[1, 2], &[1]), 10, 4, config(1), 0);
        assert_eq!(state.high_watermark(), 10, "sole ISR member");
        assert_eq!(state.on_follower_fetch(fetch(2, 9), 1).isr_request, None);
        let request = state.on_follower_fetch(fetch(2, 10), 2).isr_request;
        assert_eq!(request.unwrap().new_isr, vec![(1, -1), (2, 102)]);
    }

    #[test]
    fn expansion_waits_for_the_epoch_start_even_above_the_high_watermark() {
        let mut state = LeaderState::new(1, committed(&[1, 2, 3], &[1, 3]), 10, 4, config(1), 0);
        state.on_follower_fetch(fetch(3, 4), 1);
        assert_eq!(state.high_watermark(), 4);
        assert_eq!(state.on_follower_fetch(fetch(2, 6), 1).isr_request, None);
    }

    #[test]
    fn a_follower_fenced_after_leaving_the_isr_stops_holding_the_high_watermark() {
        let mut state = leader(&[1, 2, 3], &[1, 2, 3], 1);
        state.on_local_append(10, 0);
        state.on_follower_fetch(fetch(2, 10), 0);
        state.on_follower_fetch(fetch(3, 4), 0);
        assert_eq!(state.high_watermark(), 4);
        // 3 leaves the ISR, but as an eligible follower caught up within
        // the lag time it still counts as about to join.
        state.apply_committed(
            CommittedState {
                leader_epoch: state.leader_epoch(),
                partition_epoch: state.committed().partition_epoch + 1,
                replicas: vec![1, 2, 3],
                isr: vec![1, 2],
            },
            1,
        );
        assert_eq!(state.high_watermark(), 4);
        // Its broker is fenced: the metadata says it cannot join.
        let effects = state.refresh_eligibility(|id, _| id != 3, 2);
        assert!(effects.high_watermark_moved);
        assert_eq!(state.high_watermark(), 10);
    }

    #[test]
    fn ineligible_brokers_do_not_join() {
        let mut state = leader(&[1, 2], &[1], 1);
        let fenced = FollowerFetch {
            eligible: false,
            ..fetch(2, 0)
        };
        assert_eq!(state.on_follower_fetch(fenced, 1).isr_request, None);
        assert!(state
            .on_follower_fetch(fetch(2, 0), 2)
            .isr_request
            .is_some());
    }

    #[test]
    fn an_expansion_in_flight_counts_the_joining_replica() {
        let mut state = leader(&[1, 2], &[1], 1);
        state.on_local_append(10, 0);
        assert_eq!(state.high_watermark(), 10);
        let request = state.on_follower_fetch(fetch(2, 10), 1).isr_request;
        assert!(request.is_some());
        assert_eq!(state.maximal_isr(), vec![1, 2]);
        state.on_local_append(20, 2);
        assert_eq!(state.high_watermark(), 10, "2 is in the maximal ISR");
        state.on_follower_fetch(fetch(2, 20), 3);
        assert_eq!(state.high_watermark(), 20);
    }

    #[test]
    fn a_failed_change_is_proposed_again() {
        let mut state = leader(&[1, 2], &[1], 1);
        assert!(state
            .on_follower_fetch(fetch(2, 0), 1)
            .isr_request
            .is_some());
        assert_eq!(state.on_follower_fetch(fetch(2, 0), 2).isr_request, None);
        state.isr_change_failed(3);
        assert!(state
            .on_follower_fetch(fetch(2, 0), 4)
            .isr_request
            .is_some());
    }

    #[test]
    fn stale_and_foreign_states_are_ignored() {
        let mut state = leader(&[1, 2], &[1, 2], 1);
        let stale = CommittedState {
            partition_epoch: 9,
            ..committed(&[1, 2], &[1])
        };
        assert!(state.apply_committed(stale, 1).0);
        assert_eq!(state.committed().isr, vec![1, 2]);
        let other_epoch = CommittedState {
            leader_epoch: 6,
            ..committed(&[1, 2], &[1])
        };
        assert!(!state.apply_committed(other_epoch, 1).0);
    }

    #[test]
    fn acks_all_after_the_isr_fell_below_min_isr() {
        let mut state = leader(&[1, 2, 3], &[1, 2, 3], 2);
        state.on_local_append(10, 0);
        state.on_follower_fetch(fetch(2, 10), 1);
        state.on_follower_fetch(fetch(3, 10), 1);
        assert_eq!(state.ack_state(10), AckState::Done);
        state.apply_committed(
            CommittedState {
                partition_epoch: 11,
                ..committed(&[1, 2, 3], &[1])
            },
            2,
        );
        assert_eq!(state.ack_state(10), AckState::DoneUnderMinIsr);
        state.on_local_append(20, 3);
        assert_eq!(state.ack_state(20), AckState::Waiting);
    }

    #[test]
    fn caught_up_followers_about_to_join_hold_the_high_watermark() {
        let mut state = leader(&[1, 2], &[1], 1);
        state.on_local_append(10, 0);
        // 2 is caught up but its expansion failed; it still counts.
        state.on_follower_fetch(fetch(2, 10), 1);
        state.isr_change_failed(1);
        state.on_local_append(12, 2);
        assert_eq!(state.high_watermark(), 10);
    }

    /// A tiny deterministic generator (xorshift), so seeds replay.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n.max(1)
        }
    }

    /// Random appends, follower fetches, ticks and AlterPartition outcomes;
    /// after every step the HW never went back, never passed the leader's
    /// log end or a maximal-ISR member's log end when it moved, never moved
    /// below min ISR, and every ISR proposal keeps the leader and adds only
    /// caught-up followers.
    #[test]
    fn random_histories_keep_the_high_watermark_invariants() {
        for seed in 1..=300u64 {
            let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
            let min_isr = 1 + rng.below(3) as usize;
            let mut state = LeaderState::new(
                1,
                committed(&[1, 2, 3], &[1, 2, 3]),
                0,
                0,
                config(min_isr),
                0,
            );
            let mut now = 0;
            let mut leo = 0;
            let mut pending: Option<IsrRequest> = None;
            let mut partition_epoch = 10;
            for step in 0..400 {
                let before = state.high_watermark();
                let effects = match rng.below(6) {
                    0 => {
                        leo += 1 + rng.below(5) as i64;
                        state.on_local_append(leo, now)
                    }
                    1 | 2 => {
                        let replica = 2 + rng.below(2) as i32;
                        let offset = rng.below(leo as u64 + 1) as i64;
                        let mut fetch = fetch(replica, offset);
                        fetch.eligible = rng.below(5) != 0;
                        let effects = state.on_follower_fetch(fetch, now);
                        if let Some(request) = &effects.isr_request {
                            let added: Vec<i32> = request
                                .new_isr
                                .iter()
                                .map(|m| m.0)
                                .filter(|r| !state.committed().isr.contains(r))
                                .collect();
                            assert_eq!(added, [replica], "seed {seed} step {step}");
                            assert!(
                                fetch.eligible && offset >= before,
                                "seed {seed} step {step}"
                            );
                        }
                        effects
                    }
                    3 => {
                        now += rng.below(LAG as u64) as i64;
                        state.tick(now)
                    }
                    4 => match pending.take() {
                        Some(request) => {
                            partition_epoch += 1;
                            let isr = request.new_isr.iter().map(|m| m.0).collect();
                            let next = CommittedState {
                                partition_epoch,
                                isr,
                                ..committed(&[1, 2, 3], &[])
                            };
                            state.apply_committed(next, now).1
                        }
                        None => Effects::default(),
                    },
                    _ => match pending.take() {
                        Some(_) => state.isr_change_failed(now),
                        None => Effects::default(),
                    },
                };
                if let Some(request) = effects.isr_request {
                    assert!(pending.is_none(), "two changes in flight, seed {seed}");
                    assert!(request.new_isr.iter().any(|m| m.0 == 1), "seed {seed}");
                    assert_eq!(request.partition_epoch, partition_epoch, "seed {seed}");
                    pending = Some(request);
                }
                let hw = state.high_watermark();
                assert!(hw >= before, "HW went back, seed {seed} step {step}");
                assert!(hw <= leo, "HW past the log end, seed {seed} step {step}");
                if hw > before {
                    assert!(!state.is_under_min_isr(), "seed {seed} step {step}");
                    for member in state.maximal_isr() {
                        if let Some(end) = state.follower_log_end(member) {
                            assert!(hw <= end, "HW past {member}'s log end, seed {seed}");
                        }
                    }
                }
            }
        }
    }
}
