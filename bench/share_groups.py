#!/usr/bin/env python3
"""Share-group (KIP-932) consumer benchmark, Gregor vs Apache Kafka 4.4 on this machine
(bench/share_groups.sh; issue 17's goal: at least 1.5x Kafka's share-consumer throughput per
broker CPU second).

Per broker, one at a time: a fresh single-node broker on 127.0.0.1 (Kafka 4.4.0 formatted at
its latest metadata.version, where share.version 2 is finalized, so share groups are on; Gregor
with its defaults). Per partition count (default 1 and 8): a topic of that many partitions,
filled with RECORDS records of RECORD_SIZE bytes by Kafka's ProducerPerformance (acks=1), then
per round a new share group set to share.auto.offset.reset=earliest (kafka-configs
--entity-type groups) and Kafka's own ShareConsumerPerformance (kafka-share-consumer-perf-test)
with MEMBERS share consumers (--threads: one member each, implicit acknowledgement, i.e. every
record delivered is accepted on the next poll) until all RECORDS are consumed. Recorded:
 * records/s delivered: ShareConsumerPerformance's nMsg.sec (from its start, joining included)
   and the steady rate from its 1 s interval stats (first interval with records to the end);
 * the lag kafka-share-groups --describe shows afterwards (0: every record was acknowledged);
 * the broker's CPU seconds (utime+stime from /proc) over the consume window, per million
   records, and records per broker CPU second (the goal's measure);
 * the load average at the end (the machine is shared).
Prints one JSON line per measurement; writes bench/results/share/<stamp>.{jsonl,md}.
Only the standard library; brokers are always stopped.

Jars: --kafka-libs (the broker: kafka_2.13 + log4j2) and --tools-libs (kafka-tools + deps),
by default what bench/share_groups.sh fetches into target/bench-deps/kafka-4.4.0/; the compat
suite's copies (target/kafka-ref/libs, target/compat-deps/kafka-tools/libs) work too.
"""

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import kafka_node  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEPS = ROOT / "target" / "bench-deps"
KDIR = DEPS / "kafka-4.4.0"
TICK = os.sysconf("SC_CLK_TCK")
CLUSTER_ID = "MkU3OEVBNTcwNTJENDM2Qg"


