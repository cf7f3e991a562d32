"""Tests of bench/report.py's parsers: they turn the Kafka tools' text output
into the JSON the report is built from, so a format slip would silently drop
rows. Inputs are lines the Kafka 4.1 and 4.4 tools printed in real runs."""
import json
import os
import subprocess
import sys

REPORT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "report.py")

PRODUCER_LINE = ("200000 records sent, 69108.5 records/sec (67.49 MB/sec), 237.37 ms avg latency, "
                 "477.00 ms max latency, 223 ms 50th, 409 ms 95th, 433 ms 99th, 436 ms 99.9th.")
CONSUMER_CSV = ("2026-11-23 12:10:26:405, 2026-11-23 12:10:30:946, 195.3125, 43.0109, 200000, 44043.1623, "
                "3581, 960, 203.4505, 208333.3333\n")
END_TO_END = "2000\t0.5869\n3000\t0.5248\nAvg latency: 0.8735 ms\nPercentiles: 50th = 0, 99th = 5, 99.9th = 11\n"


def run(*args):
    proc = subprocess.run([sys.executable, REPORT, *args], capture_output=True, text=True)
    return proc.returncode, json.loads(proc.stdout.strip().splitlines()[-1])


def write(tmp_path, text):
    path = tmp_path / "out.txt"
    path.write_text(text)
    return str(path)


def test_producer_summary_line(tmp_path):
    progress = "95000 records sent, 19000.0 records/sec (18.55 MB/sec), 900.1 ms avg latency, 1200.0 ms max latency.\n"
    rc, res = run("parse-producer-perf", write(tmp_path, progress + PRODUCER_LINE + "\n"), "1024")
    assert rc == 0
    assert res["records"] == 200000 and res["mb_per_s"] == 67.49 and res["p99_ms"] == 433 and res["p999_ms"] == 436


def test_producer_output_without_a_summary_is_an_error(tmp_path):
    rc, res = run("parse-producer-perf", write(tmp_path, "WARN something else\n"), "1024")
    assert rc == 1 and "no ProducerPerformance summary" in res["error"]


def test_consumer_csv_reports_the_fetch_rate_not_the_rate_with_the_join(tmp_path):
    rc, res = run("parse-consumer-perf", write(tmp_path, "WARN noise, from the client\n" + CONSUMER_CSV), "200000")
    assert rc == 0
    assert res["mb_per_s"] == 203.4505 and res["mb_per_s_incl_join"] == 43.0109
    assert res["rebalance_ms"] == 3581 and res["records"] == 200000


def test_consumer_that_stopped_short_is_an_error(tmp_path):
    rc, res = run("parse-consumer-perf", write(tmp_path, CONSUMER_CSV), "250000")
    assert rc == 1 and "200000 of 250000" in res["error"]


def test_consumer_output_without_a_csv_line_is_an_error(tmp_path):
    rc, res = run("parse-consumer-perf", write(tmp_path, "Exception in thread main\n"), "1")
    assert rc == 1 and "error" in res


def test_end_to_end_summary(tmp_path):
    rc, res = run("parse-end-to-end", write(tmp_path, END_TO_END))
    assert rc == 0
    assert res == {"avg_ms": 0.8735, "p50_ms": 0, "p99_ms": 5, "p999_ms": 11}


def test_end_to_end_without_percentiles_is_an_error(tmp_path):
    rc, res = run("parse-end-to-end", write(tmp_path, "Avg latency: 0.8735 ms\n"))
    assert rc == 1 and "error" in res


def test_last_json_line_of_a_load_that_prints_its_own_result(tmp_path):
    rc, res = run("last-json", write(tmp_path, '{"progress": 1}\nsome log line\n{"records": 42, "mb_per_s": 9.5}\n'))
    assert rc == 0 and res == {"records": 42, "mb_per_s": 9.5}


def test_a_load_that_printed_no_json_is_an_error(tmp_path):
    rc, res = run("last-json", write(tmp_path, "Traceback: broker went away\n"))
    assert rc == 1 and "broker went away" in res["error"]


