//! Single-node rules, driven message by message.

use super::*;
use bytes::Bytes;

fn entry(epoch: u32) -> LogEntry {
    LogEntry {
        epoch,
        payload: Payload::Data(Bytes::from_static(b"x")),
    }
}

fn node(id: NodeId, voters: &[NodeId], epoch: u32, log: &[u32]) -> Node {
    let quorum = QuorumState {
        epoch,
        voted_for: None,
    };
    let log = MemLog::from_entries(log.iter().map(|e| entry(*e)).collect());
    Node::new(id, QuorumConfig::new(voters.to_vec()), quorum, log, 7, 0)
}

fn vote(
    epoch: u32,
    candidate: NodeId,
    last_epoch: u32,
    end_offset: u64,
    pre_vote: bool,
) -> Message {
    Message::VoteRequest {
        epoch,
        candidate,
        last_epoch,
        end_offset,
        pre_vote,
    }
}

/// The grant flag of the single VoteResponse in `outputs`.
fn granted(outputs: &[Output]) -> bool {
    let grants: Vec<bool> = outputs
        .iter()
        .filter_map(|o| match o {
            Output::Send {
                message: Message::VoteResponse { granted, .. },
                ..
            } => Some(*granted),
            _ => None,
        })
        .collect();
    assert_eq!(grants.len(), 1, "{outputs:?}");
    grants[0]
}

fn persists(outputs: &[Output]) -> Vec<QuorumState> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Persist(q) => Some(*q),
            _ => None,
        })
        .collect()
}

fn sent_fetch(outputs: &[Output]) -> (u64, u32, u64) {
    outputs
        .iter()
        .find_map(|o| match o {
            Output::Send {
                message:
                    Message::Fetch {
                        fetch_offset,
                        last_fetched_epoch,
                        correlation_id,
                        ..
                    },
                ..
            } => Some((*fetch_offset, *last_fetched_epoch, *correlation_id)),
            _ => None,
        })
        .expect("a Fetch")
}

#[test]
fn one_vote_per_epoch_persisted_before_the_grant_is_sent() {
    let mut n = node(1, &[1, 2, 3], 0, &[]);
    let out = n.handle(2, vote(1, 2, 0, 0, false), 10);
    assert!(granted(&out));
    // The new epoch, then the vote, are persisted before the response that
    // relies on them.
    let q = |voted_for| QuorumState {
        epoch: 1,
        voted_for,
    };
    assert_eq!(persists(&out), vec![q(None), q(Some(2))]);
    assert!(matches!(out.last(), Some(Output::Send { to: 2, .. })));
    // Another candidate in the same epoch is refused; the same one again is
    // answered the same way (a retried request).
    let out = n.handle(3, vote(1, 3, 5, 100, false), 11);
    assert!(!granted(&out));
    assert!(persists(&out).is_empty());
    assert!(granted(&n.handle(2, vote(1, 2, 0, 0, false), 12)));
    // A restart keeps the vote.
    let mut restarted = Node::new(
        1,
        QuorumConfig::new(vec![1, 2, 3]),
        n.quorum_state(),
        MemLog::new(),
        1,
        20,
    );
    assert!(!granted(&restarted.handle(3, vote(1, 3, 0, 0, false), 21)));
}

#[test]
fn candidates_with_older_logs_are_refused() {
    // Log: epochs 1, 1, 2 (last epoch 2, end offset 3).
    let mut n = node(1, &[1, 2, 3], 2, &[1, 1, 2]);
    // Older last epoch, even with a longer log.
    let out = n.handle(2, vote(3, 2, 1, 10, false), 1);
    assert!(!granted(&out));
    // The higher epoch is adopted anyway, with no vote.
    assert_eq!(
        persists(&out),
        vec![QuorumState {
            epoch: 3,
            voted_for: None
        }]
    );
    // Same last epoch, shorter log.
    assert!(!granted(&n.handle(3, vote(4, 3, 2, 2, false), 2)));
    // Same last epoch, same length: as up to date.
    assert!(granted(&n.handle(3, vote(5, 3, 2, 3, false), 3)));
    // A newer last epoch wins over length.
    assert!(granted(&n.handle(2, vote(6, 2, 3, 0, false), 4)));
    // Older epochs are refused outright.
    assert!(!granted(&n.handle(3, vote(5, 3, 9, 9, false), 5)));
    assert_eq!(n.epoch(), 6);
}

