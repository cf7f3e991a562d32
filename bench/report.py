#!/usr/bin/env python3
"""Parsing and reporting for bench/run.sh.

  report.py last-json OUTPUT_FILE
      the last JSON line of a load that prints its own result (librdkafka, FixedRateLatency)
  report.py parse-producer-perf OUTPUT_FILE RECORD_SIZE
      turns ProducerPerformance's summary line into one JSON line
  report.py parse-consumer-perf OUTPUT_FILE EXPECTED_RECORDS
      turns ConsumerPerformance's CSV line (--hide-header) into one JSON line
  report.py parse-end-to-end OUTPUT_FILE
      turns EndToEndLatency's "Avg latency" and "Percentiles" lines into one JSON line
  report.py add-broker-cpu RESULT_JSON TICKS_BEFORE TICKS_AFTER CLK_TCK
      adds the broker's CPU per connection to bench/java/ConnectRate's JSON line
  report.py report --results R.jsonl --meta META.json --commands CMDS.txt --out-dir DIR [--argv ...]
      medians per (test, broker) -> DIR/<date>.md, DIR/<date>.png, DIR/<date>.jsonl, DIR/latest.md
"""
import argparse
import glob
import json
import os
import re
import shutil
import statistics
import sys

PP_RE = re.compile(
    r"(?P<records>\d+) records sent, (?P<rps>[\d.]+) records/sec \((?P<mbps>[\d.]+) MB/sec\), "
    r"(?P<avg>[\d.]+) ms avg latency, (?P<max>[\d.]+) ms max latency, (?P<p50>\d+) ms 50th, "
    r"(?P<p95>\d+) ms 95th, (?P<p99>\d+) ms 99th, (?P<p999>\d+) ms 99.9th"
)


def last_json(path):
    lines = [l for l in open(path) if l.startswith("{")]
    if not lines:
        print(json.dumps({"error": "no JSON result in output: " + open(path).read()[-300:]}))
        return 1
    print(lines[-1].strip())
    return 0


def parse_producer_perf(path, size):
    """The summary is the last line with the 99.9th percentile (the progress
    lines every 5 s have none)."""
    lines = [l for l in open(path) if "99.9th" in l]
    m = PP_RE.search(lines[-1]) if lines else None
    if not m:
        print(json.dumps({"error": "no ProducerPerformance summary in output: " + open(path).read()[-300:]}))
        return 1
    g = m.groupdict()
    print(json.dumps({
        "records": int(g["records"]), "size": int(size), "rec_per_s": float(g["rps"]), "mb_per_s": float(g["mbps"]),
        "avg_ms": float(g["avg"]), "max_ms": float(g["max"]), "p50_ms": int(g["p50"]), "p95_ms": int(g["p95"]),
        "p99_ms": int(g["p99"]), "p999_ms": int(g["p999"]),
    }))
    return 0


def parse_consumer_perf(path, expected):
    """ConsumerPerformance prints, without its header: start.time, end.time,
    data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec,
    rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec.
    MB.sec counts the group join (which waits group.initial.rebalance.delay.ms,
    3 s on both brokers); fetch.MB.sec does not, so it is the fetch path's rate."""
    rows = [l.split(",") for l in open(path) if l.count(",") == 9]
    if not rows:
        print(json.dumps({"error": "no ConsumerPerformance line in output"}))
        return 1
    f = [c.strip() for c in rows[-1]]
    records = int(f[4])
    if records < int(expected):
        print(json.dumps({"error": f"consumed {records} of {expected} records"}))
        return 1
    print(json.dumps({
        "records": records, "mb": float(f[2]), "mb_per_s": float(f[8]), "rec_per_s": float(f[9]),
        "mb_per_s_incl_join": float(f[3]), "rebalance_ms": int(f[6]), "fetch_ms": int(f[7]),
    }))
    return 0


E2E_AVG_RE = re.compile(r"Avg latency: (?P<avg>[\d.]+) ms")
E2E_PCT_RE = re.compile(r"Percentiles: 50th = (?P<p50>\d+), 99th = (?P<p99>\d+), 99\.9th = (?P<p999>\d+)")


