//! Elections: pre-vote and vote requests and the votes counted for them.

use super::messages::Message;
use super::node::{Node, RoleState};
use super::state::QuorumState;
use super::NodeId;

impl Node {
    pub(super) fn log_is_up_to_date(&self, last_epoch: u32, end_offset: u64) -> bool {
        (last_epoch, end_offset) >= (self.log.last_epoch(), self.log.end_offset())
    }

    pub(super) fn on_vote_request(
        &mut self,
        candidate: NodeId,
        epoch: u32,
        last_epoch: u32,
        end_offset: u64,
        pre_vote: bool,
        now_ms: u64,
    ) {
        let my_epoch = self.quorum.epoch;
        // A non-voter neither votes nor is voted for.
        let granted = if !self.is_voter() || !self.config.is_voter(candidate) || epoch < my_epoch {
            false
        } else if pre_vote {
            // KIP-996: refuse once we have heard from a leader in this epoch
            // (until its fetch timeout ends our following), so a node that
            // was merely cut off cannot disturb a working quorum; a leader
            // we never reached does not count.
            let has_live_leader = match &self.role {
                RoleState::Leader { .. } => true,
                RoleState::Follower { has_fetched, .. } => *has_fetched,
                _ => false,
            };
            !has_live_leader && self.log_is_up_to_date(last_epoch, end_offset)
        } else {
            // epoch == my_epoch here (a higher one was adopted in `handle`).
            let free = match self.quorum.voted_for {
                None => matches!(
                    self.role,
                    RoleState::Unattached { .. } | RoleState::Prospective { .. }
                ),
                Some(v) => v == candidate,
            };
            free && self.log_is_up_to_date(last_epoch, end_offset)
        };
        if granted && !pre_vote && self.quorum.voted_for.is_none() {
            // Durable before the grant leaves this node.
            self.persist(QuorumState {
                epoch: my_epoch,
                voted_for: Some(candidate),
            });
            let deadline_ms = self.election_deadline(now_ms);
            self.role = RoleState::Unattached { deadline_ms };
        }
        let reply = Message::VoteResponse {
            epoch: self.quorum.epoch,
            granted,
            pre_vote,
            leader: self.leader(),
        };
        self.send(candidate, reply);
    }

    pub(super) fn on_vote_response(
        &mut self,
        from: NodeId,
        epoch: u32,
        granted: bool,
        pre_vote: bool,
        leader: Option<NodeId>,
        now_ms: u64,
    ) {
        if epoch != self.quorum.epoch {
            return;
        }
        // A voter that knows the leader of our epoch points us at it.
        if let (Some(l), RoleState::Prospective { lost_leader, .. }) = (leader, &self.role) {
            if l != self.id && Some(l) != *lost_leader {
                self.become_follower(epoch, l, now_ms);
                return;
            }
        }
        match &mut self.role {
            RoleState::Prospective {
                granted: g,
                rejected: r,
                ..
            } if pre_vote => {
                if granted {
                    g.insert(from)
                } else {
                    r.insert(from)
                };
            }
            RoleState::Candidate {
                granted: g,
                rejected: r,
                ..
            } if !pre_vote => {
                if granted {
                    g.insert(from)
                } else {
                    r.insert(from)
                };
            }
            _ => return,
        }
        self.check_votes(now_ms);
    }

    pub(super) fn check_votes(&mut self, now_ms: u64) {
        let majority = self.config.majority();
        let voters = self.config.voters.len();
        match &self.role {
            RoleState::Prospective {
                granted, rejected, ..
            } => {
                if granted.len() >= majority {
                    self.become_candidate(now_ms);
                } else if rejected.len() > voters - majority {
                    let deadline_ms = self.backoff_deadline(now_ms);
                    self.role = RoleState::Unattached { deadline_ms };
                }
            }
            RoleState::Candidate {
                granted, rejected, ..
            } => {
                if granted.len() >= majority {
                    self.become_leader(now_ms);
                } else if rejected.len() > voters - majority {
                    let deadline_ms = self.backoff_deadline(now_ms);
                    self.role = RoleState::Unattached { deadline_ms };
                }
            }
            _ => {}
        }
    }
}
