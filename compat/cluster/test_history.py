"""The fault tests' history checker (history.py) and segment reader (segments.py) on
synthetic histories: a clean history passes, and each broken invariant is flagged.
No cluster needed."""

import struct
import zlib

import pytest

import history as h
import segments
from history import FAIL, INFO, OK, Commit, History, Poll, Send


def clean():
    """Two producers, two partitions, every send acked; one consumer session per
    partition, an auto-commit replay after a rebalance, rising commits, a full drain."""
    sends, drain = [], {0: [], 1: []}
    for i in range(6):
        p = i % 2
        off = i // 2
        for prod in ("j", "c"):
            o = len(drain[p])
            v = f"{prod}-{i}"
            sends.append(Send(prod, v, p, i, OK, o, t_send=1000 + i, t_done=1005 + i))
            drain[p].append((o, v))
    polls = []
    for p in (0, 1):
        for o, v in drain[p]:
            polls.append(Poll("c1", 1, p, o, v))
    # A rebalance hands partition 1 to c2, which replays from the committed offset 2.
    for o, v in drain[1][2:]:
        polls.append(Poll("c2", 1, 1, o, v))
    commits = [Commit("g", 0, 2, t=1, source=h.ACK), Commit("g", 0, 4, t=2, source=h.ACK),
               Commit("g", 1, 2, t=2), Commit("g", 1, 6, t=3, source=h.ACK), Commit("g", 0, 4, t=4),
               # An OffsetFetch may show a commit never acknowledged, later gone: allowed.
               Commit("g", 1, 7, t=5), Commit("g", 1, 6, t=6)]
    return History(sends, polls, commits, drain)


def test_clean_history_passes():
    hist = clean()
    rep = h.check(hist)
    assert rep.ok, str(rep)
    assert rep.figures["acknowledged"] == 12 and rep.figures["lost"] == 0 and rep.figures["duplicated"] == 0


def test_indeterminate_sends_may_or_may_not_appear():
    hist = clean()
    hist.sends.append(Send("j", "j-info-landed", 0, 100, INFO))
    hist.sends.append(Send("j", "j-info-gone", 0, 101, INFO))
    hist.drain[0].append((len(hist.drain[0]), "j-info-landed"))
    rep = h.check(hist)
    assert rep.ok, str(rep)
    assert rep.figures["indeterminate"] == 2 and rep.figures["indeterminate_visible"] == 1


def test_lost_acknowledged_write():
    hist = clean()
    hist.drain[1] = hist.drain[1][:-1]  # the last acked record of partition 1 vanished
    rep = h.check(hist)
    assert [v for v, _, _ in rep.lost] == ["c-5"], str(rep)
    assert rep.figures["lost"] == 1


def test_offset_with_two_values():
    hist = clean()
    # A consumer read another value at an acked position (e.g. a new leader that
    # reused offsets it never had).
    hist.polls.append(Poll("c3", 1, 0, 2, "c-2"))
    hist.polls.append(Poll("c3", 1, 0, 3, "j-2"))
    rep = h.check(hist)
    assert rep.conflict and rep.conflict[0][0] == (0, 2), str(rep)


def test_duplicate_from_an_idempotent_producer():
    hist = clean()
    o = len(hist.drain[0])
    hist.drain[0].append((o, "j-0"))  # a retry written a second time
    rep = h.check(hist)
    assert rep.duplicate and rep.duplicate[0][0] == "j-0", str(rep)
    assert rep.figures["duplicated"] == 1


def test_duplicates_not_flagged_for_non_idempotent_producers():
    hist = clean()
    hist.drain[0].append((len(hist.drain[0]), "j-0"))
    hist.idempotent = False
    assert not h.check(hist).duplicate


def test_committed_offset_going_back():
    hist = clean()
    hist.commits.append(Commit("g", 1, 3, t=10))
    rep = h.check(hist)
    assert rep.commit_regression == [("g", 1, 6, 3, "sample", 10)], str(rep)
    hist = clean()
    hist.commits.append(Commit("g", 0, 3, t=10, source=h.ACK))  # another member's ack, lower
    assert h.check(hist).commit_regression == [("g", 0, 4, 3, "ack", 10)]


