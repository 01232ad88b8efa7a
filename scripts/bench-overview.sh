#!/usr/bin/env bash
# Measures the overview dashboard (GET /api/v1/overview, issue 12) on the
# 10 M-event data set of scripts/bench-console.sh, with the VictoriaLogs
# server's own times for the same queries on the same data beside it.
#
#   scripts/bench-overview.sh [-r ROUNDS] [-d DIR]
#
#   -r ROUNDS   how often each target runs (default 5)
#   -d DIR      the data set of bench-console.sh (default
#               /work/bench-data/console: DIR/vigil-data, DIR/vl-data,
#               DIR/meta); run scripts/bench-console.sh first to make it
#
# Vigil: the overview of the data set's 24 hours, each round with another
# end second so that its cache (30 s) never answers: without the block
# cache (console.overview_block_memory: 0, "cold": every panel queries the
# whole range), then on a server whose warmer computed the range's closed
# 15-minute blocks ("warm": the live spans at the range's edges are
# queried, the blocks merged; the steady state of an open dashboard), and
# once more with the same end ("cached"). VictoriaLogs: the same LogsQL
# queries as internal/service/overview.go runs (no device registry, so
# no unregistered-devices query), two at a time as Vigil runs them
# ("vl-2way", wall time of the set), and one after the other
# ("vl-serial", the sum). Times are wall seconds (curl's time_total),
# the median of the rounds after one warm-up.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=5
DIR=/work/bench-data/console
while getopts "r:d:h" opt; do
  case $opt in
    r) ROUNDS=$OPTARG ;;
    d) DIR=$OPTARG ;;
    *) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
done
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "bench-overview: -r must be a positive number" >&2; exit 2; }
for cmd in go curl jq xargs; do
  command -v "$cmd" >/dev/null || { echo "bench-overview: $cmd is missing" >&2; exit 1; }
done
[ -f "$DIR/meta" ] && [ -d "$DIR/vl-data" ] || { echo "bench-overview: no data set in $DIR: run scripts/bench-console.sh first" >&2; exit 1; }

WORK=$(mktemp -d /tmp/vigil-bench-overview.XXXXXX)
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
log() { echo "bench-overview: $*" >&2; }
die() { log "$*"; exit 1; }
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh

go build -o "$WORK/vigil" ./cmd/vigil
build_victorialogs
printf 'detect:\n  enabled: false\nhttp:\n  max_concurrent_searches: 2\n' >"$WORK/vigil.yaml"
printf 'console:\n  overview_block_memory: 0\n' | cat "$WORK/vigil.yaml" - >"$WORK/vigil-cold.yaml"
wait_http() {
  local deadline=$((SECONDS + 120))
  until curl -sf --max-time 2 -o /dev/null "$1"; do
    kill -0 "$PID" 2>/dev/null || die "server exited at start"
    [ $SECONDS -lt $deadline ] || die "server did not start within 120s"
    sleep 0.2
  done
}
# shellcheck disable=SC1091
. "$DIR/meta"
END=$(date -u -d "$start 24 hours" +%s)
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
log "data: $lines lines from $start to $(iso "$END"); $(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg)"

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
RESULTS=$WORK/results.tsv
printf 'target\tmedian_s\tmin_s\tmax_s\n' >"$RESULTS"
result() { # NAME < times
  local t
  t=$(cat)
  printf '%s\t%s\t%s\t%s\n' "$1" "$(median <<<"$t")" "$(sort -n <<<"$t" | head -1)" "$(sort -n <<<"$t" | tail -1)" |
    tee -a "$RESULTS" | tr '\t' ' ' | sed 's/^/bench-overview: result: /' >&2
}

start_vigil() { # CONFIG
  HP=$(free_port)
  SP=$(free_port)
  "$WORK/vigil" serve --config "$1" --data "$DIR/vigil-data" --http "127.0.0.1:$HP" --syslog "127.0.0.1:$SP" >>"$DIR/vigil-overview.log" 2>&1 &
  PID=$!
  PIDS+=("$PID")
  wait_http "http://127.0.0.1:$HP/healthz"
}
TOKEN=$(cat "$DIR/vigil-data/api-token")
ov() { curl -s --max-time 300 -H "Authorization: Bearer $TOKEN" -o "$WORK/body" -w '%{http_code} %{time_total}\n' \
  "http://127.0.0.1:$HP/api/v1/overview?range=24h&end=$(iso "$1")"; }
rounds() { # NAME FIRST: ROUNDS+1 overviews, each with another end second (the first is not counted)
  local i out times=()
  for i in $(seq 0 "$ROUNDS"); do
    out=$(ov $((END - $2 - i)))
    [ "${out%% *}" = 200 ] || die "overview answered ${out%% *}: $(cat "$WORK/body")"
    jq -e '.errors == null' "$WORK/body" >/dev/null || die "overview panels failed: $(jq -c .errors "$WORK/body")"
    [ "$i" = 0 ] || times+=("${out##* }")
  done
  printf '%s\n' "${times[@]}" | result "$1"
  log "$1: $(jq -c '{cached_blocks, block_fallback, failures: ([.timeline.series[].total_failure] | add), logins: ([.timeline.series[].total_success] | add), top_sources: (.top_sources | length), top_accounts: (.top_accounts | length), proxy: ([.proxy_rate.series[].total] | add)}' "$WORK/body")"
}
panels() { jq -S '{timeline, top_sources, top_accounts, countries}' "$WORK/body"; }
start_vigil "$WORK/vigil-cold.yaml"
rounds vigil-cold 0
panels >"$WORK/cold.json" # of the last round's end, END - ROUNDS
stop "$PID"

