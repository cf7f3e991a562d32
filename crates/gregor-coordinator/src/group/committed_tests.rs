//! Reads at the committed state through a tracking coordinator: what the
//! edge does around each input (see `committed`).

use super::consumer::TopicTable;
use super::tests::{commit, coordinator, s};
use super::*;
use kafka_protocol::messages::{
    DeleteGroupsRequest, DescribeGroupsRequest, GroupId, ListGroupsRequest,
};

fn offset_of(c: &GroupCoordinator, group: &str, topic: &str, partition: i32) -> i64 {
    c.fetch_offsets(group, Some(&[(topic.to_string(), vec![partition])]))[0].partitions[0].offset
}

fn all_offsets(c: &GroupCoordinator, group: &str) -> Vec<(String, i32, i64)> {
    c.fetch_offsets(group, None)
        .into_iter()
        .flat_map(|t| {
            let name = t.name;
            t.partitions
                .into_iter()
                .map(move |p| (name.clone(), p.partition, p.offset))
        })
        .collect()
}

/// An OffsetCommit whose batch's last offset is `log_offset`.
fn committed_at(c: &mut GroupCoordinator, log_offset: i64, parts: &[(&str, i32, i64)]) {
    let (_, records) =
        c.commit_offsets(&commit("g", -1, "", parts), 9, &TopicTable::default(), 100);
    assert_eq!(records.len(), parts.len());
    c.place_changes(log_offset);
}

#[test]
fn an_uncommitted_offset_reads_as_the_last_committed_one() {
    let mut c = coordinator();
    c.track_uncommitted();
    // First commit of the group, not yet replicated: nothing to show.
    committed_at(&mut c, 0, &[("t", 0, 10)]);
    assert_eq!(offset_of(&c, "g", "t", 0), -1);
    assert!(all_offsets(&c, "g").is_empty());
    c.committed_up_to(1);
    assert_eq!(offset_of(&c, "g", "t", 0), 10);

    // Two later commits pending: the committed 10 is shown until each commits.
    committed_at(&mut c, 1, &[("t", 0, 50), ("t", 1, 5)]);
    committed_at(&mut c, 2, &[("t", 0, 60)]);
    assert_eq!(offset_of(&c, "g", "t", 0), 10);
    assert_eq!(all_offsets(&c, "g"), vec![("t".into(), 0, 10)]);
    c.committed_up_to(2);
    assert_eq!(
        all_offsets(&c, "g"),
        vec![("t".into(), 0, 50), ("t".into(), 1, 5)]
    );
    c.committed_up_to(3);
    assert_eq!(offset_of(&c, "g", "t", 0), 60);
    assert!(c.uncommitted().is_empty());
}

#[test]
fn deleted_offsets_stay_visible_until_the_tombstones_commit() {
    let mut c = coordinator();
    c.track_uncommitted();
    committed_at(&mut c, 0, &[("t", 0, 10), ("t", 1, 11)]);
    c.committed_up_to(1);
    let req = DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s("g"))]);
    let (resp, records) = c.delete_groups(&req);
    assert_eq!(resp.results[0].error_code, 0);
    assert_eq!(records.len(), 3);
    c.place_changes(3);
    assert_eq!(c.group_state("g"), None);
    assert_eq!(
        all_offsets(&c, "g"),
        vec![("t".into(), 0, 10), ("t".into(), 1, 11)]
    );
    // The group itself is still there, Empty, at the committed state.
    assert_eq!(listed(&c), vec!["g".to_string()]);
    assert_eq!(described_state(&c, "g"), "Empty");
    c.committed_up_to(4);
    assert!(all_offsets(&c, "g").is_empty());
    assert!(listed(&c).is_empty());
    assert_eq!(described_state(&c, "g"), "Dead");
}

