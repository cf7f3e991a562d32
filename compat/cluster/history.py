"""History checker of the replication fault tests (Jepsen's queue workload invariants,
research/cluster.md §3.5), fed by compat/cluster/workload.py or by synthetic histories
(test_history.py).

A history holds:
  * ``sends``: every record a producer tried to write (``Send``): its unique value, the
    producer, the partition it was sent to, its per-producer sequence number, the outcome
    (``OK`` with the acked offset, or None when the ack carried none: librdkafka reports
    a retried batch the broker recognised as a duplicate (DUPLICATE_SEQUENCE_NUMBER) as
    delivered without an offset; ``FAIL`` when it surely did not land, ``INFO`` when
    nobody knows: a timeout, a closed producer, an error after a possible append) and
    the wall-clock send/ack times in ms.
  * ``polls``: what group consumers returned (``Poll``), in the order each consumer saw
    them, each tagged with the consumer's assignment session of that partition (a new
    session starts whenever the partition is (re)assigned or the consumer seeks).
  * ``commits``: a group's committed offset of a partition over time (``Commit``):
    ``ACK`` when a commit callback reported it acknowledged (t: when the callback ran,
    after the ack), ``SAMPLE`` when OffsetFetch returned it (t: when it was asked);
    ``reset`` marks an explicit reset (seek/reset-offsets), the one allowed way back.
  * ``drain``: after healing, every partition read from its start to its end offset:
    {partition: [(offset, value), ...]} in the order read.

``check(history)`` returns a ``Report``; each list names one invariant:
  lost              an acknowledged (OK) send missing from the final drain
  conflict          one (partition, offset) holding two values (acks, polls and drain)
  duplicate         one value at two (partition, offset) positions; idempotent producers
                    must never write a record twice, whatever the retries
  failed_visible    a send that surely failed (FAIL) was read
  unknown           a value nobody sent was read
  drain_order       drain offsets of a partition not strictly increasing, or a hole
                    between them (the topics are non-transactional: offsets are dense)
  nonmonotonic_send acked records of one producer and partition not in send order
  nonmonotonic_poll a consumer session went back (offset <= the previous one)
  poll_skip         a consumer session jumped over an offset that exists in the drain
  commit_regression a group's committed offset, acked or sampled, below one acknowledged
                    before it was asked (no reset in between)
Indeterminate (INFO) sends may or may not appear; a consumer reading a record twice across
sessions (auto-commit replays after a rebalance) is not an anomaly.

``compare_replicas(...)`` checks the replicas' on-disk committed prefixes (segments.py).
"""

import bisect
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

OK = "ok"
FAIL = "fail"
INFO = "info"
ACK = "ack"  # Commit.source: a commit acknowledged to a consumer (commit callback)
SAMPLE = "sample"  # Commit.source: an OffsetFetch answer; t is when it was asked


@dataclass
class Send:
    producer: str
    value: str
    partition: int
    seq: int
    status: str = INFO
    offset: Optional[int] = None
    t_send: float = 0.0
    t_done: Optional[float] = None
    error: Optional[str] = None


@dataclass
class Poll:
    consumer: str
    session: int
    partition: int
    offset: int
    value: str
    t: float = 0.0


@dataclass
class Commit:
    group: str
    partition: int
    offset: int
    t: float = 0.0
    source: str = SAMPLE
    reset: bool = False


@dataclass
class History:
    sends: List[Send] = field(default_factory=list)
    polls: List[Poll] = field(default_factory=list)
    commits: List[Commit] = field(default_factory=list)
    drain: Dict[int, List[Tuple[int, str]]] = field(default_factory=dict)
    idempotent: bool = True


@dataclass
class Report:
    lost: list = field(default_factory=list)
    conflict: list = field(default_factory=list)
    duplicate: list = field(default_factory=list)
    failed_visible: list = field(default_factory=list)
    unknown: list = field(default_factory=list)
    drain_order: list = field(default_factory=list)
    nonmonotonic_send: list = field(default_factory=list)
    nonmonotonic_poll: list = field(default_factory=list)
    poll_skip: list = field(default_factory=list)
    commit_regression: list = field(default_factory=list)
    figures: dict = field(default_factory=dict)

    KINDS = ("lost", "conflict", "duplicate", "failed_visible", "unknown", "drain_order", "nonmonotonic_send",
             "nonmonotonic_poll", "poll_skip", "commit_regression")

    def anomalies(self):
        return {k: getattr(self, k) for k in self.KINDS if getattr(self, k)}

    @property
    def ok(self):
        return not self.anomalies()

    def __str__(self):
        found = self.anomalies()
        if not found:
            return "history OK"
        return "; ".join(f"{k}: {len(v)} (e.g. {v[:3]})" for k, v in found.items())


