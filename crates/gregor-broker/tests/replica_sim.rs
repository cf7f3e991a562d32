//! A seeded simulation of one partition replicated to three brokers: the
//! leader's state machine (`replica::leader`) and the follower's decisions
//! (`replica::follower`) exactly as the broker runs them, over in-memory
//! logs, a controller that validates AlterPartition and elects leaders from
//! the ISR, and a network that drops, delays and reorders messages.
//! Brokers crash (keeping only what they fsynced) and restart; leadership
//! moves with epoch bumps. After every step the invariants are checked:
//!
//! - leader ∈ ISR ⊆ replicas;
//! - a broker's high watermark never goes back while it runs, and never
//!   passes its log end;
//! - no follower truncates below its high watermark;
//! - an acknowledged (acks=all) offset never changes value on any broker
//!   whose high watermark covers it, and the current leader holds it;
//! - the committed prefixes of any two brokers are identical.
//!
//! At the end the faults stop, every broker comes back and the logs must
//! converge: full ISR, identical logs, every acknowledged record in place.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use gregor_broker::replica::follower::{self, FollowerAction, LeaderAnswer, LocalOffsets};
use gregor_broker::replica::leader::{
    AckState, CommittedState, Effects, FollowerFetch, IsrRequest, LeaderConfig, LeaderState,
};
use gregor_protocol::error_codes;
use std::collections::{BTreeMap, BTreeSet};

const REPLICAS: [i32; 3] = [1, 2, 3];
const CONFIG: LeaderConfig = LeaderConfig {
    min_insync_replicas: 2,
    replica_lag_time_max_ms: 2_000,
};
const FETCH_TIMEOUT_MS: i64 = 1_000;
const FETCH_BACKOFF_MS: i64 = 100;
const MAX_RECORDS_PER_FETCH: usize = 5;

/// splitmix64: small, seedable, good enough to pick faults.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(1000) < percent * 10
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Record {
    epoch: i32,
    value: u64,
}

/// The leader-epoch cache with gregor-log's (Kafka's) semantics.
#[derive(Debug, Clone, Default)]
struct EpochCache {
    entries: Vec<(i32, i64)>,
}

impl EpochCache {
    fn latest(&self) -> Option<i32> {
        self.entries.last().map(|e| e.0)
    }

    fn assign(&mut self, epoch: i32, start: i64) {
        if let Some(&(last, last_start)) = self.entries.last() {
            if last == epoch && last_start <= start {
                return;
            }
        }
        self.entries.retain(|&(e, s)| e < epoch && s < start);
        self.entries.push((epoch, start));
    }

    fn observe(&mut self, epoch: i32, base: i64) {
        if self.latest().is_none_or(|latest| epoch > latest) {
            self.assign(epoch, base);
        }
    }

    fn truncate_from_end(&mut self, end: i64) {
        self.entries.retain(|&(_, s)| s < end);
    }

    fn end_offset_for(&self, requested: i32, log_end: i64) -> (i32, i64) {
        if requested < 0 {
            return (-1, -1);
        }
        if self.latest() == Some(requested) {
            return (requested, log_end);
        }
        let higher = self.entries.partition_point(|&(e, _)| e <= requested);
        let Some(&(_, next_start)) = self.entries.get(higher) else {
            return (-1, -1);
        };
        match higher.checked_sub(1) {
            Some(i) => (self.entries[i].0, next_start),
            None => (requested, next_start),
        }
    }
}

/// The partition's state as the controller committed it, plus the brokers
/// it considers fenced and their registration epochs.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PartitionState {
    version: u64,
    leader: i32,
    leader_epoch: i32,
    partition_epoch: i32,
    isr: Vec<i32>,
    fenced: BTreeSet<i32>,
    broker_epochs: BTreeMap<i32, i64>,
}

impl PartitionState {
    fn committed(&self) -> CommittedState {
        CommittedState {
            leader_epoch: self.leader_epoch,
            partition_epoch: self.partition_epoch,
            replicas: REPLICAS.to_vec(),
            isr: self.isr.clone(),
        }
    }
}

#[derive(Debug, Clone)]
enum FetchResult {
    Error(i16),
    Diverging(i32, i64),
    OutOfRange {
        leader_end: i64,
    },
    Records {
        records: Vec<Record>,
        high_watermark: i64,
    },
}

