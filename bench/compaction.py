#!/usr/bin/env python3
"""Cleaner benchmark, Gregor vs Apache Kafka 4.4 on the same data (bench/compaction.sh).

Per broker: a fresh single-node broker on 127.0.0.1; a compacted topic
(segment.bytes 64 MiB) held back from the cleaner by min.compaction.lag.ms
while KeyedLoad writes MB of keyed records over KEYS distinct keys; the
fixed-rate latency probe (FixedRateLatency, 1000 records/s of 100 B, acks=1,
another topic) with the cleaner idle; then min.compaction.lag.ms=0 (the clean
starts) with the same probe running alongside. Recorded:
 * the clean's own figures: Gregor's "cleaned log" line (bytes, ms), Kafka's
   LogCleaner summary ("MB of log processed in s");
 * MB/s cleaned = bytes of the segments below the active one before the
   clean / the clean's time as the broker reports it;
 * broker CPU (utime+stime from /proc) from the config change to the end of
   the clean per GB cleaned, raw (the probe's traffic in that window is
   included; the idle-phase CPU rate is recorded next to it);
 * probe p99 with the cleaner idle and while cleaning (the probe runs
   PROBE_S seconds from the config change; the clean may end sooner, and the
   share of the probe window the clean covered is recorded with it).
Only the standard library; brokers are always stopped."""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import kafka_node  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEPS = ROOT / "target" / "bench-deps"
KDIR = DEPS / "kafka-4.4.0"
GREGOR = ROOT / "target" / "release" / "gregor"
TOOLS_CP = f"{KDIR / 'classes'}:{KDIR / 'tools'}/*"
TICK = os.sysconf("SC_CLK_TCK")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
TOPIC = "compacted"
SEGMENT_BYTES = 64 * 1024 * 1024
BACKOFF_MS = 1000


