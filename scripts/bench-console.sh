#!/usr/bin/env bash
# Measures the latency of the console's searches (issue 12) on a large
# store, with the VictoriaLogs server's own query times on the same data
# beside them.
#
#   scripts/bench-console.sh [-n LINES] [-r ROUNDS] [-d DIR]
#
#   -n LINES    lines to generate and ingest (default 10000000)
#   -r ROUNDS   how often each search runs on each target (default 5)
#   -d DIR      where the data lives (default /work/bench-data/console):
#               DIR/vigil-data is Vigil's data directory, DIR/vl-data a
#               copy of its store that the VictoriaLogs server opens (the
#               same engine version, so the same bytes on disk). When
#               DIR/vigil-data exists it is reused, with DIR/meta.
#
# The input is cmd/vigil-loadgen's (nginx JSON access logs in BSD syslog,
# one attack line in 100,000), spread over the 24 hours that ended two
# hours ago. Vigil (detect.enabled: false) ingests it once over TCP. Then
# Vigil and a victoria-logs server on the copy run side by side, and each
# search runs ROUNDS times on each, alternating: on Vigil through the
# console's endpoints (docs/api.md, "Search for the console"), on
# VictoriaLogs through its own:
#
#   rare       a term in one event in 100,000 (the attack's user agent),
#              newest 100: Vigil /api/v1/search/hits (a page of 100),
#              VictoriaLogs /select/logsql/query?limit=100
#   histogram  a field filter (one user's events) counted in the
#              console's buckets over the whole range: Vigil
#              /api/v1/search/histogram, VictoriaLogs /select/logsql/hits
#   page       the same filter's newest 100 events (the result table)
#   top10      the 10 most frequent source.ip of every event of the range:
#              Vigil /api/v1/search/top, VictoriaLogs
#              `* | top 10 by (source.ip)`
#   sidebar    the field sidebar of every event of the range (Vigil:
#              facets over the newest 100,000; VictoriaLogs: facets over
#              them all, /select/logsql/facets)
#
# Times are wall seconds per request (curl's time_total), the median of
# the rounds after one warm-up of each. Every process started here is
# stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

N=10000000
ROUNDS=5
DIR=/work/bench-data/console
usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while getopts "n:r:d:h" opt; do
  case $opt in
    n) N=$OPTARG ;;
    r) ROUNDS=$OPTARG ;;
    d) DIR=$OPTARG ;;
    *) usage ;;
  esac
done
[[ $N =~ ^[1-9][0-9]*$ ]] || { echo "bench-console: -n must be a positive number" >&2; exit 2; }
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "bench-console: -r must be a positive number" >&2; exit 2; }
for cmd in go curl ss awk jq; do
  command -v "$cmd" >/dev/null || { echo "bench-console: $cmd is missing" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/vigil-bench-console.XXXXXX)
PIDS=()
cleanup() {
  stop_all
  rm -rf "$WORK"
}
trap cleanup EXIT
log() { echo "bench-console: $*" >&2; }
die() { log "$*"; exit 1; }
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh

log "building vigil and vigil-loadgen"
go build -o "$WORK/vigil" ./cmd/vigil
go build -o "$WORK/loadgen" ./cmd/vigil-loadgen
build_victorialogs
printf 'detect:\n  enabled: false\nhttp:\n  max_concurrent_searches: 2\n' >"$WORK/vigil.yaml"

# start_vigil: Vigil on DIR/vigil-data; sets PID, HP and SP.
start_vigil() {
  HP=$(free_port)
  SP=$(free_port)
  while [ "$SP" = "$HP" ]; do SP=$(free_port); done
  "$WORK/vigil" serve --config "$WORK/vigil.yaml" --data "$DIR/vigil-data" --http "127.0.0.1:$HP" \
    --syslog "127.0.0.1:$SP" >>"$DIR/vigil.log" 2>&1 &
  PID=$!
  PIDS+=("$PID")
  wait_http "http://127.0.0.1:$HP/healthz"
}
# start_vl: the victoria-logs server on DIR/vl-data; sets PID and HP.
start_vl() {
  HP=$(free_port)
  "$WORK/victoria-logs" -storageDataPath="$DIR/vl-data" -httpListenAddr="127.0.0.1:$HP" \
    -retentionPeriod=30d -loggerLevel=WARN >>"$DIR/vl.log" 2>&1 &
  PID=$!
  PIDS+=("$PID")
  wait_http "http://127.0.0.1:$HP/health"
}
wait_http() {
  local deadline=$((SECONDS + 120))
  until curl -sf --max-time 2 -o /dev/null "$1"; do
    kill -0 "$PID" 2>/dev/null || die "server exited at start"
    [ $SECONDS -lt $deadline ] || die "server did not start within 120s"
    sleep 0.2
  done
}

