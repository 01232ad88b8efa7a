#!/usr/bin/env bash
# The scale-out demo (docs/scale-out.md): three Vigil nodes sharing a Kafka
# topic, one detector elected through Kafka, one ClickHouse, one search
# over all nodes; on one machine, with the same real components the tests
# use.
#
#   scripts/demo-scale-out.sh [LINES]     (default 100000)
#
# Starts a Kafka-protocol broker (cmd/vigil-kfake, a topic of 3 partitions),
# clickhouse-server (a plain process, loopback, its own data folder) and
# three `vigil serve` nodes a, b and c (inputs.kafka in one group,
# detect.mode kafka, the ClickHouse output, each other as cluster.peers);
# ships LINES generated nginx access-log lines with attacks into the topic
# with kcat, without keys (as `tail -F access.log | kcat -P` would); shows
# what each node ingested, the elected detector, the alerts every node
# shows, a search through node a finding the other nodes' events and the
# events in ClickHouse; then kills the detector and shows another node
# taking over. Everything runs under a temporary folder and stops on exit.
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

KPORT=$(free_port); CPORT=$(free_port); CHTTP=$(free_port)
echo "== Kafka-protocol broker on 127.0.0.1:$KPORT (topic nginx-access, 3 partitions)"
"$W/vigil-kfake" -addr "127.0.0.1:$KPORT" -topics nginx-access -partitions 3 >"$W/kfake.log" 2>&1 &
PIDS+=($!); wait_port "$KPORT"

echo "== clickhouse-server on 127.0.0.1:$CPORT"
mkdir -p "$W/ch/tmp" "$W/ch/uf" "$W/ch/fs"
clickhouse-server --config-file=/etc/clickhouse-server/config.xml -- --path="$W/ch/" --tmp_path="$W/ch/tmp/" \
  --user_files_path="$W/ch/uf/" --format_schema_path="$W/ch/fs/" --logger.log="$W/ch/s.log" --logger.errorlog="$W/ch/e.log" \
  --listen_host=127.0.0.1 --http_port="$CHTTP" --tcp_port="$CPORT" --interserver_http_port="$(free_port)" >/dev/null 2>&1 &
PIDS+=($!); wait_port "$CPORT"

# Each node's API port and token, known before any starts: the nodes list
# each other as peers.
NODES=(a b c)
declare -A HTTP TOKEN PID
for n in "${NODES[@]}"; do
  HTTP[$n]=$(free_port)
  TOKEN[$n]=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
  mkdir -m 700 -p "$W/$n/data"
  (umask 077; echo "${TOKEN[$n]}" >"$W/$n/data/api-token")
done
start_node() {
  local n=$1
  "$W/vigil" serve --config "$W/$n/vigil.yaml" --data "$W/$n/data" --http "127.0.0.1:${HTTP[$n]}" \
    --syslog "127.0.0.1:$(free_port)" >>"$W/$n/vigil.log" 2>&1 &
  PID[$n]=$!; PIDS+=($!)
}
for n in "${NODES[@]}"; do
  {
    cat <<YAML
inputs:
  kafka:
    - brokers: [127.0.0.1:$KPORT]
      topics: [nginx-access]
      group: vigil-ingest
detect:
  mode: kafka
  kafka:
    brokers: [127.0.0.1:$KPORT]
outputs:
  clickhouse:
    - name: ch
      address: 127.0.0.1:$CPORT
cluster:
  name: $n
  peers:
YAML
    for p in "${NODES[@]}"; do
      [ "$p" = "$n" ] || echo "    - {name: $p, url: 'http://127.0.0.1:${HTTP[$p]}', token_file: '$W/$p/data/api-token'}"
    done
  } >"$W/$n/vigil.yaml"
  start_node "$n"
done
for n in "${NODES[@]}"; do wait_port "${HTTP[$n]}"; done
echo "== nodes a, b, c on ports ${HTTP[a]}, ${HTTP[b]}, ${HTTP[c]}"