def check(h: History) -> Report:
    rep = Report()
    by_value: Dict[str, Send] = {}
    for s in h.sends:
        if s.value in by_value:
            raise ValueError(f"values must be unique; {s.value!r} sent twice")
        by_value[s.value] = s

    at: Dict[Tuple[int, int], set] = {}  # position -> values
    where: Dict[str, set] = {}  # value -> positions

    def observe(p, o, v):
        at.setdefault((p, o), set()).add(v)
        where.setdefault(v, set()).add((p, o))

    for s in h.sends:
        if s.status == OK and s.offset is not None:
            observe(s.partition, s.offset, s.value)
    read_values = set()
    for q in h.polls:
        observe(q.partition, q.offset, q.value)
        read_values.add(q.value)
    drained: Dict[str, Tuple[int, int]] = {}
    drain_offsets: Dict[int, set] = {}
    for p, recs in sorted(h.drain.items()):
        prev = None
        for o, v in recs:
            observe(p, o, v)
            read_values.add(v)
            drained[v] = (p, o)
            drain_offsets.setdefault(p, set()).add(o)
            if prev is not None and o <= prev:
                rep.drain_order.append(("nonmonotonic", p, prev, o))
            elif prev is not None and o != prev + 1:
                rep.drain_order.append(("hole", p, prev, o))
            prev = o if prev is None else max(prev, o)

    for pos, values in sorted(at.items()):
        if len(values) > 1:
            rep.conflict.append((pos, sorted(values)))
    if h.idempotent:
        for v, positions in sorted(where.items()):
            if len(positions) > 1:
                rep.duplicate.append((v, sorted(positions)))
    for v in sorted(read_values):
        s = by_value.get(v)
        if s is None:
            rep.unknown.append(v)
        elif s.status == FAIL:
            rep.failed_visible.append((v, s.error))
    for s in h.sends:
        if s.status == OK and s.value not in drained:
            rep.lost.append((s.value, s.partition, s.offset))

    # Acked records of one idempotent producer land in the order they were sent.
    per_stream: Dict[Tuple[str, int], List[Send]] = {}
    for s in h.sends:
        if s.status == OK and s.offset is not None:
            per_stream.setdefault((s.producer, s.partition), []).append(s)
    for (prod, p), ss in sorted(per_stream.items()):
        ss.sort(key=lambda s: s.seq)
        for a, b in zip(ss, ss[1:]):
            if b.offset <= a.offset:
                rep.nonmonotonic_send.append((prod, p, (a.seq, a.offset), (b.seq, b.offset)))

    # Within one consumer session a partition is read in offset order without skipping.
    sorted_offsets = {p: sorted(offs) for p, offs in drain_offsets.items()}
    last: Dict[Tuple[str, int, int], int] = {}
    for q in h.polls:
        key = (q.consumer, q.session, q.partition)
        prev = last.get(key)
        if prev is not None:
            if q.offset <= prev:
                rep.nonmonotonic_poll.append((q.consumer, q.session, q.partition, prev, q.offset))
            else:
                offs = sorted_offsets.get(q.partition, [])
                skipped = bisect.bisect_left(offs, q.offset) - bisect.bisect_right(offs, prev)
                if skipped:
                    rep.poll_skip.append((q.consumer, q.session, q.partition, prev, q.offset, skipped))
        last[key] = q.offset if prev is None else max(prev, q.offset)

    # A commit acknowledged to a consumer is durable: nothing observed after the ack
    # (another ack, or an OffsetFetch sent after it) may be lower, unless reset. Samples
    # do not raise the bar themselves: on Kafka 4.4 with the coordinator cut off, a
    # sample showed 5913 and every later one 5909 (an auto-commit run: an OffsetFetch
    # answered from unreplicated state, or an older overlapping commit applied last).
    high: Dict[Tuple[str, int], Commit] = {}
    for c in sorted(h.commits, key=lambda c: (c.t, c.source != ACK)):
        key = (c.group, c.partition)
        if c.reset:
            high[key] = c
            continue
        best = high.get(key)
        if best is not None and c.offset < best.offset:
            rep.commit_regression.append((c.group, c.partition, best.offset, c.offset, c.source, round(c.t)))
        elif c.source == ACK and (best is None or c.offset > best.offset):
            high[key] = c

    rep.figures = figures(h, drained)
    return rep