#[derive(Debug, Clone)]
enum Message {
    Fetch {
        from: i32,
        id: u64,
        fetch_offset: i64,
        last_fetched_epoch: i32,
        current_leader_epoch: i32,
        broker_epoch: i64,
    },
    FetchAnswer {
        from: i32,
        id: u64,
        leader_epoch: i32,
        fetch_offset: i64,
        result: FetchResult,
    },
    Alter {
        from: i32,
        request: IsrRequest,
    },
    AlterAnswer {
        leader_epoch: i32,
        result: Option<CommittedState>,
    },
    Metadata(PartitionState),
}

struct InFlight {
    at: i64,
    seq: u64,
    to: i32,
    message: Message,
}

struct Node {
    id: i32,
    alive: bool,
    incarnation: i64,
    log: Vec<Record>,
    flushed: usize,
    epochs: EpochCache,
    high_watermark: i64,
    checkpointed_high_watermark: i64,
    known: Option<PartitionState>,
    leader: Option<LeaderState>,
    outstanding: Option<(u64, i64)>,
    next_fetch_at: i64,
    /// acks=all produces waiting: (offset, value, leader epoch).
    pending: Vec<(i64, u64, i32)>,
}

impl Node {
    fn new(id: i32) -> Node {
        Node {
            id,
            alive: true,
            incarnation: 1,
            log: Vec::new(),
            flushed: 0,
            epochs: EpochCache::default(),
            high_watermark: 0,
            checkpointed_high_watermark: 0,
            known: None,
            leader: None,
            outstanding: None,
            next_fetch_at: 0,
            pending: Vec::new(),
        }
    }

    fn log_end(&self) -> i64 {
        self.log.len() as i64
    }

    fn truncate(&mut self, offset: i64) {
        let offset = offset.max(0) as usize;
        if offset < self.log.len() {
            self.log.truncate(offset);
        }
        self.flushed = self.flushed.min(self.log.len());
        self.epochs.truncate_from_end(self.log_end());
        self.high_watermark = self.high_watermark.min(self.log_end());
    }
}

struct Sim {
    rng: Rng,
    now: i64,
    seq: u64,
    nodes: Vec<Node>,
    controller: PartitionState,
    network: Vec<InFlight>,
    faults: bool,
    next_value: u64,
    /// Acknowledged offset -> value.
    acked: BTreeMap<i64, u64>,
    last_high_watermark: BTreeMap<i32, i64>,
    stats: Stats,
}

#[derive(Debug, Default)]
struct Stats {
    acked: usize,
    crashes: usize,
    leader_moves: usize,
    truncations: usize,
}

impl Sim {
    fn new(seed: u64) -> Sim {
        let controller = PartitionState {
            version: 1,
            leader: 1,
            leader_epoch: 0,
            partition_epoch: 0,
            isr: REPLICAS.to_vec(),
            fenced: BTreeSet::new(),
            broker_epochs: REPLICAS.iter().map(|&r| (r, 1)).collect(),
        };
        let mut sim = Sim {
            rng: Rng(seed),
            now: 0,
            seq: 0,
            nodes: REPLICAS.iter().map(|&id| Node::new(id)).collect(),
            controller,
            network: Vec::new(),
            faults: true,
            next_value: 1,
            acked: BTreeMap::new(),
            last_high_watermark: BTreeMap::new(),
            stats: Stats::default(),
        };
        sim.publish();
        sim
    }

    fn node(&mut self, id: i32) -> &mut Node {
        &mut self.nodes[(id - 1) as usize]
    }

    fn send(&mut self, to: i32, message: Message) {
        let reliable = matches!(
            message,
            Message::Metadata(_) | Message::Alter { .. } | Message::AlterAnswer { .. }
        );
        if self.faults && !reliable && self.rng.chance(3) {
            return;
        }
        let delay = if self.faults {
            1 + self.rng.below(150) as i64
        } else {
            1 + self.rng.below(5) as i64
        };
        self.seq += 1;
        self.network.push(InFlight {
            at: self.now + delay,
            seq: self.seq,
            to,
            message,
        });
    }

    /// The controller commits a new partition state: every broker learns it.
    fn publish(&mut self) {
        self.controller.version += 1;
        for id in REPLICAS {
            let state = self.controller.clone();
            self.send(id, Message::Metadata(state));
        }
    }

