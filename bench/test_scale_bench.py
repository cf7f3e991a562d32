"""Tests of the scale benchmark's own code (no broker): the hand-written wire codec of
bench/scale_wire.py (a wrong byte would make every measured round trip an error answer), the
__consumer_offsets partition a group maps to, the topic layout that respects Kafka's
10,000-records-per-CreateTopics limit, the report's choice of runs and its ratios, and the
fixed-rate scrape benchmark's paired differences."""
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import scale_wire  # noqa: E402
import metrics_scrape  # noqa: E402
import scale  # noqa: E402
import scale_report  # noqa: E402


def test_frame_has_size_header_v1_and_body():
    f = scale_wire.frame(scale_wire.METADATA, 7, scale_wire.metadata_all_topics())
    size = struct.unpack(">i", f[:4])[0]
    assert size == len(f) - 4
    key, version, corr = struct.unpack(">hhi", f[4:12])
    assert (key, version, corr) == (3, 4, 7)
    n = struct.unpack(">h", f[12:14])[0]
    assert f[14:14 + n] == scale_wire.CLIENT_ID
    # null topic array (every topic), allow_auto_topic_creation false
    assert f[14 + n:] == b"\xff\xff\xff\xff\x00"


def test_create_topics_body():
    body = scale_wire.create_topics([("a", 1000, 1)], 5000)
    assert body == (struct.pack(">i", 1) + b"\x00\x01a" + struct.pack(">ih", 1000, 1) + struct.pack(">ii", 0, 0)
                    + struct.pack(">i", 5000) + b"\x00")


def test_offset_commit_body_is_a_simple_group_commit():
    body = scale_wire.offset_commit("g", "t", {1: 5, 0: 4})
    r = scale_wire.Reader(body)
    assert r.string() == "g" and r.int32() == -1 and r.string() == "" and r.int64() == -1
    assert r.int32() == 1 and r.string() == "t" and r.int32() == 2
    assert (r.int32(), r.int64(), r.string()) == (0, 4, None)
    assert (r.int32(), r.int64(), r.string()) == (1, 5, None)
    assert r.pos == len(body)


def s(x):
    return scale_wire.string(x)


def test_decode_metadata_v4():
    body = (struct.pack(">i", 0)  # throttle
            + struct.pack(">i", 1) + struct.pack(">i", 1) + s("h") + struct.pack(">i", 9092) + struct.pack(">h", -1)
            + s("cid") + struct.pack(">i", 1)
            + struct.pack(">i", 1) + struct.pack(">h", 0) + s("t") + b"\x00"
            + struct.pack(">i", 2)
            + struct.pack(">hii", 0, 0, 1) + struct.pack(">ii", 1, 1) + struct.pack(">ii", 1, 1)
            + struct.pack(">hii", 5, 1, -1) + struct.pack(">i", 0) + struct.pack(">i", 0))
    assert scale_wire.decode_metadata(body) == {"t": (0, [(0, 0, 1), (1, 5, -1)])}


def test_decode_offset_fetch_and_commit():
    fetch = (struct.pack(">i", 1) + s("t") + struct.pack(">i", 1) + struct.pack(">iq", 3, 42)
             + struct.pack(">h", -1) + struct.pack(">h", 0))
    assert scale_wire.decode_offset_fetch(fetch) == {3: (42, 0)}
    commit = struct.pack(">i", 1) + s("t") + struct.pack(">i", 2) + struct.pack(">ih", 0, 0) + struct.pack(">ih", 1, 14)
    assert scale_wire.decode_offset_commit(commit) == [0, 14]


def test_decode_find_coordinator_and_create_topics():
    fc = struct.pack(">ih", 0, 15) + struct.pack(">h", -1) + struct.pack(">i", 1) + s("127.0.0.1") + struct.pack(">i", 9)
    assert scale_wire.decode_find_coordinator(fc) == (15, 1, "127.0.0.1", 9)
    ct = struct.pack(">ii", 0, 1) + s("x") + struct.pack(">h", 87) + s("too many")
    assert scale_wire.decode_create_topics(ct) == {"x": (87, "too many")}


def test_java_hash_and_offsets_partition():
    assert scale_wire.java_string_hash("hello") == 99162322
    assert scale_wire.java_string_hash("") == 0
    # "polygenelubricants".hashCode() == Integer.MIN_VALUE; Utils.abs masks the sign bit
    assert scale_wire.java_string_hash("polygenelubricants") == -2**31
    assert scale_wire.offsets_partition("polygenelubricants") == 0
    assert 0 <= scale_wire.offsets_partition("scale-group-17") < 50


def test_topic_layout_respects_the_create_limit():
    layout = scale.topic_layout("s-", 2500)
    assert layout == [("s-0000", 1000), ("s-0001", 1000), ("s-0002", 500)]
    # Kafka's limit: 10,000 metadata records per request, a topic record + one per partition
    assert (scale.TOPIC_PARTITIONS + 1) * scale.TOPICS_PER_REQUEST <= 10_000
    assert len(scale.targets_of(layout)) == 2500


def test_percentile():
    assert scale.percentile(list(range(1, 101)), 99) == 99
    assert scale.percentile([5], 50) == 5
    assert scale.percentile([], 50) is None


def test_report_prefers_newest_success_and_computes_ratios():
    rows = [
        {"dim": "partitions", "size": 1000, "broker": "gregor", "create_leaders_s": 1.0, "rss_per_partition_kib": 2.0,
         "restart_first_produce_s": 0.5},
        {"dim": "partitions", "size": 1000, "broker": "gregor", "error": "boom"},
        {"dim": "partitions", "size": 1000, "broker": "kafka", "create_leaders_s": 4.0, "rss_per_partition_kib": 40.0,
         "restart_first_produce_s": 10.0},
        {"dim": "partitions", "size": 100000, "broker": "kafka", "error": "Too many open files"},
    ]
    best = scale_report.latest(rows)
    assert "error" not in best[("partitions", 1000, "gregor")]
    lines, notes = scale_report.table("partitions", best)
    assert any("| 1,000 | gregor | 1 |" in line for line in lines)
    assert any("create_leaders_s 0.25x" in n and "rss_per_partition_kib 0.05x" in n for n in notes)
    assert any("100,000" in n and "Too many open files" in n for n in notes)


def test_paired_differences_per_round():
    runs = [{"round": 0, "scraped": False, "cpu_s_per_gb": 2.0}, {"round": 0, "scraped": True, "cpu_s_per_gb": 2.02},
            {"round": 1, "scraped": True, "cpu_s_per_gb": 1.9}, {"round": 1, "scraped": False, "cpu_s_per_gb": 2.0}]
    diffs = metrics_scrape.paired_differences(runs, "cpu_s_per_gb")
    assert [round(d, 3) for d in diffs] == [1.0, -5.0]


def test_report_says_why_a_spread_was_skipped():
    rows = [{"dim": "partitions", "size": 50000, "broker": "gregor", "create_leaders_s": 1.0,
             "spread_skipped": "50000 used partitions need more fds than ulimit -Hn 20000"}]
    lines, notes = scale_report.table("partitions", scale_report.latest(rows))
    assert any("| 50,000 | gregor | 1 |" in line for line in lines)
    assert any("gregor at 50,000" in n and "ulimit -Hn 20000" in n for n in notes)