def figures(h: History, drained=None) -> dict:
    if drained is None:
        drained = {v: (p, o) for p, recs in h.drain.items() for o, v in recs}
    ok = [s for s in h.sends if s.status == OK]
    info = [s for s in h.sends if s.status == INFO]
    counts: Dict[str, int] = {}
    for p, recs in h.drain.items():
        for _, v in recs:
            counts[v] = counts.get(v, 0) + 1
    per_producer = {}
    for s in h.sends:
        f = per_producer.setdefault(s.producer, {"sent": 0, "acknowledged": 0, "indeterminate": 0, "failed": 0})
        f["sent"] += 1
        f[{OK: "acknowledged", INFO: "indeterminate", FAIL: "failed"}[s.status]] += 1
    return {
        "sent": len(h.sends),
        "acknowledged": len(ok),
        "acknowledged_without_offset": sum(1 for s in ok if s.offset is None),
        "indeterminate": len(info),
        "indeterminate_visible": sum(1 for s in info if s.value in drained),
        "failed": sum(1 for s in h.sends if s.status == FAIL),
        "lost": sum(1 for s in ok if s.value not in drained),
        "duplicated": sum(1 for c in counts.values() if c > 1),
        "drained": sum(len(r) for r in h.drain.values()),
        "polled": len(h.polls),
        "polled_distinct": len({q.value for q in h.polls}),
        "commit_samples": len(h.commits),
        "per_producer": per_producer,
    }


def dump(h: History, path):
    import json
    from dataclasses import asdict

    with open(path, "w") as f:
        json.dump({"sends": [asdict(s) for s in h.sends], "polls": [asdict(q) for q in h.polls],
                   "commits": [asdict(c) for c in h.commits], "drain": {str(p): r for p, r in h.drain.items()},
                   "idempotent": h.idempotent}, f)


def load(path) -> History:
    import json

    with open(path) as f:
        d = json.load(f)
    return History([Send(**s) for s in d["sends"]], [Poll(**q) for q in d["polls"]],
                   [Commit(**c) for c in d["commits"]],
                   {int(p): [tuple(x) for x in r] for p, r in d["drain"].items()}, d["idempotent"])


def failover_ms(sends: List[Send], t_fault: float, partition: int) -> Optional[float]:
    """Time from a fault at `t_fault` (ms) to the first acknowledged write to `partition`
    sent at or after it; None when none came."""
    done = [s.t_done for s in sends
            if s.status == OK and s.partition == partition and s.t_send >= t_fault and s.t_done is not None]
    return min(done) - t_fault if done else None


def compare_replicas(replicas, must_cover=None):
    """`replicas`: {partition: {node: segments.ReplicaLog}}. The committed prefix of a
    partition is everything below the smallest high watermark among its replicas; in it
    every replica must hold the same batches (base offset, last offset, leader epoch, CRC,
    and the bytes themselves). `must_cover`: {partition: offset}, the prefix must reach at
    least that offset (the highest acknowledged one + 1), so replicas that never received
    the data cannot pass by agreeing on nothing. Returns a list of problems (empty: OK)."""
    problems = []
    for p, by_node in sorted(replicas.items()):
        if len(by_node) < 2:
            problems.append((p, "fewer than two replicas found", sorted(by_node)))
            continue
        hw = min(r.high_watermark for r in by_node.values())
        need = (must_cover or {}).get(p)
        if need is not None and hw < need:
            problems.append((p, f"committed prefix ends at {hw}, below the acknowledged end {need}",
                             {n: r.high_watermark for n, r in sorted(by_node.items())}))
        prefixes = {}
        for n, r in sorted(by_node.items()):
            if r.log_end_offset < hw:
                problems.append((p, f"node {n}: data ends at {r.log_end_offset}, below the committed prefix {hw}"))
            prefix = [b for b in r.batches if b.last_offset < hw]
            # A batch straddling the HW is not committed as a whole; stop before it.
            prefixes[n] = prefix
            start = prefix[0].base_offset if prefix else None
            expected = start
            for b in prefix:
                if b.base_offset != expected:
                    problems.append((p, f"node {n}: batch at {b.base_offset}, expected {expected}"))
                    break
                expected = b.last_offset + 1
        ref_node, ref = next(iter(prefixes.items()))
        for n, prefix in prefixes.items():
            if n == ref_node:
                continue
            # Replicas may have deleted different old segments (retention): compare the overlap.
            lo = max(ref[0].base_offset if ref else 0, prefix[0].base_offset if prefix else 0)
            a = [b.key() for b in ref if b.base_offset >= lo]
            b = [b.key() for b in prefix if b.base_offset >= lo]
            if a != b:
                diff = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
                problems.append((p, f"nodes {ref_node} and {n} differ below HW {hw} at batch #{diff}",
                                 a[diff:diff + 1], b[diff:diff + 1]))
    return problems
