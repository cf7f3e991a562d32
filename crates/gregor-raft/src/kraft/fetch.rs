//! Replication: the leader answering fetches (divergence, high watermark)
//! and followers and observers fetching.

use super::log::EpochEndOffset;
use super::messages::{FetchError, FetchResponse, Message};
use super::node::Progress;
use super::node::{Download, Node, Output, RoleState};
use super::NodeId;

/// An observer that has not fetched for this long is no longer listed
/// (Kafka's LeaderState drops observers after 5 minutes).
const OBSERVER_TIMEOUT_MS: u64 = 5 * 60 * 1000;

impl Progress {
    /// Kafka's ReplicaState.updateFetchState: caught up now if the fetch
    /// reaches the leader's end, or caught up as of the previous fetch if it
    /// reaches what the leader had then.
    fn record_fetch(&mut self, fetch_offset: u64, leader_end: u64, now_ms: u64) {
        // Offsets only grow within an epoch; a reordered old fetch must not
        // lower what we know.
        self.end_offset = self.end_offset.max(fetch_offset);
        if fetch_offset >= leader_end {
            self.last_caught_up_ms = Some(now_ms);
        } else if self.last_fetch_leader_end > 0 && fetch_offset >= self.last_fetch_leader_end {
            self.last_caught_up_ms = self.last_caught_up_ms.max(self.last_fetch_ms);
        }
        self.last_fetch_leader_end = leader_end;
        self.last_fetch_ms = Some(now_ms);
    }
}

impl Node {
    pub(super) fn on_fetch(
        &mut self,
        from: NodeId,
        epoch: u32,
        replica: NodeId,
        (fetch_offset, last_fetched_epoch): (u64, u32),
        correlation_id: u64,
        now_ms: u64,
    ) {
        let my_epoch = self.quorum.epoch;
        let is_leader = matches!(self.role, RoleState::Leader { .. });
        // Kafka's validateLeaderOnlyRequest order.
        let error = if epoch < my_epoch {
            Some(FetchError::FencedLeaderEpoch)
        } else if epoch > my_epoch {
            Some(FetchError::UnknownLeaderEpoch)
        } else if !is_leader {
            Some(FetchError::NotLeader)
        } else {
            None
        };
        let mut reply = FetchResponse {
            epoch: my_epoch,
            correlation_id,
            leader: self.leader(),
            error,
            diverging: None,
            snapshot: None,
            base_offset: fetch_offset,
            entries: Vec::new(),
            high_watermark: None,
        };
        if error.is_none() {
            let end = self.log.epoch_end(last_fetched_epoch);
            let diverged = end.epoch != last_fetched_epoch || end.end_offset < fetch_offset;
            if let Some(id) = self.snapshot_for(fetch_offset, last_fetched_epoch) {
                // The entries it needs are only in the snapshot. The fetch
                // still shows the replica is alive (check quorum).
                reply.snapshot = Some(id);
                self.note_fetch(replica, None, now_ms);
            } else if diverged || fetch_offset > self.log.end_offset() {
                reply.diverging = Some(end);
            } else {
                self.note_fetch(replica, Some(fetch_offset), now_ms);
                self.update_leader_high_watermark();
                let entries = self.log.read(fetch_offset, self.config.fetch_max_entries);
                let hw = self.leader_hw();
                reply.entries = entries;
                reply.high_watermark = hw;
            }
        }
        self.send(from, Message::FetchResponse(reply));
    }

    /// Kafka's validateOffsetAndEpoch: the snapshot a fetcher must load
    /// first, when its fetch offset is below the log start, or at it in
    /// another epoch, or its last epoch is older than the snapshot's.
    fn snapshot_for(&self, fetch_offset: u64, last_fetched_epoch: u32) -> Option<EpochEndOffset> {
        let id = self.log.snapshot_id()?;
        let needed = fetch_offset < id.end_offset
            || (fetch_offset == id.end_offset && last_fetched_epoch != id.epoch)
            || last_fetched_epoch < id.epoch;
        needed.then_some(id)
    }

    /// On the leader: a replica fetched (from `fetch_offset`, or a snapshot
    /// when None) at `now_ms`.
    pub(super) fn note_fetch(&mut self, replica: NodeId, fetch_offset: Option<u64>, now_ms: u64) {
        let leader_end = self.log.end_offset();
        if let RoleState::Leader {
            progress,
            observers,
            begin_sent_ms,
            ..
        } = &mut self.role
        {
            let p = match progress.get_mut(&replica) {
                Some(p) => Some(p),
                None if replica >= 0 => {
                    observers.retain(|_, o| {
                        o.last_fetch_ms
                            .is_some_and(|t| t + OBSERVER_TIMEOUT_MS > now_ms)
                    });
                    Some(observers.entry(replica).or_default())
                }
                None => None,
            };
            if let Some(p) = p {
                match fetch_offset {
                    Some(offset) => p.record_fetch(offset, leader_end, now_ms),
                    None => p.last_fetch_ms = Some(now_ms),
                }
            }
            begin_sent_ms.remove(&replica);
        }
    }

    /// None until an entry of this leader's epoch is committed.
    pub(super) fn leader_hw(&self) -> Option<u64> {
        match &self.role {
            RoleState::Leader {
                epoch_start_offset, ..
            } if self.high_watermark > *epoch_start_offset => Some(self.high_watermark),
            _ => None,
        }
    }

