#!/usr/bin/env bash
# Runs the real-client compatibility suite against a real Gregor broker.
#   GREGOR_BIN=target/debug/gregor bash compat/run.sh [pytest args...]
# Installs/updates the clients first (scripts/compat-deps.sh, cached in target/compat-deps).
# With COMPAT_BOOTSTRAP=host:port the tests that need no process control run against an
# already-running broker instead (e.g. Apache Kafka from compat/kafka_ref.sh).
# --dist loadgroup: tests marked xdist_group("name") share one pytest worker (e.g. one
# Kafka Connect JVM for test_connect.py); the rest are spread as by default.
# With them, the cluster tests under compat/cluster/run.sh (a private network namespace).
# Exit code: pytest's (the first failing part's).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/compat-deps.sh
GREGOR_BIN="${GREGOR_BIN:-target/debug/gregor}"
case "$GREGOR_BIN" in /*) ;; *) GREGOR_BIN="$PWD/$GREGOR_BIN" ;; esac
export GREGOR_BIN
# The cluster tests (compat/cluster/) run in their own network namespace, so they run
# alongside the single-node tests: not against an external broker, and not when the
# arguments name test files or ids. Much of their time is spent waiting out session
# timeouts, failovers and retention, which leaves CPU for the other suite (together
# about 20 min instead of 30 on two cores). Their output is shown when both are done;
# COMPAT_CLUSTER_SERIAL=1 runs them after the single-node tests instead.
cluster_rc=5
explicit=0
for a in "$@"; do case "$a" in *.py|*.py::*|*::*) explicit=1 ;; esac; done
run_cluster=0
if [ -z "${COMPAT_BOOTSTRAP:-}" ] && [ "$explicit" = 0 ]; then run_cluster=1; fi
cluster_log="$PWD/target/compat-cluster.log"
cluster_pid=
if [ "$run_cluster" = 1 ] && [ "${COMPAT_CLUSTER_SERIAL:-}" != 1 ]; then
  # In its own process group, so whatever ends this script ends the whole cluster
  # run too. SIGKILL: unshare --fork ignores SIGTERM; once it dies, its child (the
  # namespace's init) is killed and every node with it.
  COMPAT_DEPS_DONE=1 setsid bash compat/cluster/run.sh "$@" >"$cluster_log" 2>&1 &
  cluster_pid=$!
  trap '[ -n "$cluster_pid" ] && kill -KILL -- "-$cluster_pid" 2>/dev/null' EXIT
  trap 'exit 143' TERM INT HUP
  echo "cluster tests: running alongside (log: $cluster_log)"
fi
cd compat
set +e
../target/compat-deps/venv/bin/python -m pytest -p no:cacheprovider -n 2 --dist loadgroup -q -rfEs --ignore=cluster "$@"
rc=$?
cd ..
if [ -n "$cluster_pid" ]; then
  wait "$cluster_pid"
  cluster_rc=$?
  cluster_pid=
  echo "== cluster tests (compat/cluster/)"
  cat "$cluster_log"
elif [ "$run_cluster" = 1 ]; then
  COMPAT_DEPS_DONE=1 bash compat/cluster/run.sh "$@"
  cluster_rc=$?
fi
# pytest's 5 means "nothing selected": fine for one part when the other ran tests.
if [ "$rc" != 0 ] && [ "$rc" != 5 ]; then exit "$rc"; fi
if [ "$cluster_rc" != 0 ] && [ "$cluster_rc" != 5 ]; then exit "$cluster_rc"; fi
if [ "$rc" = 5 ] && [ "$cluster_rc" = 5 ]; then exit 5; fi
exit 0
