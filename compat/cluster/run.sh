#!/usr/bin/env bash
# Runs the cluster tests (compat/cluster/) inside a fresh network namespace.
#   bash compat/cluster/run.sh [pytest args...]           # Gregor (skipped until wired)
#   COMPAT_SERVER=kafka bash compat/cluster/run.sh        # 3-node Apache Kafka 4.4
#   GREGOR_CLUSTER_SOAK=1 COMPAT_SERVER=kafka bash compat/cluster/run.sh -k soak
#   GREGOR_FAULT_SECONDS=600 bash compat/cluster/run.sh -k test_faults   # docs/fault-tests.md
# Needs root (unshare, nft). Dependencies (clients, nftables) are installed before
# entering the namespace, which has no network but its own loopback. The PID
# namespace makes every node die with pytest, whatever happens to it, and the
# nft rules vanish with the network namespace.
# Exit code: pytest's; 5 (nothing collected) when the arguments select no cluster test.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "${COMPAT_DEPS_DONE:-}" = 1 ] || bash scripts/compat-deps.sh
if [ "${COMPAT_SERVER:-gregor}" = kafka ]; then bash compat/kafka_ref.sh fetch >/dev/null; fi
GREGOR_BIN="${GREGOR_BIN:-target/debug/gregor}"
case "$GREGOR_BIN" in /*) ;; *) GREGOR_BIN="$PWD/$GREGOR_BIN" ;; esac
export GREGOR_BIN
PY="$PWD/target/compat-deps/venv/bin/python"
cd compat/cluster
# -n 0 (last, so it wins): nodes use fixed addresses and ports, so one cluster at a time.
PYTEST=("$PY" -m pytest -p no:cacheprovider -q -rfEs "$@" -n 0)
if [ "$(id -u)" = 0 ] && unshare --net --pid --fork --mount-proc true 2>/dev/null; then
  set +e
  unshare --net --pid --fork --mount-proc --kill-child -- \
    env GREGOR_CLUSTER_NETNS=1 bash -c 'ip link set lo up && exec "$@"' netns "${PYTEST[@]}"
  exit $?
fi
# No namespace possible here: the tests skip, saying why.
echo "cluster tests: not root or no unshare; they will be skipped" >&2
set +e
"${PYTEST[@]}"
exit $?
