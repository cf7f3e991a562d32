#!/usr/bin/env bash
# Controller failover and metadata propagation on a 3-node cluster (bench/cluster.py),
# inside a private network namespace like the cluster tests (root, unshare).
#   bash bench/cluster.sh --server kafka [--failovers 5] [--topics 30] [--out FILE]
#   bash bench/cluster.sh --server gregor      # once GREGOR_CLUSTER_READY is flipped
# Not part of ./scripts/test. Uses the compat suite's venv and tools
# (scripts/compat-deps.sh) and Kafka's jars (compat/kafka_ref.sh fetch).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/compat-deps.sh >/dev/null
bash compat/kafka_ref.sh fetch >/dev/null
GREGOR_BIN="${GREGOR_BIN:-$PWD/target/release/gregor}"
export GREGOR_BIN
exec unshare --net --pid --fork --mount-proc --kill-child -- \
  env GREGOR_CLUSTER_NETNS=1 bash -c 'ip link set lo up && exec "$@"' netns \
  "$PWD/target/compat-deps/venv/bin/python" bench/cluster.py "$@"
