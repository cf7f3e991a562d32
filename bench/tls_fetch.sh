#!/usr/bin/env bash
# What TLS costs on fetch: one gregor broker with a PLAINTEXT and an SSL listener,
# one topic of MB MiB (1 KiB records), read from the beginning with kcat over each
# listener (RUNS times, alternating); prints wall time and the broker's CPU
# (utime+stime from /proc) per run. Plaintext fetches go out with sendfile(2);
# TLS fetches are copied through a buffer and encrypted (docs/security.md).
#   GREGOR_BIN=target/release/gregor MB=512 RUNS=3 bash bench/tls_fetch.sh
set -euo pipefail
GREGOR_BIN="${GREGOR_BIN:-target/release/gregor}"
MB="${MB:-256}"
RUNS="${RUNS:-3}"
work="$(mktemp -d)"
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
cd "$work"
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 1 -subj "/CN=bench CA" 2>/dev/null
printf "subjectAltName=DNS:localhost,IP:127.0.0.1\n" > san.ext
openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/CN=localhost" 2>/dev/null
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 1 \
  -extfile san.ext 2>/dev/null
cat server.key server.crt > server.pem
plain=$((20000 + RANDOM % 20000)); ssl=$((plain + 1))
"$GREGOR_BIN" server --set "listeners=PLAINTEXT://127.0.0.1:$plain,SSL://127.0.0.1:$ssl" \
  --set "advertised.listeners=PLAINTEXT://127.0.0.1:$plain,SSL://localhost:$ssl" \
  --set "ssl.keystore.location=$work/server.pem" --set "log.dirs=$work/data" 2>server.log &
pid=$!
for _ in $(seq 100); do grep -q "gregor broker started" server.log && break; sleep 0.1; done
records=$((MB * 1024))
python3 -c "import sys; line=b'x'*1023+b'\n'; sys.stdout.buffer.write(line*$records)" > data.txt
kcat -b "127.0.0.1:$plain" -P -t bench -z none -X linger.ms=50 -X batch.size=1000000 -l data.txt
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
tick=$(getconf CLK_TCK)
printf "%-10s %8s %10s %14s\n" listener seconds MiB/s "broker CPU s"
for run in $(seq "$RUNS"); do
  for mode in PLAINTEXT SSL; do
    if [ "$mode" = SSL ]; then
      args=(-b "localhost:$ssl" -X security.protocol=SSL -X "ssl.ca.location=$work/ca.crt")
    else
      args=(-b "127.0.0.1:$plain")
    fi
    c0=$(cpu); t0=$(date +%s.%N)
    kcat "${args[@]}" -C -t bench -o beginning -c "$records" -e -q -f '' \
      -X fetch.message.max.bytes=8388608 -X fetch.max.bytes=67108864
    t1=$(date +%s.%N); c1=$(cpu)
    awk -v m="$mode" -v t0="$t0" -v t1="$t1" -v c0="$c0" -v c1="$c1" -v mb="$MB" -v tick="$tick" \
      'BEGIN { s = t1 - t0; printf "%-10s %8.2f %10.1f %14.2f\n", m, s, mb / s, (c1 - c0) / tick }'
  done
done