    fn step(&mut self) {
        self.now += 1 + self.rng.below(40) as i64;
        if self.faults {
            self.maybe_fault();
        }
        if self.rng.chance(30) {
            self.produce();
        }
        for i in 0..self.nodes.len() {
            if self.rng.chance(10) {
                let n = &mut self.nodes[i];
                n.flushed = n.log.len();
            }
            if self.rng.chance(5) {
                let n = &mut self.nodes[i];
                n.checkpointed_high_watermark = n.high_watermark;
            }
        }
        self.deliver();
        for id in REPLICAS {
            self.tick(id);
            self.maybe_fetch(id);
        }
        self.settle_acks();
        self.check();
    }

    fn maybe_fault(&mut self) {
        let all_alive = self.nodes.iter().all(|n| n.alive);
        let full_isr = self.controller.isr.len() == REPLICAS.len();
        if all_alive && full_isr && self.rng.chance(1) {
            let victim = 1 + self.rng.below(3) as i32;
            self.crash(victim);
        } else if !all_alive && self.rng.chance(3) {
            let dead: Vec<i32> = self
                .nodes
                .iter()
                .filter(|n| !n.alive)
                .map(|n| n.id)
                .collect();
            let id = dead[self.rng.below(dead.len() as u64) as usize];
            self.restart(id);
        } else if self.rng.chance(1) {
            self.move_leader();
        }
    }

    /// kill -9: only what was fsynced survives. The controller fences the
    /// broker (its session ends) before it can come back.
    fn crash(&mut self, id: i32) {
        self.stats.crashes += 1;
        let n = self.node(id);
        n.alive = false;
        n.leader = None;
        n.outstanding = None;
        n.pending.clear();
        n.known = None;
        let flushed = n.flushed;
        n.log.truncate(flushed);
        self.network.retain(|m| m.to != id);
        let c = &mut self.controller;
        c.fenced.insert(id);
        if c.isr.len() > 1 {
            c.isr.retain(|&r| r != id);
        }
        c.partition_epoch += 1;
        if c.leader == id {
            self.elect();
        }
        self.publish();
    }

    fn restart(&mut self, id: i32) {
        let n = self.node(id);
        n.alive = true;
        n.incarnation += 1;
        // Recovery drops epochs past the log end; the high watermark comes
        // from the checkpoint, never past the log.
        let end = n.log_end();
        n.epochs.truncate_from_end(end);
        n.high_watermark = n.checkpointed_high_watermark.min(end);
        n.next_fetch_at = 0;
        let incarnation = n.incarnation;
        self.last_high_watermark.remove(&id);
        let c = &mut self.controller;
        c.fenced.remove(&id);
        c.broker_epochs.insert(id, incarnation);
        if c.leader < 0 && c.isr.contains(&id) {
            self.elect();
        }
        self.publish();
    }

    /// Clean election: the first live ISR member.
    fn elect(&mut self) {
        let c = &mut self.controller;
        let candidate = c.isr.iter().copied().find(|r| !c.fenced.contains(r));
        c.leader = candidate.unwrap_or(-1);
        c.leader_epoch += 1;
        c.partition_epoch += 1;
    }

    fn move_leader(&mut self) {
        let c = &self.controller;
        let others: Vec<i32> = c
            .isr
            .iter()
            .copied()
            .filter(|&r| r != c.leader && !c.fenced.contains(&r))
            .collect();
        if others.is_empty() || c.leader < 0 {
            return;
        }
        self.stats.leader_moves += 1;
        let next = others[self.rng.below(others.len() as u64) as usize];
        let c = &mut self.controller;
        c.leader = next;
        c.leader_epoch += 1;
        c.partition_epoch += 1;
        self.publish();
    }

    fn produce(&mut self) {
        let leader = self.controller.leader;
        if leader < 0 {
            return;
        }
        let value = self.next_value;
        self.next_value += 1;
        let now = self.now;
        let n = self.node(leader);
        if !n.alive {
            return;
        }
        let Some(state) = n.leader.as_mut() else {
            return;
        };
        if state.is_under_min_isr() {
            // NOT_ENOUGH_REPLICAS: refused before the append.
            return;
        }
        let epoch = state.leader_epoch();
        let offset = n.log.len() as i64;
        let effects = state.on_local_append(offset + 1, now);
        n.log.push(Record { epoch, value });
        n.epochs.observe(epoch, offset);
        n.pending.push((offset, value, epoch));
        self.effects(leader, effects);
    }

