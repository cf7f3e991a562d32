//! A seeded simulator for the KRaft core: several nodes, simulated time, a
//! lossy network (delay, drop, duplicate, reorder), partitions that heal,
//! crash-restarts that keep only what was persisted, client appends. After
//! every step it checks the safety invariants; a failure names its seed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use gregor_raft::kraft::{
    LogEntry, MemLog, Message, Node, NodeId, Output, QuorumConfig, QuorumState, Rng, Role,
};
use std::collections::{BTreeMap, BTreeSet};

const OBSERVER: NodeId = 100;

#[derive(Clone, Copy)]
struct Faults {
    drop_pct: u64,
    dup_pct: u64,
    max_delay_ms: u64,
    /// Per mille, per step.
    crash_permille: u64,
    partition_permille: u64,
    resign_permille: u64,
    client_append_pct: u64,
    /// Per mille, per delivered message: the receiver crashes part-way
    /// through carrying out its outputs (only a prefix reaches disk/network).
    torn_crash_permille: u64,
}

const NO_FAULTS: Faults = Faults {
    drop_pct: 0,
    dup_pct: 0,
    max_delay_ms: 3,
    crash_permille: 0,
    partition_permille: 0,
    resign_permille: 0,
    client_append_pct: 0,
    torn_crash_permille: 0,
};

const FAULTY: Faults = Faults {
    drop_pct: 5,
    dup_pct: 3,
    max_delay_ms: 15,
    crash_permille: 8,
    partition_permille: 8,
    resign_permille: 3,
    client_append_pct: 20,
    torn_crash_permille: 5,
};

struct Disk {
    quorum: QuorumState,
    log: MemLog,
}

struct InFlight {
    at: u64,
    from: NodeId,
    to: NodeId,
    message: Message,
}

struct Sim {
    seed: u64,
    rng: Rng,
    config: QuorumConfig,
    faults: Faults,
    now: u64,
    ids: Vec<NodeId>,
    nodes: Vec<Option<Node>>,
    disks: Vec<Disk>,
    down_until: Vec<u64>,
    queue: Vec<InFlight>,
    /// One side of a partition and when it heals.
    partition: Option<(BTreeSet<NodeId>, u64)>,
    next_data: u64,
    // Checker state.
    leaders: BTreeMap<u32, NodeId>,
    /// Who each voter granted its vote to in each epoch, across restarts.
    votes: BTreeMap<(NodeId, u32), NodeId>,
    max_epoch: Vec<u32>,
    last_hw: Vec<u64>,
    /// How much of each node's log was already compared with `committed`
    /// (lowered when the node truncates), so a check costs only what changed.
    verified: Vec<u64>,
    committed: Vec<LogEntry>,
    stats: Stats,
}

/// What a run went through, so the many-seeds test can show its faults
/// really happened.
#[derive(Default, Debug, Clone, Copy, PartialEq, Eq)]
struct Stats {
    crashes: u64,
    partitions: u64,
    resigns: u64,
    elections: u64,
    committed: u64,
    truncations: u64,
}

fn sim_config(voters: usize, fetch_max_entries: usize) -> QuorumConfig {
    let mut config = QuorumConfig::new((1..=voters as NodeId).collect());
    // Kafka's defaults scaled down 10x so a few hundred steps see elections.
    config.election_timeout_ms = 100;
    config.fetch_timeout_ms = 200;
    config.election_backoff_max_ms = 100;
    config.request_timeout_ms = 50;
    config.fetch_max_wait_ms = 20;
    // Small fetches so a follower can hold an older epoch's entries without
    // the new leader's LEADER_CHANGE (what the own-epoch HW rule is for).
    config.fetch_max_entries = fetch_max_entries;
    config
}