#[test]
fn a_group_both_made_and_deleted_by_uncommitted_writes_never_shows() {
    let mut c = coordinator();
    c.track_uncommitted();
    committed_at(&mut c, 0, &[("t", 0, 10)]);
    let req = DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s("g"))]);
    assert_eq!(c.delete_groups(&req).0.results[0].error_code, 0);
    c.place_changes(2);
    assert!(listed(&c).is_empty());
    assert_eq!(described_state(&c, "g"), "Dead");
    assert!(all_offsets(&c, "g").is_empty());
}

#[test]
fn replayed_records_past_the_high_watermark_stay_hidden() {
    let mut c = coordinator();
    c.track_uncommitted();
    let record = |offset| Record::Offset {
        group: "g".into(),
        topic: "t".into(),
        partition: 0,
        value: Some(OffsetValue {
            offset,
            leader_epoch: -1,
            metadata: String::new(),
            commit_timestamp: 0,
            expire_timestamp: None,
        }),
    };
    // Log: offset 0 commits 10, offset 1 (past the high watermark of 1) 50.
    let high_watermark = 1;
    for (log_offset, value) in [(0, 10), (1, 50)] {
        c.replay(record(value), 0);
        if log_offset >= high_watermark {
            c.place_changes(log_offset);
        } else {
            c.discard_changes();
        }
    }
    assert_eq!(offset_of(&c, "g", "t", 0), 10);
    c.committed_up_to(2);
    assert_eq!(offset_of(&c, "g", "t", 0), 50);

    // Its deletion (offset tombstone, group tombstone) past the high watermark.
    let tombstone = Record::Offset {
        group: "g".into(),
        topic: "t".into(),
        partition: 0,
        value: None,
    };
    c.replay(tombstone, 0);
    c.replay(
        Record::Group {
            group: "g".into(),
            value: None,
        },
        0,
    );
    c.place_changes(3);
    assert_eq!(c.group_state("g"), None);
    assert_eq!(listed(&c), vec!["g".to_string()]);
    assert_eq!(offset_of(&c, "g", "t", 0), 50);
    c.committed_up_to(4);
    assert!(listed(&c).is_empty());
}

#[test]
fn without_tracking_nothing_is_hidden() {
    let mut c = coordinator();
    committed_at(&mut c, 0, &[("t", 0, 10)]);
    assert_eq!(offset_of(&c, "g", "t", 0), 10);
    assert!(c.uncommitted().is_empty());
}

fn listed(c: &GroupCoordinator) -> Vec<String> {
    c.list_groups(&ListGroupsRequest::default())
        .groups
        .into_iter()
        .map(|g| g.group_id.to_string())
        .collect()
}

fn described_state(c: &GroupCoordinator, group: &str) -> String {
    let req = DescribeGroupsRequest::default().with_groups(vec![GroupId(s(group))]);
    c.describe_groups(&req, 5).groups[0].group_state.to_string()
}

#[test]
fn a_group_made_by_an_uncommitted_first_commit_is_not_listed() {
    let mut c = coordinator();
    c.track_uncommitted();
    committed_at(&mut c, 0, &[("t", 0, 10)]);
    assert!(listed(&c).is_empty());
    assert_eq!(described_state(&c, "g"), "Dead");
    c.committed_up_to(1);
    assert_eq!(listed(&c), vec!["g".to_string()]);
    assert_eq!(described_state(&c, "g"), "Empty");
    // A later uncommitted commit does not hide a group that exists.
    committed_at(&mut c, 1, &[("t", 1, 10)]);
    assert_eq!(listed(&c), vec!["g".to_string()]);
}