    fn effects(&mut self, from: i32, effects: Effects) {
        if let Some(request) = effects.isr_request {
            self.send(0, Message::Alter { from, request });
        }
    }

    fn deliver(&mut self) {
        self.network.sort_by_key(|m| (m.at, m.seq));
        let due = self.network.partition_point(|m| m.at <= self.now);
        let messages: Vec<InFlight> = self.network.drain(..due).collect();
        for m in messages {
            if m.to == 0 {
                self.controller_receive(m.message);
            } else if self.node(m.to).alive {
                self.receive(m.to, m.message);
            }
        }
    }

    fn controller_receive(&mut self, message: Message) {
        let Message::Alter { from, request } = message else {
            return;
        };
        let c = &self.controller;
        let valid = from == c.leader
            && request.leader_epoch == c.leader_epoch
            && request.partition_epoch == c.partition_epoch
            && request.new_isr.iter().any(|&(r, _)| r == from)
            && request.new_isr.iter().all(|&(r, epoch)| {
                !c.fenced.contains(&r) && (epoch < 0 || c.broker_epochs.get(&r) == Some(&epoch))
            });
        let leader_epoch = request.leader_epoch;
        if !valid {
            self.send(
                from,
                Message::AlterAnswer {
                    leader_epoch,
                    result: None,
                },
            );
            return;
        }
        let c = &mut self.controller;
        c.isr = request.new_isr.iter().map(|&(r, _)| r).collect();
        c.partition_epoch += 1;
        let committed = c.committed();
        self.send(
            from,
            Message::AlterAnswer {
                leader_epoch,
                result: Some(committed),
            },
        );
        self.publish();
    }

    fn receive(&mut self, to: i32, message: Message) {
        let now = self.now;
        match message {
            Message::Metadata(state) => self.apply_metadata(to, state),
            Message::AlterAnswer {
                leader_epoch,
                result,
            } => {
                let n = self.node(to);
                let Some(state) = n.leader.as_mut() else {
                    return;
                };
                if state.leader_epoch() != leader_epoch {
                    return;
                }
                let effects = match result {
                    Some(committed) => state.apply_committed(committed, now).1,
                    None => state.isr_change_failed(now),
                };
                self.effects(to, effects);
            }
            Message::Fetch {
                from,
                id,
                fetch_offset,
                last_fetched_epoch,
                current_leader_epoch,
                broker_epoch,
            } => {
                let (leader_epoch, result, effects) = self.serve_fetch(
                    to,
                    from,
                    fetch_offset,
                    last_fetched_epoch,
                    current_leader_epoch,
                    broker_epoch,
                );
                if let Some(effects) = effects {
                    self.effects(to, effects);
                }
                self.send(
                    from,
                    Message::FetchAnswer {
                        from: to,
                        id,
                        leader_epoch,
                        fetch_offset,
                        result,
                    },
                );
            }
            Message::FetchAnswer {
                from,
                id,
                leader_epoch,
                fetch_offset,
                result,
            } => self.apply_answer(to, from, id, leader_epoch, fetch_offset, result),
            Message::Alter { .. } => {}
        }
    }

    /// Kafka's makeLeader / makeFollower on a metadata change.
    fn apply_metadata(&mut self, id: i32, state: PartitionState) {
        let now = self.now;
        let n = self.node(id);
        if n.known.as_ref().is_some_and(|k| k.version >= state.version) {
            return;
        }
        n.known = Some(state.clone());
        if state.leader != id {
            n.leader = None;
            // Produces waiting here time out or fail: not acknowledged.
            n.pending.clear();
            return;
        }
        let same_epoch = n
            .leader
            .as_ref()
            .is_some_and(|l| l.leader_epoch() == state.leader_epoch);
        if same_epoch {
            let leader = n.leader.as_mut().unwrap();
            let effects = leader.apply_committed(state.committed(), now).1;
            self.effects(id, effects);
            return;
        }
        let end = n.log_end();
        n.epochs.assign(state.leader_epoch, end);
        n.pending.clear();
        n.leader = Some(LeaderState::new(
            id,
            state.committed(),
            end,
            n.high_watermark,
            CONFIG,
            now,
        ));
    }