def parse_end_to_end(path):
    """EndToEndLatency prints its percentiles as whole milliseconds (truncated)."""
    text = open(path).read()
    avg, pct = E2E_AVG_RE.search(text), E2E_PCT_RE.search(text)
    if not avg or not pct:
        print(json.dumps({"error": "no EndToEndLatency summary in output: " + text[-300:]}))
        return 1
    print(json.dumps({"avg_ms": float(avg["avg"]), "p50_ms": int(pct["p50"]), "p99_ms": int(pct["p99"]),
                      "p999_ms": int(pct["p999"])}))
    return 0


def add_broker_cpu(result, ticks0, ticks1, clk_tck):
    """ConnectRate's line plus the broker's CPU (utime+stime ticks before and
    after the client ran) per connection. The broker set up every connection
    the client made, the unrecorded warm-up ones included, and did nothing else
    meanwhile, so the CPU is divided by all of them."""
    try:
        res = json.loads(result)
    except ValueError:
        res = {"error": "not JSON: " + result[-300:]}
    if "error" in res:
        print(json.dumps(res))
        return 1
    total = res.get("connections", 0) + res.get("warmup_connections", 0)
    if total <= 0:
        print(json.dumps({"error": "no connections in " + result[-300:]}))
        return 1
    cpu_s = (float(ticks1) - float(ticks0)) / float(clk_tck)
    res["broker_cpu_s"] = round(cpu_s, 3)
    res["broker_cpu_ms_per_conn"] = round(cpu_s * 1000 / total, 3)
    print(json.dumps(res))
    return 0


def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def fmt(v, digits=1):
    if v is None:
        return "—"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.{digits}f}"


def ratio(g, k):
    if g is None or k in (None, 0):
        return "—"
    return f"{g / k:.2f}×"


class Results:
    def __init__(self, path):
        self.rows = [json.loads(l) for l in open(path) if l.strip()]
        self.keys = []  # keep first-seen order
        for r in self.rows:
            if (r["test"], r["key"]) not in self.keys:
                self.keys.append((r["test"], r["key"]))

    def keys_of(self, test):
        return [k for t, k in self.keys if t == test]

    def vals(self, test, key, broker, field):
        out = []
        for r in self.rows:
            if r["test"] == test and r["key"] == key and r["broker"] == broker:
                v = r["result"].get(field)
                if isinstance(v, (int, float)) and "error" not in r["result"]:
                    out.append(float(v))
        return out

    def m(self, test, key, broker, field):
        return med(self.vals(test, key, broker, field))

    def errors(self):
        return [r for r in self.rows if "error" in r["result"]]

    def first_cmd(self, test, broker):
        for r in self.rows:
            if r["test"] == test and r["broker"] == broker and r.get("cmd"):
                return r["cmd"]
        return None


