"""Reads partition replicas from a stopped node's log dir, in Kafka's on-disk format
(which Gregor's log dirs share): `<topic>-<partition>/<20-digit base offset>.log`
segments of record batches, and the log dir's `replication-offset-checkpoint`
(version line, count line, then `topic partition high-watermark` lines).

Record batch v2 header (DefaultRecordBatch): baseOffset int64, batchLength int32,
partitionLeaderEpoch int32, magic int8, crc uint32 (CRC-32C of attributes..end),
attributes int16, lastOffsetDelta int32, ... A batch is 12 + batchLength bytes.
"""

import hashlib
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

HW_CHECKPOINT = "replication-offset-checkpoint"
HEADER = struct.Struct(">qiibIhi")  # base, length, leader epoch, magic, crc, attributes, last delta
MIN_BATCH_LENGTH = 49  # v2 header after the length field; shorter means padding or a torn tail


@dataclass
class Batch:
    base_offset: int
    last_offset: int
    leader_epoch: int
    crc: int
    digest: str  # sha256 of the whole batch, as stored

    def key(self):
        return (self.base_offset, self.last_offset, self.leader_epoch, self.crc, self.digest)


@dataclass
class ReplicaLog:
    node: int
    partition: int
    batches: List[Batch] = field(default_factory=list)
    high_watermark: int = 0
    hw_source: str = "checkpoint"
    torn_tail: Optional[str] = None

    @property
    def log_end_offset(self):
        return self.batches[-1].last_offset + 1 if self.batches else 0


def read_batches(path: Path):
    """Every batch of one segment file, in file order; (batches, why the scan stopped early)."""
    data = path.read_bytes()
    out, pos = [], 0
    while pos + 12 <= len(data):
        base, length = struct.unpack_from(">qi", data, pos)
        if length < MIN_BATCH_LENGTH:
            return out, f"{path.name}: batch length {length} at byte {pos}"
        end = pos + 12 + length
        if end > len(data):
            return out, f"{path.name}: batch at byte {pos} runs past the end"
        _, _, epoch, magic, crc, _, last_delta = HEADER.unpack_from(data, pos)
        if magic != 2:
            return out, f"{path.name}: magic {magic} at byte {pos}"
        out.append(Batch(base, base + last_delta, epoch, crc, hashlib.sha256(data[pos:end]).hexdigest()[:16]))
        pos = end
    return out, None


def read_hw_checkpoint(log_dir: Path) -> Dict[tuple, int]:
    f = log_dir / HW_CHECKPOINT
    if not f.exists():
        return {}
    lines = f.read_text().splitlines()
    out = {}
    for line in lines[2:]:
        parts = line.split()
        if len(parts) == 3:
            out[(parts[0], int(parts[1]))] = int(parts[2])
    return out


def read_replica(node: int, log_dir: Path, topic: str, partition: int) -> Optional[ReplicaLog]:
    d = log_dir / f"{topic}-{partition}"
    if not d.is_dir():
        return None
    rep = ReplicaLog(node, partition)
    for seg in sorted(d.glob("*.log"), key=lambda s: int(s.stem)):
        batches, torn = read_batches(seg)
        rep.batches.extend(batches)
        if torn:
            rep.torn_tail = torn
            break
    hw = read_hw_checkpoint(log_dir).get((topic, partition))
    if hw is None:
        # No checkpoint (a node that never wrote one): the node's own log end, which
        # can only widen what the replicas must agree on, never hide a divergence.
        rep.high_watermark, rep.hw_source = rep.log_end_offset, "log end (no checkpoint)"
    else:
        rep.high_watermark = hw
    return rep


def read_topic(log_dirs: Dict[int, Path], topic: str, partitions: int):
    """{partition: {node: ReplicaLog}} for every node whose log dir holds the partition."""
    out = {}
    for p in range(partitions):
        for node, d in sorted(log_dirs.items()):
            r = read_replica(node, Path(d), topic, p)
            if r is not None:
                out.setdefault(p, {})[node] = r
    return out