    /// Kafka's `Partition.readRecords` for a follower.
    fn serve_fetch(
        &mut self,
        to: i32,
        from: i32,
        fetch_offset: i64,
        last_fetched_epoch: i32,
        current_leader_epoch: i32,
        broker_epoch: i64,
    ) -> (i32, FetchResult, Option<Effects>) {
        let now = self.now;
        let n = self.node(to);
        let Some(known) = n.known.clone() else {
            return (
                current_leader_epoch,
                FetchResult::Error(error_codes::NOT_LEADER_OR_FOLLOWER),
                None,
            );
        };
        let error = if current_leader_epoch < known.leader_epoch {
            Some(error_codes::FENCED_LEADER_EPOCH)
        } else if current_leader_epoch > known.leader_epoch {
            Some(error_codes::UNKNOWN_LEADER_EPOCH)
        } else if known.leader != to || n.leader.is_none() || !REPLICAS.contains(&from) {
            Some(error_codes::NOT_LEADER_OR_FOLLOWER)
        } else {
            None
        };
        if let Some(code) = error {
            return (current_leader_epoch, FetchResult::Error(code), None);
        }
        let log_end = n.log_end();
        if last_fetched_epoch >= 0 {
            let (epoch, end) = n.epochs.end_offset_for(last_fetched_epoch, log_end);
            if epoch < 0 || end < 0 {
                return (
                    current_leader_epoch,
                    FetchResult::OutOfRange {
                        leader_end: log_end,
                    },
                    None,
                );
            }
            if epoch < last_fetched_epoch || end < fetch_offset {
                // The follower's fetch state is not updated (Kafka skips
                // it for a diverging log).
                return (
                    current_leader_epoch,
                    FetchResult::Diverging(epoch, end),
                    None,
                );
            }
        }
        if fetch_offset > log_end || fetch_offset < 0 {
            return (
                current_leader_epoch,
                FetchResult::OutOfRange {
                    leader_end: log_end,
                },
                None,
            );
        }
        let end = (fetch_offset as usize + MAX_RECORDS_PER_FETCH).min(n.log.len());
        let records = n.log[fetch_offset as usize..end].to_vec();
        let eligible =
            !known.fenced.contains(&from) && known.broker_epochs.get(&from) == Some(&broker_epoch);
        let leader = n.leader.as_mut().unwrap();
        let effects = leader.on_follower_fetch(
            FollowerFetch {
                replica_id: from,
                fetch_offset,
                broker_epoch,
                eligible,
            },
            now,
        );
        let high_watermark = leader.high_watermark();
        (
            current_leader_epoch,
            FetchResult::Records {
                records,
                high_watermark,
            },
            Some(effects),
        )
    }

