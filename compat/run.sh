#!/usr/bin/env bash
# Runs the real-client compatibility suite against a real Gregor broker.
#   GREGOR_BIN=target/debug/gregor bash compat/run.sh [pytest args...]
# Installs/updates the clients first (scripts/compat-deps.sh, cached in target/compat-deps).
# With COMPAT_BOOTSTRAP=host:port the tests that need no process control run against an
# already-running broker instead (e.g. Apache Kafka from compat/kafka_ref.sh).
# --dist loadgroup: tests marked xdist_group("name") share one pytest worker (e.g. one
# Kafka Connect JVM for test_connect.py); the rest are spread as by default.
# Then the cluster tests under compat/cluster/run.sh (a private network namespace).
# Exit code: pytest's (the first failing part's).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/compat-deps.sh
GREGOR_BIN="${GREGOR_BIN:-target/debug/gregor}"
case "$GREGOR_BIN" in /*) ;; *) GREGOR_BIN="$PWD/$GREGOR_BIN" ;; esac
export GREGOR_BIN
cd compat
set +e
../target/compat-deps/venv/bin/python -m pytest -p no:cacheprovider -n 2 --dist loadgroup -q -rfEs --ignore=cluster "$@"
rc=$?
cd ..
# The cluster tests (compat/cluster/) run apart, in their own network namespace; not
# against an external broker, and not when the arguments name test files or ids.
cluster_rc=5
explicit=0
for a in "$@"; do case "$a" in *.py|*.py::*|*::*) explicit=1 ;; esac; done
if [ -z "${COMPAT_BOOTSTRAP:-}" ] && [ "$explicit" = 0 ]; then
  COMPAT_DEPS_DONE=1 bash compat/cluster/run.sh "$@"
  cluster_rc=$?
fi
# pytest's 5 means "nothing selected": fine for one part when the other ran tests.
if [ "$rc" != 0 ] && [ "$rc" != 5 ]; then exit "$rc"; fi
if [ "$cluster_rc" != 0 ] && [ "$cluster_rc" != 5 ]; then exit "$cluster_rc"; fi
if [ "$rc" = 5 ] && [ "$cluster_rc" = 5 ]; then exit 5; fi
exit 0
