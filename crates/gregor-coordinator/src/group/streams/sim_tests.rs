//! Seeded simulation of a streams group: members (well-behaved clients that
//! run what they are given and give up what they are told) join, heartbeat,
//! leave, crash (stop heartbeating) and have their answers lost, while time
//! passes and the input topic grows partitions. After every step:
//!
//! - no task is held active (assigned or still revoking) by two members;
//! - no member has a task both active and standby, and no process holds
//!   two copies of a task (active or standby, on any of its members);
//! - no member runs a task the coordinator does not count as its, and no
//!   two members run the same task;
//! - the group epoch never goes down, nor does a live member's epoch;
//! - the Interactive Queries map is each endpoint's members' current active
//!   and standby tasks, and its epoch never goes down;
//! - once things settle (everyone heartbeats a few rounds with no churn),
//!   every task is assigned, every stateful task has its standby replicas
//!   (as many as asked, or one per other process when fewer), and the
//!   group is Stable.
//!
//! Odd seeds ask for one standby replica; seeds 2 and 3 mod 4 put m3 in
//! m2's process (two stream threads of one instance).
//!
//! `GREGOR_SIM_SEEDS=n` runs more (or fewer) seeds.

use super::tests::{all_topics, beat, ctx, join, tasks};
use crate::group::consumer::TopicTable;
use crate::group::{GroupConfig, GroupCoordinator};
use crate::sim_rng::Rng;
use gregor_protocol::generated::streams_group_heartbeat_request as rq;
use gregor_protocol::generated::streams_group_heartbeat_response::StreamsGroupHeartbeatResponse;
use std::collections::{BTreeMap, BTreeSet};

const DEFAULT_SEEDS: u64 = 100;
const STEPS: usize = 300;
const MEMBERS: [&str; 4] = ["m0", "m1", "m2", "m3"];

type Tasks = BTreeSet<(String, i32)>;

/// What a client believes: its epoch and the tasks it runs.
#[derive(Clone, Default)]
struct Client {
    epoch: i32,
    running: BTreeSet<(String, i32)>,
    standby: BTreeSet<(String, i32)>,
}

struct Sim {
    c: GroupCoordinator,
    rng: Rng,
    now: i64,
    topics: TopicTable,
    partitions: i32,
    clients: BTreeMap<String, Client>,
    group_epoch: i32,
    trace: Vec<String>,
    shared_process: bool,
    num_standby: usize,
    endpoint_epoch: i32,
}

fn standby_of(r: &StreamsGroupHeartbeatResponse) -> BTreeSet<(String, i32)> {
    r.standby_tasks
        .iter()
        .flatten()
        .flat_map(|t| t.partitions.iter().map(|p| (t.subtopology_id.clone(), *p)))
        .collect()
}

impl Sim {
    fn heartbeat(&mut self, id: &str, lose_answer: bool) {
        let Some(client) = self.clients.get(id).cloned() else {
            let mut req = join(id);
            // One Interactive Queries endpoint per process.
            let mut endpoint_of = id;
            if self.shared_process && id == "m3" {
                req.process_id = Some("process-m2".into());
                endpoint_of = "m2";
            }
            req.user_endpoint = Some(rq::Endpoint {
                host: format!("{endpoint_of}.local"),
                port: 7000,
                ..Default::default()
            });
            let (r, _) = self
                .c
                .streams_group_heartbeat(&req, &ctx(), &self.topics, self.now);
            if r.error_code == 0 && !lose_answer {
                self.clients.insert(
                    id.to_string(),
                    Client {
                        epoch: r.member_epoch,
                        running: tasks(&r),
                        standby: standby_of(&r),
                    },
                );
            }
            self.trace.push(format!(
                "{} join {id} -> {} e{} {:?}",
                self.now,
                r.error_code,
                r.member_epoch,
                tasks(&r)
            ));
            return;
        };
        let owned: Vec<(&str, i32)> = client
            .running
            .iter()
            .map(|(s, p)| (s.as_str(), *p))
            .collect();
        let mut req = beat(id, client.epoch, &owned);
        req.standby_tasks = Some(
            client
                .standby
                .iter()
                .map(|(s, p)| rq::TaskIds {
                    subtopology_id: s.clone(),
                    partitions: vec![*p],
                    ..Default::default()
                })
                .collect(),
        );
        let (r, _) = self
            .c
            .streams_group_heartbeat(&req, &ctx(), &self.topics, self.now);
        self.trace.push(format!(
            "{} beat {id} e{} -> {} e{} {:?}",
            self.now,
            client.epoch,
            r.error_code,
            r.member_epoch,
            tasks(&r)
        ));
        if r.error_code != 0 {
            // Fenced or forgotten: the client drops its tasks and rejoins.
            self.clients.remove(id);
            return;
        }
        if lose_answer {
            return;
        }
        let c = self.clients.entry(id.to_string()).or_default();
        c.epoch = r.member_epoch;
        // A real client stops what it lost at once, starts what it gained.
        c.running = tasks(&r);
        c.standby = standby_of(&r);
    }

