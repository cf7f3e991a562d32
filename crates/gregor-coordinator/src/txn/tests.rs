//! The coordinator's rules, driven without sockets, logs or clocks.

use super::*;

const T0: i64 = 1_000_000;

fn tp(topic: &str, partition: i32) -> (String, i32) {
    (topic.to_string(), partition)
}

/// A coordinator at transaction version 1, which fences with one bump.
fn classic() -> TxnCoordinator {
    TxnCoordinator::new(TxnConfig {
        server_version: 0,
        ..TxnConfig::default()
    })
}

struct Ids(i64);

impl Ids {
    fn next(&mut self) -> Result<i64, Code> {
        self.0 += 1;
        Ok(self.0)
    }
}

/// Runs InitProducerId to completion as the edge would (aborting an open
/// transaction first), returning the answer.
fn init(c: &mut TxnCoordinator, ids: &mut Ids, id: &str) -> Result<(i64, i16), Code> {
    match c.init_producer_id(id, 60_000, None, T0, &mut || ids.next())? {
        InitStep::Ready(txn) => {
            let answer = (txn.producer_id, txn.producer_epoch);
            c.apply(txn);
            Ok(answer)
        }
        InitStep::AbortFirst(txn) => {
            c.apply(txn);
            let done = c.complete(id, T0).unwrap();
            c.apply(done);
            Err(error_codes::CONCURRENT_TRANSACTIONS)
        }
    }
}

fn add(
    c: &mut TxnCoordinator,
    id: &str,
    pid: i64,
    epoch: i16,
    parts: &[(String, i32)],
    now: i64,
) -> Result<(), Code> {
    if let Some(txn) = c.add_partitions(id, pid, epoch, parts, now)? {
        c.apply(txn);
    }
    Ok(())
}

fn end(
    c: &mut TxnCoordinator,
    id: &str,
    pid: i64,
    epoch: i16,
    commit: bool,
    version: i16,
) -> Result<(i64, i16), Code> {
    let request = EndRequest {
        transactional_id: id,
        producer_id: pid,
        epoch,
        commit,
        client_version: version,
    };
    match c.end_txn(&request, T0, &mut || Ok(9_999))? {
        EndStep::AlreadyDone {
            producer_id,
            producer_epoch,
        } => Ok((producer_id, producer_epoch)),
        EndStep::Prepare(txn) => {
            c.apply(txn);
            let done = c.complete(id, T0).unwrap();
            let answer = (done.producer_id, done.producer_epoch);
            c.apply(done);
            Ok(answer)
        }
    }
}

#[test]
fn first_init_creates_the_id_at_epoch_zero_and_reinit_bumps() {
    let mut c = TxnCoordinator::default();
    let mut ids = Ids(100);
    assert_eq!(init(&mut c, &mut ids, "tx"), Ok((101, 0)));
    assert_eq!(init(&mut c, &mut ids, "tx"), Ok((101, 1)));
    assert_eq!(c.get("tx").unwrap().state, TxnState::Empty);
    assert_eq!(init(&mut c, &mut ids, "other"), Ok((102, 0)));
}

#[test]
fn bad_init_requests_get_kafkas_codes() {
    let c = TxnCoordinator::default();
    let mut ids = Ids(0);
    let mut alloc = || ids.next();
    assert_eq!(
        c.init_producer_id("", 1000, None, T0, &mut alloc),
        Err(error_codes::INVALID_REQUEST)
    );
    assert_eq!(
        c.init_producer_id("tx", 900_001, None, T0, &mut alloc),
        Err(error_codes::INVALID_TRANSACTION_TIMEOUT)
    );
    assert_eq!(
        c.init_producer_id("tx", 0, None, T0, &mut alloc),
        Err(error_codes::INVALID_TRANSACTION_TIMEOUT)
    );
}