impl Sim {
    fn new(seed: u64, voters: usize, observer: bool, faults: Faults) -> Sim {
        let config = sim_config(voters, 1 + (seed % 4) as usize);
        let mut ids = config.voters.clone();
        if observer {
            ids.push(OBSERVER);
        }
        let mut rng = Rng::new(seed);
        let nodes = ids
            .iter()
            .map(|id| {
                Some(Node::new(
                    *id,
                    config.clone(),
                    QuorumState::default(),
                    MemLog::new(),
                    rng.next_u64(),
                    0,
                ))
            })
            .collect();
        let n = ids.len();
        Sim {
            seed,
            rng,
            config,
            faults,
            now: 0,
            ids,
            nodes,
            disks: (0..n)
                .map(|_| Disk {
                    quorum: QuorumState::default(),
                    log: MemLog::new(),
                })
                .collect(),
            down_until: vec![0; n],
            queue: Vec::new(),
            partition: None,
            next_data: 0,
            leaders: BTreeMap::new(),
            votes: BTreeMap::new(),
            max_epoch: vec![0; n],
            last_hw: vec![0; n],
            verified: vec![0; n],
            committed: Vec::new(),
            stats: Stats::default(),
        }
    }

    fn index(&self, id: NodeId) -> usize {
        self.ids.iter().position(|i| *i == id).unwrap()
    }

    fn apply(&mut self, i: usize, outputs: Vec<Output>) {
        let from = self.ids[i];
        for output in outputs {
            match output {
                Output::Persist(q) => self.disks[i].quorum = q,
                Output::Append { offset, entry } => {
                    assert_eq!(
                        self.disks[i].log.end_offset(),
                        offset,
                        "seed {}: append out of place",
                        self.seed
                    );
                    self.disks[i].log.append(entry);
                }
                Output::Truncate { end_offset } => {
                    self.stats.truncations += 1;
                    self.verified[i] = self.verified[i].min(end_offset);
                    self.disks[i].log.truncate_to(end_offset)
                }
                Output::Send { to, message } => {
                    if let Message::VoteResponse {
                        epoch,
                        granted: true,
                        pre_vote: false,
                        ..
                    } = message
                    {
                        let prior = *self.votes.entry((from, epoch)).or_insert(to);
                        assert_eq!(
                            prior, to,
                            "seed {}: node {from} voted twice in epoch {epoch}",
                            self.seed
                        );
                    }
                    if self.rng.chance(self.faults.drop_pct) {
                        continue;
                    }
                    let copies = if self.rng.chance(self.faults.dup_pct) {
                        2
                    } else {
                        1
                    };
                    for _ in 0..copies {
                        let at = self.now + 1 + self.rng.below(self.faults.max_delay_ms);
                        self.queue.push(InFlight {
                            at,
                            from,
                            to,
                            message: message.clone(),
                        });
                    }
                }
            }
        }
    }

    fn cut(&self, a: NodeId, b: NodeId) -> bool {
        match &self.partition {
            Some((side, _)) => side.contains(&a) != side.contains(&b),
            None => false,
        }
    }

    fn leader(&self) -> Option<usize> {
        // The live leader with the highest epoch.
        (0..self.ids.len())
            .filter(|i| matches!(&self.nodes[*i], Some(n) if n.role() == Role::Leader))
            .max_by_key(|i| self.nodes[*i].as_ref().map(|n| n.epoch()))
    }

    fn client_append(&mut self) {
        if let Some(i) = self.leader() {
            self.next_data += 1;
            let data = Bytes::from(format!("v{}", self.next_data));
            if let Some((_, outputs)) = self.nodes[i].as_mut().and_then(|n| n.client_append(data)) {
                self.apply(i, outputs);
            }
        }
    }

    fn crash(&mut self, i: usize) {
        if self.nodes[i].is_some() {
            self.nodes[i] = None;
            self.stats.crashes += 1;
            // Quick restarts too, so a node can come back within one
            // election and be asked again.
            let down = if self.rng.chance(50) {
                1 + self.rng.below(20)
            } else {
                10 + self.rng.below(300)
            };
            self.down_until[i] = self.now + down;
        }
    }

