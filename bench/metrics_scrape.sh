#!/usr/bin/env bash
# Scrape cost of /metrics (issue 16): throughput and broker CPU/GB with /metrics
# scraped every second vs not. See bench/metrics_scrape.py and docs/benchmarks.md.
#
#   bash bench/metrics_scrape.sh                     # 3 rounds of 5M x 100 B records
#   bash bench/metrics_scrape.sh --rounds 5 --records 5000000
#   bash bench/metrics_scrape.sh --rate 20000 --record-size 1024 --seconds 60 --rounds 5   # fixed rate
#
# Fixed-rate mode runs Kafka's ProducerPerformance: its jars from target/bench-deps (fetched by
# bench/share_groups.sh or run.sh) or, if absent, the compat suite's target/compat-deps copy.
#
# Not part of ./scripts/test. Builds the release binary; brokers listen on
# 127.0.0.1 and are always stopped. Results go to bench/results/metrics/.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p gregor >&2
TOOLS=target/bench-deps/kafka-4.4.0/tools
[ -f "$TOOLS/.stamp" ] || TOOLS=target/compat-deps/kafka-tools/libs
exec python3 bench/metrics_scrape.py --tools-libs "$TOOLS" "$@"