#[test]
fn a_transaction_opens_on_add_and_commits_on_end() {
    let mut c = TxnCoordinator::default();
    let mut ids = Ids(0);
    let (pid, epoch) = init(&mut c, &mut ids, "tx").unwrap();
    add(&mut c, "tx", pid, epoch, &[tp("a", 0), tp("a", 1)], T0 + 5).unwrap();
    let txn = c.get("tx").unwrap();
    assert_eq!(txn.state, TxnState::Ongoing);
    assert_eq!(txn.start_ms, T0 + 5);
    // Adding what is already there persists nothing.
    assert_eq!(
        c.add_partitions("tx", pid, epoch, &[tp("a", 1)], T0 + 9),
        Ok(None)
    );
    // Adding more keeps the start time.
    add(&mut c, "tx", pid, epoch, &[tp("b", 0)], T0 + 9).unwrap();
    assert_eq!(c.get("tx").unwrap().start_ms, T0 + 5);
    assert_eq!(c.get("tx").unwrap().partitions.len(), 3);

    let request = EndRequest {
        transactional_id: "tx",
        producer_id: pid,
        epoch,
        commit: true,
        client_version: 0,
    };
    let prepared = match c.end_txn(&request, T0, &mut || Ok(0)).unwrap() {
        EndStep::Prepare(txn) => txn,
        other => panic!("{other:?}"),
    };
    assert_eq!(prepared.state, TxnState::PrepareCommit);
    assert_eq!(
        prepared.producer_epoch, epoch,
        "classic clients keep their epoch"
    );
    assert_eq!(
        prepared.partitions.len(),
        3,
        "markers go to every partition"
    );
    c.apply(prepared);
    // While markers are written, nothing else may happen.
    assert_eq!(
        c.add_partitions("tx", pid, epoch, &[tp("a", 0)], T0),
        Err(error_codes::CONCURRENT_TRANSACTIONS)
    );
    let done = c.complete("tx", T0).unwrap();
    assert_eq!(done.state, TxnState::CompleteCommit);
    assert!(done.partitions.is_empty());
    c.apply(done);
    // A retried commit is answered as done; an abort now is invalid.
    assert_eq!(end(&mut c, "tx", pid, epoch, true, 0), Ok((pid, epoch)));
    assert_eq!(
        end(&mut c, "tx", pid, epoch, false, 0),
        Err(error_codes::INVALID_TXN_STATE)
    );
}

#[test]
fn end_without_a_transaction_and_wrong_producers_are_refused() {
    let mut c = TxnCoordinator::default();
    let mut ids = Ids(0);
    let (pid, epoch) = init(&mut c, &mut ids, "tx").unwrap();
    assert_eq!(
        end(&mut c, "tx", pid, epoch, true, 0),
        Err(error_codes::INVALID_TXN_STATE)
    );
    assert_eq!(
        end(&mut c, "nope", pid, epoch, true, 0),
        Err(error_codes::INVALID_PRODUCER_ID_MAPPING)
    );
    assert_eq!(
        end(&mut c, "tx", pid + 1, epoch, true, 0),
        Err(error_codes::INVALID_PRODUCER_ID_MAPPING)
    );
    assert_eq!(
        c.add_partitions("tx", pid, epoch + 1, &[tp("a", 0)], T0),
        Err(error_codes::PRODUCER_FENCED)
    );
    assert_eq!(
        c.add_partitions("nope", pid, epoch, &[tp("a", 0)], T0),
        Err(error_codes::INVALID_PRODUCER_ID_MAPPING)
    );
}

#[test]
fn a_new_instance_fences_the_old_one_and_aborts_its_transaction() {
    let mut c = classic();
    let mut ids = Ids(0);
    let (pid, old_epoch) = init(&mut c, &mut ids, "tx").unwrap();
    add(&mut c, "tx", pid, old_epoch, &[tp("a", 0)], T0).unwrap();

    // The new instance's first InitProducerId aborts the open transaction
    // with a bumped epoch and asks it to retry.
    let step = c
        .init_producer_id("tx", 60_000, None, T0, &mut || Ok(0))
        .unwrap();
    let InitStep::AbortFirst(fence) = step else {
        panic!("{step:?}")
    };
    assert_eq!(fence.state, TxnState::PrepareAbort);
    assert_eq!(fence.producer_epoch, old_epoch + 1);
    assert_eq!(
        fence.partitions.len(),
        1,
        "the open partitions get abort markers"
    );
    c.apply(fence);
    let done = c.complete("tx", T0).unwrap();
    assert_eq!(done.state, TxnState::CompleteAbort);
    c.apply(done);
    // The retry gets yet another epoch.
    let (pid2, new_epoch) = init(&mut c, &mut ids, "tx").unwrap();
    assert_eq!((pid2, new_epoch), (pid, old_epoch + 2));

    // The zombie is fenced everywhere.
    assert_eq!(
        c.add_partitions("tx", pid, old_epoch, &[tp("a", 0)], T0),
        Err(error_codes::PRODUCER_FENCED)
    );
    assert_eq!(
        end(&mut c, "tx", pid, old_epoch, true, 0),
        Err(error_codes::PRODUCER_FENCED)
    );
    assert_eq!(
        c.verify_partitions("tx", pid, old_epoch, &[tp("a", 0)]),
        Err(error_codes::PRODUCER_FENCED)
    );
}

