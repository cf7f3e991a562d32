"""Unit tests of compat/checker.py on synthetic histories: a clean history passes and
every anomaly the transaction tests rely on is detected. No broker needed."""

from checker import (ABORTED, COMMITTED, READ_COMMITTED, READ_UNCOMMITTED, UNKNOWN, Read, Record, Write,
                     check)

# partition 0: plain a0 a1, then transaction T1 (committed) t1-0 t1-1 + marker,
# transaction T2 (aborted) t2-0 + marker; partition 1: T1's t1-2 + marker, plain b0
WRITES = [
    Write("a0", 0, 0), Write("a1", 0, 1),
    Write("t1-0", 0, 2, "T1"), Write("t1-1", 0, 3, "T1"), Write("t1-2", 1, 0, "T1"),
    Write("t2-0", 0, 5, "T2"),
    Write("b0", 1, 2),
]
OUTCOMES = {"T1": COMMITTED, "T2": ABORTED}


def recs(*triples):
    return [Record(p, o, v) for p, o, v in triples]


COMMITTED_VIEW = recs((0, 0, "a0"), (0, 1, "a1"), (0, 2, "t1-0"), (0, 3, "t1-1"), (1, 0, "t1-2"), (1, 2, "b0"))
UNCOMMITTED_VIEW = recs((0, 0, "a0"), (0, 1, "a1"), (0, 2, "t1-0"), (0, 3, "t1-1"), (0, 5, "t2-0"),
                        (1, 0, "t1-2"), (1, 2, "b0"))


def rc(records, name="rc", **kw):
    return Read(name, READ_COMMITTED, records, **kw)


def ru(records, name="ru", **kw):
    return Read(name, READ_UNCOMMITTED, records, **kw)


def only(report, kind):
    found = report.anomalies()
    assert set(found) == {kind}, f"expected only {kind}, got {report}"
    return found[kind]


def test_clean_history_passes():
    rep = check(WRITES, OUTCOMES, [rc(COMMITTED_VIEW), ru(UNCOMMITTED_VIEW)])
    assert rep.ok, rep
    assert str(rep) == "history OK"


def test_lost_committed_write():
    view = [r for r in COMMITTED_VIEW if r.value != "t1-2"]
    assert only(check(WRITES, OUTCOMES, [rc(view)]), "lost") == [("rc", "t1-2")]


def test_lost_plain_acked_write_seen_by_read_uncommitted_too():
    view = [r for r in UNCOMMITTED_VIEW if r.value != "a1"]
    assert only(check(WRITES, OUTCOMES, [ru(view)]), "lost") == [("ru", "a1")]


def test_incomplete_read_proves_nothing_lost():
    assert check(WRITES, OUTCOMES, [rc(COMMITTED_VIEW[:2], complete=False)]).ok


def test_read_of_some_partitions_only_checks_those():
    view = [r for r in COMMITTED_VIEW if r.partition == 0]
    assert check(WRITES, OUTCOMES, [rc(view, partitions=[0])]).ok
    assert len(only(check(WRITES, OUTCOMES, [rc(view)]), "lost")) == 2  # t1-2 and b0 on partition 1


def test_unacked_plain_write_may_be_missing_but_committed_txn_may_not():
    writes = [Write("x", None, None), Write("y", None, None, "T"), Write("z", None, None, "T")]
    assert check(writes, {"T": COMMITTED}, [rc(recs((0, 0, "y"), (0, 1, "z")))]).ok
    assert only(check(writes, {"T": COMMITTED}, [rc(recs((0, 0, "y")))]), "lost") == [("rc", "z")]


def test_duplicate_value_at_two_offsets():
    view = COMMITTED_VIEW + recs((1, 3, "a0"))
    rep = check(WRITES, OUTCOMES, [rc(view)])
    assert rep.duplicate == [("a0", [(0, 0), (1, 3)])]
    assert rep.misplaced == [("a0", (0, 0), (1, 3))]  # also not where its ack said
    assert set(rep.anomalies()) == {"duplicate", "misplaced"}


def test_duplicate_of_unacked_values_across_two_consumers():
    writes = [Write("v", None, None, "T")]
    rep = check(writes, {"T": COMMITTED}, [rc(recs((0, 4, "v")), "c1"), rc(recs((0, 9, "v")), "c2")])
    assert only(rep, "duplicate") == [("v", [(0, 4), (0, 9)])]