def log(msg):
    print(f"[compaction {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def java(main, *args, timeout=600, check=True):
    cmd = ["java", "-Xmx512M", "-cp", TOOLS_CP, main, *args]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and run.returncode != 0:
        raise RuntimeError(f"{main} failed: {run.stderr[-2000:]}")
    return run


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


class Broker:
    def __init__(self, kind, workdir):
        self.kind, self.dir = kind, workdir
        self.data = workdir / "data"
        self.data.mkdir(parents=True)
        self.port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.log_path = workdir / ("server.log" if kind == "kafka" else "stdout.log")
        self.proc = None

    def start(self):
        if self.kind == "kafka":
            cport = free_port()
            props = kafka_node.single_node_props(self.bootstrap, cport, self.data,
                                                 **{"log.cleaner.backoff.ms": str(BACKOFF_MS)})
            (self.dir / "server.properties").write_text(kafka_node.properties_text(props))
            (self.dir / "log4j2.properties").write_text(
                "rootLogger.level=INFO\nrootLogger.appenderRef.f.ref=F\nappender.f.type=File\n"
                f"appender.f.name=F\nappender.f.fileName={self.log_path}\nappender.f.layout.type=PatternLayout\n"
                "appender.f.layout.pattern=[%d] %p %m (%c)%n\nlogger.req.name=kafka.request.logger\n"
                "logger.req.level=WARN\n")
            l4j = f"-Dlog4j2.configurationFile={self.dir / 'log4j2.properties'}"
            subprocess.run(["java", l4j, "-cp", f"{KDIR / 'broker'}/*", "kafka.tools.StorageTool", "format",
                            "-t", "MkU3OEVBNTcwNTJENDM2Qg", "-c", str(self.dir / "server.properties")],
                           check=True, capture_output=True)
            cmd = ["java", "-Xms1G", "-Xmx1G", "-server", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
                   "-XX:InitiatingHeapOccupancyPercent=35", "-XX:+ExplicitGCInvokesConcurrent",
                   "-Djava.awt.headless=true", l4j, "-cp", f"{KDIR / 'broker'}/*", "kafka.Kafka",
                   str(self.dir / "server.properties")]
            out = open(self.dir / "stdout.log", "wb")
        else:
            cmd = [str(GREGOR), "server", "--set", f"listeners=PLAINTEXT://{self.bootstrap}",
                   "--set", f"log.dirs={self.data}", "--set", "num.partitions=1",
                   "--set", f"log.cleaner.backoff.ms={BACKOFF_MS}"]
            out = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            r = java("org.apache.kafka.tools.TopicCommand", "--bootstrap-server", self.bootstrap, "--list",
                     timeout=60, check=False)
            if r.returncode == 0:
                return
            time.sleep(1)
        raise RuntimeError(f"{self.kind} did not start")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            kafka_node.stop_group(self.proc)

    def log_text(self):
        return ANSI.sub("", self.log_path.read_text(errors="replace"))


def segments(broker):
    d = broker.data / f"{TOPIC}-0"
    logs = sorted(d.glob("*.log"))
    return [p.stat().st_size for p in logs]


def clean_figures(broker, since_chars):
    """The cleans of TOPIC logged after `since_chars`: (bytes, seconds, raw lines)."""
    text = broker.log_text()[since_chars:]
    found = []
    if broker.kind == "gregor":
        for line in text.splitlines():
            if "cleaned log" in line and f"topic={TOPIC}" in line:
                f = dict(re.findall(r"(\w+)=(\S+)", line))
                found.append({"ms": int(f["ms"]), "bytes_read": int(f["bytes_read"]),
                              "bytes_written": int(f["bytes_written"]), "line": line.strip()})
    else:
        for m in re.finditer(r"cleaned log " + TOPIC + r"-0.*?\n(.*?)MB of log processed in ([\d,.]+) seconds"
                             r" \(([\d,.]+) MB/sec\)", text, re.S):
            mb = float(re.search(r"([\d,.]+)\s*$", m.group(1).strip()).group(1).replace(",", ""))
            secs = float(m.group(2).replace(",", ""))
            block = text[m.start(): m.start() + 1500]
            found.append({"ms": int(secs * 1000), "mb_processed": mb,
                          "line": " | ".join(l.strip() for l in block.splitlines()[:8])})
    return found


def probe(broker, topic, seconds):
    return subprocess.Popen(
        ["java", "-Xmx512M", "-cp", TOOLS_CP, "FixedRateLatency", broker.bootstrap, topic, "1", "1000",
         str(seconds), "100", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def probe_result(proc):
    out, err = proc.communicate(timeout=600)
    try:
        return json.loads(out.strip().splitlines()[-1])
    except Exception:
        return {"error": (out + err)[-500:]}


def run(kind, workroot, mb, record_size, keys, probe_s):
    broker = Broker(kind, workroot / kind)
    result = {"broker": kind, "mb": mb, "record_size": record_size, "keys": keys}
    try:
        broker.start()
        log(f"{kind} up at {broker.bootstrap}")
        java("org.apache.kafka.tools.TopicCommand", "--bootstrap-server", broker.bootstrap, "--create",
             "--topic", TOPIC, "--partitions", "1", "--replication-factor", "1",
             "--config", "cleanup.policy=compact", "--config", f"segment.bytes={SEGMENT_BYTES}",
             "--config", "min.compaction.lag.ms=86400000", "--config", "min.cleanable.dirty.ratio=0.01")
        java("org.apache.kafka.tools.TopicCommand", "--bootstrap-server", broker.bootstrap, "--create",
             "--topic", "latency", "--partitions", "1", "--replication-factor", "1")
        records = mb * 1024 * 1024 // record_size
        load = java("KeyedLoad", broker.bootstrap, TOPIC, str(records), str(record_size), str(keys))
        result["load"] = json.loads(load.stdout.strip().splitlines()[-1])
        log(f"{kind} loaded {result['load']}")
        time.sleep(2)
        pid = broker.proc.pid
        c0, t0 = cpu_seconds(pid), time.monotonic()
        p = probe(broker, "latency", probe_s)
        time.sleep(2)  # the probe's warm-up
        # The same ConfigCommand JVM start as below (a no-op change), so both
        # probe windows carry the same disturbance on this small machine.
        java("org.apache.kafka.tools.ConfigCommand", "--bootstrap-server", broker.bootstrap, "--alter",
             "--entity-type", "topics", "--entity-name", "latency", "--add-config", "retention.ms=604800000")
        result["p_idle"] = probe_result(p)
        idle_rate = (cpu_seconds(pid) - c0) / (time.monotonic() - t0)
        result["idle_cpu_rate"] = round(idle_rate, 3)
        log(f"{kind} probe, cleaner idle: {result['p_idle']}")
        before = segments(broker)
        result["segments_before"] = before
        cleanable = sum(before[:-1])
        result["cleanable_bytes"] = cleanable
        mark = len(broker.log_text())
        p = probe(broker, "latency", probe_s)
        time.sleep(2)  # the probe's warm-up
        c0, t0 = cpu_seconds(pid), time.monotonic()
        java("org.apache.kafka.tools.ConfigCommand", "--bootstrap-server", broker.bootstrap, "--alter",
             "--entity-type", "topics", "--entity-name", TOPIC, "--add-config", "min.compaction.lag.ms=0")
        cleans = []
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            cleans = clean_figures(broker, mark)
            if cleans:
                break
            time.sleep(0.1)
        t1, c1 = time.monotonic(), cpu_seconds(pid)
        # A dedupe buffer too small for the dirty section makes several cleans.
        time.sleep(3 * BACKOFF_MS / 1000)
        more = clean_figures(broker, mark)
        if len(more) > len(cleans):
            t1, c1, cleans = time.monotonic(), cpu_seconds(pid), more
        result["p_cleaning"] = probe_result(p)
        result["cleans"] = cleans
        clean_s = sum(c["ms"] for c in cleans) / 1000
        result["clean_seconds"] = clean_s
        result["mb_per_s"] = round(cleanable / 1e6 / clean_s, 1) if clean_s else None
        window = t1 - t0
        # Raw: the probe's traffic and the broker's idle work in the window
        # are included (subtracting the idle-phase rate went negative for
        # Kafka, whose idle phase carries JIT and GC warm-up).
        cpu = c1 - c0
        result["window_seconds"] = round(window, 2)
        result["cpu_seconds_window"] = round(cpu, 2)
        result["cpu_s_per_gb"] = round(cpu / (cleanable / 1e9), 2) if cleanable else None
        result["probe_share_cleaning"] = round(min(1.0, clean_s / probe_s), 2)
        result["segments_after"] = segments(broker)
        result["loadavg1"] = float(open("/proc/loadavg").read().split()[0])
        log(f"{kind}: {json.dumps({k: result[k] for k in ('mb_per_s', 'clean_seconds', 'cpu_s_per_gb')})}")
    finally:
        broker.stop()
    return result


def main():
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=512)
    ap.add_argument("--record-size", type=int, default=1024)
    ap.add_argument("--keys", type=int, default=50_000)
    ap.add_argument("--probe-seconds", type=int, default=15)
    ap.add_argument("--only", choices=["gregor", "kafka"])
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "compaction"))
    a = ap.parse_args()
    (DEPS / "tmp").mkdir(parents=True, exist_ok=True)
    work = Path(__import__("tempfile").mkdtemp(dir=DEPS / "tmp", prefix="compaction."))
    results = []
    try:
        for kind in ([a.only] if a.only else ["kafka", "gregor"]):
            results.append(run(kind, work, a.mb, a.record_size, a.keys, a.probe_seconds))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    (out / f"{stamp}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in results))
    lines = [f"# Cleaner benchmark {stamp}", "",
             f"{a.mb} MiB of {a.record_size} B records over {a.keys} keys, one partition, segment.bytes 64 MiB; "
             f"probe: FixedRateLatency 1000 rec/s x 100 B acks=1, {a.probe_seconds} s. "
             f"Machine: {os.cpu_count()} cores, shared (load average in the last column).", "",
             "| broker | cleanable MB | clean s (broker's own) | MB/s cleaned | broker CPU s per GB (clean window, raw) | "
             "probe p99 idle ms | probe p99 cleaning ms | clean share of probe | load avg |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(
            f"| {r['broker']} | {r.get('cleanable_bytes', 0) / 1e6:.0f} | {r.get('clean_seconds')} | {r.get('mb_per_s')} | "
            f"{r.get('cpu_s_per_gb')} | {r.get('p_idle', {}).get('p99_ms')} | {r.get('p_cleaning', {}).get('p99_ms')} | "
            f"{r.get('probe_share_cleaning')} | {r.get('loadavg1')} |")
    lines += ["", "Raw figures (the brokers' own clean log lines included): "
              f"`{stamp}.jsonl`.", ""]
    (out / f"{stamp}.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
