#!/usr/bin/env bash
# Installs everything the real-client compatibility suite (compat/) needs, from
# the ordinary package registries only, cached under target/compat-deps/:
#   venv/            Python venv: pytest, pytest-xdist, confluent-kafka, kafka-python,
#                    cryptography (the security tests' certificates)
#   venv playwright  Playwright for Python (PyPI; its wheel bundles its node driver) for the
#                    console's browser tests (compat/test_console.py); no `playwright install`
#   chromium         Debian package (apt-get), when /usr/bin/chromium is absent: the browser
#                    Playwright drives (executable_path)
#   kcat             Debian package (apt-get), when `kcat` is not on PATH
#   nft              Debian package nftables (apt-get), when `nft` is not on PATH:
#                    the cluster tests' network partitions (compat/cluster/)
#   prometheus       Debian package (apt-get, no recommends), when `prometheus` is not on
#                    PATH: compat/test_metrics.py evaluates alert rules against /metrics
#   java/libs        kafka-clients 4.x + slf4j-nop (Maven Central, compat/java/pom.xml)
#   java/classes     compat/java/*.java compiled, packed as java/compat-clients.jar
#   cds/             AppCDS archives for the tools' and clients' JVMs (compat/jvm.py)
#   streams/libs     Kafka Streams 4.4.0 + deps (Maven Central, compat/streams/pom.xml)
#   streams/classes  compat/streams/*.java compiled (compat/test_streams.py)
#   kafka-tools/libs Apache Kafka's own CLI tools 4.4.0 (kafka-tools + deps, Maven
#                    Central, compat/tools/pom.xml) for compat/test_kafka_tools.py
#   connect/libs     Kafka Connect 4.4.0 (connect-runtime, -transforms, -json + log4j2;
#                    Maven Central, compat/connect/pom.xml) for compat/test_connect.py
#   connect/plugins/connect-file  the FileStream connectors 4.3.1 as a Connect plugin
#                    (compat/connect/file-plugin/pom.xml; the worker's plugin.path is
#                    connect/plugins)
#   mirror/libs      MirrorMaker 2 (connect-mirror, -mirror-client, connect-runtime; the
#                    newest Maven Central serves, compat/mirror/pom.xml)
#   mirror/classes   compat/mirror/*.java compiled, for compat/test_mirrormaker.py
#   bin/franz-compat franz-go client (Go module proxy, compat/go)
#   compat/node/node_modules  kafkajs (npm, compat/node/package-lock.json)
# Idempotent: each step is skipped when a stamp keyed by the hash of its inputs
# is already there. Prints one line per step.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
DEPS="$ROOT/target/compat-deps"
STAMPS="$DEPS/stamps"
mkdir -p "$STAMPS" "$DEPS/bin"

hash_of() { cat "$@" | sha256sum | cut -c1-16; }
fresh() { [ -f "$STAMPS/$1" ] && [ "$(cat "$STAMPS/$1")" = "$2" ]; }
stamp() { echo "$2" > "$STAMPS/$1"; }
log() { echo "compat-deps: $*"; }
run_quiet() { # run a command, show its output only when it fails
  local out
  if ! out=$("$@" 2>&1); then
    echo "$out" | tail -40 >&2
    return 1
  fi
}