/// A TxnOffsetCommit of `producer_id` committing `offset` for g/t/0.
fn txn_committed(c: &mut GroupCoordinator, producer_id: i64, offset: i64, log_offset: i64) {
    use kafka_protocol::messages::txn_offset_commit_request::{
        TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
    };
    use kafka_protocol::messages::{TopicName, TransactionalId, TxnOffsetCommitRequest};
    let req = TxnOffsetCommitRequest::default()
        .with_transactional_id(TransactionalId(s("tx")))
        .with_group_id(GroupId(s("g")))
        .with_producer_id(producer_id.into())
        .with_generation_id(-1)
        .with_topics(vec![TxnOffsetCommitRequestTopic::default()
            .with_name(TopicName(s("t")))
            .with_partitions(vec![TxnOffsetCommitRequestPartition::default()
                .with_partition_index(0)
                .with_committed_offset(offset)])]);
    let (_, records) = c.txn_commit_offsets(&req, &TopicTable::default(), 100);
    assert_eq!(records.len(), 1);
    c.place_changes(log_offset);
}

fn stable_offset_of(c: &GroupCoordinator) -> i64 {
    let wanted = [("t".to_string(), vec![0])];
    c.fetch_offsets_at("g", Some(&wanted), ReadAt::Latest)[0].partitions[0].offset
}

/// The shape of the commit_regression test_eos.py saw: a transaction is
/// acknowledged (EndTxn) before its markers are written; a read_committed
/// consumer's OffsetFetch (require_stable) then either finds its offsets
/// pending (UNSTABLE_OFFSET_COMMIT, it retries) or, once the marker is
/// applied, must see them, even while the marker is not yet committed:
/// Kafka reads such a fetch at the latest state and holds its answer until
/// that state is committed. Read at the high watermark, it showed the
/// offset from before the transaction (43 -> 41), no longer pending.
#[test]
fn a_stable_read_sees_a_settled_transaction_before_its_marker_commits() {
    let mut c = coordinator();
    c.track_uncommitted();
    txn_committed(&mut c, 7, 41, 0);
    c.complete_txn_offsets(7, true, |_| true, 200);
    c.place_changes(1);
    c.committed_up_to(2);
    assert_eq!(stable_offset_of(&c), 41);

    // The next transaction: pending until its marker (offset 3).
    txn_committed(&mut c, 7, 43, 2);
    c.committed_up_to(3);
    assert!(c.has_pending_offset("g", "t", 0));
    c.complete_txn_offsets(7, true, |_| true, 300);
    c.place_changes(3);
    assert!(!c.has_pending_offset("g", "t", 0));
    // Marker appended, high watermark still 3: a plain fetch reads the
    // committed 41, a stable one the 43 it will wait to be committed.
    assert_eq!(offset_of(&c, "g", "t", 0), 41);
    assert_eq!(stable_offset_of(&c), 43);
    c.committed_up_to(4);
    assert_eq!(offset_of(&c, "g", "t", 0), 43);
    assert_eq!(stable_offset_of(&c), 43);
}

fn delete_group(c: &mut GroupCoordinator, log_offset: i64) -> usize {
    let req = DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s("g"))]);
    let (resp, records) = c.delete_groups(&req);
    assert_eq!(resp.results[0].error_code, 0);
    c.place_changes(log_offset);
    records.len()
}

/// Simulator seed 2: a committed group deleted and made again by a first
/// commit, both uncommitted. At the committed state it is there, with its
/// old offsets; it used to be hidden as a group only uncommitted commits
/// made.
#[test]
fn a_group_deleted_and_made_again_uncommitted_is_still_listed() {
    let mut c = coordinator();
    c.track_uncommitted();
    committed_at(&mut c, 0, &[("t", 0, 10)]);
    c.committed_up_to(1);
    assert_eq!(delete_group(&mut c, 2), 2);
    committed_at(&mut c, 3, &[("t", 1, 7)]);
    assert_eq!(listed(&c), vec!["g".to_string()]);
    assert_eq!(described_state(&c, "g"), "Empty");
    assert_eq!(all_offsets(&c, "g"), vec![("t".into(), 0, 10)]);
    c.committed_up_to(4);
    assert_eq!(listed(&c), vec!["g".to_string()]);
    assert_eq!(all_offsets(&c, "g"), vec![("t".into(), 1, 7)]);
}