#[test]
fn pre_vote_does_not_bump_the_epoch_nor_bind_a_vote() {
    let mut n = node(1, &[1, 2, 3], 1, &[1]);
    let out = n.handle(2, vote(5, 2, 1, 1, true), 1);
    assert!(granted(&out));
    assert!(persists(&out).is_empty());
    assert_eq!(n.epoch(), 1);
    assert_eq!(n.quorum_state().voted_for, None);
    // Another pre-vote candidate may get one too; a stale log may not.
    assert!(granted(&n.handle(3, vote(1, 3, 1, 1, true), 2)));
    assert!(!granted(&n.handle(3, vote(1, 3, 0, 0, true), 3)));
    // A follower grants pre-votes until a fetch from its leader succeeds
    // (the leader may be unreachable from here), then refuses them.
    let out = n.handle(
        3,
        Message::BeginQuorumEpoch {
            epoch: 2,
            leader: 3,
        },
        4,
    );
    assert_eq!(n.role(), Role::Follower);
    assert!(granted(&n.handle(2, vote(2, 2, 9, 9, true), 5)));
    let (_, _, correlation_id) = sent_fetch(&out);
    let answer = Message::FetchResponse(FetchResponse {
        epoch: 2,
        correlation_id,
        leader: Some(3),
        error: None,
        diverging: None,
        base_offset: 1,
        entries: Vec::new(),
        high_watermark: None,
    });
    n.handle(3, answer, 6);
    assert!(!granted(&n.handle(2, vote(2, 2, 9, 9, true), 7)));
}

#[test]
fn a_follower_truncates_to_the_diverging_epoch() {
    let mut n = node(1, &[1, 2, 3], 2, &[1, 1, 2, 2]);
    let out = n.handle(
        3,
        Message::BeginQuorumEpoch {
            epoch: 3,
            leader: 3,
        },
        1,
    );
    let (offset, last_epoch, correlation_id) = sent_fetch(&out);
    assert_eq!((offset, last_epoch), (4, 2));
    let response = |correlation_id| {
        Message::FetchResponse(FetchResponse {
            epoch: 3,
            correlation_id,
            leader: Some(3),
            error: None,
            diverging: Some(EpochEndOffset {
                epoch: 1,
                end_offset: 2,
            }),
            base_offset: 4,
            entries: Vec::new(),
            high_watermark: None,
        })
    };
    // An answer to a fetch we are not waiting for changes nothing.
    assert!(n.handle(3, response(correlation_id + 100), 2).is_empty());
    let out = n.handle(3, response(correlation_id), 3);
    assert_eq!(out[0], Output::Truncate { end_offset: 2 });
    assert_eq!(n.log().end_offset(), 2);
    // It fetches again from the truncation point.
    let (offset, last_epoch, _) = sent_fetch(&out);
    assert_eq!((offset, last_epoch), (2, 1));
}

#[test]
fn the_leader_reports_the_diverging_epoch() {
    // A single voter elects itself; the log keeps epochs 1, 1, 2.
    let mut n = node(1, &[1], 2, &[1, 1, 2]);
    n.tick(5_000);
    assert_eq!(n.role(), Role::Leader);
    assert_eq!(n.epoch(), 3);
    let fetch = |fetch_offset, last_fetched_epoch| Message::Fetch {
        epoch: 3,
        replica: 9,
        fetch_offset,
        last_fetched_epoch,
        correlation_id: 1,
    };
    let diverging = |out: Vec<Output>| match &out[..] {
        [Output::Send {
            message: Message::FetchResponse(FetchResponse { diverging, .. }),
            ..
        }] => *diverging,
        other => panic!("{other:?}"),
    };
    // The observer has epoch 1 up to offset 3, the leader only up to 2.
    assert_eq!(
        diverging(n.handle(9, fetch(3, 1), 5_001)),
        Some(EpochEndOffset {
            epoch: 1,
            end_offset: 2
        })
    );
    // An epoch the leader never had: the largest one below it.
    assert_eq!(
        diverging(n.handle(9, fetch(5, 2), 5_002)),
        Some(EpochEndOffset {
            epoch: 2,
            end_offset: 3
        })
    );
    assert_eq!(diverging(n.handle(9, fetch(2, 1), 5_003)), None);
}