#[test]
fn verification_only_passes_partitions_of_the_open_transaction() {
    let mut c = TxnCoordinator::default();
    let mut ids = Ids(0);
    let (pid, epoch) = init(&mut c, &mut ids, "tx").unwrap();
    assert_eq!(
        c.verify_partitions("tx", pid, epoch, &[tp("a", 0)]),
        Ok(vec![error_codes::TRANSACTION_ABORTABLE])
    );
    add(&mut c, "tx", pid, epoch, &[tp("a", 0)], T0).unwrap();
    assert_eq!(
        c.verify_partitions("tx", pid, epoch, &[tp("a", 0), tp("a", 1)]),
        Ok(vec![error_codes::NONE, error_codes::TRANSACTION_ABORTABLE])
    );
    end(&mut c, "tx", pid, epoch, true, 0).unwrap();
    // After the commit the partition is no longer part of a transaction:
    // a late write of the old transaction must not start a hanging one.
    assert_eq!(
        c.verify_partitions("tx", pid, epoch, &[tp("a", 0)]),
        Ok(vec![error_codes::TRANSACTION_ABORTABLE])
    );
}

#[test]
fn timed_out_transactions_are_fenced_and_aborted() {
    let mut c = classic();
    let mut ids = Ids(0);
    let (pid, epoch) = init(&mut c, &mut ids, "tx").unwrap();
    add(&mut c, "tx", pid, epoch, &[tp("a", 0)], T0).unwrap();
    assert!(
        c.timed_out(T0 + 60_000).is_empty(),
        "not before the timeout"
    );
    assert_eq!(c.timed_out(T0 + 60_001), vec!["tx".to_string()]);
    let abort = c.abort_timed_out("tx", T0 + 60_001).unwrap();
    assert_eq!(abort.state, TxnState::PrepareAbort);
    assert_eq!(abort.producer_epoch, epoch + 1);
    c.apply(abort);
    assert!(c.abort_timed_out("tx", T0 + 60_002).is_none());
    assert_eq!(c.prepared().len(), 1);
    let done = c.complete("tx", T0 + 60_002).unwrap();
    c.apply(done);
    assert!(c.prepared().is_empty());
    // The producer learns it was fenced when it tries to commit.
    assert_eq!(
        end(&mut c, "tx", pid, epoch, true, 0),
        Err(error_codes::PRODUCER_FENCED)
    );
}

#[test]
fn epoch_bumping_clients_get_a_new_epoch_at_every_end() {
    let mut c = TxnCoordinator::default();
    let mut ids = Ids(0);
    let (pid, epoch) = init(&mut c, &mut ids, "tx").unwrap();
    add(&mut c, "tx", pid, epoch, &[tp("a", 0)], T0).unwrap();
    let (pid1, epoch1) = end(&mut c, "tx", pid, epoch, true, 2).unwrap();
    assert_eq!((pid1, epoch1), (pid, epoch + 1));
    // A retry of that EndTxn (old epoch) is recognised and answered.
    assert_eq!(end(&mut c, "tx", pid, epoch, true, 2), Ok((pid, epoch + 1)));
    // The old epoch cannot open anything.
    assert_eq!(
        c.add_partitions("tx", pid, epoch, &[tp("a", 0)], T0),
        Err(error_codes::PRODUCER_FENCED)
    );
    // The next transaction runs at the new epoch.
    add(&mut c, "tx", pid, epoch1, &[tp("a", 0)], T0).unwrap();
    assert_eq!(
        end(&mut c, "tx", pid, epoch1, false, 2),
        Ok((pid, epoch1 + 1))
    );
}

#[test]
fn epoch_exhaustion_rotates_the_producer_id() {
    let mut c = TxnCoordinator::default();
    let mut ids = Ids(0);
    let (pid, _) = init(&mut c, &mut ids, "tx").unwrap();
    let mut txn = c.get("tx").unwrap().clone();
    txn.producer_epoch = i16::MAX - 1;
    c.apply(txn);
    let (new_pid, epoch) = init(&mut c, &mut ids, "tx").unwrap();
    assert_ne!(new_pid, pid);
    assert_eq!(epoch, 0);
    assert_eq!(c.get("tx").unwrap().previous_producer_id, pid);
}