def test_committed_offset_reset_is_allowed():
    hist = clean()
    hist.commits.append(Commit("g", 1, 0, t=10, reset=True))
    hist.commits.append(Commit("g", 1, 1, t=11))
    assert h.check(hist).ok


def test_failed_send_visible_and_unknown_value():
    hist = clean()
    hist.sends.append(Send("j", "j-failed", 0, 200, FAIL, error="RecordTooLarge"))
    hist.drain[0].append((len(hist.drain[0]), "j-failed"))
    hist.drain[0].append((len(hist.drain[0]), "nobody"))
    rep = h.check(hist)
    assert rep.failed_visible == [("j-failed", "RecordTooLarge")]
    assert rep.unknown == ["nobody"]


def test_drain_hole_and_acked_order():
    hist = clean()
    hist.drain[0] = [r for r in hist.drain[0] if r[0] != 3]
    rep = h.check(hist)
    assert ("hole", 0, 2, 4) in rep.drain_order, str(rep)
    hist = clean()
    a, b = hist.sends[0], hist.sends[4]  # j-0 and j-2, both partition 0
    a.offset, b.offset = b.offset, a.offset
    rep = h.check(hist)
    assert rep.nonmonotonic_send, str(rep)


def test_poll_skip_and_nonmonotonic_poll():
    hist = clean()
    hist.polls = [q for q in hist.polls if not (q.consumer == "c1" and q.partition == 0 and q.offset == 3)]
    rep = h.check(hist)
    assert rep.poll_skip == [("c1", 1, 0, 2, 4, 1)], str(rep)
    hist = clean()
    hist.polls.append(Poll("c1", 1, 0, 1, hist.drain[0][1][1]))
    rep = h.check(hist)
    assert rep.nonmonotonic_poll == [("c1", 1, 0, 5, 1)], str(rep)
    # The same record again in a new session (a rebalance replay) is fine.
    hist = clean()
    hist.polls.append(Poll("c1", 2, 0, 1, hist.drain[0][1][1]))
    assert h.check(hist).ok


def test_failover_time():
    sends = [Send("j", "a", 0, 0, OK, 0, t_send=100, t_done=110),
             Send("j", "b", 0, 1, OK, 1, t_send=210, t_done=1400),
             Send("j", "c", 0, 2, OK, 2, t_send=250, t_done=1300),
             Send("j", "d", 1, 3, OK, 0, t_send=250, t_done=260)]
    assert h.failover_ms(sends, 200, 0) == 1100
    assert h.failover_ms(sends, 2000, 0) is None


# ---- replica prefixes from segment files ---------------------------------------------

def batch(base, count, epoch=0, payload=b"x"):
    body = struct.pack(">hiqqqhii", 0, count - 1, 0, 0, 1, 0, 0, count) + payload * count
    crc = zlib.crc32(body)  # any checksum: the reader compares, it does not verify
    rest = struct.pack(">ibI", epoch, 2, crc) + body
    return struct.pack(">qi", base, len(rest)) + rest


def write_replica(log_dir, topic, partition, batches, hw, seg_split=None):
    d = log_dir / f"{topic}-{partition}"
    d.mkdir(parents=True)
    data = [batch(*b) for b in batches]
    split = seg_split or len(data)
    (d / f"{0:020d}.log").write_bytes(b"".join(data[:split]))
    if split < len(data):
        (d / f"{batches[split][0]:020d}.log").write_bytes(b"".join(data[split:]))
    (log_dir / segments.HW_CHECKPOINT).write_text(f"0\n1\n{topic} {partition} {hw}\n")


def replicas(tmp_path, per_node):
    dirs = {}
    for node, (batches, hw, split) in per_node.items():
        d = tmp_path / f"n{node}"
        write_replica(d, "t", 0, batches, hw, split)
        dirs[node] = d
    return segments.read_topic(dirs, "t", 1)