    fn faults_step(&mut self) {
        let n = self.ids.len();
        if let Some((_, heal_at)) = &self.partition {
            if self.now >= *heal_at {
                self.partition = None;
            }
        } else if self.rng.below(1000) < self.faults.partition_permille {
            let side: BTreeSet<NodeId> = self
                .ids
                .iter()
                .copied()
                .filter(|_| self.rng.chance(50))
                .collect();
            let heal_at = self.now + 50 + self.rng.below(500);
            self.partition = Some((side, heal_at));
            self.stats.partitions += 1;
        }
        if self.rng.below(1000) < self.faults.crash_permille {
            let i = self.rng.below(n as u64) as usize;
            self.crash(i);
        }
        if self.rng.below(1000) < self.faults.resign_permille {
            if let Some(i) = self.leader() {
                let now = self.now;
                self.stats.resigns += 1;
                if let Some(outputs) = self.nodes[i].as_mut().map(|n| n.resign(now)) {
                    self.apply(i, outputs);
                }
            }
        }
        for i in 0..n {
            if self.nodes[i].is_none() && self.now >= self.down_until[i] {
                // Only what was persisted survives.
                let disk = &self.disks[i];
                let node = Node::new(
                    self.ids[i],
                    self.config.clone(),
                    disk.quorum,
                    disk.log.clone(),
                    self.rng.next_u64(),
                    self.now,
                );
                self.nodes[i] = Some(node);
                self.last_hw[i] = 0;
            }
        }
    }

    fn step(&mut self) {
        self.now += 1 + self.rng.below(5);
        self.faults_step();
        if self.rng.chance(self.faults.client_append_pct) {
            self.client_append();
        }
        // Deliver what is due, in random order (reordering).
        let now = self.now;
        let mut due = Vec::new();
        let mut k = 0;
        while k < self.queue.len() {
            if self.queue[k].at <= now {
                due.push(self.queue.swap_remove(k));
            } else {
                k += 1;
            }
        }
        while !due.is_empty() {
            let pick = self.rng.below(due.len() as u64) as usize;
            let m = due.swap_remove(pick);
            if self.cut(m.from, m.to) || !self.ids.contains(&m.to) {
                // A cut link mostly times out; now and then the sender is
                // told the peer is unreachable anyway (a wrong report).
                if self.ids.contains(&m.from) && self.rng.chance(2) {
                    self.report_unreachable(m.from, m.to);
                }
                continue;
            }
            let i = self.index(m.to);
            if self.nodes[i].is_none() {
                // A crashed peer refuses connections: the sender may notice.
                if self.rng.chance(50) {
                    self.report_unreachable(m.from, m.to);
                }
                continue;
            }
            if let Some(mut outputs) = self.nodes[i]
                .as_mut()
                .map(|n| n.handle(m.from, m.message, now))
            {
                // Crashes around fsync points (a Persist) are the ones that
                // matter most, so they are thirty times as likely there.
                let persists = outputs.iter().any(|o| matches!(o, Output::Persist(_)));
                let odds = self.faults.torn_crash_permille * if persists { 30 } else { 1 };
                if self.rng.below(1000) < odds {
                    // The outputs are ordered so that any prefix is safe.
                    let keep = self.rng.below(outputs.len() as u64 + 1) as usize;
                    outputs.truncate(keep);
                    self.apply(i, outputs);
                    self.crash(i);
                } else {
                    self.apply(i, outputs);
                }
            }
            self.check();
        }
        for i in 0..self.ids.len() {
            if let Some(outputs) = self.nodes[i].as_mut().map(|n| n.tick(now)) {
                self.apply(i, outputs);
            }
        }
        self.check();
    }

