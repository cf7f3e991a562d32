//! KIP-630's FetchSnapshot: the leader serves its latest snapshot's bytes
//! by position; a follower whose fetch offset was below the leader's log
//! start downloads it chunk by chunk and then starts its log after it.

use super::log::{EpochEndOffset, Snapshot};
use super::messages::{FetchError, FetchSnapshotResponse, Message};
use super::node::{Node, RoleState};
use super::NodeId;
use bytes::Bytes;

impl Node {
    pub(super) fn on_fetch_snapshot(
        &mut self,
        from: NodeId,
        (epoch, replica): (u32, NodeId),
        wanted: EpochEndOffset,
        (position, max_bytes): (u64, u32),
        correlation_id: u64,
        now_ms: u64,
    ) {
        let my_epoch = self.quorum.epoch;
        let is_leader = matches!(self.role, RoleState::Leader { .. });
        let mut reply = FetchSnapshotResponse {
            epoch: my_epoch,
            correlation_id,
            leader: self.leader(),
            error: None,
            snapshot: wanted,
            size: 0,
            position,
            bytes: Bytes::new(),
        };
        // The same leader-only validation as Fetch, then the snapshot.
        reply.error = if epoch < my_epoch {
            Some(FetchError::FencedLeaderEpoch)
        } else if epoch > my_epoch {
            Some(FetchError::UnknownLeaderEpoch)
        } else if !is_leader {
            Some(FetchError::NotLeader)
        } else {
            match self.snapshot.as_ref().filter(|s| s.id == wanted) {
                None => Some(FetchError::SnapshotNotFound),
                Some(s) => {
                    let size = s.data.len() as u64;
                    reply.size = size;
                    if position > size {
                        Some(FetchError::PositionOutOfRange)
                    } else {
                        let end = size.min(position.saturating_add(u64::from(max_bytes.max(1))));
                        // Both within the data's length, which is a usize.
                        reply.bytes = s.data.slice(position as usize..end as usize);
                        None
                    }
                }
            }
        };
        if reply.error.is_none() {
            self.note_fetch(replica, None, now_ms);
        }
        self.send(from, Message::FetchSnapshotResponse(reply));
    }

    pub(super) fn on_fetch_snapshot_response(
        &mut self,
        from: NodeId,
        response: FetchSnapshotResponse,
        now_ms: u64,
    ) {
        let my_epoch = self.quorum.epoch;
        let fetch_timeout = self.config.fetch_timeout_ms;
        let retry_wait = self
            .config
            .fetch_max_wait_ms
            .min(self.config.request_timeout_ms);
        let (current_leader, fetch) = match &mut self.role {
            RoleState::Follower { leader, fetch, .. } => (Some(*leader), fetch),
            RoleState::Observer { leader, fetch, .. } => (*leader, fetch),
            _ => return,
        };
        if fetch.in_flight.map(|(_, id)| id) != Some(response.correlation_id) {
            return;
        }
        fetch.in_flight = None;
        fetch.next_at_ms = now_ms + retry_wait;
        if response.epoch != my_epoch || current_leader != Some(from) {
            return;
        }
        match response.error {
            None => {}
            // The leader moved on to a newer snapshot (or position went
            // wrong): start over with a Fetch, which names the current one.
            Some(FetchError::SnapshotNotFound | FetchError::PositionOutOfRange) => {
                self.download = None;
                return;
            }
            Some(_) => return,
        }
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
            } => *fetch_deadline_ms = now_ms + fetch_timeout,
            _ => {}
        }
        let Some(download) = self.download.as_mut() else {
            return;
        };
        if download.id != response.snapshot || download.bytes.len() as u64 != response.position {
            // An answer for another snapshot or chunk: ask again.
            return;
        }
        download.bytes.extend_from_slice(&response.bytes);
        let done = download.bytes.len() as u64 >= response.size;
        if !done && response.bytes.is_empty() {
            return;
        }
        if done {
            if let Some(d) = self.download.take() {
                if d.id.end_offset > self.log.start_offset() {
                    self.install(Snapshot {
                        id: d.id,
                        data: Bytes::from(d.bytes),
                    });
                }
            }
        }
        if let RoleState::Follower { fetch, .. } | RoleState::Observer { fetch, .. } =
            &mut self.role
        {
            fetch.next_at_ms = now_ms;
        }
        self.maybe_fetch(now_ms);
    }
}
