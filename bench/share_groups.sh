#!/usr/bin/env bash
# Share-group consumer benchmark: Gregor (release build) vs Apache Kafka 4.4, 4 share
# consumers on 1 and 8 partitions. See bench/share_groups.py and docs/benchmarks.md.
#
#   bash bench/share_groups.sh                                  # 500,000 records of 100 B, 3 rounds
#   bash bench/share_groups.sh --records 200000 --rounds 1 --only kafka
#
# Not part of ./scripts/test. Fetches what bench/compaction.sh fetches (Kafka's broker and
# tools jars from Maven Central into target/bench-deps/, shared with it) and builds the
# release binary (skipped with --only kafka); brokers listen on 127.0.0.1 and are always
# stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
KDIR="$PWD/target/bench-deps/kafka-4.4.0"
case " $* " in *" --only kafka "*) ;; *) cargo build --release -p gregor >&2 ;; esac
for part in broker tools; do
  pomdir=kafka; [ "$part" = tools ] && pomdir=tools
  if [ ! -f "$KDIR/$part/.stamp" ]; then
    rm -rf "${KDIR:?}/$part"; mkdir -p "$KDIR/$part"
    (cd "bench/deps/$pomdir" && mvn -q -B dependency:copy-dependencies -Dkafka.version=4.4.0 \
      -DincludeScope=runtime -DoutputDirectory="$KDIR/$part") >&2
    touch "$KDIR/$part/.stamp"
  fi
done
exec python3 bench/share_groups.py "$@"