start_vigil "$WORK/vigil.yaml"
# The warmer computes the blocks of the ranges asked for: ask once, then
# wait until the range's 95 whole blocks (4 panels) come from memory.
t0=$SECONDS
ov "$END" >/dev/null
until [ "$(ov $((END - 100)) >/dev/null; jq .cached_blocks "$WORK/body")" -ge 380 ]; do
  [ $((SECONDS - t0)) -lt 1800 ] || die "blocks not computed within 30 minutes: $(jq -c .cached_blocks "$WORK/body")"
  sleep 5
done
log "warm-up: the blocks were computed within $((SECONDS - t0)) s"
rounds vigil-warm 200
# The blocks give what the whole-range queries gave.
ov $((END - ROUNDS)) >/dev/null
panels | cmp -s - "$WORK/cold.json" || die "warm and cold overviews differ: $(panels | diff - "$WORK/cold.json" | head -20)"
log "warm: the overview of $(iso $((END - ROUNDS))) from blocks ($(jq .cached_blocks "$WORK/body") cached) equals the cold one"
times=()
for _ in $(seq "$ROUNDS"); do out=$(ov "$END"); times+=("${out##* }"); done
printf '%s\n' "${times[@]}" | result vigil-cached
stop "$PID"

# The overview's queries (internal/service/overview.go) for a 24h range
# in UTC: 30-minute buckets, "today" from midnight of the end's day.
S=$(iso $((END - 86400)))
E=$(iso "$END")
DAY=$(date -u -d "$(date -u -d "@$END" +%Y-%m-%d)" +%Y-%m-%dT%H:%M:%SZ)
INGEST=$(iso $((END - 600)))
cat >"$WORK/queries" <<Q
$S	$E	event.category:authentication event.outcome:in(success, failure) | stats by (_time:1800s, network.protocol, event.dataset, event.outcome) count() n
$S	$E	event.category:authentication event.outcome:failure source.ip:* | stats by (source.ip) count() n, count_uniq(user.name) users | sort by (n desc) | limit 10
$S	$E	event.category:authentication event.outcome:failure user.name:* | stats by (user.name) count() n, count_uniq(source.ip) sources | sort by (n desc) | limit 10
$S	$E	event.category:authentication event.outcome:success source.ip:* | stats by (source.ip) count() n | sort by (n desc) | limit 1001
$DAY	$E	(event.action:="account-locked" or winlog.status:="0xC0000234" or winlog.sub_status:="0xC0000234" or iis.win32_status:="1909") user.name:* | stats by (user.name) count() n, max(_time) last | sort by (n desc) | limit 21
$S	$E	event.dataset:="exchange.admin_audit" | stats by (exchange.cmdlet, user.name) count() n, max(_time) last | sort by (last desc) | limit 20
$S	$E	event.dataset:in(nginx.access, iis.access, exchange.httpproxy) | stats by (_time:1800s, event.dataset) count() n
$S	$E	event.dataset:="vigil.alert" rule.id:="log-source-silent" | sort by (_time desc) | limit 21
$INGEST	$E	* -event.dataset:="vigil.alert" | stats by (vigil.input, host.hostname) count() n, max(_time) last | sort by (n desc) | limit 50
$S	$E	vigil.parse_error:* | stats by (vigil.input) count() n | sort by (n desc) | limit 20
Q
HP=$(free_port)
"$WORK/victoria-logs" -storageDataPath="$DIR/vl-data" -httpListenAddr="127.0.0.1:$HP" -retentionPeriod=30d -loggerLevel=WARN >>"$DIR/vl-overview.log" 2>&1 &
PID=$!
PIDS+=("$PID")
wait_http "http://127.0.0.1:$HP/health"
cat >"$WORK/one.sh" <<'ONE'
#!/usr/bin/env bash
# one.sh PORT LINE: runs one query line (start TAB end TAB query), prints its time.
IFS=$'\t' read -r s e q <<<"$2"
curl -s --max-time 300 -o /dev/null -w '%{time_total}\n' --data-urlencode "query=$q" --data-urlencode "start=$s" --data-urlencode "end=$e" \
  "http://127.0.0.1:$1/select/logsql/query"
ONE
chmod +x "$WORK/one.sh"
wall=()
serial=()
: >"$WORK/each"
for i in $(seq 0 "$ROUNDS"); do
  t0=$(date +%s.%N)
  xargs -d '\n' -P 2 -n 1 "$WORK/one.sh" "$HP" <"$WORK/queries" >/dev/null
  t1=$(date +%s.%N)
  xargs -d '\n' -n 1 "$WORK/one.sh" "$HP" <"$WORK/queries" >"$WORK/round"
  [ "$i" = 0 ] && continue
  wall+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')")
  serial+=("$(awk '{s += $1} END {print s}' "$WORK/round")")
  awk '{print NR "\t" $1}' "$WORK/round" >>"$WORK/each"
done
printf '%s\n' "${wall[@]}" | result vl-2way
printf '%s\n' "${serial[@]}" | result vl-serial
# Each query's median on its own, by its place in the list above.
for n in $(seq "$(wc -l <"$WORK/queries")"); do
  log "query $n: median $(awk -v n="$n" '$1 == n {print $2}' "$WORK/each" | median)s: $(sed -n "${n}p" "$WORK/queries" | cut -f3 | cut -c1-90)"
done
stop "$PID"
log "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
column -t -s $'\t' "$RESULTS"
