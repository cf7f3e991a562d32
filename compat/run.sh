#!/usr/bin/env bash
# Runs the real-client compatibility suite against a real Gregor broker.
#   GREGOR_BIN=target/debug/gregor bash compat/run.sh [pytest args...]
# Installs/updates the clients first (scripts/compat-deps.sh, cached in target/compat-deps).
# With COMPAT_BOOTSTRAP=host:port the tests that need no process control run against an
# already-running broker instead (e.g. Apache Kafka from compat/kafka_ref.sh).
# Exit code: pytest's.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/compat-deps.sh
GREGOR_BIN="${GREGOR_BIN:-target/debug/gregor}"
case "$GREGOR_BIN" in /*) ;; *) GREGOR_BIN="$PWD/$GREGOR_BIN" ;; esac
export GREGOR_BIN
cd compat
set +e
../target/compat-deps/venv/bin/python -m pytest -p no:cacheprovider -n 2 -q -rfEs "$@"
exit $?