#[test]
fn high_watermark_waits_for_an_entry_of_the_leaders_epoch() {
    // Node 1 holds three entries of epoch 1 and wins epoch 2 with node 2.
    let mut n = node(1, &[1, 2, 3], 1, &[1, 1, 1]);
    n.tick(5_000);
    assert_eq!(n.role(), Role::Prospective);
    let out = n.handle(
        2,
        Message::VoteResponse {
            epoch: 1,
            granted: true,
            pre_vote: true,
            leader: None,
        },
        5_001,
    );
    assert_eq!(n.role(), Role::Candidate);
    assert_eq!(
        out[0],
        Output::Persist(QuorumState {
            epoch: 2,
            voted_for: Some(1)
        })
    );
    n.handle(
        2,
        Message::VoteResponse {
            epoch: 2,
            granted: true,
            pre_vote: false,
            leader: None,
        },
        5_002,
    );
    assert_eq!(n.role(), Role::Leader);
    // LEADER_CHANGE at offset 3 opens the epoch.
    assert_eq!(
        n.log().get(3).map(|e| (&e.payload, e.epoch)),
        Some((&Payload::LeaderChange { leader: 1 }, 2))
    );
    let fetch = |fetch_offset, last_fetched_epoch| Message::Fetch {
        epoch: 2,
        replica: 2,
        fetch_offset,
        last_fetched_epoch,
        correlation_id: 1,
    };
    let hw = |out: Vec<Output>| match &out[..] {
        [Output::Send {
            message: Message::FetchResponse(FetchResponse { high_watermark, .. }),
            ..
        }] => *high_watermark,
        other => panic!("{other:?}"),
    };
    // Node 2 has the three old entries: a majority holds them, but none of
    // epoch 2 is committed, so no high watermark yet.
    assert_eq!(hw(n.handle(2, fetch(3, 1), 5_003)), None);
    assert_eq!(n.high_watermark(), 0);
    // Once node 2 has LEADER_CHANGE too, everything up to it commits.
    assert_eq!(hw(n.handle(2, fetch(4, 2), 5_004)), Some(4));
    assert_eq!(n.high_watermark(), 4);
    // A reordered older fetch does not lower it.
    assert_eq!(hw(n.handle(2, fetch(3, 1), 5_005)), Some(4));
}

#[test]
fn followers_learn_the_high_watermark_but_never_past_their_log() {
    let mut n = node(1, &[1, 2, 3], 1, &[]);
    let out = n.handle(
        2,
        Message::BeginQuorumEpoch {
            epoch: 1,
            leader: 2,
        },
        1,
    );
    let (_, _, correlation_id) = sent_fetch(&out);
    let out = n.handle(
        2,
        Message::FetchResponse(FetchResponse {
            epoch: 1,
            correlation_id,
            leader: Some(2),
            error: None,
            diverging: None,
            base_offset: 0,
            entries: vec![entry(1), entry(1)],
            high_watermark: Some(5),
        }),
        2,
    );
    assert_eq!(n.log().end_offset(), 2);
    assert_eq!(n.high_watermark(), 2);
    assert!(matches!(out[0], Output::Append { offset: 0, .. }));
}

#[test]
fn fetch_errors_follow_kafkas_order_and_codes() {
    let mut n = node(1, &[1], 2, &[]);
    n.tick(5_000);
    assert_eq!(n.epoch(), 3);
    let error = |out: Vec<Output>| match &out[..] {
        [Output::Send {
            message:
                Message::FetchResponse(FetchResponse {
                    error,
                    epoch,
                    leader,
                    ..
                }),
            ..
        }] => {
            assert_eq!((*epoch, *leader), (3, Some(1)));
            error.map(FetchError::code)
        }
        other => panic!("{other:?}"),
    };
    let fetch = |epoch| Message::Fetch {
        epoch,
        replica: 9,
        fetch_offset: 0,
        last_fetched_epoch: 0,
        correlation_id: 1,
    };
    assert_eq!(error(n.handle(9, fetch(2), 5_001)), Some(74));
    // A newer epoch in a Fetch is refused, and does not depose the leader.
    assert_eq!(error(n.handle(9, fetch(4), 5_002)), Some(75));
    assert_eq!((n.role(), n.epoch()), (Role::Leader, 3));
    assert_eq!(error(n.handle(9, fetch(3), 5_003)), None);
    // A voter that does not lead answers NOT_LEADER_OR_FOLLOWER.
    let mut f = node(2, &[1, 2, 3], 3, &[]);
    f.handle(
        1,
        Message::BeginQuorumEpoch {
            epoch: 3,
            leader: 1,
        },
        1,
    );
    match &f.handle(9, fetch(3), 2)[..] {
        [Output::Send {
            message: Message::FetchResponse(FetchResponse { error, leader, .. }),
            ..
        }] => {
            assert_eq!((error.map(FetchError::code), *leader), (Some(6), Some(1)));
        }
        other => panic!("{other:?}"),
    }
}

