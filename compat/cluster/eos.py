"""Checker of the exactly-once fault tests (test_eos.py), fed by the pipelines of
pipelines.py or by synthetic histories (test_eos_checker.py).

A pipeline copies every record of the input topic to its output topic inside
transactions that also commit the consumed offsets. Each copy's value names the
transaction that wrote it: ``copy:<input value>|<tag>#<n>``, where ``tag`` names one
incarnation of one pipeline member (a process or a producer instance) and ``n`` its
n-th transaction. Members report every transaction's outcome:

  * ``COMMITTED``: the commit returned OK (with the offsets it committed);
  * ``ABORTED``: aborted on purpose (``deliberate``: its copies were flushed to the log
    first, so a reader that ignored the abort marker would see them) or after an error;
  * no report: the member died or was cut off with the transaction in flight, so its
    outcome is unknown (it may have committed: the commit may have reached the
    coordinator).

``check(...)`` takes the input (``{value: (partition, offset)}``, from a final drain of
the input topic), the transactions, one read_committed read of each pipeline's output,
the final last stable offset and high watermark of every output partition, and the
group's committed offsets over time; it returns a ``Report`` whose lists must be empty:

  aborted_read   a read_committed reader saw a copy written by an aborted transaction
  lost           an input record with no copy in a complete read of its pipeline's output
  duplicate      an input record copied more than once (visible to read_committed)
  foreign        a value that is no copy, copies nothing that was input, or names an
                 incarnation that never ran
  misplaced      a copy in another partition than its input record
  out_of_order   copies of one output partition not in their inputs' order
  incomplete     a read that did not reach the end (LSO) of every partition
  hung           an output partition whose last stable offset stayed below its high
                 watermark after every fault was healed and every member had stopped
                 (a transaction left open: no marker, or a coordinator that never
                 finished it)
  commit_regression  the group's committed offset of an input partition went back
                 (history.py's rule: an acknowledged commit, i.e. a transaction reported
                 committed, raises the bar; nothing asked later may be below it)
"""

import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import history

COMMITTED = "committed"
ABORTED = "aborted"
UNKNOWN = "unknown"

COPY = re.compile(r"^copy:(?P<input>.*)\|(?P<tag>[^|#]+)#(?P<n>\d+)$")


def copy_value(value, tag, n):
    return f"copy:{value}|{tag}#{n}"


def parse_copy(value):
    """(input value, tag, transaction number) or None."""
    m = COPY.match(value)
    return (m["input"], m["tag"], int(m["n"])) if m else None


@dataclass
class Txn:
    pipeline: str
    tag: str  # one incarnation of one member
    n: int
    outcome: str
    deliberate: bool = False
    records: int = 0
    offsets: Dict[int, int] = field(default_factory=dict)  # input partition -> next offset committed
    t: float = 0.0  # wall-clock ms of the outcome report
    reason: Optional[str] = None


@dataclass
class Report:
    aborted_read: list = field(default_factory=list)
    lost: list = field(default_factory=list)
    duplicate: list = field(default_factory=list)
    foreign: list = field(default_factory=list)
    misplaced: list = field(default_factory=list)
    out_of_order: list = field(default_factory=list)
    incomplete: list = field(default_factory=list)
    hung: list = field(default_factory=list)
    commit_regression: list = field(default_factory=list)
    figures: dict = field(default_factory=dict)

    KINDS = ("aborted_read", "lost", "duplicate", "foreign", "misplaced", "out_of_order", "incomplete", "hung",
             "commit_regression")

    def anomalies(self):
        return {k: getattr(self, k) for k in self.KINDS if getattr(self, k)}

    @property
    def ok(self):
        return not self.anomalies()

    def __str__(self):
        found = self.anomalies()
        if not found:
            return "eos history OK"
        return "; ".join(f"{k}: {len(v)} (e.g. {v[:3]})" for k, v in found.items())


@dataclass
class OutputRead:
    """One read_committed read of a pipeline's output: [(partition, offset, value)] in
    the order read, and whether every partition was read to its end."""
    pipeline: str
    records: List[Tuple[int, int, str]]
    complete: bool = True