GOOD = [(0, 3, 1), (3, 2, 1), (5, 4, 2)]


def test_identical_replicas_pass_even_with_other_segment_boundaries(tmp_path):
    reps = replicas(tmp_path, {1: (GOOD, 9, None), 2: (GOOD, 9, 1), 3: (GOOD, 9, 2)})
    assert reps[0][1].log_end_offset == 9 and reps[0][2].hw_source == "checkpoint"
    assert h.compare_replicas(reps, must_cover={0: 9}) == []


def test_replicas_differing_below_the_hw_are_flagged(tmp_path):
    other = [(0, 3, 1), (3, 2, 1, b"y"), (5, 4, 2)]  # same offsets, other bytes
    reps = replicas(tmp_path, {1: (GOOD, 9, None), 2: (other, 9, None), 3: (GOOD, 9, None)})
    problems = h.compare_replicas(reps)
    assert len(problems) == 1 and "differ below HW 9 at batch #1" in problems[0][1], problems


def test_divergence_above_the_common_hw_is_allowed(tmp_path):
    tail = [(0, 3, 1), (3, 2, 1), (5, 4, 3, b"z")]  # an uncommitted tail of a deposed leader
    reps = replicas(tmp_path, {1: (GOOD, 5, None), 2: (tail, 5, None)})
    assert h.compare_replicas(reps) == []
    # ... but not when the acknowledged records reach into it.
    assert "below the acknowledged end 9" in h.compare_replicas(reps, must_cover={0: 9})[0][1]


def test_empty_or_short_follower_is_flagged(tmp_path):
    reps = replicas(tmp_path, {1: (GOOD, 9, None), 2: ([], 0, None)})
    problems = h.compare_replicas(reps, must_cover={0: 9})
    assert any("below the acknowledged end" in p[1] for p in problems), problems
    # A checkpoint claiming more than the replica holds.
    reps = replicas(tmp_path / "b", {1: (GOOD, 9, None), 2: (GOOD[:2], 9, None)})
    problems = h.compare_replicas(reps, must_cover={0: 9})
    assert any("data ends at 5" in p[1] for p in problems), problems


def test_missing_checkpoint_falls_back_to_log_end(tmp_path):
    reps = replicas(tmp_path, {1: (GOOD, 9, None), 2: (GOOD, 9, None)})
    (tmp_path / "n2" / segments.HW_CHECKPOINT).unlink()
    reps = segments.read_topic({1: tmp_path / "n1", 2: tmp_path / "n2"}, "t", 1)
    assert reps[0][2].hw_source.startswith("log end") and reps[0][2].high_watermark == 9
    assert h.compare_replicas(reps, must_cover={0: 9}) == []


def test_torn_tail_stops_the_scan(tmp_path):
    d = tmp_path / "t-0"
    d.mkdir()
    (d / f"{0:020d}.log").write_bytes(batch(0, 3) + batch(3, 2)[:20])
    bs, why = segments.read_batches(d / f"{0:020d}.log")
    assert [b.base_offset for b in bs] == [0] and "runs past the end" in why


@pytest.mark.parametrize("nodes", [1])
def test_a_single_replica_is_flagged(tmp_path, nodes):
    reps = replicas(tmp_path, {1: (GOOD, 9, None)})
    assert h.compare_replicas(reps)[0][1] == "fewer than two replicas found"


def test_ack_without_offset_counts_as_acknowledged(tmp_path):
    hist = clean()
    hist.sends[0].offset = None  # librdkafka: a duplicate-sequence retry reported as delivered
    rep = h.check(hist)
    assert rep.ok and rep.figures["acknowledged_without_offset"] == 1, str(rep)
    hist.drain[0] = hist.drain[0][1:]  # ... it must still be in the log
    assert [v for v, _, _ in h.check(hist).lost] == ["j-0"]
    h.dump(hist, tmp_path / "h.json")
    assert h.load(tmp_path / "h.json") == hist