/// Delivers messages among `nodes` until none are left, skipping those
/// `blocked` refuses.
fn pump(
    nodes: &mut [Node],
    mut queue: Vec<(NodeId, Vec<Output>)>,
    now: u64,
    blocked: &dyn Fn(NodeId, NodeId, &Message) -> bool,
) {
    while let Some((from, outputs)) = queue.pop() {
        for output in outputs {
            if let Output::Send { to, message } = output {
                if blocked(from, to, &message) {
                    continue;
                }
                if let Some(n) = nodes.iter_mut().find(|n| n.id() == to) {
                    let out = n.handle(from, message, now);
                    queue.push((to, out));
                }
            }
        }
    }
}

#[test]
fn an_old_epoch_entry_on_a_majority_is_not_committed_before_the_leaders_own() {
    // Raft's "figure 8" in KRaft's terms. Node 3 once led epoch 3 and wrote
    // one entry nobody else has; node 1 holds an uncommitted epoch-1 entry
    // at the same offset.
    let mut config = QuorumConfig::new(vec![1, 2, 3]);
    config.fetch_max_entries = 1;
    let start = |id, log: &[u32]| {
        let log = MemLog::from_entries(log.iter().map(|e| entry(*e)).collect());
        Node::new(
            id,
            config.clone(),
            QuorumState {
                epoch: 3,
                voted_for: None,
            },
            log,
            1,
            0,
        )
    };
    let mut nodes = vec![start(1, &[1, 1]), start(2, &[1]), start(3, &[1, 3])];
    // Node 1 wins epoch 4 with node 2 while node 3 is cut off; node 2
    // fetches the epoch-1 entry but not the LEADER_CHANGE after it.
    let out = nodes[0].tick(5_000);
    pump(&mut nodes, vec![(1, out)], 5_000, &|from, to, m| {
        from == 3
            || to == 3
            || matches!(
                m,
                Message::FetchResponse(FetchResponse { base_offset: 2, .. })
            )
    });
    assert_eq!((nodes[0].role(), nodes[0].epoch()), (Role::Leader, 4));
    assert_eq!(nodes[1].log().end_offset(), 2);
    // A majority holds offset 1, but it is not of epoch 4: not committed.
    assert_eq!(nodes[0].high_watermark(), 0);
    let committed: Vec<LogEntry> =
        nodes[0].log().entries()[..nodes[0].high_watermark() as usize].to_vec();
    // Node 1 crashes; node 3's newer last epoch wins epoch 5 with node 2,
    // which truncates the epoch-1 entry.
    nodes.remove(0);
    let now = 10_000;
    let out2 = nodes[0].tick(now);
    let out3 = nodes[1].tick(now);
    pump(&mut nodes, vec![(2, out2), (3, out3)], now, &|_, _, _| {
        false
    });
    // Node 3 only learnt epoch 4 from node 2's refusal; it runs again.
    let out3 = nodes[1].tick(now * 2);
    pump(&mut nodes, vec![(3, out3)], now * 2, &|_, _, _| false);
    assert_eq!((nodes[1].role(), nodes[1].epoch()), (Role::Leader, 5));
    assert_eq!(nodes[0].log(), nodes[1].log());
    assert_eq!(nodes[0].log().get(1).map(|e| e.epoch), Some(3));
    // Whatever node 1 had called committed survived.
    assert!(nodes[1].log().entries().starts_with(&committed));
}

