#!/usr/bin/env bash
# Cleaner benchmark: Gregor (release build) vs Apache Kafka 4.4 on the same
# keyed data. See bench/compaction.py and docs/benchmarks.md.
#
#   bash bench/compaction.sh                       # 512 MiB, 50,000 keys
#   bash bench/compaction.sh --mb 1024 --keys 100000 --probe-seconds 20
#
# Not part of ./scripts/test. Fetches what bench/run.sh fetches (Kafka jars
# from Maven Central into target/bench-deps/, shared with it), builds the
# release binary, compiles bench/java; brokers listen on 127.0.0.1 and are
# always stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
KDIR="$PWD/target/bench-deps/kafka-4.4.0"
cargo build --release -p gregor >&2
for part in broker tools; do
  pomdir=kafka; [ "$part" = tools ] && pomdir=tools
  if [ ! -f "$KDIR/$part/.stamp" ]; then
    rm -rf "${KDIR:?}/$part"; mkdir -p "$KDIR/$part"
    (cd "bench/deps/$pomdir" && mvn -q -B dependency:copy-dependencies -Dkafka.version=4.4.0 \
      -DincludeScope=runtime -DoutputDirectory="$KDIR/$part") >&2
    touch "$KDIR/$part/.stamp"
  fi
done
mkdir -p "$KDIR/classes"
javac -d "$KDIR/classes" -cp "$KDIR/tools/*" bench/java/*.java
exec python3 bench/compaction.py "$@"
