#!/usr/bin/env bash
# Optional helper: run a real single-node Apache Kafka 4.x (KRaft combined mode)
# on 127.0.0.1 so the compat suite can be checked against the reference broker.
# Not used by compat/run.sh. Jars come from Maven Central (compat/kafka_ref/pom.xml)
# into target/kafka-ref/libs.
#
#   compat/kafka_ref.sh start     # prints "bootstrap=127.0.0.1:PORT"
#   COMPAT_BOOTSTRAP=127.0.0.1:PORT bash compat/run.sh
#   compat/kafka_ref.sh stop
#   compat/kafka_ref.sh fetch     # only the jars (COMPAT_SERVER=kafka uses them)
#
# Extra broker settings: KAFKA_REF_EXTRA="key=value key2=value2" compat/kafka_ref.sh start
# State lives in target/kafka-ref/run (log dir, server.properties, server.log, pid).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
REF="$ROOT/target/kafka-ref"
RUN="$REF/run"
LIBS="$REF/libs"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# The stamp holds the pom's hash, so bumping the Kafka version there replaces the
# jars instead of mixing two versions on one classpath.
fetch_jars() {
  local h
  h=$(sha256sum compat/kafka_ref/pom.xml | cut -c1-16)
  if [ ! -f "$LIBS/.stamp" ] || [ "$(cat "$LIBS/.stamp")" != "$h" ]; then
    rm -rf "$LIBS"
    mkdir -p "$REF"
    (cd compat/kafka_ref && mvn -q -B dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$LIBS")
    echo "$h" > "$LIBS/.stamp"
  fi
}

start() {
  fetch_jars
  if [ -f "$RUN/pid" ] && kill -0 "$(cat "$RUN/pid")" 2>/dev/null; then
    echo "already running: bootstrap=$(cat "$RUN/bootstrap")"
    return 0
  fi
  rm -rf "$RUN"
  mkdir -p "$RUN/data"
  local port cport
  port=$(free_port)
  cport=$(free_port)
  cat > "$RUN/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$RUN/data
num.partitions=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
EOF
  for kv in ${KAFKA_REF_EXTRA:-}; do echo "$kv" >> "$RUN/server.properties"; done
  cat > "$RUN/log4j2.properties" <<'EOF'
rootLogger.level=INFO
rootLogger.appenderRef.out.ref=OUT
appender.out.type=Console
appender.out.name=OUT
appender.out.layout.type=PatternLayout
appender.out.layout.pattern=[%d] %p %m (%c)%n
logger.state.name=state.change.logger
logger.state.level=WARN
EOF
  local cp="$LIBS/*"
  local uuid
  uuid=$(java -cp "$cp" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)
  java -cp "$cp" kafka.tools.StorageTool format -t "$uuid" -c "$RUN/server.properties" > "$RUN/format.log" 2>&1
  setsid java -Xms512m -Xmx1G -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -Djava.awt.headless=true -Dlog4j2.configurationFile="$RUN/log4j2.properties" -cp "$cp" kafka.Kafka "$RUN/server.properties" \
    > "$RUN/server.log" 2>&1 < /dev/null &
  echo $! > "$RUN/pid"
  echo "127.0.0.1:$port" > "$RUN/bootstrap"
  for _ in $(seq 1 120); do
    if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$port),1)" 2>/dev/null; then
      echo "bootstrap=127.0.0.1:$port"
      return 0
    fi
    if ! kill -0 "$(cat "$RUN/pid")" 2>/dev/null; then
      tail -30 "$RUN/server.log" >&2
      echo "kafka exited" >&2
      return 1
    fi
    sleep 0.5
  done
  echo "kafka did not start listening in 60s" >&2
  stop
  return 1
}

stop() {
  if [ -f "$RUN/pid" ]; then
    local pid
    pid=$(cat "$RUN/pid")
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    rm -f "$RUN/pid"
    echo "stopped"
  else
    echo "not running"
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  fetch) fetch_jars; echo "jars in $LIBS" ;;
  *) echo "usage: $0 start|stop|fetch" >&2; exit 2 ;;
esac