    fn step(&mut self) {
        self.now += 1 + self.rng.below(3_000) as i64;
        let id = MEMBERS[self.rng.below(MEMBERS.len())];
        match self.rng.below(100) {
            0..=74 => {
                let lose = self.rng.chance(5);
                self.heartbeat(id, lose);
            }
            75..=82 => {
                if let Some(client) = self.clients.remove(id) {
                    let mut leave = beat(id, -1, &[]);
                    leave.active_tasks = None;
                    let (r, _) =
                        self.c
                            .streams_group_heartbeat(&leave, &ctx(), &self.topics, self.now);
                    self.trace.push(format!(
                        "{} leave {id} e{} -> {}",
                        self.now, client.epoch, r.error_code
                    ));
                }
            }
            83..=90 => {
                // Crash: the client goes quiet; the session timeout fences it.
                if self.clients.remove(id).is_some() {
                    self.trace.push(format!("{} crash {id}", self.now));
                }
            }
            91..=93 if self.partitions < 4 => {
                self.partitions += 1;
                self.topics = all_topics(self.partitions);
                self.trace
                    .push(format!("{} partitions -> {}", self.now, self.partitions));
            }
            _ => {
                let out = self.c.tick(self.now);
                let _ = out;
            }
        }
        if let Some(due) = self.c.next_deadline().filter(|at| *at <= self.now) {
            self.c.tick(due.max(self.now));
        }
    }

    fn check(&mut self) -> Result<(), String> {
        let Some(group) = self.c.streams_group("app") else {
            return Ok(());
        };
        if group.epoch < self.group_epoch {
            return Err(format!(
                "group epoch went from {} to {}",
                self.group_epoch, group.epoch
            ));
        }
        self.group_epoch = group.epoch;
        // The Interactive Queries map is the members' current tasks by
        // endpoint, and its epoch only moves forward.
        let mut endpoints: BTreeMap<(String, u16), (Tasks, Tasks)> = BTreeMap::new();
        for m in group.members.values() {
            if let Some(e) = &m.user_endpoint {
                let entry = endpoints.entry(e.clone()).or_default();
                entry.0.extend(m.assigned.iter().cloned());
                entry.1.extend(m.standby.iter().cloned());
            }
        }
        if endpoints != group.endpoints {
            return Err(format!(
                "endpoint map {:?} is not the members' tasks {endpoints:?}",
                group.endpoints
            ));
        }
        if group.endpoint_epoch < self.endpoint_epoch {
            return Err(format!(
                "endpoint epoch went from {} to {}",
                self.endpoint_epoch, group.endpoint_epoch
            ));
        }
        self.endpoint_epoch = group.endpoint_epoch;
        let mut holder: BTreeMap<(String, i32), &str> = BTreeMap::new();
        for m in group.members.values() {
            for t in m.assigned.iter().chain(m.revoking.iter()) {
                if let Some(other) = holder.insert(t.clone(), &m.id) {
                    return Err(format!("task {t:?} held by {other} and {}", m.id));
                }
            }
        }
        // Per process, at most one copy of a task (active or standby).
        let mut copies: BTreeMap<(&str, &(String, i32)), &str> = BTreeMap::new();
        for m in group.members.values() {
            let held = m
                .assigned
                .iter()
                .chain(m.revoking.iter())
                .chain(m.standby.iter())
                .chain(m.revoking_standby.iter());
            for t in held {
                if let Some(other) = copies.insert((m.process_id.as_str(), t), &m.id) {
                    return Err(format!(
                        "task {t:?} has two copies in process {}: {other} and {}",
                        m.process_id, m.id
                    ));
                }
            }
        }
        for (id, client) in &self.clients {
            let Some(m) = group.members.get(id) else {
                continue;
            };
            if let Some(t) = client.running.intersection(&client.standby).next() {
                return Err(format!("{id} runs {t:?} both active and standby"));
            }
            for t in &client.standby {
                if !m.standby.contains(t) && !m.revoking_standby.contains(t) {
                    return Err(format!(
                        "{id} keeps standby {t:?} which the coordinator took back"
                    ));
                }
            }
            if client.epoch > m.epoch {
                return Err(format!(
                    "{id} runs at epoch {} above the coordinator's {}",
                    client.epoch, m.epoch
                ));
            }
            for t in &client.running {
                if !m.assigned.contains(t) && !m.revoking.contains(t) {
                    return Err(format!("{id} runs {t:?} which the coordinator gave away"));
                }
            }
        }
        // Two members never run the same task. A client the coordinator
        // fenced (session over) is a zombie until its next heartbeat tells
        // it; Kafka relies on the producer epoch to fence those.
        let mut running: BTreeMap<&(String, i32), &str> = BTreeMap::new();
        for (id, client) in self
            .clients
            .iter()
            .filter(|(id, _)| group.members.contains_key(*id))
        {
            for t in &client.running {
                if let Some(other) = running.insert(t, id) {
                    return Err(format!("{t:?} runs on {other} and {id}"));
                }
            }
        }
        Ok(())
    }