    /// Tells node `from` that `to` could not be reached.
    fn report_unreachable(&mut self, from: NodeId, to: NodeId) {
        let now = self.now;
        let i = self.index(from);
        if let Some(outputs) = self.nodes[i].as_mut().map(|n| n.peer_unreachable(to, now)) {
            self.apply(i, outputs);
        }
    }

    fn check(&mut self) {
        let seed = self.seed;
        for i in 0..self.ids.len() {
            let disk_epoch = self.disks[i].quorum.epoch;
            assert!(
                disk_epoch >= self.max_epoch[i],
                "seed {seed}: node {} persisted epoch went back",
                self.ids[i]
            );
            self.max_epoch[i] = disk_epoch;
            let Some(node) = &self.nodes[i] else { continue };
            let id = node.id();
            assert_eq!(
                node.epoch(),
                disk_epoch,
                "seed {seed}: node {id} acts on an epoch it did not persist"
            );
            assert_eq!(
                node.log(),
                &self.disks[i].log,
                "seed {seed}: node {id} log differs from its disk"
            );
            if node.role() == Role::Leader {
                let prior = *self.leaders.entry(node.epoch()).or_insert(id);
                assert_eq!(
                    prior,
                    id,
                    "seed {seed}: two leaders in epoch {}",
                    node.epoch()
                );
            }
            let hw = node.high_watermark();
            assert!(
                hw >= self.last_hw[i],
                "seed {seed}: node {id} high watermark went back {} -> {hw}",
                self.last_hw[i]
            );
            self.last_hw[i] = hw;
            assert!(
                hw <= node.log().end_offset(),
                "seed {seed}: node {id} truncated below its high watermark"
            );
            for off in self.verified[i]..hw {
                let entry = node.log().get(off).unwrap();
                match self.committed.get(off as usize) {
                    Some(c) => assert_eq!(
                        c, entry,
                        "seed {seed}: node {id} committed offset {off} differs"
                    ),
                    None => self.committed.push(entry.clone()),
                }
            }
            self.verified[i] = self.verified[i].max(hw);
        }
        // Leader completeness: the leader of the newest epoch holds every
        // committed entry.
        if let Some((&epoch, &leader)) = self.leaders.iter().next_back() {
            let i = self.index(leader);
            if let Some(node) = &self.nodes[i] {
                if node.role() == Role::Leader && node.epoch() == epoch {
                    let log = node.log().entries();
                    assert!(
                        log.len() >= self.committed.len()
                            && log[..self.committed.len()] == self.committed[..],
                        "seed {seed}: leader {leader} of epoch {epoch} lacks committed entries"
                    );
                }
            }
        }
    }
}

fn run_seed(seed: u64, steps: usize) -> Stats {
    let voters = if seed.is_multiple_of(2) { 3 } else { 5 };
    let mut sim = Sim::new(seed, voters, seed.is_multiple_of(3), FAULTY);
    for _ in 0..steps {
        sim.step();
    }
    Stats {
        elections: sim.leaders.len() as u64,
        committed: sim.committed.len() as u64,
        ..sim.stats
    }
}

