#!/usr/bin/env bash
# Gregor vs Apache Kafka, side by side, on this machine. See bench/README.md.
#
#   bash bench/run.sh                 # full: 3 rounds, medians
#   bash bench/run.sh --quick         # 1 short round (development)
#   bash bench/run.sh --runs 5 --mb 512 --e2e-seconds 20
#   bash bench/run.sh --pin           # broker on CPU 0, clients on the other CPUs
#   bash bench/run.sh --quick --only gregor --profile   # + perf flame graphs of Gregor
#   bash bench/run.sh --security "plaintext sasl_ssl"   # each load over both listeners (+ connection set-up rate)
#
# Not part of ./scripts/test. Everything it downloads goes to target/bench-deps/
# (Maven Central, PyPI); brokers listen on 127.0.0.1 only, live in a temp dir
# under target/ and are always stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
ORIG_ARGS="$*"

KAFKA_VERSION="${KAFKA_VERSION:-4.4.0}"
RUNS=3
MB=256            # payload MiB per producer run
E2E_SECONDS=15    # measured seconds per latency run (plus warm-up)
E2E_WARMUP=3
E2E_RATES="1000 10000"
E2E_TOOL_RECORDS=10000   # records through Kafka's EndToEndLatency (closed loop, ~1-2 ms each)
QUICK=0
BUILD=1
OUT_DIR="$ROOT/bench/results"
ONLY=""           # restrict to one broker (kafka|gregor), for debugging
PIN=0             # --pin: broker on CPU 0, every client on the rest (taskset)
PROFILE=0         # --profile: perf record Gregor during round 1's produce and consume loads
SECURITY="plaintext"  # --security "plaintext sasl_ssl": the listener(s) every load runs over, in turn
CONNECTIONS=1000  # --connections N: measured connections per connection set-up run (bench/java/ConnectRate)
CONNECT_THREADS=4 # --connect-threads N: connections set up in parallel
# the producer matrix (--sizes, --acks, --partitions, --compression narrow it)
SIZES="100 1024"
ACKS="1 all"
PARTS="1 8"
COMPS="none lz4"

while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1; RUNS=1; MB=16; E2E_SECONDS=3; E2E_WARMUP=1; E2E_RATES="1000"; E2E_TOOL_RECORDS=2000; CONNECTIONS=200 ;;
    --security) SECURITY="$2"; shift ;;
    --connections) CONNECTIONS="$2"; shift ;;
    --connect-threads) CONNECT_THREADS="$2"; shift ;;
    --sizes) SIZES="$2"; shift ;;
    --acks) ACKS="$2"; shift ;;
    --partitions) PARTS="$2"; shift ;;
    --compression) COMPS="$2"; shift ;;
    --runs) RUNS="$2"; shift ;;
    --mb) MB="$2"; shift ;;
    --e2e-seconds) E2E_SECONDS="$2"; shift ;;
    --e2e-rates) E2E_RATES="$2"; shift ;;
    --e2e-tool-records) E2E_TOOL_RECORDS="$2"; shift ;;
    --kafka-version) KAFKA_VERSION="$2"; shift ;;
    --no-build) BUILD=0 ;;
    --out) OUT_DIR="$2"; shift ;;
    --only) ONLY="$2"; shift ;;
    --pin) PIN=1 ;;
    --profile) PROFILE=1 ;;
    -h|--help) sed -n '2,12p' "$0"; echo; sed -n '/^## Options/,/^## /p' bench/README.md 2>/dev/null | head -30; exit 0 ;;
    *) echo "unknown argument: $1 (see bench/README.md)" >&2; exit 2 ;;
  esac
  shift
done

for sec in $SECURITY; do
  case "$sec" in plaintext|sasl_ssl) ;; *) echo "--security takes plaintext and/or sasl_ssl, not $sec" >&2; exit 2 ;; esac
done

# With --pin the broker process (and every thread it starts) runs on CPU 0 and
# the load generators on the others, so the client's CPU no longer competes
# with the broker's; both brokers get the same single core.
BROKER_CPUS=()
CLIENT_CPUS=()
if [ "$PIN" = 1 ]; then
  ncpu=$(nproc)
  [ "$ncpu" -ge 2 ] || { echo "--pin needs at least 2 CPUs" >&2; exit 2; }
  BROKER_CPUS=(taskset -c 0)
  CLIENT_CPUS=(taskset -c "1-$(( ncpu - 1 ))")
