#!/usr/bin/env bash
# Scale benchmark (issue 18): Gregor (release build) vs Apache Kafka 4.4, one single-node broker
# at a time, costs against partitions, idle connections, consumer groups and data.
# See bench/scale.py (what is measured), bench/README.md "Scale" and bench/NOTES.md.
#
#   bash bench/scale.sh                                          # every dimension, every size (hours)
#   bash bench/scale.sh --dims partitions --sizes 1000,10000     # a bounded subset
#   bash bench/scale.sh --dims connections,groups --only gregor
#   bash bench/scale.sh --dims data --sizes 5                    # GiB across 1,000 partitions
#
# Not part of ./scripts/test. Fetches Kafka's broker jars as bench/share_groups.sh does (or uses
# the compat suite's target/kafka-ref/libs), a venv with confluent-kafka and matplotlib
# (bench/requirements.txt), and builds the release binary. Results are appended to
# bench/results/scale/<stamp>.jsonl; latest.md and <dim>.png are rebuilt from every jsonl there.
set -euo pipefail
cd "$(dirname "$0")/.."
DEPS="$PWD/target/bench-deps"
KDIR="$DEPS/kafka-4.4.0"
# Kafka holds a file descriptor per segment and maps two index files per partition: the fd
# limit decides how many partitions it can open. Raise it as far as this user may (the hard
# limit; root without CAP_SYS_RESOURCE cannot go beyond it). vm.max_map_count is a sysctl.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
echo "scale.sh: ulimit -n $(ulimit -n), vm.max_map_count $(cat /proc/sys/vm/max_map_count)" >&2
case " $* " in *" --only kafka "*) ;; *) cargo build --release -p gregor >&2 ;; esac
KAFKA_LIBS="$KDIR/broker"
if [ ! -f "$KAFKA_LIBS/.stamp" ]; then
  if [ -f "$PWD/target/kafka-ref/libs/kafka_2.13-4.4.0.jar" ]; then
    KAFKA_LIBS="$PWD/target/kafka-ref/libs"
  else
    rm -rf "${KAFKA_LIBS:?}"; mkdir -p "$KAFKA_LIBS"
    (cd bench/deps/kafka && mvn -q -B dependency:copy-dependencies -Dkafka.version=4.4.0 \
      -DincludeScope=runtime -DoutputDirectory="$KAFKA_LIBS") >&2
    touch "$KAFKA_LIBS/.stamp"
  fi
fi
VENV="$DEPS/venv"
if ! "$VENV/bin/python" -c "import confluent_kafka, matplotlib" 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q -r bench/requirements.txt >&2
fi
exec "$VENV/bin/python" bench/scale.py --kafka-libs "$KAFKA_LIBS" "$@"
