#!/usr/bin/env python3
"""Scrape cost: produce + consume throughput and broker CPU per GB with /metrics
scraped every second vs not scraped (issue 16; goal: < 2 % difference).

Each round starts a fresh release broker (127.0.0.1, admin endpoint on), runs
`gregor perf produce` then `gregor perf consume` over the same records, and reads
the broker's CPU time from /proc. Modes alternate within and across rounds
(off/on, on/off, ...) so machine noise falls on both. See docs/benchmarks.md.

With --rate R (fixed-rate mode) the load is instead Kafka's ProducerPerformance
throttled to R records/s (--throughput R, well below saturation) for --seconds:
the same bytes arrive at the same pace in both modes, so the broker's CPU seconds
per GB compare the same work, which a saturating load on a shared machine does
not (its rate, and so batching and wake-ups, moves with the other load).
"""

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def start_broker(binary, workdir):
    port, admin = free_port(), free_port()
    log = open(workdir / "server.log", "w")
    proc = subprocess.Popen(
        [binary, "server", "--set", f"listeners=PLAINTEXT://127.0.0.1:{port}",
         "--set", f"log.dirs={workdir / 'data'}",
         "--set", f"gregor.admin.listener=127.0.0.1:{admin}"],
        stdout=subprocess.DEVNULL, stderr=log)
    deadline = time.monotonic() + 30
    while "gregor broker started" not in (workdir / "server.log").read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError((workdir / "server.log").read_text()[-2000:])
        time.sleep(0.05)
    return proc, port, admin


class Scraper(threading.Thread):
    """GET /metrics every second; keeps each scrape's time and size."""

    def __init__(self, admin):
        super().__init__(daemon=True)
        self.admin, self.stop, self.scrapes = admin, threading.Event(), []

    def run(self):
        while not self.stop.wait(1.0):
            t = time.monotonic()
            with urllib.request.urlopen(f"http://127.0.0.1:{self.admin}/metrics", timeout=10) as r:
                size = len(r.read())
            self.scrapes.append((time.monotonic() - t, size))


def perf(binary, port, args):
    out = subprocess.run([binary, "perf", *args, "--bootstrap-server", f"127.0.0.1:{port}"],
                         check=True, capture_output=True, text=True, timeout=900).stdout
    m = re.search(r"(\d+) records (?:sent|consumed), ([\d.]+) records/sec \(([\d.]+) MB/sec\)", out)
    if not m:
        raise RuntimeError(out)
    return float(m.group(2)), float(m.group(3))


def fixed_rate_produce(tools_libs, port, records, size, rate):
    """ProducerPerformance at a capped rate; returns (records/s, MB/s) as it reports them."""
    cmd = ["java", "-Xmx512M", "-cp", f"{tools_libs}/*", "org.apache.kafka.tools.ProducerPerformance",
           "--topic", "bench", "--num-records", str(records), "--record-size", str(size),
           "--throughput", str(rate), "--producer-props", f"bootstrap.servers=127.0.0.1:{port}",
           "acks=1", "linger.ms=5", "batch.size=65536"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=3600).stdout
    m = re.search(r"(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\)", out.splitlines()[-1])
    if not m:
        raise RuntimeError(out[-2000:])
    return float(m.group(2)), float(m.group(3))


def one_run(binary, scraped, records, size, partitions, rate=None, tools_libs=None):
    with tempfile.TemporaryDirectory() as d:
        workdir = Path(d)
        proc, port, admin = start_broker(binary, workdir)
        try:
            subprocess.run([binary, "topic", "create", "bench", "--partitions", str(partitions),
                            "--bootstrap-server", f"127.0.0.1:{port}"],
                           check=True, capture_output=True, timeout=60)
            scraper = Scraper(admin)
            if scraped:
                scraper.start()
            cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
            if rate:
                p_rps, p_mbs = fixed_rate_produce(tools_libs, port, records, size, rate)
                c_rps = c_mbs = None
            else:
                p_rps, p_mbs = perf(binary, port, ["produce", "bench", "--num-records", str(records),
                                                   "--record-size", str(size), "--acks", "1"])
                c_rps, c_mbs = perf(binary, port, ["consume", "bench", "--num-records", str(records)])
            cpu = cpu_seconds(proc.pid) - cpu0
            wall = time.monotonic() - t0
            scraper.stop.set()
            if scraped:
                scraper.join()
            # The cost of one scrape, without the load's noise: 50 scrapes of
            # the now idle broker (its series all exist by now).
            cpu1 = cpu_seconds(proc.pid)
            for _ in range(50):
                with urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics", timeout=10) as r:
                    r.read()
            scrape_cpu_ms = (cpu_seconds(proc.pid) - cpu1) * 1000 / 50
            gb = (1 if rate else 2) * records * size / 1e9  # fixed rate: in only; else in and out
            return {
                "rate": rate, "loadavg1": os.getloadavg()[0], "cpu_ms_per_s": round(cpu * 1000 / wall, 2),
                "scrape_cpu_ms": round(scrape_cpu_ms, 3),
                "scraped": scraped, "produce_rps": p_rps, "produce_mbs": p_mbs,
                "consume_rps": c_rps, "consume_mbs": c_mbs, "broker_cpu_s": round(cpu, 3),
                "cpu_s_per_gb": round(cpu / gb, 3), "wall_s": round(wall, 2),
                "scrapes": len(scraper.scrapes),
                "scrape_ms_max": round(max((s[0] for s in scraper.scrapes), default=0) * 1000, 2),
                "scrape_bytes": max((s[1] for s in scraper.scrapes), default=0),
            }
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def paired_differences(runs, key):
    """Per round, (scraped - not scraped) / not scraped in percent: the two runs of a round ran
    back to back, so each pair saw about the same background load."""
    out = []
    for rnd in sorted({r["round"] for r in runs}):
        pair = {r["scraped"]: r[key] for r in runs if r["round"] == rnd and r.get(key) is not None}
        if True in pair and False in pair and pair[False]:
            out.append(100 * (pair[True] - pair[False]) / pair[False])
    return out