#[test]
fn recovering_producers_are_matched_by_their_expected_epoch() {
    let mut c = TxnCoordinator::default();
    let mut ids = Ids(0);
    let (pid, epoch) = init(&mut c, &mut ids, "tx").unwrap();
    let step = c
        .init_producer_id("tx", 60_000, Some((pid, epoch)), T0, &mut || Ok(0))
        .unwrap();
    let InitStep::Ready(bumped) = step else {
        panic!("{step:?}")
    };
    assert_eq!(bumped.producer_epoch, epoch + 1);
    c.apply(bumped);
    // The same request retried: same answer, no second bump.
    let InitStep::Ready(retry) = c
        .init_producer_id("tx", 60_000, Some((pid, epoch)), T0, &mut || Ok(0))
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(retry.producer_epoch, epoch + 1);
    // An unrelated producer id is fenced.
    assert_eq!(
        c.init_producer_id("tx", 60_000, Some((pid + 7, 0)), T0, &mut || Ok(0)),
        Err(error_codes::PRODUCER_FENCED)
    );
}

#[test]
fn replay_restores_state_and_tombstones_remove_ids() {
    let mut c = TxnCoordinator::default();
    let mut ids = Ids(0);
    let (pid, epoch) = init(&mut c, &mut ids, "tx").unwrap();
    add(&mut c, "tx", pid, epoch, &[tp("a", 0)], T0).unwrap();
    let (key, value) = Record {
        transactional_id: "tx".to_string(),
        value: Some(c.get("tx").unwrap().clone()),
    }
    .encode()
    .unwrap();

    let mut restarted = TxnCoordinator::default();
    restarted.replay(Record::decode(&key, value.as_deref()).unwrap());
    let txn = restarted.get("tx").unwrap();
    assert_eq!(
        (txn.producer_id, txn.producer_epoch, txn.state),
        (pid, epoch, TxnState::Ongoing)
    );
    restarted.replay(Record {
        transactional_id: "tx".to_string(),
        value: None,
    });
    assert!(restarted.get("tx").is_none());
}

#[test]
fn describe_list_and_expiry() {
    let mut c = TxnCoordinator::default();
    let mut ids = Ids(0);
    let (pid, epoch) = init(&mut c, &mut ids, "busy").unwrap();
    init(&mut c, &mut ids, "idle").unwrap();
    add(&mut c, "busy", pid, epoch, &[tp("a", 0)], T0 + 10).unwrap();

    assert_eq!(c.describe("busy").unwrap().state, TxnState::Ongoing);
    assert_eq!(
        c.describe("nope"),
        Err(error_codes::TRANSACTIONAL_ID_NOT_FOUND)
    );
    assert_eq!(c.describe(""), Err(error_codes::INVALID_REQUEST));

    let names = |list: Vec<&TxnMetadata>| -> Vec<String> {
        list.iter().map(|t| t.transactional_id.clone()).collect()
    };
    assert_eq!(names(c.list(&[], &[], -1, T0)), vec!["busy", "idle"]);
    assert_eq!(
        names(c.list(&[TxnState::Ongoing], &[], -1, T0)),
        vec!["busy"]
    );
    assert_eq!(names(c.list(&[], &[pid], -1, T0)), vec!["busy"]);
    assert!(names(c.list(&[TxnState::Ongoing], &[], 100, T0 + 50)).is_empty());
    assert_eq!(
        names(c.list(&[TxnState::Ongoing], &[], 100, T0 + 200)),
        vec!["busy"]
    );

    // Only idle ids expire.
    assert_eq!(c.expired(T0 + 1_000, 1_000), vec!["idle".to_string()]);
}

#[test]
fn at_version_two_a_fence_bumps_twice_so_no_retry_can_match() {
    let mut c = TxnCoordinator::default();
    assert_eq!(c.config().server_version, 2);
    let mut ids = Ids(0);
    let (pid, epoch) = init(&mut c, &mut ids, "tx").unwrap();
    add(&mut c, "tx", pid, epoch, &[tp("a", 0)], T0).unwrap();
    let abort = c.abort_timed_out("tx", T0 + 60_001).unwrap();
    assert_eq!(
        abort.producer_epoch,
        epoch + 2,
        "markers carry the twice-bumped epoch"
    );
    c.apply(abort);
    let done = c.complete("tx", T0 + 60_001).unwrap();
    c.apply(done);
    // The fenced producer's EndTxn is neither the current epoch nor a
    // retry of a bump (epoch + 1): fenced.
    assert_eq!(
        end(&mut c, "tx", pid, epoch, true, 2),
        Err(error_codes::PRODUCER_FENCED)
    );
    assert_eq!(
        end(&mut c, "tx", pid, epoch, false, 2),
        Err(error_codes::PRODUCER_FENCED)
    );
}