def log(msg):
    print(f"[share {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


class Tools:
    """Kafka's command-line tools from one classpath."""

    def __init__(self, libs):
        self.cp = f"{libs}/*"

    def run(self, main, *args, timeout=900, check=True):
        cmd = ["java", "-Xmx512M", "-cp", self.cp, f"org.apache.kafka.tools.{main}", *map(str, args)]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise RuntimeError(f"{main} {' '.join(map(str, args))} failed ({p.returncode}): {p.stderr[-2000:]}")
        return p


class Broker:
    """A single-node broker: Kafka (KRaft combined mode, Kafka's own JVM flags) or Gregor."""

    def __init__(self, kind, workdir, kafka_libs, gregor_bin, tools):
        self.kind, self.dir = kind, workdir
        self.data = workdir / "data"
        self.data.mkdir(parents=True)
        self.port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.kafka_libs, self.gregor_bin, self.tools = kafka_libs, gregor_bin, tools
        self.log_path = workdir / "server.log"
        self.proc = None

    def command(self):
        if self.kind == "gregor":
            return [str(self.gregor_bin), "server", "--set", f"listeners=PLAINTEXT://{self.bootstrap}",
                    "--set", f"advertised.listeners=PLAINTEXT://{self.bootstrap}",
                    "--set", f"log.dirs={self.data}", "--set", "num.partitions=1"]
        cport = free_port()
        props = kafka_node.single_node_props(self.bootstrap, cport, self.data)
        conf = self.dir / "server.properties"
        conf.write_text(kafka_node.properties_text(props))
        l4j = self.dir / "log4j2.properties"
        l4j.write_text("rootLogger.level=INFO\nrootLogger.appenderRef.out.ref=OUT\nappender.out.type=Console\n"
                       "appender.out.name=OUT\nappender.out.layout.type=PatternLayout\n"
                       "appender.out.layout.pattern=[%d] %p %m (%c)%n\nlogger.req.name=kafka.request.logger\n"
                       "logger.req.level=WARN\n")
        cp = f"{self.kafka_libs}/*"
        subprocess.run(["java", "-cp", cp, "kafka.tools.StorageTool", "format", "-t", CLUSTER_ID, "-c", str(conf)],
                       check=True, capture_output=True, timeout=120)
        return ["java", "-Xms1G", "-Xmx1G", "-server", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
                "-XX:InitiatingHeapOccupancyPercent=35", "-XX:+ExplicitGCInvokesConcurrent",
                "-Djava.awt.headless=true", f"-Dlog4j2.configurationFile={l4j}", "-cp", cp, "kafka.Kafka", str(conf)]

    def start(self):
        out = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.command(), stdout=out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        out.close()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited {self.proc.returncode}; see {self.log_path}")
            if self.tools.run("TopicCommand", "--bootstrap-server", self.bootstrap, "--list",
                              timeout=60, check=False).returncode == 0:
                return
            time.sleep(1)
        raise RuntimeError(f"{self.kind} did not start; see {self.log_path}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            kafka_node.stop_group(self.proc)


# One stats row of ShareConsumerPerformance: start, end, MB, MB/s, records/s, records, fetch ms,
# and with --show-detailed-stats " for share consumer N" on each member's interval rows (their
# counts are cumulative). Rows of concurrent members can share a line, so rows are matched
# anywhere in the text.
ROW = re.compile(r"(\d{4}-\d\d-\d\d [\d:]+), (\d{4}-\d\d-\d\d [\d:]+), ([\d.]+), ([\d.]+), ([\d.]+), (\d+), (\d+)"
                 r"(?: for share consumer (\d+?)(?=\d{4}-\d\d-\d\d |\s|$))?")


def stamp_s(text):
    return time.mktime(time.strptime(text[:19], "%Y-%m-%d %H:%M:%S")) + int(text[20:]) / 1000


def parse_perf(text):
    """(summary, steady records/s or None) from ShareConsumerPerformance's output. The summary
    is the last row without a member; the steady rate runs from the moment every member had
    its first records (the end of its first interval with any) to the summary's end."""
    rows = list(ROW.finditer(text))
    summaries = [m for m in rows if m.group(8) is None]
    if not summaries:
        raise RuntimeError(f"no ShareConsumerPerformance summary in:\n{text[-2000:]}")
    last = summaries[-1]
    summary = {"mb": float(last.group(3)), "mb_per_s": float(last.group(4)), "records_per_s": float(last.group(5)),
               "records": int(last.group(6)), "start": stamp_s(last.group(1)), "end": stamp_s(last.group(2))}
    first = {}
    for m in rows:
        member = m.group(8)
        if member is not None and int(m.group(6)) > 0 and member not in first:
            first[member] = (stamp_s(m.group(2)), int(m.group(6)))
    steady = None
    if first:
        t_first = max(t for t, _ in first.values())
        n_first = sum(n for _, n in first.values())
        if summary["end"] > t_first + 0.5:
            steady = round((summary["records"] - n_first) / (summary["end"] - t_first), 1)
    return summary, steady


def total_lag(tools, bootstrap, group):
    out = tools.run("consumer.group.ShareGroupCommand", "--bootstrap-server", bootstrap, "--describe",
                    "--group", group, check=False).stdout
    lags = [line.split()[-1] for line in out.splitlines() if line.startswith(group + " ")]
    return sum(int(x) for x in lags if x.isdigit()) if lags else None


def measure(broker, tools, topic, partitions, records, members, rnd):
    group = f"bench-share-{partitions}p-{rnd}-{int(time.time())}"
    tools.run("ConfigCommand", "--bootstrap-server", broker.bootstrap, "--alter", "--entity-type", "groups",
              "--entity-name", group, "--add-config", "share.auto.offset.reset=earliest")
    pid = broker.proc.pid
    c0, t0 = cpu_seconds(pid), time.monotonic()
    p = tools.run("ShareConsumerPerformance", "--bootstrap-server", broker.bootstrap, "--topic", topic,
                  "--group", group, "--threads", members, "--num-records", records, "--timeout", 60000,
                  "--show-detailed-stats", "--reporting-interval", 1000, check=False)
    wall, cpu = time.monotonic() - t0, cpu_seconds(pid) - c0
    result = {"broker": broker.kind, "partitions": partitions, "members": members, "round": rnd,
              "records": records, "group": group}
    try:
        summary, steady = parse_perf(p.stdout)
    except RuntimeError as e:
        result["error"] = str(e)[-1000:] + p.stderr[-1000:]
        return result
    consumed = summary["records"]
    result.update({
        "consumed": consumed, "records_per_s": round(summary["records_per_s"], 1), "mb_per_s": summary["mb_per_s"],
        "steady_records_per_s": steady,
        "wall_s": round(wall, 2), "broker_cpu_s": round(cpu, 2),
        "cpu_s_per_m_records": round(cpu / consumed * 1e6, 2) if consumed else None,
        "records_per_cpu_s": round(consumed / cpu) if cpu else None,
        "lag_after": total_lag(tools, broker.bootstrap, group),
        "loadavg1": float(open("/proc/loadavg").read().split()[0]),
    })
    if consumed < records:
        result["error"] = f"consumed {consumed} of {records} (timeout)"
    return result


def run_broker(kind, work, a, tools):
    broker = Broker(kind, work / kind, a.kafka_libs, a.gregor_bin, tools)
    results = []
    try:
        broker.start()
        log(f"{kind} up at {broker.bootstrap}")
        for partitions in a.partitions:
            topic = f"share-bench-{partitions}p"
            tools.run("TopicCommand", "--bootstrap-server", broker.bootstrap, "--create", "--topic", topic,
                      "--partitions", partitions, "--replication-factor", 1)
            tools.run("ProducerPerformance", "--topic", topic, "--num-records", a.records, "--record-size",
                      a.record_size, "--throughput", -1, "--producer-props", f"bootstrap.servers={broker.bootstrap}",
                      "acks=1", "linger.ms=5", "batch.size=65536")
            for rnd in range(a.rounds):
                r = measure(broker, tools, topic, partitions, a.records, a.members, rnd)
                print(json.dumps(r), flush=True)
                results.append(r)
    except Exception as e:  # a broker that fails is a result too; the other broker still runs
        log(f"{kind} failed: {e}")
        results.append({"broker": kind, "error": str(e)[-2000:]})
    finally:
        broker.stop()
    return results


def median(results, kind, partitions, key):
    xs = [r[key] for r in results if r.get("broker") == kind and r.get("partitions") == partitions
          and r.get(key) is not None and "error" not in r]
    return statistics.median(xs) if xs else None


def report(results, a, stamp):
    lines = [f"# Share-group consumer benchmark {stamp}", "",
             f"{a.records} records of {a.record_size} B per topic (ProducerPerformance, acks=1); "
             f"{a.members} share consumers (ShareConsumerPerformance --threads {a.members}, implicit "
             f"acknowledgement), a new group per round set to share.auto.offset.reset=earliest; "
             f"{a.rounds} round(s), medians. Machine: {os.cpu_count()} cores, shared.", "",
             "| partitions | broker | records/s (tool, join included) | records/s steady | broker CPU s per M records "
             "| records per broker CPU s | lag after |",
             "|---|---|---|---|---|---|---|"]
    for partitions in a.partitions:
        for kind in a.brokers:
            lines.append(f"| {partitions} | {kind} | {median(results, kind, partitions, 'records_per_s')} | "
                         f"{median(results, kind, partitions, 'steady_records_per_s')} | "
                         f"{median(results, kind, partitions, 'cpu_s_per_m_records')} | "
                         f"{median(results, kind, partitions, 'records_per_cpu_s')} | "
                         f"{median(results, kind, partitions, 'lag_after')} |")
        g = median(results, "gregor", partitions, "records_per_cpu_s")
        k = median(results, "kafka", partitions, "records_per_cpu_s")
        if g and k:
            lines.append(f"| {partitions} | gregor / kafka | | | | {g / k:.2f}x | |")
    errors = [r for r in results if "error" in r]
    if errors:
        lines += ["", "Failures:", ""] + [f"- {r.get('broker')} {r.get('partitions')}p: {r['error'][:300]}"
                                          for r in errors]
    lines += ["", f"Raw figures: `{stamp}.jsonl`.", ""]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=500_000)
    ap.add_argument("--record-size", type=int, default=100)
    ap.add_argument("--partitions", type=lambda s: [int(x) for x in s.split(",")], default=[1, 8])
    ap.add_argument("--members", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--only", choices=["gregor", "kafka"])
    ap.add_argument("--kafka-libs", type=Path, default=KDIR / "broker")
    ap.add_argument("--tools-libs", type=Path, default=KDIR / "tools")
    ap.add_argument("--gregor-bin", type=Path, default=ROOT / "target" / "release" / "gregor")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "share")
    ap.add_argument("--report-from", type=Path, nargs="+", metavar="JSONL",
                    help="no run: one report from the raw lines of earlier runs (e.g. an --only kafka and an "
                         "--only gregor run with the same --records/--partitions/--rounds)")
    a = ap.parse_args()
    a.brokers = [a.only] if a.only else ["kafka", "gregor"]
    if a.report_from:
        results = [json.loads(line) for f in a.report_from for line in f.read_text().splitlines() if line.strip()]
        a.brokers = [b for b in ["kafka", "gregor"] if any(r.get("broker") == b for r in results)]
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        text = report(results, a, stamp).replace(
            f"Raw figures: `{stamp}.jsonl`.", "Raw figures: " + ", ".join(f"`{f.name}`" for f in a.report_from) + ".")
        a.out.mkdir(parents=True, exist_ok=True)
        (a.out / f"{stamp}.md").write_text(text)
        print(text)
        return
    tools = Tools(a.tools_libs)
    (DEPS / "tmp").mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=DEPS / "tmp", prefix="share."))
    results = []
    try:
        for kind in a.brokers:
            results += run_broker(kind, work, a, tools)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / f"{stamp}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in results))
    text = report(results, a, stamp)
    (a.out / f"{stamp}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
