"""Times partition creation on one Gregor broker (issue 18): create N
partitions in topics of --per-topic partitions (requests kept under Kafka's
10,000 records), then RSS, open fds, disk of the empty partitions, Metadata
of all topics, and restart-to-first-produce. One line of JSON per size.

    python bench/scale/create_timing.py --bin target/release/gregor --sizes 1000 10000

bench/scale.sh (owned by the bench helper) runs the Kafka side by side; this
is the quick loop used while changing the broker's creation path."""

import argparse, json, os, shutil, signal, socket, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "compat"))
from conftest import free_port  # noqa: E402  (claims the port, as the tests do)

from kafka import KafkaProducer  # noqa: E402
from kafka.admin import KafkaAdminClient, NewTopic  # noqa: E402

MAX_RECORDS = 10_000


def wait_port(port, proc, secs=60):
    deadline = time.time() + secs
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"gregor exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.01)
    raise SystemExit("gregor did not listen")


def start(binary, port, data):
    return subprocess.Popen(
        [binary, "server", "--set", f"listeners=PLAINTEXT://127.0.0.1:{port}",
         "--set", f"log.dirs={data}"],
        stdout=subprocess.DEVNULL, stderr=open(os.path.join(os.path.dirname(data), "broker.log"), "a"))


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return -1


def du_kib(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.stat(os.path.join(root, f)).st_blocks * 512
            except FileNotFoundError:
                pass
    return total // 1024


def first_produce(port, topic, secs=120):
    deadline = time.time() + secs
    while time.time() < deadline:
        try:
            producer = KafkaProducer(bootstrap_servers=f"127.0.0.1:{port}", acks=1,
                                     request_timeout_ms=5000, max_block_ms=5000)
            producer.send(topic, b"x", partition=0).get(timeout=10)
            producer.close()
            return
        except Exception:
            time.sleep(0.05)
    raise SystemExit("no produce after restart")


def measure(binary, partitions, per_topic):
    work = tempfile.mkdtemp(prefix="gregor-scale-")
    data = os.path.join(work, "data")
    port = free_port()
    proc = start(binary, port, data)
    try:
        wait_port(port, proc)
        admin = KafkaAdminClient(bootstrap_servers=f"127.0.0.1:{port}", request_timeout_ms=120_000)
        sizes = []
        left = partitions
        while left > 0:
            sizes.append(min(per_topic, left))
            left -= sizes[-1]
        topics = [NewTopic(f"scale-{i}", n, 1) for i, n in enumerate(sizes)]
        batches, batch, records = [], [], 0
        for t in topics:
            if records + t.num_partitions + 1 > MAX_RECORDS and batch:
                batches.append(batch)
                batch, records = [], 0
            batch.append(t)
            records += t.num_partitions + 1
        batches.append(batch)
        t0 = time.time()
        for b in batches:
            admin.create_topics(b, timeout_ms=120_000)
        created_s = time.time() - t0
        t1 = time.time()
        described = admin.describe_topics([t.name for t in topics])
        metadata_s = time.time() - t1
        leaders = sum(1 for t in described for p in t["partitions"] if p.get("leader", p.get("leader_id", -1)) >= 0)
        fds = len(os.listdir(f"/proc/{proc.pid}/fd"))
        rss = rss_kib(proc.pid)
        disk = du_kib(data)
        admin.close()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=300)
        t2 = time.time()
        proc = start(binary, port, data)
        wait_port(port, proc)
        first_produce(port, topics[-1].name)
        restart_s = time.time() - t2
        return {
            "partitions": partitions, "topics": len(topics), "requests": len(batches),
            "create_s": round(created_s, 3), "ms_per_partition": round(created_s * 1000 / partitions, 4),
            "leaders": leaders, "metadata_all_s": round(metadata_s, 3),
            "rss_mib": round(rss / 1024, 1), "open_fds": fds, "disk_kib": disk,
            "restart_to_first_produce_s": round(restart_s, 3),
        }
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(work, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default="target/release/gregor")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000])
    parser.add_argument("--per-topic", type=int, default=5000)
    args = parser.parse_args()
    for n in args.sizes:
        print(json.dumps(measure(args.bin, n, args.per_topic)), flush=True)


if __name__ == "__main__":
    main()
