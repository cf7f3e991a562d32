#!/usr/bin/env python3
"""Tables and plots of the scale benchmark (bench/scale.py) from every *.jsonl in a folder:
per dimension a markdown table (size x broker, and Gregor/Kafka ratios) in latest.md and a
plot <dim>.png of each cost against size for both brokers (when matplotlib is installed).

    python3 bench/scale_report.py [bench/results/scale]
"""

import json
import sys
from pathlib import Path

# Per dimension: (key, column title) in table order. The first columns are the goals' measures.
COLUMNS = {
    "partitions": [
        ("create_leaders_s", "create + leaders (s)"), ("create_cpu_s", "create CPU s"),
        ("rss_mib", "RSS (MiB)"), ("rss_per_partition_kib", "RSS per partition (KiB)"), ("fds", "open fds"),
        ("disk_mib", "disk, empty (MiB)"), ("metadata_ms", "Metadata all (ms)"),
        ("metadata_bytes", "Metadata bytes"), ("produce_records_per_s", "produce rec/s"),
        ("produce_cpu_s", "produce CPU s"), ("consume_records_per_s", "consume rec/s"),
        ("consume_cpu_s", "consume CPU s"), ("restart_first_produce_s", "restart -> produce (s)"),
        ("rss_restarted_mib", "RSS restarted (MiB)"),
    ],
    "connections": [
        ("accept_per_s", "connections/s"), ("open_cpu_s", "CPU s to open"), ("rss_mib", "RSS (MiB)"),
        ("rss_per_connection_kib", "RSS per connection (KiB)"), ("fds", "open fds"),
        ("probe_idle_p99_ms", "probe p99 alone (ms)"), ("probe_p99_ms", "probe p99 with them (ms)"),
        ("probe_p50_ms", "probe p50 with them (ms)"), ("still_open", "still open"),
    ],
    "groups": [
        ("commits_per_s", "commits/s"), ("commit_cpu_s", "commit CPU s"), ("rss_mib", "RSS (MiB)"),
        ("rss_per_group_kib", "RSS per group (KiB)"), ("offset_fetch_p50_ms", "OffsetFetch p50 (ms)"),
        ("offset_fetch_p99_ms", "OffsetFetch p99 (ms)"), ("restart_groups_served_s", "restart -> groups served (s)"),
        ("rss_restarted_mib", "RSS restarted (MiB)"), ("after_restart_offset_fetch_p99_ms", "OffsetFetch p99 restarted (ms)"),
    ],
    "data": [
        ("fill_mb_per_s", "fill MB/s"), ("fill_cpu_s", "fill CPU s"), ("disk_mib", "disk (MiB)"),
        ("rss_mib", "RSS (MiB)"), ("fds", "open fds"), ("restart_first_produce_s", "kill -9 -> first produce (s)"),
        ("restart_all_partitions_s", "kill -9 -> all 1k partitions produced (s)"),
        ("rss_restarted_mib", "RSS restarted (MiB)"),
    ],
}
# Ratio columns (Gregor / Kafka) shown per size: the goals of issue 18.
RATIOS = {
    "partitions": ["create_leaders_s", "rss_per_partition_kib", "restart_first_produce_s"],
    "connections": ["rss_per_connection_kib"],
    "groups": ["rss_per_group_kib", "restart_groups_served_s"],
    "data": ["restart_first_produce_s", "restart_all_partitions_s"],
}
BROKERS = ["gregor", "kafka"]


def load(folder):
    rows = []
    for path in sorted(Path(folder).glob("*.jsonl")):
        for line in path.read_text().splitlines():
            if line.strip():
                rows.append(json.loads(line))
    return rows


def latest(rows):
    """{(dim, size, broker): row}: the newest successful run, else the newest failure."""
    best = {}
    for r in rows:
        key = (r["dim"], r["size"], r["broker"])
        old = best.get(key)
        if old is None or ("error" in old) >= ("error" in r):
            best[key] = r
    return best


def fmt(v):
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:,.3g}" if abs(v) < 100 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def table(dim, best):
    cols = COLUMNS[dim]
    sizes = sorted({s for d, s, _ in best if d == dim})
    lines = ["| size | broker | " + " | ".join(t for _, t in cols) + " | load avg | commit |",
             "|---|---|" + "---|" * (len(cols) + 2)]
    notes = []
    for size in sizes:
        for broker in BROKERS:
            r = best.get((dim, size, broker))
            if r is None:
                continue
            cells = [fmt(r.get(k)) for k, _ in cols]
            load = f"{r.get('loadavg1_start', '')}-{r.get('loadavg1_end', '')}"
            lines.append(f"| {size:,} | {broker} | " + " | ".join(cells) + f" | {load} | {r.get('commit', '')} |")
            if "error" in r:
                notes.append(f"- {broker} at {size:,}: **failed**: {r['error'][:400]}")
            for key in ("note", "spread_skipped", "consume_note"):
                if key in r:
                    notes.append(f"- {broker} at {size:,}: {r[key]}")
        ratios = ratio_cells(dim, best, size)
        if ratios:
            notes.append(f"- {size:,}: Gregor / Kafka " + ", ".join(ratios))
    return lines, notes


def ratio_cells(dim, best, size):
    g, k = best.get((dim, size, "gregor")), best.get((dim, size, "kafka"))
    if not g or not k:
        return []
    out = []
    for key in RATIOS[dim]:
        gv, kv = g.get(key), k.get(key)
        if isinstance(gv, (int, float)) and isinstance(kv, (int, float)) and kv > 0:
            out.append(f"{key} {gv / kv:.2f}x")
    return out


def plot(dim, best, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    cols = [(k, t) for k, t in COLUMNS[dim] if any(isinstance(r.get(k), (int, float)) for (d, _, _), r in best.items()
                                                    if d == dim)]
    if not cols:
        return False
    n = len(cols)
    ncols = 3
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.2 * nrows), squeeze=False)
    for ax, (key, title) in zip(axes.flat, cols):
        for broker, style in zip(BROKERS, ["o-", "s--"]):
            pts = sorted((s, r[key]) for (d, s, b), r in best.items()
                         if d == dim and b == broker and isinstance(r.get(key), (int, float)))
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], style, label=broker)
        ax.set_title(title, fontsize=9)
        ax.set_xscale("log")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.suptitle(f"scale: {dim} (x: size, log scale)")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return True


def render(rows, folder):
    best = latest(rows)
    lines = ["# Scale benchmark (issue 18): Gregor vs Kafka 4.4, one broker", "",
             "Generated by `bench/scale_report.py` from every `*.jsonl` here (the newest successful run per "
             "dimension, size and broker). How to run and what is measured: bench/README.md \"Scale\"; "
             "what the numbers mean: bench/NOTES.md. Shared 2-core machine: load average per row.", ""]
    for dim in COLUMNS:
        if not any(d == dim for d, _, _ in best):
            continue
        t, notes = table(dim, best)
        lines += [f"## {dim}", ""] + t + [""] + notes
        if plot(dim, best, Path(folder) / f"{dim}.png"):
            lines += ["", f"![{dim}]({dim}.png)"]
        lines.append("")
    return "\n".join(lines)


def write(folder):
    text = render(load(folder), folder)
    (Path(folder) / "latest.md").write_text(text)
    print(text)


if __name__ == "__main__":
    write(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent / "results" / "scale")