    /// Quiet period: every live client heartbeats until nothing changes.
    fn settle(&mut self) -> Result<(), String> {
        for _ in 0..6 {
            self.now += 100;
            let ids: Vec<String> = self.clients.keys().cloned().collect();
            for id in ids {
                self.heartbeat(&id, false);
                self.check()?;
            }
        }
        let Some(group) = self.c.streams_group("app") else {
            return Ok(());
        };
        if self.clients.is_empty() || group.members.len() != self.clients.len() {
            return Ok(());
        }
        let all = group.all_tasks();
        let assigned: BTreeSet<(String, i32)> = group
            .members
            .values()
            .flat_map(|m| m.assigned.iter().cloned())
            .collect();
        if assigned != all {
            return Err(format!(
                "settled but {} of {} tasks assigned",
                assigned.len(),
                all.len()
            ));
        }
        let processes: BTreeSet<&str> = group
            .members
            .values()
            .map(|m| m.process_id.as_str())
            .collect();
        let want = self.num_standby.min(processes.len() - 1);
        for task in group.stateful_tasks() {
            let n = group
                .members
                .values()
                .filter(|m| m.standby.contains(&task))
                .count();
            if n != want {
                return Err(format!("settled but {task:?} has {n} standbys, not {want}"));
            }
        }
        if group.state().name() != "Stable" {
            return Err(format!("settled but {}", group.state().name()));
        }
        Ok(())
    }
}

fn run(seed: u64) -> Result<(), String> {
    let num_standby = (seed % 2) as usize;
    let mut config = GroupConfig::default();
    config.streams.num_standby_replicas = num_standby;
    let mut sim = Sim {
        c: GroupCoordinator::new(config),
        shared_process: seed % 4 >= 2,
        endpoint_epoch: 0,
        num_standby,
        rng: Rng(seed),
        now: 0,
        topics: all_topics(2),
        partitions: 2,
        clients: BTreeMap::new(),
        group_epoch: 0,
        trace: Vec::new(),
    };
    for step in 0..STEPS {
        sim.step();
        let checked = sim.check().and_then(|()| {
            if step % 50 == 49 {
                sim.settle()
            } else {
                Ok(())
            }
        });
        if let Err(e) = checked {
            let tail = sim.trace.len().saturating_sub(25);
            return Err(format!(
                "seed {seed} step {step}: {e}\nlast steps:\n  {}",
                sim.trace[tail..].join("\n  ")
            ));
        }
    }
    Ok(())
}

#[test]
fn streams_tasks_are_never_shared_and_always_assigned_once_settled() {
    let seeds: u64 = std::env::var("GREGOR_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEEDS);
    for seed in 0..seeds {
        if let Err(e) = run(seed) {
            panic!("{e}");
        }
    }
}
