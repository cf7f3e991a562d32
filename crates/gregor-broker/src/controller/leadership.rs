//! The active controller's leadership and reassignment changes: ElectLeaders,
//! AlterPartitionReassignments, ListPartitionReassignments, and the timers
//! that move leadership back to preferred replicas
//! (`auto.leader.rebalance.enable`) and elect unclean leaders where allowed.
//! The decisions are `gregor_metadata::{leadership, reassignment}`.

use super::{not_controller, Controller};
use gregor_metadata::controller::ControllerError;
use gregor_metadata::leadership::{self, ElectionResult, ElectionType};
use gregor_metadata::reassignment::{self, Ongoing};
use std::time::{Duration, Instant};

pub(super) const UNCLEAN_KEY: &str = "unclean.leader.election.enable";

/// Kafka's `auto.leader.rebalance.enable`, `leader.imbalance.check.interval.seconds`,
/// `unclean.leader.election.enable` and `unclean.leader.election.interval.ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeadershipSettings {
    pub auto_rebalance: bool,
    pub rebalance_interval: Duration,
    pub unclean_default: bool,
    pub unclean_interval: Duration,
}

impl Default for LeadershipSettings {
    fn default() -> LeadershipSettings {
        LeadershipSettings {
            auto_rebalance: true,
            rebalance_interval: Duration::from_secs(300),
            unclean_default: false,
            unclean_interval: Duration::from_millis(300_000),
        }
    }
}

/// When each timer last fired; `None` until this node first ticks as the
/// active controller (the first round runs one interval later, as Kafka's).
#[derive(Debug, Default)]
pub(super) struct Timers {
    rebalance: Option<Instant>,
    unclean: Option<Instant>,
}

/// A list of (topic, partitions) as the requests carry them.
pub type TopicPartitions = [(String, Vec<i32>)];

impl Controller {
    /// Runs whichever leadership timer is due (the active controller's loop).
    pub fn leadership_tick(&self) {
        if !self.is_active() {
            return;
        }
        let now = Instant::now();
        let (rebalance, unclean) = {
            let mut timers = self
                .leadership_timers
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let due = |last: &mut Option<Instant>, every: Duration| match last {
                Some(at) if now.duration_since(*at) >= every => {
                    *last = Some(now);
                    true
                }
                Some(_) => false,
                None => {
                    *last = Some(now);
                    false
                }
            };
            (
                due(&mut timers.rebalance, self.leadership.rebalance_interval),
                due(&mut timers.unclean, self.leadership.unclean_interval),
            )
        };
        if rebalance && self.leadership.auto_rebalance {
            self.balance_leaders();
        }
        if unclean {
            self.elect_unclean_leaders();
        }
    }

    /// Moves leadership back to preferred replicas that can lead.
    pub fn balance_leaders(&self) {
        let result = self.simple_change(false, |image| Ok(leadership::balance_leaders(image)));
        match result {
            Ok(records) if !records.is_empty() => {
                tracing::info!(
                    changes = records.len(),
                    "moved leadership to preferred replicas"
                )
            }
            Ok(_) => {}
            Err(err) => {
                tracing::debug!(code = err.code, message = %err.message, "leader rebalance not applied")
            }
        }
    }

    /// Elects any live replica for leaderless partitions of topics where
    /// `unclean.leader.election.enable` holds.
    pub fn elect_unclean_leaders(&self) {
        let unclean_default = self.leadership.unclean_default;
        let result = self.simple_change(false, |image| {
            Ok(leadership::elect_unclean_leaders(image, unclean_default))
        });
        match result {
            Ok(records) if !records.is_empty() => {
                tracing::warn!(changes = records.len(), "unclean leader election")
            }
            Ok(_) => {}
            Err(err) => {
                tracing::debug!(code = err.code, message = %err.message, "unclean election not applied")
            }
        }
    }

    /// ElectLeaders: each topic's per-partition results.
    pub fn elect_leaders(
        &self,
        kind: ElectionType,
        wanted: Option<&TopicPartitions>,
    ) -> Result<Vec<(String, Vec<ElectionResult>)>, ControllerError> {
        self.change(false, |image, _| {
            Ok(leadership::elect_leaders(image, kind, wanted))
        })
        .map(|(_, results, _)| results)
    }

    /// AlterPartitionReassignments: one result per (topic, partition,
    /// target) in order; the accepted ones are committed together.
    pub fn alter_reassignments(
        &self,
        items: &[(String, i32, Option<Vec<i32>>)],
        allow_rf_change: bool,
    ) -> Result<Vec<Result<(), ControllerError>>, ControllerError> {
        let unclean_default = self.leadership.unclean_default;
        self.change(false, |image, _| {
            // Later items see earlier ones (the same partition twice).
            let mut scratch = image.clone();
            let mut records = Vec::new();
            let results = items
                .iter()
                .map(|(topic, partition, target)| {
                    let changes = reassignment::alter_reassignment(
                        &scratch,
                        topic,
                        *partition,
                        target.as_deref(),
                        allow_rf_change,
                        unclean_default,
                    )?;
                    let offset = scratch.next_offset;
                    scratch.apply_entry(offset, &changes);
                    records.extend(changes);
                    Ok(())
                })
                .collect();
            Ok((records, results))
        })
        .map(|(_, results, _)| results)
    }

    /// ListPartitionReassignments, answered by the active controller (whose
    /// image is the latest).
    pub fn list_reassignments(
        &self,
        wanted: Option<&TopicPartitions>,
    ) -> Result<Vec<(String, Vec<Ongoing>)>, ControllerError> {
        if !self.is_active() {
            return Err(not_controller());
        }
        Ok(reassignment::list_reassignments(&self.image(), wanted))
    }
}