def check(inputs: Dict[str, Tuple[int, int]], txns: List[Txn], reads: List[OutputRead],
          ends: Optional[Dict[str, Dict[int, Tuple[int, int]]]] = None,
          commits: Optional[Dict[str, List[history.Commit]]] = None,
          tags: Optional[Dict[str, set]] = None) -> Report:
    """`ends`: {pipeline: {output partition: (last stable offset, high watermark)}};
    `commits`: {pipeline: [history.Commit]} (the group's committed offsets); `tags`:
    {pipeline: every incarnation tag that ran} (a tag with no reported transaction is
    still known: it may have died in its first one)."""
    rep = Report()
    outcome = {(t.tag, t.n): t for t in txns}
    known_tags = {p: set(ts) for p, ts in (tags or {}).items()}
    for t in txns:
        known_tags.setdefault(t.pipeline, set()).add(t.tag)

    for r in reads:
        if not r.complete:
            rep.incomplete.append(r.pipeline)
        seen: Dict[str, List[Tuple[int, int]]] = {}
        last_input: Dict[int, Tuple[int, int]] = {}  # output partition -> (input offset, output offset)
        for p, o, v in r.records:
            parsed = parse_copy(v)
            if parsed is None:
                rep.foreign.append((r.pipeline, p, o, v))
                continue
            src, tag, n = parsed
            if src not in inputs or tag not in known_tags.get(r.pipeline, set()):
                rep.foreign.append((r.pipeline, p, o, v))
                continue
            t = outcome.get((tag, n))
            if t is not None and t.outcome == ABORTED:
                rep.aborted_read.append((r.pipeline, p, o, v, "deliberate" if t.deliberate else t.reason))
            seen.setdefault(src, []).append((p, o))
            in_p, in_o = inputs[src]
            if in_p != p:
                rep.misplaced.append((r.pipeline, v, in_p, p))
            prev = last_input.get(p)
            if prev is not None and in_o <= prev[0]:
                rep.out_of_order.append((r.pipeline, p, prev, (in_o, o)))
            last_input[p] = (in_o, o) if prev is None else max(prev, (in_o, o))
        for src, positions in seen.items():
            if len(positions) > 1:
                rep.duplicate.append((r.pipeline, src, sorted(positions)))
        if r.complete:
            for src in sorted(set(inputs) - set(seen)):
                rep.lost.append((r.pipeline, src, inputs[src]))

    for pipeline, parts in sorted((ends or {}).items()):
        for p, (lso, hw) in sorted(parts.items()):
            if lso < hw:
                rep.hung.append((pipeline, p, lso, hw))

    for pipeline, cs in sorted((commits or {}).items()):
        got = history.check(history.History(commits=cs)).commit_regression
        rep.commit_regression.extend((pipeline, *c) for c in got)

    rep.figures = figures(txns, reads)
    return rep


def acked_commits(pipeline, txns: List[Txn]) -> List[history.Commit]:
    """Every committed transaction's offsets, as history.ACK commits of the pipeline's group."""
    return [history.Commit(pipeline, p, o, t.t, source=history.ACK)
            for t in txns if t.pipeline == pipeline and t.outcome == COMMITTED for p, o in t.offsets.items()]


def figures(txns: List[Txn], reads: List[OutputRead]) -> dict:
    per = {}
    for t in txns:
        f = per.setdefault(t.pipeline, {"committed": 0, "aborted_deliberately": 0, "aborted_by_faults": 0,
                                         "incarnations": set()})
        f["incarnations"].add(t.tag)
        if t.outcome == COMMITTED:
            f["committed"] += 1
        elif t.deliberate:
            f["aborted_deliberately"] += 1
        else:
            f["aborted_by_faults"] += 1
    for f in per.values():
        f["incarnations"] = len(f["incarnations"])
    for r in reads:
        per.setdefault(r.pipeline, {})["output_read_committed"] = len(r.records)
    return per