def summary_lines(runs, rate):
    def med(scraped, key):
        xs = [r[key] for r in runs if r["scraped"] == scraped and r.get(key) is not None]
        return statistics.median(xs) if xs else None

    lines = ["| median | not scraped | scraped every 1 s | difference |", "|---|---|---|---|"]
    keys = ([("produce_mbs", "produce MB/s (capped)"), ("cpu_s_per_gb", "broker CPU s/GB (in)"),
             ("cpu_ms_per_s", "broker CPU ms per wall second")] if rate else
            [("produce_mbs", "produce MB/s"), ("consume_mbs", "consume MB/s"),
             ("cpu_s_per_gb", "broker CPU s/GB (in+out)")])
    for key, label in keys:
        off, on = med(False, key), med(True, key)
        if off and on is not None:
            lines.append(f"| {label} | {off:.3f} | {on:.3f} | {100 * (on - off) / off:+.1f} % |")
    diffs = paired_differences(runs, "cpu_s_per_gb")
    if diffs:
        lines += ["", "CPU s/GB, scraped vs not, per round (back-to-back pairs): "
                  + ", ".join(f"{d:+.1f} %" for d in diffs)
                  + f"; median {statistics.median(diffs):+.1f} %, mean {statistics.mean(diffs):+.1f} %."]
    return lines


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default="target/release/gregor")
    ap.add_argument("--records", type=int, default=5_000_000)
    ap.add_argument("--record-size", type=int, default=100)
    ap.add_argument("--partitions", type=int, default=6)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--rate", type=int, help="fixed-rate mode: ProducerPerformance capped at this many records/s")
    ap.add_argument("--seconds", type=int, default=60, help="fixed-rate mode: length of each run")
    ap.add_argument("--tools-libs", default="target/bench-deps/kafka-4.4.0/tools",
                    help="fixed-rate mode: kafka-tools classpath (target/compat-deps/kafka-tools/libs works)")
    ap.add_argument("--out", default="bench/results/metrics")
    a = ap.parse_args()
    if a.rate:
        a.records = a.rate * a.seconds
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    runs = []
    for r in range(a.rounds):
        for scraped in ([False, True] if r % 2 == 0 else [True, False]):
            run = one_run(a.binary, scraped, a.records, a.record_size, a.partitions, a.rate, a.tools_libs)
            run["round"] = r
            runs.append(run)
            print(json.dumps(run), flush=True)
    (out / f"{stamp}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in runs))

    load = f"load average at the end: {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores)"
    if a.rate:
        what = (f"fixed rate: ProducerPerformance --throughput {a.rate} records/s of {a.record_size} B for "
                f"{a.seconds} s ({a.records} records, {a.rate * a.record_size / 1e6:.1f} MB/s), acks=1, "
                f"linger.ms=5, {a.partitions} partitions")
    else:
        what = f"{a.records} records of {a.record_size} B, {a.partitions} partitions, acks=1"
    lines = [f"# Scrape cost, {stamp} UTC", "", f"{a.rounds} rounds, {what}; {load}", ""]
    lines += summary_lines(runs, a.rate)
    scraped = [r for r in runs if r["scraped"]]
    per_scrape = statistics.median(r["scrape_cpu_ms"] for r in runs)
    lines += ["", f"Broker CPU per scrape of an idle broker (50 in a row, median of runs): "
              f"{per_scrape:.2f} ms, i.e. {per_scrape / 10:.3f} % of one core at one scrape per second "
              "(/proc counts CPU in 10 ms ticks, hence 50 scrapes)."]
    lines += ["", f"Scrapes: {sum(r['scrapes'] for r in scraped)}, slowest "
              f"{max(r['scrape_ms_max'] for r in scraped)} ms, body up to "
              f"{max(r['scrape_bytes'] for r in scraped)} bytes.", "", "Runs:", "", "```"]
    lines += [json.dumps(r) for r in runs] + ["```", ""]
    (out / f"{stamp}.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