#[test]
fn a_single_voter_leads_at_its_first_tick() {
    let mut n = node(1, &[1], 3, &[1, 3]);
    let out = n.tick(0);
    assert_eq!(n.role(), Role::Leader);
    assert_eq!(n.epoch(), 4);
    assert_eq!(
        persists(&out),
        [QuorumState {
            epoch: 4,
            voted_for: Some(1)
        }]
    );
    // Its LEADER_CHANGE commits at once: it is the whole majority.
    assert_eq!(n.high_watermark(), 3);
}

#[test]
fn non_voters_are_never_voted_for() {
    let mut n = node(1, &[1, 2, 3], 1, &[]);
    assert!(!granted(&n.handle(9, vote(2, 9, 1, 5, false), 10)));
    assert!(!granted(&n.handle(9, vote(1, 9, 1, 5, true), 10)));
    assert_eq!(n.quorum_state().voted_for, None);
}

#[test]
fn the_leader_tracks_caught_up_times_and_observers() {
    // Node 1 leads epoch 2 of voters 1-3 with 2 entries (LEADER_CHANGE at 1).
    let mut n = node(1, &[1, 2, 3], 1, &[1]);
    n.tick(5_000);
    for (epoch, pre_vote) in [(1, true), (2, false)] {
        n.handle(
            2,
            Message::VoteResponse {
                epoch,
                granted: true,
                pre_vote,
                leader: None,
            },
            5_000,
        );
    }
    assert_eq!(n.role(), Role::Leader);
    let fetch = |replica, fetch_offset, last_fetched_epoch| Message::Fetch {
        epoch: 2,
        replica,
        fetch_offset,
        last_fetched_epoch,
        correlation_id: 1,
    };
    // Node 2 is behind at 5_100, caught up at 5_200.
    n.handle(2, fetch(2, 1, 1), 5_100);
    n.handle(2, fetch(2, 2, 2), 5_200);
    // Node 3 reaches at 5_300 what the leader had at its previous fetch
    // (5_150), after a new entry arrived: caught up as of 5_150.
    n.handle(3, fetch(3, 1, 1), 5_150);
    n.client_append(Bytes::from_static(b"new"));
    n.handle(3, fetch(3, 2, 2), 5_300);
    // An observer shows up among the observers, not the voters.
    n.handle(100, fetch(100, 0, 0), 5_400);
    let p = n.leader_progress().expect("leader");
    let of = |list: &[ReplicaProgress], id| *list.iter().find(|r| r.id == id).expect("listed");
    assert_eq!(p.voters.len(), 3);
    let two = of(&p.voters, 2);
    assert_eq!(
        (two.end_offset, two.last_fetch_ms, two.last_caught_up_ms),
        (2, Some(5_200), Some(5_200))
    );
    let three = of(&p.voters, 3);
    assert_eq!(
        (three.end_offset, three.last_caught_up_ms),
        (2, Some(5_150))
    );
    let own = of(&p.voters, 1);
    assert_eq!(own.end_offset, 3);
    let observer = of(&p.observers, 100);
    assert_eq!(
        (observer.end_offset, observer.last_fetch_ms),
        (0, Some(5_400))
    );
    // Followers have no such view.
    let follower = node(2, &[1, 2, 3], 1, &[]);
    assert!(follower.leader_progress().is_none());
}

#[test]
fn a_follower_that_cannot_reach_its_leader_stands_at_once() {
    let mut n = node(2, &[1, 2, 3], 1, &[1]);
    n.handle(
        1,
        Message::BeginQuorumEpoch {
            epoch: 1,
            leader: 1,
        },
        10,
    );
    assert_eq!(n.role(), Role::Follower);
    // Another voter being unreachable changes nothing.
    assert!(n.peer_unreachable(3, 20).is_empty());
    assert_eq!(n.role(), Role::Follower);
    // The leader's connection refused: a pre-vote goes out now, long
    // before the 2 s fetch timeout, and the epoch stays as it is.
    let outputs = n.peer_unreachable(1, 30);
    assert_eq!(n.role(), Role::Prospective);
    assert_eq!(n.epoch(), 1);
    let pre_votes = outputs
        .iter()
        .filter(|o| {
            matches!(
                o,
                Output::Send {
                    message: Message::VoteRequest { pre_vote: true, .. },
                    ..
                }
            )
        })
        .count();
    assert_eq!(pre_votes, 2, "{outputs:?}");
}