    /// Kafka's LeaderState.maybeUpdateHighWatermark: the offset a majority
    /// of voters has reached, once it covers the leader's own epoch start.
    pub(super) fn update_leader_high_watermark(&mut self) {
        let majority = self.config.majority();
        if let RoleState::Leader {
            epoch_start_offset,
            progress,
            ..
        } = &self.role
        {
            let mut ends: Vec<u64> = progress.values().map(|p| p.end_offset).collect();
            ends.sort_unstable_by(|a, b| b.cmp(a));
            if let Some(&candidate) = ends.get(majority - 1) {
                if candidate > *epoch_start_offset && candidate > self.high_watermark {
                    self.high_watermark = candidate;
                }
            }
        }
    }

    pub(super) fn on_fetch_response(&mut self, from: NodeId, response: FetchResponse, now_ms: u64) {
        let FetchResponse {
            epoch,
            correlation_id,
            leader,
            error,
            diverging,
            snapshot,
            base_offset,
            entries,
            high_watermark,
        } = response;
        let my_epoch = self.quorum.epoch;
        // An observer still looking for the leader takes the hint.
        if let RoleState::Observer { leader: None, .. } = self.role {
            if let (Some(l), true) = (leader, epoch == my_epoch) {
                self.become_follower(epoch, l, now_ms);
                return;
            }
        }
        let (current_leader, fetch) = match &mut self.role {
            RoleState::Follower { leader, fetch, .. } => (Some(*leader), fetch),
            RoleState::Observer { leader, fetch, .. } => (*leader, fetch),
            _ => return,
        };
        if fetch.in_flight.map(|(_, id)| id) != Some(correlation_id) {
            // A late or duplicated answer to a fetch we no longer wait for:
            // acting on it could truncate entries fetched since.
            return;
        }
        fetch.in_flight = None;
        if epoch != my_epoch || current_leader != Some(from) || error.is_some() {
            fetch.next_at_ms = now_ms
                + self
                    .config
                    .fetch_max_wait_ms
                    .min(self.config.request_timeout_ms);
            return;
        }
        let fetch_timeout = self.config.fetch_timeout_ms;
        match &mut self.role {
            RoleState::Follower {
                fetch_deadline_ms,
                has_fetched,
                ..
            } => {
                *fetch_deadline_ms = now_ms + fetch_timeout;
                *has_fetched = true;
            }
            RoleState::Observer {
                fetch_deadline_ms, ..
            } => {
                *fetch_deadline_ms = now_ms + fetch_timeout;
            }
            _ => {}
        }
        let mut progressed = false;
        if let Some(id) = snapshot {
            // Our log ends where the leader's starts or before: load its
            // snapshot first (FetchSnapshot from the next fetch on).
            if id.end_offset > self.log.start_offset() {
                self.download = Some(Download {
                    leader: from,
                    epoch: my_epoch,
                    id,
                    bytes: Vec::new(),
                });
            }
            progressed = true;
        } else if let Some(div) = diverging {
            let local = self.log.epoch_end(div.epoch);
            // Never below our own start: a snapshot covers committed
            // entries only.
            let to = div
                .end_offset
                .min(local.end_offset)
                .max(self.log.start_offset());
            if to < self.log.end_offset() {
                self.log.truncate_to(to);
                self.out.push(Output::Truncate { end_offset: to });
            }
            progressed = true;
        } else if base_offset == self.log.end_offset() {
            progressed = !entries.is_empty();
            for entry in entries {
                self.append(entry);
            }
        }
        if let Some(hw) = high_watermark {
            let hw = hw.min(self.log.end_offset());
            if hw > self.high_watermark {
                self.high_watermark = hw;
            }
        }
        let wait = if progressed {
            0
        } else {
            self.config.fetch_max_wait_ms
        };
        if let RoleState::Follower { fetch, .. } | RoleState::Observer { fetch, .. } =
            &mut self.role
        {
            fetch.next_at_ms = now_ms + wait;
        }
        self.maybe_fetch(now_ms);
    }

    /// Sends a Fetch when none is in flight (or the last one timed out) and
    /// the wait after an empty answer is over.
    pub(super) fn maybe_fetch(&mut self, now_ms: u64) {
        let timeout = self.config.request_timeout_ms;
        let voters = self.config.voters.clone();
        let pick = self.rng.below(voters.len() as u64) as usize;
        let (target, fetch) = match &mut self.role {
            RoleState::Follower { leader, fetch, .. } => (Some(*leader), fetch),
            // Without a leader, ask a random voter who it is.
            RoleState::Observer { leader, fetch, .. } => {
                (leader.or(voters.get(pick).copied()), fetch)
            }
            _ => return,
        };
        let Some(to) = target else { return };
        let due = match fetch.in_flight {
            Some((since, _)) => now_ms >= since + timeout,
            None => now_ms >= fetch.next_at_ms,
        };
        if !due {
            return;
        }
        self.next_correlation_id += 1;
        let correlation_id = self.next_correlation_id;
        fetch.in_flight = Some((now_ms, correlation_id));
        // A download belongs to one leader and epoch; under another the
        // node fetches again and is told which snapshot to load.
        let epoch = self.quorum.epoch;
        if self
            .download
            .as_ref()
            .is_some_and(|d| d.leader != to || d.epoch != epoch)
        {
            self.download = None;
        }
        let message = match &self.download {
            Some(d) => Message::FetchSnapshot {
                epoch,
                replica: self.id,
                snapshot: d.id,
                position: d.bytes.len() as u64,
                max_bytes: self.config.fetch_snapshot_max_bytes,
                correlation_id,
            },
            None => Message::Fetch {
                epoch,
                replica: self.id,
                fetch_offset: self.log.end_offset(),
                last_fetched_epoch: self.log.last_epoch(),
                correlation_id,
            },
        };
        self.send(to, message);
    }
}
