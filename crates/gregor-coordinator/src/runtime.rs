//! The shards of a coordinator, as Kafka's `CoordinatorRuntime` keeps
//! them: one state machine per partition of its internal topic that this
//! broker leads. A shard is loaded (its partition's log replayed) when the
//! broker becomes the partition's leader and dropped when it stops being
//! it. This module only keeps the bookkeeping and decides what to load
//! and unload; reading logs, tasks and answering parked requests are the
//! broker's job. No I/O here.

use gregor_protocol::error_codes::{COORDINATOR_LOAD_IN_PROGRESS, NOT_COORDINATOR};
use std::collections::BTreeMap;

/// Where a shard stands.
#[derive(Debug)]
pub enum ShardState<S> {
    /// Its log is being replayed: requests get COORDINATOR_LOAD_IN_PROGRESS.
    Loading,
    /// Replayed: it serves requests.
    Active(S),
}

/// One coordinator partition held by this broker.
#[derive(Debug)]
pub struct Shard<S> {
    /// The partition's leader epoch the shard was loaded at (the
    /// transaction coordinator's epoch).
    pub leader_epoch: i32,
    pub state: ShardState<S>,
}

/// What the broker must do so that the shards match the partitions it leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardChange {
    /// Replay the partition's log, then `finish_load` at this epoch.
    Load { partition: i32, leader_epoch: i32 },
    /// Drop the shard; its parked requests get NOT_COORDINATOR.
    Unload { partition: i32 },
}

/// The shards of one coordinator, by partition.
#[derive(Debug)]
pub struct Shards<S> {
    shards: BTreeMap<i32, Shard<S>>,
}

impl<S> Default for Shards<S> {
    fn default() -> Self {
        Shards {
            shards: BTreeMap::new(),
        }
    }
}

impl<S> Shards<S> {
    pub fn new() -> Self {
        Self::default()
    }

    /// The changes that turn the held shards into `led` (partition ->
    /// leader epoch of the partitions this broker leads): unloads first,
    /// then loads, each in partition order. A held partition whose epoch
    /// changed is unloaded and loaded again: a new epoch means another
    /// broker may have led it (and written to it) in between.
    pub fn plan(&self, led: &BTreeMap<i32, i32>) -> Vec<ShardChange> {
        let mut unloads = Vec::new();
        let mut loads = Vec::new();
        for (&partition, shard) in &self.shards {
            if led.get(&partition) != Some(&shard.leader_epoch) {
                unloads.push(ShardChange::Unload { partition });
            }
        }
        for (&partition, &leader_epoch) in led {
            let held_at = self.shards.get(&partition).map(|s| s.leader_epoch);
            if held_at != Some(leader_epoch) {
                loads.push(ShardChange::Load {
                    partition,
                    leader_epoch,
                });
            }
        }
        unloads.extend(loads);
        unloads
    }

    /// Marks the partition loading at `leader_epoch`, replacing any shard
    /// held for it (also how a shard whose write failed is reloaded).
    /// Returns the replaced shard's state, if it was active.
    pub fn begin_load(&mut self, partition: i32, leader_epoch: i32) -> Option<S> {
        let previous = self.shards.insert(
            partition,
            Shard {
                leader_epoch,
                state: ShardState::Loading,
            },
        );
        match previous.map(|s| s.state) {
            Some(ShardState::Active(state)) => Some(state),
            _ => None,
        }
    }

    /// A load finished: the shard becomes active, unless it was unloaded
    /// or loaded again at another epoch meanwhile (then `state` is handed
    /// back and must be dropped). True when it was installed.
    pub fn finish_load(&mut self, partition: i32, leader_epoch: i32, state: S) -> bool {
        match self.shards.get_mut(&partition) {
            Some(shard)
                if shard.leader_epoch == leader_epoch
                    && matches!(shard.state, ShardState::Loading) =>
            {
                shard.state = ShardState::Active(state);
                true
            }
            _ => false,
        }
    }

    /// Drops the partition's shard; returns it if one was held.
    pub fn unload(&mut self, partition: i32) -> Option<Shard<S>> {
        self.shards.remove(&partition)
    }

    /// The active state of a partition, or the error code a request for it
    /// gets: NOT_COORDINATOR when not held, COORDINATOR_LOAD_IN_PROGRESS
    /// while loading.
    pub fn get_mut(&mut self, partition: i32) -> Result<&mut S, i16> {
        match self.shards.get_mut(&partition) {
            None => Err(NOT_COORDINATOR),
            Some(Shard {
                state: ShardState::Loading,
                ..
            }) => Err(COORDINATOR_LOAD_IN_PROGRESS),
            Some(Shard {
                state: ShardState::Active(state),
                ..
            }) => Ok(state),
        }
    }

    /// As `get_mut`, read-only.
    pub fn get(&self, partition: i32) -> Result<&S, i16> {
        match self.shards.get(&partition) {
            None => Err(NOT_COORDINATOR),
            Some(Shard {
                state: ShardState::Loading,
                ..
            }) => Err(COORDINATOR_LOAD_IN_PROGRESS),
            Some(Shard {
                state: ShardState::Active(state),
                ..
            }) => Ok(state),
        }
    }

    /// The leader epoch a held partition (loading or active) is at.
    pub fn leader_epoch(&self, partition: i32) -> Option<i32> {
        self.shards.get(&partition).map(|s| s.leader_epoch)
    }

    /// True while any held shard is still loading (ListGroups answers
    /// COORDINATOR_LOAD_IN_PROGRESS then, as Kafka).
    pub fn any_loading(&self) -> bool {
        self.shards
            .values()
            .any(|s| matches!(s.state, ShardState::Loading))
    }