api() { curl -sf -H "Authorization: Bearer ${TOKEN[$1]}" "http://127.0.0.1:${HTTP[$1]}$2"; }
# local: what a node holds itself (the header peers send: no fan-out).
local_count() {
  curl -sf -H "Authorization: Bearer ${TOKEN[$1]}" -H "Vigil-Peer: demo" \
    "http://127.0.0.1:${HTTP[$1]}/api/v1/search" --get --data-urlencode "q=* | stats count() as n" |
    python3 -c 'import json,sys; print(json.loads(sys.stdin.readline() or "{\"n\":0}").get("n",0))' 2>/dev/null || echo 0
}
detector() {
  for n in "${NODES[@]}"; do
    kill -0 "${PID[$n]}" 2>/dev/null || continue
    if api "$n" /api/v1/status | python3 -c 'import json,sys; s=json.load(sys.stdin); sys.exit(0 if s.get("detect",{}).get("kafka",{}).get("detector") else 1)'; then
      echo "$n"; return
    fi
  done
}

echo "== shipping $LINES lines with kcat, no key: each line to a random partition"
"$W/loadgen" -gen "$LINES" -attack 100 -o "$W/syslog.log" >/dev/null
sed 's/^[^{]*//' "$W/syslog.log" >"$W/access.log" # the JSON only, as nginx writes it to a file
start=$(date +%s.%N)
kcat -P -b "127.0.0.1:$KPORT" -t nginx-access -z zstd -X sticky.partitioning.linger.ms=0 <"$W/access.log"
total=0
until [ "$total" -ge "$LINES" ]; do
  sleep 1; total=0
  for n in "${NODES[@]}"; do total=$((total + $(local_count "$n"))); done
done
end=$(date +%s.%N)
echo "== $LINES events stored after $(echo "$end - $start" | bc) s:"
for n in "${NODES[@]}"; do echo "   node $n: $(local_count "$n")"; done

DET=$(detector)
echo "== the elected detector is node ${DET:-?}"
sleep 5
for n in "${NODES[@]}"; do
  echo "== alerts node $n shows:"
  curl -sf -H "Authorization: Bearer ${TOKEN[$n]}" -H "Vigil-Peer: demo" "http://127.0.0.1:${HTTP[$n]}/api/v1/search" --get \
    --data-urlencode 'q=* | stats by (rule.id) count() as alerts' --data-urlencode scope=alerts
done

echo "== a search through node a, by the node that holds the events (fan-out over cluster.peers)"
api a "/api/v1/search?q=$(python3 -c 'import urllib.parse; print(urllib.parse.quote("event.outcome:failure"))')&limit=3000" |
  python3 -c 'import json,sys,collections; print(dict(collections.Counter(json.loads(l).get("vigil.node","?") for l in sys.stdin if l.strip())))'

q() { curl -s "http://127.0.0.1:$CHTTP/" --data-binary "$1"; }
until [ "$(q 'SELECT uniqExact(event_id) FROM vigil.events' 2>/dev/null || echo 0)" -ge "$LINES" ] 2>/dev/null; do sleep 0.5; done
echo "== ClickHouse: events by outcome (distinct event ids: $(q 'SELECT uniqExact(event_id) FROM vigil.events'))"
q 'SELECT dataset, outcome, count() FROM vigil.events GROUP BY dataset, outcome ORDER BY count() DESC FORMAT PrettyCompact'

if [ -n "$DET" ]; then
  echo "== killing the detector, node $DET (SIGKILL)"
  kill -9 "${PID[$DET]}"
  for _ in $(seq 1 60); do
    NEW=$(detector)
    if [ -n "$NEW" ] && [ "$NEW" != "$DET" ]; then
      echo "== node $NEW took detection over (from the last checkpoint in the state topic)"
      break
    fi
    sleep 1
  done
fi