# maven_libs STAMP LABEL POM_DIR OUT_DIR: the runtime jars of POM_DIR/pom.xml from
# Maven Central into OUT_DIR, fetched again only when the pom changes.
maven_libs() {
  local stamp_name=$1 label=$2 pom_dir=$3 out=$4 h
  h=$(hash_of "$pom_dir/pom.xml")
  if fresh "$stamp_name" "$h" && [ -d "$out" ]; then
    log "$label: up to date"
  else
    rm -rf "$out"
    (cd "$pom_dir" && run_quiet mvn -q -B dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$out")
    stamp "$stamp_name" "$h"
    log "$label: downloaded ($(ls "$out" | wc -l) jars)"
  fi
}

# ---- Python venv -------------------------------------------------------------
PY_REQS="pytest==8.4.2 pytest-xdist==3.8.0 confluent-kafka==2.16.2 kafka-python[lz4,snappy,zstd]==3.0.12 cryptography==46.0.3"
h=$(echo "$PY_REQS" | sha256sum | cut -c1-16)
if fresh venv "$h" && [ -x "$DEPS/venv/bin/python" ]; then
  log "python venv: up to date"
else
  [ -x "$DEPS/venv/bin/python" ] || python3 -m venv "$DEPS/venv"
  # python -m pip: a venv copied from another checkout keeps pip scripts whose shebang
  # points at the original venv.
  # shellcheck disable=SC2086
  run_quiet "$DEPS/venv/bin/python" -m pip install -q --disable-pip-version-check $PY_REQS
  stamp venv "$h"
  log "python venv: installed ($PY_REQS)"
fi

# ---- Playwright + Debian's Chromium (the console's browser tests) ---------------
# Its own stamp, so adding it does not reinstall the venv's other packages.
PW_REQS="playwright==1.65.2"
h=$(echo "$PW_REQS" | sha256sum | cut -c1-16)
if fresh playwright "$h" && "$DEPS/venv/bin/python" -c "import playwright" 2>/dev/null; then
  log "playwright: up to date"
else
  run_quiet "$DEPS/venv/bin/python" -m pip install -q --disable-pip-version-check $PW_REQS
  stamp playwright "$h"
  log "playwright: installed ($PW_REQS)"
fi
if [ -x /usr/bin/chromium ]; then
  log "chromium: present"
else
  if ! apt-get install -y -q chromium >/dev/null 2>&1; then
    run_quiet apt-get update -q
    run_quiet apt-get install -y -q chromium
  fi
  log "chromium: installed with apt-get"
fi

# ---- kcat ----------------------------------------------------------------------
if command -v kcat >/dev/null 2>&1; then
  log "kcat: present ($(command -v kcat))"
else
  if ! apt-get install -y -q kcat >/dev/null 2>&1; then
    run_quiet apt-get update -q
    run_quiet apt-get install -y -q kcat
  fi
  log "kcat: installed with apt-get"
fi

# ---- nftables (partitions in the cluster tests' private network namespace) ------------
if command -v nft >/dev/null 2>&1; then
  log "nftables: present ($(command -v nft))"
else
  if ! apt-get install -y -q nftables >/dev/null 2>&1; then
    run_quiet apt-get update -q
    run_quiet apt-get install -y -q nftables
  fi
  log "nftables: installed with apt-get"
fi

# ---- prometheus (real scrapes and alert expressions in compat/test_metrics.py) --------
if command -v prometheus >/dev/null 2>&1; then
  log "prometheus: present ($(command -v prometheus))"
else
  # Without recommends: the exporters it suggests are not needed, and a
  # package's service is never started here (no init system).
  if ! apt-get install -y -q --no-install-recommends prometheus >/dev/null 2>&1; then
    run_quiet apt-get update -q
    run_quiet apt-get install -y -q --no-install-recommends prometheus
  fi
  log "prometheus: installed with apt-get"
fi

# ---- Java kafka-clients ------------------------------------------------------------
maven_libs java-libs "java libs" compat/java "$DEPS/java/libs"
h=$(hash_of compat/java/pom.xml compat/java/*.java)
if fresh java-classes "$h" && [ -f "$DEPS/java/compat-clients.jar" ]; then
  log "java classes: up to date"
else
  rm -rf "$DEPS/java/classes" "$DEPS/java/compat-clients.jar"
  mkdir -p "$DEPS/java/classes"
  run_quiet javac -nowarn -d "$DEPS/java/classes" -cp "$DEPS/java/libs/*" compat/java/*.java
  # In a jar: class-data sharing (below) takes no classes from a directory.
  run_quiet jar cf "$DEPS/java/compat-clients.jar" -C "$DEPS/java/classes" .
  stamp java-classes "$h"
  log "java classes: compiled"
fi

# ---- Kafka Streams (compat/test_streams.py) -------------------------------------------
maven_libs streams-libs "streams libs" compat/streams "$DEPS/streams/libs"
h=$(hash_of compat/streams/pom.xml compat/streams/*.java)
if fresh streams-classes "$h" && [ -d "$DEPS/streams/classes" ]; then
  log "streams classes: up to date"
else
  rm -rf "$DEPS/streams/classes"
  mkdir -p "$DEPS/streams/classes"
  run_quiet javac -nowarn -d "$DEPS/streams/classes" -cp "$DEPS/streams/libs/*" compat/streams/*.java
  stamp streams-classes "$h"
  log "streams classes: compiled"
fi

# ---- Kafka's own tools (kafka-topics, kafka-configs, ...) ---------------------------
maven_libs kafka-tools "kafka tools" compat/tools "$DEPS/kafka-tools/libs"

# ---- Class-data sharing for the short-lived JVMs (compat/jvm.py) ---------------------
# An AppCDS archive per classpath, from the classes a few training runs load (they talk
# to a closed port and give up quickly: start-up, client and network classes are what
# they share with the real runs). A tool or client JVM then maps those classes instead
# of parsing and verifying them: about a third of its start-up CPU.
# cds_archive NAME CLASSPATH TRAINING...: each TRAINING a main class and its arguments,
# one string. The archive is remade when the JDK or the classpath's jars change.
cds_archive() {
  local name=$1 cp=$2 dir="$DEPS/cds" h i=0 line
  shift 2
  mkdir -p "$dir"
  h=$( (java -version 2>&1; ls -l ${cp//:/ } 2>/dev/null; printf '%s\n' "$@") | sha256sum | cut -c1-16)
  if fresh "cds-$name" "$h" && [ -f "$dir/$name.jsa" ] && [ -f "$dir/$name.classpath" ]; then
    log "class-data archive $name: up to date"
    return
  fi
  rm -f "$dir/$name".*
  for line in "$@"; do
    i=$((i + 1))
    # shellcheck disable=SC2086 # a training line is a main class and its words
    timeout 15 java -XX:+UseSerialGC -XX:DumpLoadedClassList="$dir/$name.list.$i" -cp "$cp" $line \
      <"$TRAIN_RECORD" >/dev/null 2>&1 || true
  done
  sort -u "$dir/$name".list.* >"$dir/$name.classlist"
  rm -f "$dir/$name".list.*
  # Only a speed-up: without an archive the JVMs start as before (compat/jvm.py checks).
  if ! run_quiet java -Xshare:dump -XX:+UseSerialGC -XX:SharedClassListFile="$dir/$name.classlist" \
    -XX:SharedArchiveFile="$dir/$name.jsa" -cp "$cp"; then
    rm -f "$dir/$name.jsa"
    log "class-data archive $name: not made (the JVMs start without it)"
    return
  fi
  echo "$cp" >"$dir/$name.classpath"
  stamp "cds-$name" "$h"
  log "class-data archive $name: made ($(wc -l <"$dir/$name.classlist") classes)"
}
TRAIN_CONFIG="$DEPS/cds-training.properties"
printf 'request.timeout.ms=1000\ndefault.api.timeout.ms=3000\nmax.block.ms=2000\n' >"$TRAIN_CONFIG"
TRAIN_RECORD="$DEPS/cds-training.record" # one record for a producer: no key, value "v"
printf -- '-\tdg==\t-\t-\t-\n' >"$TRAIN_RECORD"
cds_archive tools "$DEPS/kafka-tools/libs/*" \
  "org.apache.kafka.tools.TopicCommand --bootstrap-server 127.0.0.1:1 --command-config $TRAIN_CONFIG --describe" \
  "org.apache.kafka.tools.ConfigCommand --bootstrap-server 127.0.0.1:1 --command-config $TRAIN_CONFIG --describe --entity-type topics" \
  "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand --bootstrap-server 127.0.0.1:1 --command-config $TRAIN_CONFIG --list" \
  "org.apache.kafka.tools.consumer.ConsoleConsumer --bootstrap-server 127.0.0.1:1 --topic t --timeout-ms 2000"
cds_archive clients "$DEPS/java/compat-clients.jar:$DEPS/java/libs/*" \
  "CompatClient 127.0.0.1:1 produce t max.block.ms=2000" \
  "CompatClient 127.0.0.1:1 consume t 1 2000" \
  "CompatClient 127.0.0.1:1 group-consume t g 2000" \
  "CompatClient 127.0.0.1:1 admin list-topics"

# ---- Kafka Connect (distributed worker, FileStream connectors, SMTs) ------------------
maven_libs connect "kafka connect" compat/connect "$DEPS/connect/libs"
maven_libs connect-file "kafka connect file plugin" compat/connect/file-plugin "$DEPS/connect/plugins/connect-file"

# ---- MirrorMaker 2 -----------------------------------------------------------------
maven_libs mirror-libs "mirrormaker libs" compat/mirror "$DEPS/mirror/libs"
h=$(hash_of compat/mirror/pom.xml compat/mirror/*.java)
if fresh mirror-classes "$h" && [ -d "$DEPS/mirror/classes" ]; then
  log "mirrormaker classes: up to date"
else
  rm -rf "$DEPS/mirror/classes"
  mkdir -p "$DEPS/mirror/classes"
  run_quiet javac -nowarn -d "$DEPS/mirror/classes" -cp "$DEPS/mirror/libs/*" compat/mirror/*.java
  stamp mirror-classes "$h"
  log "mirrormaker classes: compiled"
fi

# ---- franz-go ----------------------------------------------------------------------
h=$(hash_of compat/go/go.mod compat/go/go.sum compat/go/*.go)
if fresh franz "$h" && [ -x "$DEPS/bin/franz-compat" ]; then
  log "franz-go client: up to date"
else
  (cd compat/go && GOFLAGS=-mod=mod run_quiet go build -o "$DEPS/bin/franz-compat" .)
  stamp franz "$h"
  log "franz-go client: built"
fi

# ---- kafkajs -------------------------------------------------------------------------
h=$(hash_of compat/node/package.json compat/node/package-lock.json)
if fresh node "$h" && [ -d compat/node/node_modules/kafkajs ]; then
  log "kafkajs: up to date"
else
  (cd compat/node && run_quiet npm ci --no-audit --no-fund --loglevel=error)
  stamp node "$h"
  log "kafkajs: installed"
fi