    /// Held partitions, loading or active, in order.
    pub fn partitions(&self) -> impl Iterator<Item = i32> + '_ {
        self.shards.keys().copied()
    }

    /// The active shards: (partition, leader epoch, state).
    pub fn active(&self) -> impl Iterator<Item = (i32, i32, &S)> {
        self.shards
            .iter()
            .filter_map(|(&p, shard)| match &shard.state {
                ShardState::Active(state) => Some((p, shard.leader_epoch, state)),
                ShardState::Loading => None,
            })
    }

    /// The active shards, mutable: (partition, leader epoch, state).
    pub fn active_mut(&mut self) -> impl Iterator<Item = (i32, i32, &mut S)> {
        self.shards
            .iter_mut()
            .filter_map(|(&p, shard)| match &mut shard.state {
                ShardState::Active(state) => Some((p, shard.leader_epoch, state)),
                ShardState::Loading => None,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn led(pairs: &[(i32, i32)]) -> BTreeMap<i32, i32> {
        pairs.iter().copied().collect()
    }

    fn loaded(pairs: &[(i32, i32)]) -> Shards<String> {
        let mut shards = Shards::new();
        for &(p, e) in pairs {
            shards.begin_load(p, e);
            assert!(shards.finish_load(p, e, format!("p{p}e{e}")));
        }
        shards
    }

    #[test]
    fn plan_loads_new_leaderships_and_unloads_lost_ones() {
        let shards = loaded(&[(0, 1), (1, 1)]);
        let changes = shards.plan(&led(&[(1, 1), (2, 4)]));
        assert_eq!(
            changes,
            vec![
                ShardChange::Unload { partition: 0 },
                ShardChange::Load {
                    partition: 2,
                    leader_epoch: 4
                },
            ]
        );
        assert!(loaded(&[(3, 2)]).plan(&led(&[(3, 2)])).is_empty());
        assert!(Shards::<()>::new().plan(&BTreeMap::new()).is_empty());
    }

    #[test]
    fn a_new_epoch_of_a_held_partition_is_unload_then_load() {
        let shards = loaded(&[(5, 3)]);
        assert_eq!(
            shards.plan(&led(&[(5, 4)])),
            vec![
                ShardChange::Unload { partition: 5 },
                ShardChange::Load {
                    partition: 5,
                    leader_epoch: 4
                },
            ]
        );
    }

    #[test]
    fn a_loading_shard_at_the_same_epoch_is_left_alone() {
        let mut shards: Shards<()> = Shards::new();
        shards.begin_load(7, 2);
        assert!(shards.plan(&led(&[(7, 2)])).is_empty());
        assert_eq!(
            shards.plan(&led(&[])),
            vec![ShardChange::Unload { partition: 7 }]
        );
    }

    #[test]
    fn errors_tell_absent_from_loading() {
        let mut shards: Shards<u32> = Shards::new();
        assert_eq!(shards.get_mut(0).err(), Some(NOT_COORDINATOR));
        shards.begin_load(0, 1);
        assert_eq!(shards.get_mut(0).err(), Some(COORDINATOR_LOAD_IN_PROGRESS));
        assert_eq!(shards.get(0).err(), Some(COORDINATOR_LOAD_IN_PROGRESS));
        assert!(shards.any_loading());
        assert!(shards.finish_load(0, 1, 42));
        assert!(!shards.any_loading());
        *shards.get_mut(0).unwrap() += 1;
        assert_eq!(shards.get(0), Ok(&43));
        assert_eq!(shards.leader_epoch(0), Some(1));
        assert!(shards.unload(0).is_some());
        assert_eq!(shards.get(0).err(), Some(NOT_COORDINATOR));
        assert!(shards.unload(0).is_none());
    }

    #[test]
    fn a_stale_load_is_not_installed() {
        let mut shards: Shards<&str> = Shards::new();
        shards.begin_load(1, 1);
        // Leadership moved on while the replay ran.
        shards.begin_load(1, 2);
        assert!(!shards.finish_load(1, 1, "old"));
        assert_eq!(shards.get(1).err(), Some(COORDINATOR_LOAD_IN_PROGRESS));
        assert!(shards.finish_load(1, 2, "new"));
        assert_eq!(shards.get(1), Ok(&"new"));
        // Unloaded while loading: the replayed state is dropped.
        shards.begin_load(2, 1);
        shards.unload(2);
        assert!(!shards.finish_load(2, 1, "gone"));
        assert_eq!(shards.get(2).err(), Some(NOT_COORDINATOR));
        // A finished load cannot be finished twice.
        assert!(!shards.finish_load(1, 2, "again"));
        assert_eq!(shards.get(1), Ok(&"new"));
    }

    #[test]
    fn reloading_an_active_shard_hands_back_its_state() {
        let mut shards = loaded(&[(0, 1)]);
        assert_eq!(shards.begin_load(0, 1).as_deref(), Some("p0e1"));
        assert_eq!(shards.get(0).err(), Some(COORDINATOR_LOAD_IN_PROGRESS));
        assert!(shards.finish_load(0, 1, "replayed".to_string()));
        assert_eq!(shards.get(0).map(String::as_str), Ok("replayed"));
    }

    #[test]
    fn active_walks_only_loaded_shards_in_order() {
        let mut shards = loaded(&[(4, 1), (2, 3)]);
        shards.begin_load(3, 1);
        let seen: Vec<(i32, i32)> = shards.active().map(|(p, e, _)| (p, e)).collect();
        assert_eq!(seen, vec![(2, 3), (4, 1)]);
        for (_, _, state) in shards.active_mut() {
            state.push('!');
        }
        assert_eq!(shards.get(2).map(String::as_str), Ok("p2e3!"));
        assert_eq!(shards.partitions().collect::<Vec<_>>(), vec![2, 3, 4]);
    }
}