# Kafka 4.4's tools print a deprecation warning on stdout, before their results,
# for the flags run.sh keeps for older 4.x releases; the parsers must skip it.
def test_kafka_4_4_output_with_deprecation_warnings(tmp_path):
    producer = ("Option --producer-props has been deprecated and will be removed in a future version. "
                "Use --command-property instead.\n"
                "20000 records sent, 8528.784648 records/sec (0.81 MB/sec), 226.39 ms avg latency, "
                "1226.00 ms max latency, 177 ms 50th, 503 ms 95th, 529 ms 99th, 538 ms 99.9th.\n")
    rc, res = run("parse-producer-perf", write(tmp_path, producer), "100")
    assert rc == 0 and res["records"] == 20000 and res["p999_ms"] == 538
    consumer = ("Warning: --messages is deprecated. Use --num-records instead.\n"
                "2026-12-06 04:51:29:288, 2026-12-06 04:51:32:398, 1.9073, 0.6133, 20000, 6430.8682, "
                "2664, 446, 4.2766, 44843.0493\n")
    rc, res = run("parse-consumer-perf", write(tmp_path, consumer), "20000")
    assert rc == 0 and res["mb_per_s"] == 4.2766 and res["rebalance_ms"] == 2664
    e2e = ("WARNING: Positional argument usage is deprecated and will be removed in Apache Kafka 5.0. "
           "Please use named arguments instead: --bootstrap-server, --topic, --num-records, "
           "--producer-acks, --record-size, --command-config\n"
           'Topic "bt2" does not exist. Will create topic with 1 partition(s) and replication factor = 1\n'
           "0\t149.668022\nAvg latency: 8.3701 ms\nPercentiles: 50th = 5, 99th = 56, 99.9th = 149\n")
    rc, res = run("parse-end-to-end", write(tmp_path, e2e))
    assert rc == 0 and res == {"avg_ms": 8.3701, "p50_ms": 5, "p99_ms": 56, "p999_ms": 149}


# bench/java/ConnectRate's line (a real run against Kafka 4.4 over SASL_SSL on
# a busy machine) and the broker's CPU ticks around it: CPU per connection
# counts every connection the broker set up, warm-up included.
CONNECT_LINE = ('{"connections": 4, "warmup_connections": 0, "threads": 1, "seconds": 13.460, "conn_per_s": 0.3, '
                '"p50_ms": 1141.64, "p99_ms": 9584.44, "max_ms": 9584.44, "security_protocol": "SASL_SSL"}')


def add_cpu(line, t0, t1, tck="100"):
    proc = subprocess.run([sys.executable, REPORT, "add-broker-cpu", line, t0, t1, tck], capture_output=True, text=True)
    return proc.returncode, json.loads(proc.stdout.strip().splitlines()[-1])


def test_connect_rate_gets_the_broker_cpu_per_connection():
    rc, res = add_cpu(CONNECT_LINE, "1200", "1208")
    assert rc == 0
    assert res["broker_cpu_s"] == 0.08 and res["broker_cpu_ms_per_conn"] == 20.0
    assert res["conn_per_s"] == 0.3 and res["security_protocol"] == "SASL_SSL"


def test_connect_rate_divides_by_the_warm_up_connections_too():
    line = json.loads(CONNECT_LINE)
    line.update({"connections": 1000, "warmup_connections": 200})
    rc, res = add_cpu(json.dumps(line), "0", "300")
    assert rc == 0 and res["broker_cpu_ms_per_conn"] == 2.5


def test_a_failed_connect_run_stays_an_error():
    err = '{"error": "java.io.IOException: Connection to 127.0.0.1:49945 (id: 1000000 rack: null isFenced: false) failed."}'
    rc, res = add_cpu(err, "0", "10")
    assert rc == 1 and "failed" in res["error"] and "broker_cpu_s" not in res
    rc, res = add_cpu('{"error": "exit 1: Exception in thread main"}', "0", "10")
    assert rc == 1 and "Exception" in res["error"]
