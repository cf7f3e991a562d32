"""The exactly-once checker (eos.py) on synthetic histories: a clean one passes and
each broken invariant is flagged. No cluster needed."""

import history
from eos import ABORTED, COMMITTED, OutputRead, Txn, check, copy_value, parse_copy


def clean():
    """Six inputs over two partitions; member a copies 0-3 in two committed transactions
    after one deliberately aborted one (its copies are not visible), member b (a new
    incarnation) copies 4-5; the group's offsets rise."""
    inputs = {f"in-{i}": (i % 2, i // 2) for i in range(6)}
    txns = [Txn("p", "p.a.0", 0, ABORTED, deliberate=True, t=1),
            Txn("p", "p.a.0", 1, COMMITTED, offsets={0: 1, 1: 1}, t=2),
            Txn("p", "p.a.0", 2, COMMITTED, offsets={0: 2, 1: 2}, t=3),
            Txn("p", "p.a.1", 0, COMMITTED, offsets={0: 3, 1: 3}, t=4)]
    recs = {0: [], 1: []}
    for i in range(6):
        tag, n = ("p.a.0", 1 if i < 2 else 2) if i < 4 else ("p.a.1", 0)
        p = i % 2
        recs[p].append((p, len(recs[p]), copy_value(f"in-{i}", tag, n)))
    read = OutputRead("p", recs[0] + recs[1])
    commits = {"p": [history.Commit("p", 0, 1, 2, history.ACK), history.Commit("p", 0, 2, 3, history.ACK),
                     history.Commit("p", 0, 2, 3.5), history.Commit("p", 0, 3, 4, history.ACK)]}
    return inputs, txns, read, {"p": {0: (3, 3), 1: (4, 4)}}, commits


def run(inputs, txns, read, ends, commits, tags=None):
    return check(inputs, txns, [read], ends, commits, tags)


def test_parse_copy_round_trip():
    assert parse_copy(copy_value("in-7", "java.m0.2", 41)) == ("in-7", "java.m0.2", 41)
    assert parse_copy("copy:in-7") is None


def test_clean_history_passes():
    rep = run(*clean())
    assert rep.ok, str(rep)
    assert rep.figures["p"]["committed"] == 3 and rep.figures["p"]["aborted_deliberately"] == 1


def test_aborted_copy_visible():
    inputs, txns, read, ends, commits = clean()
    read.records.append((0, 3, copy_value("in-0", "p.a.0", 0)))  # from the deliberately aborted txn
    rep = run(inputs, txns, read, ends, commits)
    assert rep.aborted_read and rep.duplicate, str(rep)


def test_lost_input():
    inputs, txns, read, ends, commits = clean()
    read.records = [r for r in read.records if "in-5|" not in r[2]]
    rep = run(inputs, txns, read, ends, commits)
    assert [x[1] for x in rep.lost] == ["in-5"], str(rep)


def test_loss_needs_a_complete_read():
    inputs, txns, read, ends, commits = clean()
    read.records = read.records[:-1]
    read.complete = False
    rep = run(inputs, txns, read, ends, commits)
    assert not rep.lost and rep.incomplete == ["p"], str(rep)


def test_duplicate_from_an_unknown_transaction():
    inputs, txns, read, ends, commits = clean()
    # a transaction with no reported outcome (its member died) may commit: its copies are
    # allowed, but a second copy of one input is a duplicate
    read.records.append((1, 3, copy_value("in-1", "p.a.1", 5)))
    rep = run(inputs, txns, read, ends, commits)
    assert rep.duplicate and not rep.aborted_read, str(rep)


def test_foreign_values():
    inputs, txns, read, ends, commits = clean()
    read.records += [(0, 9, "garbage"), (0, 10, copy_value("in-99", "p.a.0", 1)),
                     (0, 11, copy_value("in-0", "p.zombie.0", 1))]
    rep = run(inputs, txns, read, ends, commits)
    assert len(rep.foreign) == 3, str(rep)


def test_known_incarnation_without_reported_transactions_is_not_foreign():
    inputs, txns, read, ends, commits = clean()
    read.records = [r if "in-5|" not in r[2] else (r[0], r[1], copy_value("in-5", "p.b.0", 0)) for r in read.records]
    assert run(inputs, txns, read, ends, commits).foreign
    assert run(inputs, txns, read, ends, commits, tags={"p": {"p.b.0"}}).ok


def test_misplaced_and_out_of_order():
    inputs, txns, read, ends, commits = clean()
    part0 = [r for r in read.records if r[0] == 0]
    part1 = [r for r in read.records if r[0] == 1]
    swapped = [(0, 0, part0[1][2]), (0, 1, part0[0][2]), *part0[2:]]
    moved = [(1, 0, part0[0][2])] + part1
    rep = run(inputs, txns, OutputRead("p", swapped + part1), ends, commits)
    assert rep.out_of_order and not rep.misplaced, str(rep)
    rep = run(inputs, txns, OutputRead("p", part0[1:] + moved), ends, commits)
    assert rep.misplaced, str(rep)


def test_hanging_transaction():
    inputs, txns, read, ends, commits = clean()
    ends["p"][1] = (2, 4)
    rep = run(inputs, txns, read, ends, commits)
    assert rep.hung == [("p", 1, 2, 4)], str(rep)


def test_committed_offsets_going_back():
    inputs, txns, read, ends, commits = clean()
    commits["p"].append(history.Commit("p", 0, 1, 5))  # an OffsetFetch after the commit of 3
    rep = run(inputs, txns, read, ends, commits)
    assert rep.commit_regression, str(rep)