mkdir -p "$DIR"
chmod 700 "$DIR"
if [ ! -d "$DIR/vigil-data" ]; then
  START=$(date -u -d "@$(( $(date +%s) / 3600 * 3600 - 26 * 3600 ))" +%Y-%m-%dT%H:%M:%SZ)
  log "generating $N lines from $START over 24h"
  "$WORK/loadgen" -gen "$N" -o "$WORK/input.log" -start "$START" -span 24h -attack 100000
  log "ingesting into vigil"
  start_vigil
  "$WORK/loadgen" -send "$WORK/input.log" -addr "127.0.0.1:$SP" >/dev/null
  "$WORK/loadgen" -wait "http://127.0.0.1:$HP/api/v1/search?q=%7Bvigil.input%3D%22syslog%22%7D%20%7C%20stats%20count()%20rows&order=none" \
    -token "$(cat "$DIR/vigil-data/api-token")" -lines "$N" -timeout 30m >/dev/null || die "vigil did not store every line"
  stop "$PID"
  rm -f "$WORK/input.log"
  log "copying the store for victoria-logs"
  rm -rf "$DIR/vl-data"
  cp -a "$DIR/vigil-data/store" "$DIR/vl-data"
  printf 'start=%s\nlines=%s\n' "$START" "$N" >"$DIR/meta"
fi
# shellcheck disable=SC1091
. "$DIR/meta"
END=$(date -u -d "$start 24 hours" +%Y-%m-%dT%H:%M:%SZ)
log "data: $lines lines from $start to $END; store $(du -sh "$DIR/vigil-data/store" | cut -f1)"

enc() { jq -rn --arg q "$1" '$q|@uri'; }
RARE='user_agent.original:"python-requests"'
USER_Q='user.name:="zoe.moeller"'
R="start=$start&end=$END"

# The requests of each search: "vigil PATH" and "vl PATH".
vigil_url() {
  case $1 in
    rare) echo "/api/v1/search/hits?$R&size=100&q=$(enc "$RARE")" ;;
    histogram) echo "/api/v1/search/histogram?$R&q=$(enc "$USER_Q")" ;;
    page) echo "/api/v1/search/hits?$R&size=100&q=$(enc "$USER_Q")" ;;
    top10) echo "/api/v1/search/top?$R&field=source.ip&n=10" ;;
    sidebar) echo "/api/v1/search/fields?$R&top=5" ;;
  esac
}
vl_url() {
  case $1 in
    rare) echo "/select/logsql/query?$R&limit=100&query=$(enc "$RARE")" ;;
    histogram) echo "/select/logsql/hits?$R&step=15m&query=$(enc "$USER_Q")" ;;
    page) echo "/select/logsql/query?$R&limit=100&query=$(enc "$USER_Q")" ;;
    top10) echo "/select/logsql/query?$R&query=$(enc '* | top 10 by (source.ip)')" ;;
    sidebar) echo "/select/logsql/facets?$R&limit=5&query=*" ;;
  esac
}

RESULTS=$WORK/results.tsv
printf 'target\tsearch\tcodes\tmedian_s\tmin_s\tmax_s\trows\n' >"$RESULTS"
AUTH=(-H "Authorization: Bearer $(cat "$DIR/vigil-data/api-token")")

# get TARGET URL: one request; prints "CODE SECONDS", the body in $WORK/body.TARGET.
get() {
  local auth=()
  [ "$1" = vl ] || auth=("${AUTH[@]}")
  curl -s --max-time 300 "${auth[@]}" -o "$WORK/body.$1" -w '%{http_code} %{time_total}' "$2"
}

# rows TARGET: the rows of the last answer: events, buckets, values or
# fields (Vigil); lines, buckets with hits or fields (VictoriaLogs).
rows() {
  local f=$WORK/body.$1
  if [ "$1" = vigil ]; then
    jq -r '(.events // .buckets // .values // .fields) | length' "$f" 2>/dev/null || echo "?"
  else
    jq -s 'if length == 1 and (.[0].hits | type) == "array" then (.[0].hits | map(.timestamps | length) | add // 0)
      elif length == 1 and (.[0].facets | type) == "array" then (.[0].facets | length) else length end' "$f" 2>/dev/null || echo "?"
  fi
}

# report TARGET SEARCH CODES TIMES...: one row of the results.
report() {
  local target=$1 search=$2 codes=$3
  shift 3
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$target" "$search" \
    "$(echo "${codes%,}" | tr ',' '\n' | sort | uniq -c | awk '{printf "%s%dx%s", (NR > 1 ? "," : ""), $1, $2}')" \
    "$(printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')" \
    "$(printf '%s\n' "$@" | sort -n | head -1)" "$(printf '%s\n' "$@" | sort -n | tail -1)" "$(rows "$target")" |
    tee -a "$RESULTS" | tr '\t' ' ' | sed 's/^/bench-console: result: /' >&2
}

# measure SEARCH: a warm-up of each, then ROUNDS requests to Vigil and
# to VictoriaLogs, alternating, so both see the same machine.
measure() {
  local s=$1 vu lu i out vt=() lt=() vc="" lc=""
  vu="http://127.0.0.1:$VHP$(vigil_url "$s")"
  lu="http://127.0.0.1:$LHP$(vl_url "$s")"
  get vigil "$vu" >/dev/null
  get vl "$lu" >/dev/null
  for i in $(seq "$ROUNDS"); do
    out=$(get vigil "$vu")
    vc+="${out%% *},"
    vt+=("${out##* }")
    out=$(get vl "$lu")
    lc+="${out%% *},"
    lt+=("${out##* }")
  done
  report vigil "$s" "$vc" "${vt[@]}"
  report vl "$s" "$lc" "${lt[@]}"
}

SEARCHES="rare histogram page top10 sidebar"
log "$(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg)"
start_vigil
VHP=$HP
start_vl
LHP=$HP
for s in $SEARCHES; do measure "$s"; done
log "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
column -t -s $'\t' "$RESULTS"