def test_same_record_in_two_reads_is_not_a_duplicate():
    assert check(WRITES, OUTCOMES, [rc(COMMITTED_VIEW, "c1"), rc(COMMITTED_VIEW, "c2")]).ok


def test_two_values_at_one_offset_across_consumers():
    writes = [Write("p", None, None), Write("q", None, None)]
    rep = check(writes, {}, [ru(recs((0, 7, "p")), "c1"), ru(recs((0, 7, "q")), "c2")])
    assert only(rep, "conflict") == [((0, 7), ["p", "q"])]


def test_value_read_away_from_its_acked_offset():
    view = [Record(r.partition, 4 if r.value == "t1-1" else r.offset, r.value) for r in COMMITTED_VIEW]
    assert only(check(WRITES, OUTCOMES, [rc(view)]), "misplaced") == [("t1-1", (0, 3), (0, 4))]


def test_read_committed_saw_aborted_transaction():
    rep = check(WRITES, OUTCOMES, [rc(UNCOMMITTED_VIEW)])
    assert only(rep, "aborted") == [("rc", "t2-0", "T2")]


def test_transaction_without_outcome_counts_as_never_committed():
    writes = WRITES + [Write("open-0", 1, 4, "T3")]
    assert only(check(writes, OUTCOMES, [rc(COMMITTED_VIEW + recs((1, 4, "open-0")))]), "aborted") == [
        ("rc", "open-0", "T3")]
    # read_uncommitted may see it
    assert check(writes, OUTCOMES, [ru(UNCOMMITTED_VIEW + recs((1, 4, "open-0")))]).ok


def test_unknown_outcome_is_all_or_nothing_for_read_committed():
    writes = [Write("u0", 0, 0, "U"), Write("u1", 0, 1, "U"), Write("u2", 1, 0, "U")]
    outcomes = {"U": UNKNOWN}
    assert check(writes, outcomes, [rc([])]).ok
    assert check(writes, outcomes, [rc(recs((0, 0, "u0"), (0, 1, "u1"), (1, 0, "u2")))]).ok
    assert only(check(writes, outcomes, [rc(recs((0, 0, "u0"), (0, 1, "u1")))]), "partial") == [("rc", "U", 2, 3)]
    # an incomplete read may legitimately stop half-way
    assert check(writes, outcomes, [rc(recs((0, 0, "u0")), complete=False)]).ok
    assert check(writes, outcomes, [ru(recs((0, 0, "u0")))]).ok


def test_value_nobody_wrote():
    assert only(check(WRITES, OUTCOMES, [ru(UNCOMMITTED_VIEW + recs((1, 5, "zzz")))]), "unknown") == [("ru", "zzz")]


def test_offsets_going_backwards_within_one_read():
    writes = [Write("m0", 0, 0), Write("m1", 0, 1), Write("m2", 0, 2)]
    rep = check(writes, {}, [ru(recs((0, 0, "m0"), (0, 2, "m2"), (0, 1, "m1")))])
    assert only(rep, "nonmonotonic") == [("ru", 0, 2, 1)]
    # the same offset twice in one read is not monotonic either (and a duplicate delivery)
    rep = check(writes, {}, [ru(recs((0, 0, "m0"), (0, 1, "m1"), (0, 1, "m1"), (0, 2, "m2")))])
    assert only(rep, "nonmonotonic") == [("ru", 0, 1, 1)]
    # two partitions interleaved are fine
    writes2 = writes + [Write("n0", 1, 0)]
    assert check(writes2, {}, [ru(recs((0, 0, "m0"), (1, 0, "n0"), (0, 1, "m1"), (0, 2, "m2")))]).ok


def test_gaps_only_when_asked():
    writes = [Write("g0", 0, 0), Write("g1", 0, 3)]
    reads = [ru(recs((0, 0, "g0"), (0, 3, "g1")))]
    assert check(writes, {}, reads).ok  # transactional topics have control records in the holes
    assert only(check(writes, {}, reads, gaps=True), "gap") == [("ru", 0, 0, 3)]


def test_values_must_be_unique():
    try:
        check([Write("same"), Write("same")], {}, [])
    except AssertionError as e:
        assert "unique" in str(e)
    else:
        raise AssertionError("duplicate write values accepted")
