"""Tests of bench/share_groups.py's parser of ShareConsumerPerformance output: a format slip
would silently drop the steady rate. The input is what Kafka 4.4's tool printed in a real run
(--threads 4 --show-detailed-stats --reporting-interval 1000), trimmed, including two members'
rows printed on one line, as the tool's threads race."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from share_groups import parse_perf, stamp_s  # noqa: E402

OUTPUT = """start.time, end.time, data.consumed.in.MB, MB.sec, nMsg.sec, data.consumed.in.nMsg, fetch.time.ms
2026-12-07 06:31:22:049, 2026-12-07 06:31:28:218, 0.0001, 0.0000, 0.1621, 1, 6169 for share consumer 42026-12-07 06:31:22:030, 2026-12-07 06:31:28:225, 0.0001, 0.0000, 0.1614, 1, 6195 for share consumer 3
2026-12-07 06:31:22:094, 2026-12-07 06:31:28:227, 0.0001, 0.0000, 0.1631, 1, 6133 for share consumer 22026-12-07 06:31:22:045, 2026-12-07 06:31:28:226, 0.0001, 0.0000, 0.1618, 1, 6181 for share consumer 1


2026-12-07 06:31:28:226, 2026-12-07 06:31:29:303, 0.1677, 0.1556, 1631.3835, 1758, 1077 for share consumer 1
2026-12-07 06:31:28:218, 2026-12-07 06:31:29:355, 0.2175, 0.1912, 2005.2770, 2281, 1137 for share consumer 4
2026-12-07 06:31:36:859, 2026-12-07 06:31:37:876, 4.4913, 0.8088, 8480.8260, 47095, 1017 for share consumer 2
2026-12-07 06:31:18:644, 2026-12-07 06:31:38:353, 19.0735, 0.9678, 10147.6483, 200000, 19709
"""


def test_summary_is_the_row_without_a_member():
    summary, _ = parse_perf(OUTPUT)
    assert summary["records"] == 200000
    assert summary["records_per_s"] == 10147.6483
    assert summary["mb_per_s"] == 0.9678
    assert round(summary["end"] - summary["start"], 3) == 19.709


def test_steady_rate_starts_when_every_member_had_records():
    # Each member's first row with records ends at 06:31:28.218-.227 holding 1 record; from the
    # last of those (28.227) to the end (38.353): 199996 records in 10.126 s.
    _, steady = parse_perf(OUTPUT)
    assert steady == round(199996 / (stamp_s("2026-12-07 06:31:38:353") - stamp_s("2026-12-07 06:31:28:227")), 1)


def test_no_summary_is_an_error():
    try:
        parse_perf("start.time, end.time\n")
    except RuntimeError:
        return
    raise AssertionError("expected RuntimeError")
