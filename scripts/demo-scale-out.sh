#!/usr/bin/env bash
# The scale-out demo: Vigil reading a Kafka topic and writing ClickHouse, on
# one machine, with the same real components the tests use.
#
#   scripts/demo-scale-out.sh [LINES]     (default 100000)
#
# Starts a Kafka-protocol broker (cmd/vigil-kfake), clickhouse-server (as a
# plain process, loopback, its own data folder) and Vigil with a Kafka input
# and a ClickHouse output; ships LINES generated nginx access-log lines into
# the topic with kcat (as `tail -F access.log | kcat -P` would), then shows
# what arrived in ClickHouse and which alerts reached its threat table.
# Everything runs under a temporary folder and stops on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
LINES=${1:-100000}

scripts/install-test-deps.sh # kcat, clickhouse-server
W=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$W"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 150); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.2; done; echo "port $1 did not open" >&2; exit 1; }

echo "== building"
go build -o "$W/vigil" ./cmd/vigil
go build -o "$W/vigil-kfake" ./cmd/vigil-kfake
go build -o "$W/loadgen" ./cmd/vigil-loadgen

KPORT=$(free_port); CPORT=$(free_port); HPORT=$(free_port)
echo "== Kafka-protocol broker on 127.0.0.1:$KPORT"
"$W/vigil-kfake" -addr "127.0.0.1:$KPORT" -topics nginx-access >"$W/kfake.log" 2>&1 &
PIDS+=($!); wait_port "$KPORT"

echo "== clickhouse-server on 127.0.0.1:$CPORT"
mkdir -p "$W/ch/tmp" "$W/ch/uf" "$W/ch/fs"
clickhouse-server --config-file=/etc/clickhouse-server/config.xml -- --path="$W/ch/" --tmp_path="$W/ch/tmp/" \
  --user_files_path="$W/ch/uf/" --format_schema_path="$W/ch/fs/" --logger.log="$W/ch/s.log" --logger.errorlog="$W/ch/e.log" \
  --listen_host=127.0.0.1 --http_port="$HPORT" --tcp_port="$CPORT" --interserver_http_port="$(free_port)" >/dev/null 2>&1 &
PIDS+=($!); wait_port "$CPORT"

echo "== vigil: inputs.kafka -> outputs.clickhouse"
cat >"$W/vigil.yaml" <<YAML
inputs:
  kafka:
    - brokers: [127.0.0.1:$KPORT]
      topics: [nginx-access]
outputs:
  clickhouse:
    - name: ch
      address: 127.0.0.1:$CPORT
YAML
VPORT=$(free_port)
"$W/vigil" serve --config "$W/vigil.yaml" --data "$W/data" --http "127.0.0.1:$VPORT" --syslog "127.0.0.1:$(free_port)" >"$W/vigil.log" 2>&1 &
PIDS+=($!); wait_port "$VPORT"

echo "== shipping $LINES lines with kcat"
"$W/loadgen" -gen "$LINES" -attack 100 -o "$W/syslog.log" >/dev/null
sed 's/^[^{]*//' "$W/syslog.log" >"$W/access.log" # the JSON only, as nginx writes it to a file
start=$(date +%s.%N)
kcat -P -b "127.0.0.1:$KPORT" -t nginx-access -z zstd <"$W/access.log"

q() { curl -s "http://127.0.0.1:$HPORT/" --data-binary "$1"; }
until [ "$(q 'SELECT count() FROM vigil.events' 2>/dev/null || echo 0)" -ge "$LINES" ] 2>/dev/null; do sleep 0.5; done
end=$(date +%s.%N)
echo "== $LINES events in ClickHouse after $(echo "$end - $start" | bc) s"
q 'SELECT dataset, outcome, count() FROM vigil.events GROUP BY dataset, outcome ORDER BY count() DESC FORMAT PrettyCompact'
sleep 2
echo "== threat_table"
q 'SELECT rule_id, src_ip, level, count FROM vigil.threat_table ORDER BY ts LIMIT 10 FORMAT PrettyCompact'