fi

DEPS="$ROOT/target/bench-deps"
KDIR="$DEPS/kafka-$KAFKA_VERSION"
VENV="$DEPS/venv"
PY="$VENV/bin/python"
GREGOR="$ROOT/target/release/gregor"
CLASSES="$KDIR/classes"
mkdir -p "$DEPS/tmp"
TMP="$(mktemp -d "$DEPS/tmp/run.XXXXXX")"
RES="$TMP/results.jsonl"
CMDS="$TMP/commands.txt"
: > "$RES"; : > "$CMDS"
BROKER_PID=""

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

stop_broker() {
  local pid="$BROKER_PID"
  [ -n "$pid" ] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$pid" 2>/dev/null; then
      log "broker $pid did not stop in 30 s, SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  wait "$pid" 2>/dev/null || true
  BROKER_PID=""
}

cleanup() {
  local rc=$?
  profile_stop
  stop_broker
  if [ -n "${KEEP_TMP:-}" ]; then log "kept $TMP"; else rm -rf "$TMP"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- 1. deps
fetch_deps() {
  if [ "$BUILD" = 1 ]; then
    log "cargo build --release -p gregor"
    cargo build --release -p gregor >&2
  fi
  [ -x "$GREGOR" ] || [ "$ONLY" = kafka ] || { echo "missing $GREGOR (run without --no-build)" >&2; exit 1; }

  local part
  for part in broker tools; do
    local pomdir=kafka; [ "$part" = tools ] && pomdir=tools
    if [ ! -f "$KDIR/$part/.stamp" ]; then
      log "fetching Kafka $KAFKA_VERSION $part jars from Maven Central -> $KDIR/$part"
      rm -rf "$KDIR/$part"; mkdir -p "$KDIR/$part"
      (cd "bench/deps/$pomdir" && mvn -q -B dependency:copy-dependencies -Dkafka.version="$KAFKA_VERSION" \
        -DincludeScope=runtime -DoutputDirectory="$KDIR/$part") >&2
      touch "$KDIR/$part/.stamp"
    fi
  done

  local reqhash
  reqhash=$(sha256sum bench/requirements.txt | cut -c1-16)
  if [ ! -f "$VENV/.stamp-$reqhash" ]; then
    log "creating $VENV (PyPI: $(grep -v '^#' bench/requirements.txt | tr '\n' ' '))"
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check -r bench/requirements.txt >&2
    touch "$VENV/.stamp-$reqhash"
  fi

  if [ "$PROFILE" = 1 ]; then
    command -v perf > /dev/null || { echo "--profile needs perf (apt: linux-perf)" >&2; exit 1; }
    if [ ! -x "$DEPS/inferno/bin/inferno-flamegraph" ]; then
      log "cargo install inferno (flame graphs from perf output) -> $DEPS/inferno"
      cargo install --quiet --locked inferno --root "$DEPS/inferno" >&2
    fi
  fi

  local jhash
  jhash=$(cat bench/java/*.java | sha256sum | cut -c1-16)
  if [ ! -f "$CLASSES/.stamp-$jhash" ]; then
    log "compiling bench/java against kafka-clients $KAFKA_VERSION"
    rm -rf "$CLASSES"; mkdir -p "$CLASSES"
    javac -d "$CLASSES" -cp "$KDIR/tools/*" bench/java/*.java
    touch "$CLASSES/.stamp-$jhash"
  fi
}

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# ---------------------------------------------------------------- security
# --security sasl_ssl: the broker's only client listener is SASL_SSL. One CA and
# one server certificate (RSA 2048, SAN IP:127.0.0.1 and DNS:localhost) made
# with openssl for the run, the same PEM files for both brokers; one
# SCRAM-SHA-512 user with Kafka's default 4096 iterations, created at format
# time (Kafka: kafka-storage format --add-scram; Gregor: sasl.bootstrap.scram,
# the same syntax, for its self-formatting start). Every client gets
# security.protocol=SASL_SSL, the CA as a PEM trust store (hostname
# verification on, the clients' default) and the user's JAAS line.
SCRAM_USER=bench
SCRAM_PASSWORD=bench-secret
SCRAM_SPEC="SCRAM-SHA-512=[name=$SCRAM_USER,iterations=4096,password=$SCRAM_PASSWORD]"
JAAS="org.apache.kafka.common.security.scram.ScramLoginModule required username=\"$SCRAM_USER\" password=\"$SCRAM_PASSWORD\";"
TLS_DIR="$TMP/tls"
SEC=plaintext
LISTENER=PLAINTEXT
CLIENT_PROPS=""        # the Java clients' properties file for the current mode, empty for plaintext
PRODUCER_CFG=(); CONSUMER_CFG=(); E2E_CFG=(); FIXED_RATE_CFG=()

make_security_files() {
  mkdir -p "$TLS_DIR"
  local d="$TLS_DIR"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$d/ca.key" -out "$d/ca.crt" -days 2 -subj "/CN=gregor bench CA" 2> /dev/null
  openssl req -newkey rsa:2048 -nodes -keyout "$d/server.key" -out "$d/server.csr" -subj "/CN=localhost" 2> /dev/null
  printf "subjectAltName=IP:127.0.0.1,DNS:localhost\n" > "$d/san.ext"
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -out "$d/server.crt" \
    -days 2 -extfile "$d/san.ext" 2> /dev/null
  cat "$d/server.key" "$d/server.crt" > "$d/server.pem"   # Kafka's PEM key store file: PKCS#8 key + chain
  cat > "$d/client.properties" <<EOF
security.protocol=SASL_SSL
ssl.truststore.type=PEM
ssl.truststore.location=$d/ca.crt
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=$JAAS
EOF
  # librdkafka's names for the same settings (bench/rdkafka_load.py reads BENCH_RDKAFKA_CONFIG)
  "$PY" -c 'import json,sys; d,u,p=sys.argv[1:4]; json.dump({"security.protocol":"SASL_SSL","sasl.mechanism":"SCRAM-SHA-512","sasl.username":u,"sasl.password":p,"ssl.ca.location":d+"/ca.crt"},open(d+"/rdkafka.json","w"))' \
    "$d" "$SCRAM_USER" "$SCRAM_PASSWORD"
}

set_security_mode() { # plaintext|sasl_ssl
  SEC="$1"
  if [ "$SEC" = sasl_ssl ]; then
    [ -f "$TLS_DIR/client.properties" ] || make_security_files
    LISTENER=SASL_SSL
    CLIENT_PROPS="$TLS_DIR/client.properties"
    export BENCH_RDKAFKA_CONFIG="$TLS_DIR/rdkafka.json"
    PRODUCER_CFG=(--producer.config "$CLIENT_PROPS")
    CONSUMER_CFG=(--consumer.config "$CLIENT_PROPS")
    E2E_CFG=("$CLIENT_PROPS")
    mapfile -t FIXED_RATE_CFG < "$CLIENT_PROPS"   # FixedRateLatency takes key=value arguments
  else
    LISTENER=PLAINTEXT
    CLIENT_PROPS=""
    unset BENCH_RDKAFKA_CONFIG
    PRODUCER_CFG=(); CONSUMER_CFG=(); E2E_CFG=(); FIXED_RATE_CFG=()
  fi
}

# ---------------------------------------------------------------- 2. brokers
KAFKA_JVM_FLAGS="-Xms1G -Xmx1G -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true"
TOOL_JVM_FLAGS="-Xmx512M -server -XX:+UseG1GC -Djava.awt.headless=true"

write_kafka_config() { # dir port cport
  local d="$1" port="$2" cport="$3"
  cat > "$d/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=$LISTENER://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=$LISTENER://127.0.0.1:$port
inter.broker.listener.name=$LISTENER
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,$LISTENER:$LISTENER
log.dirs=$d/data
num.partitions=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
EOF
  if [ "$SEC" = sasl_ssl ]; then
    cat >> "$d/server.properties" <<EOF
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=$JAAS
ssl.keystore.type=PEM
ssl.keystore.location=$TLS_DIR/server.pem
ssl.truststore.type=PEM
ssl.truststore.location=$TLS_DIR/ca.crt
EOF
  fi
  # like Kafka's shipped log4j2.yaml: INFO to a file, request logger at WARN
  cat > "$d/log4j2.properties" <<EOF
rootLogger.level=INFO
rootLogger.appenderRef.f.ref=F
appender.f.type=File
appender.f.name=F
appender.f.fileName=$d/server.log
appender.f.layout.type=PatternLayout
appender.f.layout.pattern=[%d] %p %m (%c)%n
logger.req.name=kafka.request.logger
logger.req.level=WARN
logger.state.name=state.change.logger
logger.state.level=WARN
EOF
}

# start_broker kind round -> sets BROKER_PID, BOOTSTRAP, BROKER_DIR, STARTUP_S
start_broker() {
  local kind="$1" round="$2"
  BROKER_DIR="$TMP/$kind-$SEC-r$round"
  mkdir -p "$BROKER_DIR/data"
  local port; port=$(free_port)
  BOOTSTRAP="127.0.0.1:$port"
  local cmd=()
  if [ "$kind" = kafka ]; then
    local cport; cport=$(free_port)
    write_kafka_config "$BROKER_DIR" "$port" "$cport"
    local uuid
    # like Kafka's Uuid.randomUuid(): never one starting with "-", which
    # kafka-storage would read as an option (1 start in 64 failed so)
    uuid=$("$PY" -c 'import uuid,base64
while True:
    u = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
    if not u.startswith("-"): break
print(u)')
    local fmt=(java -Dlog4j2.configurationFile="$BROKER_DIR/log4j2.properties" -cp "$KDIR/broker/*"
      kafka.tools.StorageTool format -t "$uuid" -c "$BROKER_DIR/server.properties")
    [ "$SEC" = plaintext ] || fmt+=(--add-scram "$SCRAM_SPEC")
    echo "kafka format ($SEC): ${fmt[*]}" >> "$CMDS"
    "${fmt[@]}" > "$BROKER_DIR/format.log" 2>&1 || { cat "$BROKER_DIR/format.log" >&2; return 1; }
    cmd=("${BROKER_CPUS[@]}" java $KAFKA_JVM_FLAGS -Dlog4j2.configurationFile="$BROKER_DIR/log4j2.properties" -cp "$KDIR/broker/*"
      kafka.Kafka "$BROKER_DIR/server.properties")
  else
    cmd=("${BROKER_CPUS[@]}" "$GREGOR" server --set "listeners=$LISTENER://$BOOTSTRAP" --set "log.dirs=$BROKER_DIR/data" --set num.partitions=1)
    if [ "$SEC" = sasl_ssl ]; then
      cmd+=(--set inter.broker.listener.name=SASL_SSL --set sasl.enabled.mechanisms=SCRAM-SHA-512
        --set "sasl.bootstrap.scram=$SCRAM_SPEC"
        --set sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
        --set "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=$JAAS"
        --set ssl.keystore.type=PEM --set "ssl.keystore.location=$TLS_DIR/server.pem"
        --set ssl.truststore.type=PEM --set "ssl.truststore.location=$TLS_DIR/ca.crt")
    fi
  fi
  echo "$kind start ($SEC): ${cmd[*]}" >> "$CMDS"
  # the probe waits for the port, then retries a produce until it is acked
  "${CLIENT_CPUS[@]}" "$PY" bench/rdkafka_load.py startup "$BOOTSTRAP" startup-probe 120 > "$BROKER_DIR/probe.json" 2> "$BROKER_DIR/probe.err" &
  local probe=$!
  sleep 0.3 # let the probe's interpreter load before the clock starts
  local t0; t0=$(date +%s.%N)
  "${cmd[@]}" > "$BROKER_DIR/stdout.log" 2>&1 < /dev/null &
  BROKER_PID=$!
  if ! wait "$probe"; then
    log "$kind did not accept a produce: $(cat "$BROKER_DIR/probe.json" "$BROKER_DIR/probe.err")"
    tail -20 "$BROKER_DIR/stdout.log" >&2 || true
    return 1
  fi
  STARTUP_S=$("$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(round(d["acked_at"]-float(sys.argv[2]),3))' "$BROKER_DIR/probe.json" "$t0")
  log "$kind up at $BOOTSTRAP (pid $BROKER_PID), first produce acked after ${STARTUP_S}s"
}

cpu_ticks() { # utime+stime of $BROKER_PID, in clock ticks
  awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$BROKER_PID/stat"
}
vm_hwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$BROKER_PID/status"; }

# ---------------------------------------------------------------- 3. loads
# emit round broker test key json-result cmd
# Rows of a run over SASL_SSL get their key prefixed with "SASL_SSL ", so the
# report lists them under the plaintext rows of the same load.
emit() {
  "$PY" - "$@" "$SEC" >> "$RES" <<'EOF'
import json, sys
r, broker, test, key, result, cmd, sec = sys.argv[1:8]
if sec != "plaintext":
    key = sec.upper() + " " + key
try:
    res = json.loads(result)
except Exception:
    res = {"error": result[-500:]}
load1 = float(open("/proc/loadavg").read().split()[0])  # other work on the machine skews results
print(json.dumps({"round": int(r), "broker": broker, "test": test, "key": key, "result": res, "cmd": cmd, "loadavg1": load1,
                  "security": sec}))
EOF
}

MOVED_BYTES=0
# run_load round broker test key parser [parser-args...] -- cmd...
# Runs one load on the client CPUs, turns its stdout into one JSON result with
# `report.py PARSER OUT [ARGS]`, logs it and records it (an empty key is the
# unrecorded warm-up). A load that exits non-zero is recorded as an error with
# the tail of its stderr. Sets LAST_JSON.
run_load() {
  local r="$1" b="$2" test="$3" key="$4" parser="$5"; shift 5
  local parse_args=()
  while [ "$1" != -- ]; do parse_args+=("$1"); shift; done
  shift
  local outf="$BROKER_DIR/load.out" errf="$BROKER_DIR/load.err" rc=0
  timeout 600 "${CLIENT_CPUS[@]}" "$@" > "$outf" 2> "$errf" || rc=$?
  LAST_JSON=$("$PY" bench/report.py "$parser" "$outf" "${parse_args[@]}" || true)
  if [ "$rc" != 0 ]; then
    LAST_JSON="{\"error\": \"exit $rc: $(tail -c 400 "$errf" | tr '\n"' ' \047')\"}"
  fi
  case "$LAST_JSON" in
    *'"error"'*) log "  FAILED $b ${key:-warm-up}: $LAST_JSON" ;;
    *) [ -z "$key" ] || log "$b r$r $key: $LAST_JSON" ;;
  esac
  local shown="$*"
  [ "${#CLIENT_CPUS[@]}" = 0 ] || shown="${CLIENT_CPUS[*]} $shown"
  [ -z "$key" ] || emit "$r" "$b" "$test" "$key" "$LAST_JSON" "$shown"
}

KAFKA_TOOL=(java $TOOL_JVM_FLAGS -Dlog4j2.configurationFile="$TMP/tools-log4j2.properties" -cp "$KDIR/tools/*")

producer_perf() { # r b key topic records size acks compression
  local r="$1" b="$2" key="$3" topic="$4" n="$5" size="$6" acks="$7" comp="$8"
  run_load "$r" "$b" produce "$key" parse-producer-perf "$size" -- "${KAFKA_TOOL[@]}" \
    org.apache.kafka.tools.ProducerPerformance --topic "$topic" --num-records "$n" --record-size "$size" --throughput -1 \
    --producer-props bootstrap.servers="$BOOTSTRAP" acks="$acks" compression.type="$comp" linger.ms=5 batch.size=65536 \
    "${PRODUCER_CFG[@]}"
}

# Kafka's ConsumerPerformance in its own consumer group; report.py reads its
# CSV line.
consumer_perf() { # r b key topic records
  local r="$1" b="$2" key="$3" topic="$4" n="$5"
  run_load "$r" "$b" consume "$key" parse-consumer-perf "$n" -- "${KAFKA_TOOL[@]}" \
    org.apache.kafka.tools.ConsumerPerformance --bootstrap-server "$BOOTSTRAP" --topic "$topic" --messages "$n" \
    --group "bench-$topic-r$r" --timeout 60000 --hide-header "${CONSUMER_CFG[@]}"
}

# Kafka's EndToEndLatency: closed loop, one record in flight, commitSync()
# after each; it prints whole-millisecond percentiles.
end_to_end_tool() { # r b topic records
  local r="$1" b="$2" topic="$3" n="$4"
  run_load "$r" "$b" e2e-tool "EndToEndLatency ${n} x 100B acks=1" parse-end-to-end -- "${KAFKA_TOOL[@]}" \
    org.apache.kafka.tools.EndToEndLatency "$BOOTSTRAP" "$topic" "$n" 1 100 "${E2E_CFG[@]}"
}

# --profile: sample Gregor's stacks (DWARF unwinding: the release build keeps
# debug info but no frame pointers) while one phase of round 1 runs.
PERF_PID=""
profile_start() { # broker round phase
  [ "$PROFILE" = 1 ] && [ "$1" = gregor ] && [ "$2" = 1 ] || return 0
  perf record -F 199 --call-graph dwarf -p "$BROKER_PID" -o "$TMP/perf-$3.data" > "$TMP/perf-$3.log" 2>&1 &
  PERF_PID=$!
  sleep 1 # perf attaches asynchronously
}
profile_stop() {
  [ -n "$PERF_PID" ] || return 0
  kill -INT "$PERF_PID" 2>/dev/null || true
  wait "$PERF_PID" 2>/dev/null || true
  PERF_PID=""
}
render_flamegraphs() {
  local data phase
  for data in "$TMP"/perf-*.data; do
    [ -f "$data" ] || continue
    phase=$(basename "$data" .data); phase=${phase#perf-}
    log "flame graph of Gregor during the $phase loads"
    # perf ends every truncated DWARF stack with an all-ones [unknown] frame;
    # dropping it keeps the flame graph rooted at the thread.
    perf script -i "$data" 2> /dev/null | grep -v '^[[:space:]]*ffffffffffffffff \[unknown\]' \
      | "$DEPS/inferno/bin/inferno-collapse-perf" \
      | "$DEPS/inferno/bin/inferno-flamegraph" --title "Gregor broker: $phase loads (perf, round 1)" \
      > "$TMP/flame-$phase.svg" || log "flame graph for $phase failed"
  done
}

# Connection set-up rate (bench/java/ConnectRate): CONNECTIONS connections,
# CONNECT_THREADS at a time, each TCP + TLS + SASL SCRAM + ApiVersions over
# SASL_SSL (TCP + ApiVersions over plaintext), then closed. The broker's CPU
# over the whole client run (JVM start and warm-up connections included; the
# broker is idle otherwise) is divided by every connection it set up.
CONNECT_WARMUP=50   # per thread, unrecorded (client JIT)
connect_rate() { # r b
  local r="$1" b="$2"
  local c0 c1; c0=$(cpu_ticks)
  local cmd=(java $TOOL_JVM_FLAGS -cp "$CLASSES:$KDIR/tools/*" ConnectRate "$BOOTSTRAP" "$CONNECTIONS" "$CONNECT_THREADS"
    "$CONNECT_WARMUP" ${CLIENT_PROPS:+"$CLIENT_PROPS"})
  run_load "$r" "$b" connect "" last-json -- "${cmd[@]}"
  sleep 1   # let the broker finish closing the last connections
  c1=$(cpu_ticks)
  LAST_JSON=$("$PY" bench/report.py add-broker-cpu "$LAST_JSON" "$c0" "$c1" "$(getconf CLK_TCK)")
  case "$LAST_JSON" in
    *'"error"'*) log "  FAILED $b connection set-up: $LAST_JSON" ;;
    *) log "$b r$r connect: $LAST_JSON" ;;
  esac
  local shown="${cmd[*]}"
  [ "${#CLIENT_CPUS[@]}" = 0 ] || shown="${CLIENT_CPUS[*]} $shown"
  emit "$r" "$b" connect "connection set-up, $CONNECT_THREADS at a time" "$LAST_JSON" "$shown"
}


run_broker_round() { # kind round
  local b="$1" r="$2"
  start_broker "$b" "$r" || { emit "$r" "$b" startup startup '{"error": "broker did not start"}' ""; stop_broker; return 0; }

  # topics: one per producer configuration, plus warm-up, latency and librdkafka topics
  local specs=(warmup:8 rdk-100:8 rdk-1024:8)
  local s a p c
  for s in $SIZES; do for a in $ACKS; do for p in $PARTS; do for c in $COMPS; do
    specs+=("pp-$s-$a-p$p-$c:$p")
  done; done; done; done
  for rate in $E2E_RATES; do specs+=("e2e-$rate:1"); done
  specs+=(e2e-tool:1)
  "${CLIENT_CPUS[@]}" "$PY" bench/rdkafka_load.py create-topics "$BOOTSTRAP" "${specs[@]}" > "$BROKER_DIR/topics.json" \
    || log "topic creation reported errors: $(cat "$BROKER_DIR/topics.json")"

  # warm-up (not recorded): JIT for Kafka, page cache and allocator for both
  local wn=$(( MB * 1048576 / 4 / 1024 ))
  log "$b: warm-up ($wn x 1 KiB)"
  producer_perf "$r" "$b" "" warmup "$wn" 1024 1 none
  consumer_perf "$r" "$b" "" warmup "$wn"

  local cpu0; cpu0=$(cpu_ticks)
  MOVED_BYTES=0
  profile_start "$b" "$r" produce
  for s in $SIZES; do for a in $ACKS; do for p in $PARTS; do for c in $COMPS; do
    local topic="pp-$s-$a-p$p-$c" n=$(( MB * 1048576 / s ))
    producer_perf "$r" "$b" "produce ${s}B acks=$a p=$p $c" "$topic" "$n" "$s" "$a" "$c"
    MOVED_BYTES=$(( MOVED_BYTES + n * s ))
  done; done; done; done

  profile_stop
  # consume what was just written (acks=1 topics) with Kafka's ConsumerPerformance
  profile_start "$b" "$r" consume
  for s in $SIZES; do for p in $PARTS; do for c in $COMPS; do
    local topic="pp-$s-1-p$p-$c" n=$(( MB * 1048576 / s ))
    consumer_perf "$r" "$b" "consume ${s}B p=$p $c" "$topic" "$n"
    MOVED_BYTES=$(( MOVED_BYTES + n * s ))
  done; done; done

  profile_stop
  # librdkafka (confluent-kafka): produce then consume, 8 partitions, acks=1, no compression
  for s in $SIZES; do
    local n=$(( MB * 1048576 / s / 4 ))
    run_load "$r" "$b" rdkafka "rdkafka produce ${s}B acks=1 p=8" last-json -- \
      "$PY" bench/rdkafka_load.py produce "$BOOTSTRAP" "rdk-$s" "$n" "$s" 1 none
    run_load "$r" "$b" rdkafka "rdkafka consume ${s}B p=8" last-json -- \
      "$PY" bench/rdkafka_load.py consume "$BOOTSTRAP" "rdk-$s" "$n"
    MOVED_BYTES=$(( MOVED_BYTES + 2 * n * s ))
  done

  local cpu1; cpu1=$(cpu_ticks)

  # connection set-up rate (excluded from CPU per GB)
  connect_rate "$r" "$b"

  # end-to-end latency at fixed rates (excluded from CPU per GB)
  for rate in $E2E_RATES; do
    run_load "$r" "$b" e2e "e2e ${rate}/s 100B acks=1" last-json -- \
      java $TOOL_JVM_FLAGS -cp "$CLASSES:$KDIR/tools/*" FixedRateLatency "$BOOTSTRAP" "e2e-$rate" 1 "$rate" "$E2E_SECONDS" 100 "$E2E_WARMUP" \
      "${FIXED_RATE_CFG[@]}"
  done
  end_to_end_tool "$r" "$b" e2e-tool "$E2E_TOOL_RECORDS"

  local hwm; hwm=$(vm_hwm_kb)
  local tck; tck=$(getconf CLK_TCK)
  local res
  res=$("$PY" -c 'import json,sys; c0,c1,tck,moved,hwm,st=map(float,sys.argv[1:7]); cpu=(c1-c0)/tck; print(json.dumps({"startup_s":st,"peak_rss_mb":round(hwm/1024,1),"cpu_s":round(cpu,2),"moved_gb":round(moved/1e9,3),"cpu_s_per_gb":round(cpu/(moved/1e9),2)}))' \
    "$cpu0" "$cpu1" "$tck" "$MOVED_BYTES" "$hwm" "$STARTUP_S")
  emit "$r" "$b" resources resources "$res" ""
  log "$b r$r resources: $res"
  if grep -qiE 'panic|ERROR' "$BROKER_DIR/stdout.log" "$BROKER_DIR/server.log" 2>/dev/null; then
    log "$b log has errors (first lines):"
    grep -ihE 'panic|ERROR' "$BROKER_DIR/stdout.log" "$BROKER_DIR/server.log" 2>/dev/null | head -5 >&2 || true
    grep -ihE 'panic|ERROR' "$BROKER_DIR/stdout.log" "$BROKER_DIR/server.log" 2>/dev/null | head -50 > "$TMP/$b-$SEC-r$r-errors.txt" || true
  fi
  stop_broker
  rm -rf "$BROKER_DIR/data"
}

# ---------------------------------------------------------------- main
fetch_deps
cat > "$TMP/tools-log4j2.properties" <<'EOF'
rootLogger.level=WARN
rootLogger.appenderRef.e.ref=E
appender.e.type=Console
appender.e.name=E
appender.e.target=SYSTEM_ERR
appender.e.layout.type=PatternLayout
appender.e.layout.pattern=%p %m (%c)%n
EOF

# machine and versions
"$PY" - "$TMP/meta.json" "$GREGOR" "$KAFKA_VERSION" "$TMP" <<EOF
import json, os, platform, subprocess, sys
import confluent_kafka
path, gregor, kv, tmp = sys.argv[1:5]
def sh(c):
    try: return subprocess.run(c, shell=True, capture_output=True, text=True, timeout=20).stdout.strip()
    except Exception as e: return str(e)
v = lambda x: x if isinstance(x, str) else str(x[0])
mem = sh("awk '/MemTotal/ {printf \"%.1f GiB\", \$2/1048576}' /proc/meminfo")
meta = {
  "date": sh("date -u +%Y-%m-%dT%H:%M:%SZ"),
  "nproc": sh("nproc"), "cpu": sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip(),
  "memory": mem, "kernel": sh("uname -srm"),
  "disk": sh("df -hT " + tmp + " | tail -1"),
  "disk_dev": sh("lsblk -d -o NAME,MODEL,ROTA,SIZE 2>/dev/null | tr -s ' ' | paste -sd ';'"),
  "gregor": sh(gregor + " --version") + " (git " + sh("git rev-parse --short HEAD") + ", release build)",
  "kafka": "Apache Kafka " + kv + " (kafka_2.13 from Maven Central)",
  "java": sh("java -version 2>&1 | head -2 | paste -sd ' '"),
  "librdkafka": "confluent-kafka " + v(confluent_kafka.version()) + " / librdkafka " + v(confluent_kafka.libversion()),
  "runs": int("$RUNS"), "mb_per_producer_run": int("$MB"), "e2e_seconds": int("$E2E_SECONDS"),
  "e2e_warmup": int("$E2E_WARMUP"), "e2e_rates": "$E2E_RATES", "quick": "$QUICK" == "1",
  "e2e_tool_records": int("$E2E_TOOL_RECORDS"), "profiled": "$PROFILE" == "1",
  "security": "$SECURITY", "connections": int("$CONNECTIONS"), "connect_threads": int("$CONNECT_THREADS"),
  "pin": "broker on CPU 0, clients on CPU(s) 1-%d (taskset)" % (os.cpu_count() - 1) if "$PIN" == "1" else "",
}
json.dump(meta, open(path, "w"), indent=1)
EOF

log "results in $TMP; $RUNS round(s), $MB MiB per producer run"
BENCH_START=$(date +%s)
for r in $(seq 1 "$RUNS"); do
  if [ $(( r % 2 )) = 1 ]; then order="kafka gregor"; else order="gregor kafka"; fi
  for b in $order; do
    [ -z "$ONLY" ] || [ "$ONLY" = "$b" ] || continue
    for sec in $SECURITY; do
      set_security_mode "$sec"
      log "=== round $r/$RUNS: $b over $LISTENER"
      run_broker_round "$b" "$r"
    done
  done
done
log "loads took $(( $(date +%s) - BENCH_START )) s"
[ "$PROFILE" = 0 ] || render_flamegraphs

"$PY" bench/report.py report --results "$RES" --meta "$TMP/meta.json" --commands "$CMDS" \
  --errors-glob "$TMP/*-errors.txt" --flamegraphs-glob "$TMP/flame-*.svg" --out-dir "$OUT_DIR" --argv "bash bench/run.sh${ORIG_ARGS:+ $ORIG_ARGS}"