    fn apply_answer(
        &mut self,
        to: i32,
        from: i32,
        id: u64,
        leader_epoch: i32,
        fetch_offset: i64,
        result: FetchResult,
    ) {
        let now = self.now;
        let n = self.node(to);
        if n.outstanding.map(|(o, _)| o) != Some(id) {
            return;
        }
        n.outstanding = None;
        // The answer raced a leadership change: nothing is applied.
        let following = n
            .known
            .as_ref()
            .is_some_and(|k| k.leader == from && k.leader_epoch == leader_epoch && from != to);
        if !following || fetch_offset != n.log_end() {
            return;
        }
        let answer = match &result {
            FetchResult::Error(code) => LeaderAnswer {
                error_code: *code,
                high_watermark: -1,
                log_start_offset: -1,
                diverging_epoch: None,
            },
            FetchResult::Diverging(epoch, end) => LeaderAnswer {
                error_code: error_codes::NONE,
                high_watermark: -1,
                log_start_offset: 0,
                diverging_epoch: Some((*epoch, *end)),
            },
            FetchResult::OutOfRange { .. } => LeaderAnswer {
                error_code: error_codes::OFFSET_OUT_OF_RANGE,
                high_watermark: -1,
                log_start_offset: -1,
                diverging_epoch: None,
            },
            FetchResult::Records { high_watermark, .. } => LeaderAnswer {
                error_code: error_codes::NONE,
                high_watermark: *high_watermark,
                log_start_offset: 0,
                diverging_epoch: Some((-1, -1)),
            },
        };
        match follower::on_answer(&answer) {
            FollowerAction::Append { high_watermark, .. } => {
                let FetchResult::Records { records, .. } = result else {
                    unreachable!("an append comes from records")
                };
                for record in records {
                    let offset = n.log_end();
                    n.log.push(record);
                    n.epochs.observe(record.epoch, offset);
                }
                n.high_watermark =
                    follower::next_high_watermark(n.high_watermark, high_watermark, n.log_end());
            }
            FollowerAction::Diverged { epoch, end_offset } => {
                let (local_epoch, local_end) = n.epochs.end_offset_for(epoch, n.log_end());
                let local =
                    (local_epoch >= 0 && local_end >= 0).then_some((local_epoch, local_end));
                let target = follower::diverging_truncation(epoch, end_offset, local, n.log_end());
                assert!(
                    target >= n.high_watermark,
                    "node {to} truncates to {target} below its high watermark {}",
                    n.high_watermark
                );
                if target < n.log_end() {
                    self.stats.truncations += 1;
                }
                let n = self.node(to);
                n.truncate(target);
            }
            FollowerAction::OutOfRange => {
                let FetchResult::OutOfRange { leader_end } = result else {
                    unreachable!("out of range comes from out of range")
                };
                let local = LocalOffsets {
                    log_start: 0,
                    log_end: n.log_end(),
                };
                match follower::out_of_range(local, 0, leader_end) {
                    follower::OutOfRangeFix::TruncateTo(offset) => {
                        assert!(
                            offset >= n.high_watermark,
                            "node {to} out-of-range truncation below its high watermark"
                        );
                        n.truncate(offset);
                    }
                    follower::OutOfRangeFix::StartAt(offset) => {
                        panic!("node {to}: the leader's log never starts past ours ({offset})")
                    }
                    follower::OutOfRangeFix::Retry => n.next_fetch_at = now + FETCH_BACKOFF_MS,
                }
            }
            FollowerAction::Backoff { .. } => n.next_fetch_at = now + FETCH_BACKOFF_MS,
        }
    }

    fn tick(&mut self, id: i32) {
        let now = self.now;
        let n = self.node(id);
        if !n.alive {
            return;
        }
        if let Some(leader) = n.leader.as_mut() {
            let effects = leader.tick(now);
            self.effects(id, effects);
        }
    }

    fn maybe_fetch(&mut self, id: i32) {
        let now = self.now;
        let n = self.node(id);
        if !n.alive {
            return;
        }
        if let Some((_, sent)) = n.outstanding {
            if now - sent < FETCH_TIMEOUT_MS {
                return;
            }
            n.outstanding = None;
        }
        let Some(known) = n.known.clone() else {
            return;
        };
        if known.leader < 0 || known.leader == id || now < n.next_fetch_at {
            return;
        }
        self.seq += 1;
        let fetch_id = self.seq;
        let n = self.node(id);
        n.outstanding = Some((fetch_id, now));
        let message = Message::Fetch {
            from: id,
            id: fetch_id,
            fetch_offset: n.log_end(),
            last_fetched_epoch: n.epochs.latest().unwrap_or(-1),
            current_leader_epoch: known.leader_epoch,
            broker_epoch: n.incarnation,
        };
        self.send(known.leader, message);
    }

    fn settle_acks(&mut self) {
        for i in 0..self.nodes.len() {
            let n = &mut self.nodes[i];
            let Some(leader) = n.leader.as_ref() else {
                continue;
            };
            // The broker publishes one high watermark, led or followed.
            n.high_watermark = n.high_watermark.max(leader.high_watermark());
            let mut acked = Vec::new();
            n.pending.retain(|&(offset, value, epoch)| {
                if epoch != leader.leader_epoch() {
                    return false;
                }
                match leader.ack_state(offset + 1) {
                    AckState::Waiting => true,
                    AckState::Done => {
                        acked.push((offset, value));
                        false
                    }
                    AckState::DoneUnderMinIsr => false,
                }
            });
            for (offset, value) in acked {
                let previous = self.acked.insert(offset, value);
                assert!(
                    previous.is_none_or(|p| p == value),
                    "offset {offset} acknowledged with two values: {previous:?} and {value}"
                );
                self.stats.acked += 1;
            }
        }
    }