#[test]
fn many_seeds_keep_the_invariants() {
    let seeds: u64 = std::env::var("KRAFT_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    let mut total = Stats::default();
    for seed in 0..seeds {
        let s = run_seed(seed, 800);
        total.crashes += s.crashes;
        total.partitions += s.partitions;
        total.resigns += s.resigns;
        total.elections += s.elections;
        total.committed += s.committed;
        total.truncations += s.truncations;
    }
    println!("{seeds} seeds: {total:?}");
    // The faults happened and the cluster still made progress.
    assert!(
        total.crashes > seeds && total.partitions > seeds / 2 && total.resigns > 0,
        "{total:?}"
    );
    assert!(total.truncations > 0, "{total:?}");
    assert!(
        total.elections > seeds * 2 && total.committed > seeds * 10,
        "{total:?}"
    );
}

#[test]
fn without_faults_a_leader_is_elected_and_appends_commit_everywhere() {
    let mut sim = Sim::new(42, 3, true, NO_FAULTS);
    while sim.leader().is_none() {
        sim.step();
        assert!(sim.now < 2_000, "no leader elected by {} ms", sim.now);
    }
    let epoch = sim.nodes[sim.leader().unwrap()].as_ref().unwrap().epoch();
    for _ in 0..10 {
        sim.client_append();
    }
    let until = sim.now + 1_000;
    while sim.now < until {
        sim.step();
    }
    let leader = sim.leader().unwrap();
    let leader_node = sim.nodes[leader].as_ref().unwrap();
    assert_eq!(
        leader_node.epoch(),
        epoch,
        "leadership changed without faults"
    );
    let data_entries = leader_node
        .log()
        .entries()
        .iter()
        .filter(|e| matches!(e.payload, gregor_raft::kraft::Payload::Data(_)))
        .count();
    assert!(data_entries >= 10);
    let end = leader_node.log().end_offset();
    for node in sim.nodes.iter().map(|n| n.as_ref().unwrap()) {
        assert_eq!(
            node.log().end_offset(),
            end,
            "node {} did not catch up",
            node.id()
        );
        assert_eq!(
            node.high_watermark(),
            end,
            "node {} did not learn the high watermark",
            node.id()
        );
        assert_eq!(node.log(), leader_node.log());
    }
}

impl Sim {
    /// Stops every fault: the partition heals, crashed nodes come back, no
    /// more drops, duplicates, crashes, resignations or client appends.
    fn heal(&mut self) {
        self.faults = NO_FAULTS;
        self.partition = None;
        let now = self.now;
        self.down_until.iter_mut().for_each(|d| *d = now);
    }

    fn describe(&self) -> String {
        let nodes: Vec<String> = self
            .nodes
            .iter()
            .flatten()
            .map(|n| {
                format!(
                    "{}:{:?} e{} leader {:?} end {} last_epoch {} hw {}",
                    n.id(),
                    n.role(),
                    n.epoch(),
                    n.leader(),
                    n.log().end_offset(),
                    n.log().last_epoch(),
                    n.high_watermark()
                )
            })
            .collect();
        nodes.join("; ")
    }

    /// After healing, a leader exists and every node holds its whole log as
    /// committed.
    fn converged(&self) -> bool {
        let Some(l) = self.leader() else { return false };
        let leader = self.nodes[l].as_ref().unwrap();
        self.nodes.iter().all(|n| {
            n.as_ref().is_some_and(|n| {
                n.high_watermark() == leader.log().end_offset() && n.log() == leader.log()
            })
        })
    }
}

#[test]
fn after_faults_heal_every_node_converges() {
    let seeds: u64 = std::env::var("KRAFT_SIM_HEAL_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    for seed in 0..seeds {
        let voters = if seed % 2 == 0 { 3 } else { 5 };
        let mut sim = Sim::new(seed, voters, true, FAULTY);
        for _ in 0..600 {
            sim.step();
        }
        sim.heal();
        let deadline = sim.now + 5_000;
        while !sim.converged() {
            assert!(
                sim.now < deadline,
                "seed {seed}: no convergence 5 s after the faults healed: {}",
                sim.describe()
            );
            sim.step();
        }
        // The committed log of the run survived the faults.
        let leader = sim.nodes[sim.leader().unwrap()].as_ref().unwrap();
        assert!(
            leader.log().entries().starts_with(&sim.committed),
            "seed {seed}"
        );
    }
}

#[test]
fn pinned_faulty_seeds() {
    // Seeds that once exercised crash-restart and partitions heavily.
    for seed in [7, 1234, 99_999] {
        run_seed(seed, 1000);
    }
}

#[test]
fn a_seed_replays_the_same_run() {
    // A failing seed is only useful if rerunning it reproduces the failure.
    for seed in [3, 10] {
        assert_eq!(run_seed(seed, 800), run_seed(seed, 800), "seed {seed}");
    }
}
