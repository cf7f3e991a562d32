"""A small Jepsen-style history checker for produce/consume (and transactional) workloads.

Input, gathered by a test:
  * ``writes``: every record a producer *tried* to write, as a ``Write``: its value (a
    string unique across the whole history), the partition/offset its ack reported (None
    when it was never acknowledged) and the transaction it belonged to (None for a plain
    write, which counts as committed once acknowledged).
  * ``outcomes``: transaction id -> ``COMMITTED`` (the producer saw the commit succeed),
    ``ABORTED`` (aborted, or never asked to commit: a killed producer, an open transaction
    the broker must time out) or ``UNKNOWN`` (commit was asked for but its result was lost,
    e.g. the broker died; the transaction may land either way, but atomically).
    A transaction id missing from ``outcomes`` is treated as ``ABORTED``.
  * ``reads``: one ``Read`` per consumer session: the records it saw in the order it saw
    them, its isolation level, and whether it read every partition to the end
    (``complete``; only complete reads can prove a write lost).

``check(writes, outcomes, reads)`` returns a ``Report`` that lists, per anomaly:
  lost        a committed write (an acknowledged plain write, or any record of a transaction
              whose commit succeeded) missing from a complete read of its partition
  duplicate   one value at two different positions
  conflict    two different values at one (partition, offset)
  misplaced   a value read at a position other than the one its ack reported
  aborted     a read_committed read saw a value of an aborted / never-committed transaction
  partial     a read_committed complete read saw only part of a transaction
  unknown     a read saw a value nobody tried to write
  nonmonotonic  offsets not strictly increasing within one read of one partition
  gap         (only with ``gaps=True``) a hole between consecutive offsets of one read,
              for non-transactional topics, where offsets are dense
"""

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

COMMITTED = "committed"
ABORTED = "aborted"
UNKNOWN = "unknown"

READ_COMMITTED = "read_committed"
READ_UNCOMMITTED = "read_uncommitted"


@dataclass
class Write:
    value: str
    partition: Optional[int] = None
    offset: Optional[int] = None
    txn: Optional[str] = None

    @property
    def acked(self):
        return self.offset is not None


@dataclass
class Record:
    partition: int
    offset: int
    value: str


@dataclass
class Read:
    name: str
    isolation: str = READ_COMMITTED
    records: List[Record] = field(default_factory=list)
    complete: bool = True
    partitions: Optional[List[int]] = None  # partitions read; None: every partition seen in writes


@dataclass
class Report:
    lost: List[Tuple[str, str]] = field(default_factory=list)  # (read name, value)
    duplicate: List[Tuple[str, List[Tuple[int, int]]]] = field(default_factory=list)  # value, positions
    conflict: List[Tuple[Tuple[int, int], List[str]]] = field(default_factory=list)  # position, values
    misplaced: List[Tuple[str, Tuple[int, int], Tuple[int, int]]] = field(default_factory=list)  # value, acked, read
    aborted: List[Tuple[str, str, str]] = field(default_factory=list)  # read name, value, txn
    partial: List[Tuple[str, str, int, int]] = field(default_factory=list)  # read, txn, seen, total
    unknown: List[Tuple[str, str]] = field(default_factory=list)  # read name, value
    nonmonotonic: List[Tuple[str, int, int, int]] = field(default_factory=list)  # read, partition, prev, offset
    gap: List[Tuple[str, int, int, int]] = field(default_factory=list)  # read, partition, prev, offset

    KINDS = ("lost", "duplicate", "conflict", "misplaced", "aborted", "partial", "unknown", "nonmonotonic", "gap")

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


def check(writes: List[Write], outcomes: Dict[str, str], reads: List[Read], gaps=False) -> Report:
    rep = Report()
    by_value = {}
    for w in writes:
        assert w.value not in by_value, f"values must be unique; {w.value!r} written twice"
        by_value[w.value] = w

    def outcome(w):
        return COMMITTED if w.txn is None else outcomes.get(w.txn, ABORTED)

    txn_values: Dict[str, List[str]] = {}
    for w in writes:
        if w.txn is not None:
            txn_values.setdefault(w.txn, []).append(w.value)
    all_partitions = sorted({w.partition for w in writes if w.partition is not None})

    positions: Dict[str, set] = {}  # value -> {(partition, offset)} over all reads
    at: Dict[Tuple[int, int], set] = {}  # (partition, offset) -> {value}
    for r in reads:
        last: Dict[int, int] = {}
        seen = set()
        for rec in r.records:
            pos = (rec.partition, rec.offset)
            positions.setdefault(rec.value, set()).add(pos)
            at.setdefault(pos, set()).add(rec.value)
            seen.add(rec.value)
            prev = last.get(rec.partition)
            if prev is not None and rec.offset <= prev:
                rep.nonmonotonic.append((r.name, rec.partition, prev, rec.offset))
            elif prev is not None and gaps and rec.offset != prev + 1:
                rep.gap.append((r.name, rec.partition, prev, rec.offset))
            last[rec.partition] = rec.offset if prev is None else max(prev, rec.offset)
            w = by_value.get(rec.value)
            if w is None:
                rep.unknown.append((r.name, rec.value))
                continue
            if w.acked and (w.partition, w.offset) != pos:
                rep.misplaced.append((rec.value, (w.partition, w.offset), pos))
            if r.isolation == READ_COMMITTED and outcome(w) == ABORTED:
                rep.aborted.append((r.name, rec.value, w.txn))

        if not r.complete:
            continue
        covered = set(all_partitions if r.partitions is None else r.partitions)
        for w in writes:
            # a plain write counts once acked; a committed transaction vouches for all its records
            must = outcome(w) == COMMITTED and (w.acked or w.txn is not None)
            where = w.partition in covered if w.partition is not None else r.partitions is None
            if must and where and w.value not in seen:
                rep.lost.append((r.name, w.value))
        if r.isolation == READ_COMMITTED:
            for txn, values in txn_values.items():
                n = sum(v in seen for v in values)
                if 0 < n < len(values) and outcomes.get(txn) == UNKNOWN:
                    rep.partial.append((r.name, txn, n, len(values)))

    for value, pos in positions.items():
        if len(pos) > 1:
            rep.duplicate.append((value, sorted(pos)))
    for pos, values in at.items():
        if len(values) > 1:
            rep.conflict.append((pos, sorted(values)))
    return rep