/// Kafka's EndTxn table for the idle states at transaction version 2
/// (TransactionCoordinator): an abort at the current epoch is an "empty
/// abort" that bumps the epoch (the client may have registered partitions
/// through a Produce it never heard back from), a retry of the same outcome
/// is answered, everything else is INVALID_TXN_STATE or PRODUCER_FENCED.
#[test]
fn at_version_two_idle_transactions_accept_an_empty_abort_that_bumps_the_epoch() {
    let mut c = TxnCoordinator::default();
    let mut ids = Ids(0);
    let (pid, e0) = init(&mut c, &mut ids, "tx").unwrap();

    // Empty: commit is invalid, abort bumps.
    assert_eq!(
        end(&mut c, "tx", pid, e0, true, 2),
        Err(error_codes::INVALID_TXN_STATE)
    );
    assert_eq!(end(&mut c, "tx", pid, e0, false, 2), Ok((pid, e0 + 1)));
    let e1 = e0 + 1;
    assert_eq!(c.get("tx").unwrap().state, TxnState::CompleteAbort);

    // CompleteAbort: the retry (previous epoch) is answered without a bump,
    // a new abort bumps again, a commit is invalid.
    assert_eq!(end(&mut c, "tx", pid, e0, false, 2), Ok((pid, e1)));
    assert_eq!(
        end(&mut c, "tx", pid, e1, true, 2),
        Err(error_codes::INVALID_TXN_STATE)
    );
    assert_eq!(end(&mut c, "tx", pid, e1, false, 2), Ok((pid, e1 + 1)));
    let e2 = e1 + 1;

    // A committed transaction, then CompleteCommit: retried commit answered,
    // commit at the current epoch invalid, abort of the retry invalid, abort
    // at the current epoch bumps.
    add(&mut c, "tx", pid, e2, &[tp("a", 0)], T0).unwrap();
    assert_eq!(end(&mut c, "tx", pid, e2, true, 2), Ok((pid, e2 + 1)));
    let e3 = e2 + 1;
    assert_eq!(c.get("tx").unwrap().state, TxnState::CompleteCommit);
    assert_eq!(end(&mut c, "tx", pid, e2, true, 2), Ok((pid, e3)));
    assert_eq!(
        end(&mut c, "tx", pid, e3, true, 2),
        Err(error_codes::INVALID_TXN_STATE)
    );
    assert_eq!(
        end(&mut c, "tx", pid, e2, false, 2),
        Err(error_codes::INVALID_TXN_STATE)
    );
    assert_eq!(end(&mut c, "tx", pid, e3, false, 2), Ok((pid, e3 + 1)));
    let e4 = e3 + 1;

    // Epochs that are neither current nor the retry's are fenced.
    assert_eq!(
        end(&mut c, "tx", pid, e4 + 1, false, 2),
        Err(error_codes::PRODUCER_FENCED)
    );
    assert_eq!(
        end(&mut c, "tx", pid, e4 - 2, false, 2),
        Err(error_codes::PRODUCER_FENCED)
    );

    // The next transaction runs at the bumped epoch; the old one is fenced.
    assert_eq!(
        c.add_partitions("tx", pid, e3, &[tp("a", 0)], T0),
        Err(error_codes::PRODUCER_FENCED)
    );
    add(&mut c, "tx", pid, e4, &[tp("a", 0)], T0).unwrap();
    assert_eq!(end(&mut c, "tx", pid, e4, true, 2), Ok((pid, e4 + 1)));
}

/// At transaction version 1 the idle states keep Kafka's older rules: no
/// empty abort, only the same outcome is answered again.
#[test]
fn at_version_one_idle_transactions_refuse_an_empty_abort() {
    let mut c = TxnCoordinator::default();
    let mut ids = Ids(0);
    let (pid, e0) = init(&mut c, &mut ids, "tx").unwrap();
    assert_eq!(
        end(&mut c, "tx", pid, e0, false, 0),
        Err(error_codes::INVALID_TXN_STATE)
    );
    add(&mut c, "tx", pid, e0, &[tp("a", 0)], T0).unwrap();
    assert_eq!(end(&mut c, "tx", pid, e0, true, 0), Ok((pid, e0)));
    assert_eq!(end(&mut c, "tx", pid, e0, true, 0), Ok((pid, e0)));
    assert_eq!(
        end(&mut c, "tx", pid, e0, false, 0),
        Err(error_codes::INVALID_TXN_STATE)
    );
}
