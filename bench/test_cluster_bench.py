"""bench/cluster.py's summary of its samples (the numbers NOTES.md quotes)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cluster import summarize  # noqa: E402


def test_summary_of_samples():
    s = summarize("failover", "kafka", [2400.0, 2300.0, 9000.0, 2350.0, 2500.0])
    assert s == {"measure": "failover", "server": "kafka", "n": 5, "median_ms": 2400.0,
                 "p90_ms": 9000.0, "min_ms": 2300.0, "max_ms": 9000.0}


def test_summary_p90_and_empty():
    s = summarize("propagation", "gregor", [float(i) for i in range(1, 11)])
    assert (s["median_ms"], s["p90_ms"], s["max_ms"]) == (5.5, 9.0, 10.0)
    assert summarize("propagation", "gregor", []) == {"measure": "propagation", "server": "gregor", "n": 0}