    fn check(&mut self) {
        let c = &self.controller;
        assert!(!c.isr.is_empty(), "empty ISR");
        assert!(c.isr.iter().all(|r| REPLICAS.contains(r)), "ISR ⊆ replicas");
        assert!(
            c.leader < 0 || c.isr.contains(&c.leader),
            "leader {} not in ISR {:?}",
            c.leader,
            c.isr
        );
        for n in self.nodes.iter().filter(|n| n.alive) {
            assert!(
                n.high_watermark <= n.log_end(),
                "node {}: high watermark {} past log end {}",
                n.id,
                n.high_watermark,
                n.log_end()
            );
            let hw = n.leader.as_ref().map_or(n.high_watermark, |l| {
                l.high_watermark().max(n.high_watermark)
            });
            if let Some(&last) = self.last_high_watermark.get(&n.id) {
                assert!(
                    hw >= last,
                    "node {}: high watermark went back from {last} to {hw}",
                    n.id
                );
            }
            self.last_high_watermark.insert(n.id, hw);
            for (&offset, &value) in self.acked.range(..hw) {
                assert_eq!(
                    n.log.get(offset as usize).map(|r| r.value),
                    Some(value),
                    "node {}: acknowledged offset {offset} changed",
                    n.id
                );
            }
        }
        // The leader of record (once it knows it leads) holds every
        // acknowledged record.
        if c.leader > 0 {
            let leader = &self.nodes[(c.leader - 1) as usize];
            if leader.alive && leader.leader.is_some() {
                for (&offset, &value) in &self.acked {
                    assert_eq!(
                        leader.log.get(offset as usize).map(|r| r.value),
                        Some(value),
                        "leader {}: acknowledged offset {offset} lost",
                        leader.id
                    );
                }
            }
        }
        let alive: Vec<&Node> = self.nodes.iter().filter(|n| n.alive).collect();
        for a in &alive {
            for b in &alive {
                let committed = a.high_watermark.min(b.high_watermark) as usize;
                assert_eq!(
                    a.log[..committed],
                    b.log[..committed],
                    "nodes {} and {} differ below their high watermarks",
                    a.id,
                    b.id
                );
            }
        }
    }

    /// Stops the faults, brings every broker back and runs until quiet.
    fn heal(&mut self) {
        self.faults = false;
        let dead: Vec<i32> = self
            .nodes
            .iter()
            .filter(|n| !n.alive)
            .map(|n| n.id)
            .collect();
        for id in dead {
            self.restart(id);
        }
        for _ in 0..1_500 {
            self.now += 10;
            self.deliver();
            for id in REPLICAS {
                self.tick(id);
                self.maybe_fetch(id);
            }
            self.settle_acks();
            self.check();
        }
    }
}

fn run(seed: u64, steps: usize) -> Stats {
    let mut sim = Sim::new(seed);
    for _ in 0..steps {
        sim.step();
    }
    sim.heal();
    let c = &sim.controller;
    assert_eq!(c.isr.len(), 3, "seed {seed}: ISR back to full: {c:?}");
    let leader = &sim.nodes[(c.leader - 1) as usize];
    for n in &sim.nodes {
        assert_eq!(n.log, leader.log, "seed {seed}: node {} converged", n.id);
        assert_eq!(
            n.high_watermark,
            leader.log_end(),
            "seed {seed}: node {} HW",
            n.id
        );
    }
    for (&offset, &value) in &sim.acked {
        assert_eq!(leader.log[offset as usize].value, value, "seed {seed}");
    }
    sim.stats
}

#[test]
fn replication_keeps_every_acknowledged_record_under_faults() {
    let seeds: u64 = std::env::var("REPLICA_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(25);
    let mut total = Stats::default();
    for seed in 0..seeds {
        let stats = run(seed, 2_000);
        total.acked += stats.acked;
        total.crashes += stats.crashes;
        total.leader_moves += stats.leader_moves;
        total.truncations += stats.truncations;
    }
    // The faults happened: the invariants were tested, not just held.
    assert!(total.acked > 1000, "{total:?}");
    assert!(total.crashes > 5, "{total:?}");
    assert!(total.leader_moves > 5, "{total:?}");
    assert!(total.truncations > 0, "{total:?}");
    println!("{total:?}");
}