/// Simulator seed 4: a group made and deleted by uncommitted writes, then
/// the high watermark passes the commit that made it but not the delete:
/// it is there at the committed state. It used to stay hidden, as whether
/// it existed was decided once, when it was deleted.
#[test]
fn a_group_whose_first_commit_commits_before_its_delete_is_listed() {
    let mut c = coordinator();
    c.track_uncommitted();
    committed_at(&mut c, 0, &[("t", 0, 10)]);
    assert_eq!(delete_group(&mut c, 2), 2);
    assert!(listed(&c).is_empty());
    c.committed_up_to(1);
    assert_eq!(listed(&c), vec!["g".to_string()]);
    assert_eq!(described_state(&c, "g"), "Empty");
    assert_eq!(all_offsets(&c, "g"), vec![("t".into(), 0, 10)]);
    c.committed_up_to(3);
    assert!(listed(&c).is_empty());
    assert_eq!(described_state(&c, "g"), "Dead");
}

/// Kafka's `deleteAllOffsets` and replay: deleting a group also deletes
/// the offsets open transactions hold for it (a tombstone for keys with no
/// committed offset), so the transaction's commit marker brings nothing
/// back. Gregor used to keep them pending and resurrect group and offset.
#[test]
fn deleting_a_group_drops_the_offsets_of_its_open_transactions() {
    let mut c = coordinator();
    c.track_uncommitted();
    txn_committed(&mut c, 7, 41, 0);
    assert!(c.has_pending_offset("g", "t", 0));
    assert_eq!(delete_group(&mut c, 2), 2);
    assert!(!c.has_pending_offset("g", "t", 0));
    c.complete_txn_offsets(7, true, |_| true, 300);
    c.place_changes(3);
    c.committed_up_to(4);
    assert_eq!(stable_offset_of(&c), -1);
    assert!(listed(&c).is_empty());

    // The same log replayed: the tombstone drops the pending offset.
    let mut r = coordinator();
    let offset = |value: Option<i64>| Record::Offset {
        group: "g".into(),
        topic: "t".into(),
        partition: 0,
        value: value.map(|offset| OffsetValue {
            offset,
            leader_epoch: -1,
            metadata: String::new(),
            commit_timestamp: 0,
            expire_timestamp: None,
        }),
    };
    r.replay_pending_offset(7, offset(Some(41)), 0);
    r.replay(offset(None), 0);
    r.complete_txn_offsets(7, true, |_| true, 0);
    assert!(r.fetch_offsets("g", None).is_empty());
    assert_eq!(r.group_state("g"), None);
}

/// An offset an open transaction will replace does not expire (Kafka's
/// `cleanupExpiredOffsets`): its tombstone would drop the transaction's
/// offset too.
#[test]
fn an_offset_with_an_open_transaction_does_not_expire() {
    let mut c = coordinator();
    committed_at(&mut c, 0, &[("t", 0, 10)]);
    txn_committed(&mut c, 7, 41, 1);
    assert!(c.expire_offsets(1_000_000, 1).is_empty());
    c.complete_txn_offsets(7, true, |_| true, 300);
    assert_eq!(offset_of(&c, "g", "t", 0), 41);
    assert_eq!(c.expire_offsets(1_000_000, 1).len(), 1);
}

/// A group only an uncommitted TxnOffsetCommit made (it has pending
/// offsets, none of its own) is not there at the committed state yet:
/// it used to be listed at once (simulator, tightened listing check).
#[test]
fn a_group_made_by_an_uncommitted_txn_offset_commit_is_not_listed() {
    let mut c = coordinator();
    c.track_uncommitted();
    txn_committed(&mut c, 7, 41, 0);
    assert!(listed(&c).is_empty());
    assert_eq!(described_state(&c, "g"), "Dead");
    c.committed_up_to(1);
    assert_eq!(listed(&c), vec!["g".to_string()]);
    assert_eq!(described_state(&c, "g"), "Empty");
}