def table(res, test, cols, note=""):
    """cols: list of (label, field, digits, kind) ; kind 'higher' or 'lower' is better."""
    keys = res.keys_of(test)
    if not keys:
        return ""
    head = ["test"]
    for label, _, _, kind in cols:
        head += [f"{label} Gregor", f"{label} Kafka", "G/K"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key in keys:
        cells = [key]
        for label, field, digits, kind in cols:
            g = res.m(test, key, "gregor", field)
            k = res.m(test, key, "kafka", field)
            cells += [fmt(g, digits), fmt(k, digits), ratio(g, k)]
        lines.append("| " + " | ".join(cells) + " |")
    return (note + "\n\n" if note else "") + "\n".join(lines) + "\n"


def chart(res, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [
        ("produce", "mb_per_s", "ProducerPerformance MB/s (higher is better)"),
        ("consume", "mb_per_s", "ConsumerPerformance fetch MB/s (higher is better)"),
        ("rdkafka", "mb_per_s", "librdkafka MB/s (higher is better)"),
        ("produce", "p99_ms", "ProducerPerformance p99 ms (lower is better)"),
        ("e2e", "p99_ms", "fixed-rate end-to-end p99 ms (lower is better)"),
    ]
    panels = [p for p in panels if res.keys_of(p[0])]
    fig, axes = plt.subplots(len(panels), 1, figsize=(12, 3.3 * len(panels)))
    if len(panels) == 1:
        axes = [axes]
    for ax, (test, field, title) in zip(axes, panels):
        keys = res.keys_of(test)
        xs = range(len(keys))
        g = [res.m(test, k, "gregor", field) or 0 for k in keys]
        kf = [res.m(test, k, "kafka", field) or 0 for k in keys]
        w = 0.4
        ax.bar([x - w / 2 for x in xs], g, w, label="Gregor", color="#2a7fbf")
        ax.bar([x + w / 2 for x in xs], kf, w, label="Apache Kafka", color="#999999")
        ax.set_xticks(list(xs))
        ax.set_xticklabels([k.replace(test + " ", "").replace("rdkafka ", "") for k in keys],
                           rotation=30, ha="right", fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def report(args):
    res = Results(args.results)
    meta = json.load(open(args.meta))
    date = meta["date"].replace(":", "").replace("-", "")[:15]  # 20250101T120000
    os.makedirs(args.out_dir, exist_ok=True)
    base = os.path.join(args.out_dir, date)
    md = []
    md.append(f"# Gregor vs Apache Kafka — {meta['date']}\n")
    md.append(f"Produced by `{args.argv}` ({meta['runs']} round(s), medians; "
              f"{meta['mb_per_producer_run']} MiB payload per producer run"
              f"{', QUICK MODE: numbers are indicative only' if meta.get('quick') else ''}). "
              "Ratios are Gregor ÷ Kafka: above 1 means Gregor is higher (better for throughput, "
              "worse for latency, memory and CPU). Raw per-run results: "
              f"[{os.path.basename(base)}.jsonl]({os.path.basename(base)}.jsonl).\n")
    loads = [r["loadavg1"] for r in res.rows if "loadavg1" in r]
    if loads:
        md.append(f"1-minute load average when loads finished: min {min(loads):.1f}, median "
                  f"{statistics.median(loads):.1f}, max {max(loads):.1f} on {meta.get('nproc')} cores "
                  "(well above the benchmark's own ~2 means other work shared the machine).\n")
    md.append(f"![chart]({os.path.basename(base)}.png)\n")
    md.append("## Machine and versions\n")
    md.append("| | |\n|---|---|")
    for k, label in [("cpu", "CPU"), ("nproc", "cores (nproc)"), ("memory", "memory"), ("disk", "disk (df -hT of the data dir)"),
                     ("disk_dev", "block devices"), ("kernel", "kernel"), ("gregor", "Gregor"), ("kafka", "Kafka"),
                     ("java", "Java (Kafka broker and Java clients)"), ("librdkafka", "librdkafka")]:
        md.append(f"| {label} | {meta.get(k, '')} |")
    md.append("")
    md.append("## Setup (same for both brokers)\n")
    md.append(
        "* One broker at a time on 127.0.0.1, fresh data dir per round, single node (KRaft combined mode for Kafka), "
        "RF 1, no fsync on produce (both defaults: `log.flush.interval.messages` = Long.MAX), "
        "topics created up front with the listed partition count.\n"
        "* Rounds alternate the order (Kafka first in odd rounds, Gregor first in even rounds). "
        "Each broker session starts with an unrecorded warm-up (produce + consume of a quarter of the payload).\n"
        "* Producer settings for every Java load: `acks` as listed, `linger.ms=5 batch.size=65536`, otherwise the "
        "client's defaults: Kafka 4.x producers are idempotent by default, which holds for `acks=all`; with "
        "`acks=1` the client turns idempotence off by itself.\n"
        "* Consume and end-to-end rows use Kafka's own tools, `ConsumerPerformance` (a consumer group, "
        "`subscribe()`) and `EndToEndLatency` (one record at a time, `commitSync()` after each), plus "
        "`bench/java/FixedRateLatency`, an open-loop fixed-rate run Kafka's tools do not offer.\n"
        + ("* **Pinned**: " + meta["pin"] + ".\n" if meta.get("pin") else
           "* Client and broker share the same cores; on a small machine the client's CPU competes with the broker's.\n") +
        "* CPU s/GB = broker utime+stime over the throughput loads (produce, consume, librdkafka; not warm-up or "
        "latency runs) ÷ payload bytes moved in + out. Peak RSS = VmHWM at the end of the session. Startup = "
        "process spawn → first acknowledged produce (acks=all, librdkafka, retried), Kafka's storage format step "
        "not included.\n"
        + ("* **Security**: rows prefixed `SASL_SSL` ran against a broker whose only client listener was SASL_SSL: "
           "TLS with an RSA 2048 server certificate from a CA made for the run (PEM key and trust stores, "
           "hostname verification on), SASL SCRAM-SHA-512 (4096 iterations) for one user created at format time; "
           "every client used security.protocol=SASL_SSL. Unprefixed rows: PLAINTEXT listener.\n"
           if "sasl_ssl" in meta.get("security", "") else ""))

    md.append("## Produce (Kafka ProducerPerformance, `--throughput -1`)\n")
    md.append(table(res, "produce", [("MB/s", "mb_per_s", 1, "higher"), ("p99 ms", "p99_ms", 0, "lower")]))
    md.append("\nRecords/s and more latency percentiles per run are in the jsonl file.\n")
    md.append("## Consume (Kafka ConsumerPerformance, over the acks=1 topics just written)\n")
    md.append(table(res, "consume", [("MB/s", "mb_per_s", 1, "higher"), ("join ms", "rebalance_ms", 0, "lower")],
                    note="MB/s is ConsumerPerformance's `fetch.MB.sec`: from the end of the group join to the last "
                         "record. The join itself (`rebalance.time.ms`, listed) waits "
                         "`group.initial.rebalance.delay.ms` (3 s) on both brokers; `MB.sec` including it is in the "
                         "jsonl file as `mb_per_s_incl_join`."))
    md.append("## librdkafka (confluent-kafka, acks=1, linger.ms=5, 8 partitions, no compression)\n")
    md.append(table(res, "rdkafka", [("MB/s", "mb_per_s", 1, "higher"), ("rec/s", "rec_per_s", 0, "higher")]))
    md.append("## End-to-end latency at a fixed rate (bench/java/FixedRateLatency: open loop, linger.ms=0, "
              "consumer with the default long-poll)\n")
    md.append(table(res, "e2e", [("p50 ms", "p50_ms", 2, "lower"), ("p99 ms", "p99_ms", 2, "lower"),
                                 ("p99.9 ms", "p999_ms", 2, "lower")]))
    md.append("## End-to-end latency, Kafka's EndToEndLatency (closed loop: send, wait for it, commitSync)\n")
    md.append(table(res, "e2e-tool", [("avg ms", "avg_ms", 2, "lower"), ("p50 ms", "p50_ms", 0, "lower"),
                                      ("p99 ms", "p99_ms", 0, "lower"), ("p99.9 ms", "p999_ms", 0, "lower")],
                    note="The tool prints its percentiles as whole milliseconds (truncated), so 0 means under 1 ms."))
    md.append("## Connection set-up (bench/java/ConnectRate: kafka-clients' network layer, connect → ready → close)\n")
    md.append(table(res, "connect", [("conn/s", "conn_per_s", 0, "higher"), ("p50 ms", "p50_ms", 2, "lower"),
                                      ("broker CPU ms/conn", "broker_cpu_ms_per_conn", 3, "lower")],
                    note="Ready = TCP connect, over SASL_SSL the TLS handshake and SaslHandshake + SCRAM-SHA-512 "
                         "(client-first/server-first/client-final/server-final), then one ApiVersions answered; "
                         "then the client closes. Broker CPU per connection = utime+stime over the client's run "
                         "÷ every connection it made (warm-up included). The client's own CPU (TLS, PBKDF2 of the "
                         "password for every connection) shares the machine's cores."))
    md.append("## Broker resources\n")
    md.append(table(res, "resources", [("startup s", "startup_s", 2, "lower"), ("peak RSS MiB", "peak_rss_mb", 0, "lower"),
                                       ("CPU s/GB", "cpu_s_per_gb", 2, "lower")]))

    flames = sorted(glob.glob(args.flamegraphs_glob)) if args.flamegraphs_glob else []
    if flames:
        md.append("## Flame graphs (Gregor, round 1, `perf record --call-graph dwarf -F 199`)\n")
        md.append("Profiled run: perf's sampling costs the broker some CPU, so Gregor's figures above are "
                  "slightly pessimistic.\n")
        for f in flames:
            phase = os.path.basename(f)[len("flame-"):-len(".svg")]
            name = f"{os.path.basename(base)}-flame-{phase}.svg"
            shutil.copy(f, os.path.join(args.out_dir, name))
            md.append(f"* {phase} loads: [{name}]({name})")
        md.append("")

    errs = res.errors()
    md.append("## Failures\n")
    if errs:
        for e in errs:
            md.append(f"* round {e['round']} {e['broker']} `{e['key']}`: {str(e['result'].get('error'))[:400]}")
    else:
        md.append("None: every load completed on both brokers.")
    if args.errors_glob:
        for f in sorted(glob.glob(args.errors_glob)):
            md.append(f"\nError lines in the log of {os.path.basename(f).replace('-errors.txt', '')}:\n")
            md.append("```\n" + open(f).read()[:3000] + "```")
    md.append("")

    md.append("## Exact commands (round 1; ports and temp dirs vary per round)\n")
    md.append("```")
    seen = set()
    for line in open(args.commands):
        kind = line.split(":", 1)[0]
        if kind not in seen:
            seen.add(kind)
            md.append(line.rstrip())
    for test in ["produce", "consume", "rdkafka", "e2e", "e2e-tool", "connect"]:
        for b in ["gregor", "kafka"]:
            c = res.first_cmd(test, b)
            if c:
                md.append(f"{test} ({b}): {c}")
    md.append("```")
    md.append("Every command of every run is in the `cmd` field of the jsonl file. The Kafka broker's "
              "server.properties is the single-node combined-mode file of kafka-reference.md "
              "(plus `num.partitions=1`, `auto.create.topics.enable=true`), logging INFO to a file.\n")

    text = "\n".join(md) + "\n"
    with open(base + ".md", "w") as f:
        f.write(text)
    shutil.copy(args.results, base + ".jsonl")
    try:
        chart(res, base + ".png")
    except Exception as e:  # the table matters more than the picture
        print(f"chart failed: {e}", file=sys.stderr)
    with open(os.path.join(args.out_dir, "latest.md"), "w") as f:
        f.write(text)
    print(base + ".md")
    return 0


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "last-json":
        return last_json(sys.argv[2])
    if len(sys.argv) > 1 and sys.argv[1] == "parse-producer-perf":
        return parse_producer_perf(sys.argv[2], sys.argv[3])
    if len(sys.argv) > 1 and sys.argv[1] == "parse-consumer-perf":
        return parse_consumer_perf(sys.argv[2], sys.argv[3])
    if len(sys.argv) > 1 and sys.argv[1] == "add-broker-cpu":
        return add_broker_cpu(*sys.argv[2:6])
    if len(sys.argv) > 1 and sys.argv[1] == "parse-end-to-end":
        return parse_end_to_end(sys.argv[2])
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["report"])
    ap.add_argument("--results", required=True)
    ap.add_argument("--meta", required=True)
    ap.add_argument("--commands", required=True)
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--errors-glob", default="")
    ap.add_argument("--flamegraphs-glob", default="")
    ap.add_argument("--argv", default="bash bench/run.sh")
    return report(ap.parse_args())


if __name__ == "__main__":
    sys.exit(main())
