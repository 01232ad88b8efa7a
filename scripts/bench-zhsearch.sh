#!/usr/bin/env bash
# Measures Chinese search (issue 13): what a Han word costs to find inside
# runs of Chinese text as a substring filter (what Vigil rewrites it into)
# and with pairs of Han characters indexed at ingest (the alternative),
# against the engine's word lookup, with the VictoriaLogs server beside
# Vigil on the same data.
#
#   scripts/bench-zhsearch.sh [-n LINES] [-r ROUNDS] [-i ROUNDS] [-s] [-k]
#
#   -n LINES    lines to generate and ingest (default 1000000)
#   -r ROUNDS   how often each search runs on each server (default 5)
#   -i ROUNDS   how often each server ingests each input (default 1)
#   -s          ingest only, no searches
#   -k          keep the work directory (data dirs, logs, input files)
#
# Input: `vigil-loadgen -zh` (a Chinese mail service's logs in RFC 5424,
# Chinese and English mixed, over the 24 hours that ended two hours ago),
# twice from the same seed: plain, and with each message's distinct pairs
# of adjacent Han characters as structured data (-bigrams; Vigil stores
# them as the field log.syslog.sd.bg@32473.h), which is what indexing
# character pairs at ingest adds to an event.
#
# Ingest: Vigil (detect.enabled: false) and the victoria-logs server each
# ingest both files over TCP into fresh data directories, alternating;
# wall time from the first byte sent until a count finds every line, the
# server's CPU seconds, and the store's bytes after a clean stop.
#
# Searches: two Vigil servers (on the plain and on the pairs data) and two
# victoria-logs servers on copies of those stores (the same engine
# version, so the same bytes) run side by side; each search runs ROUNDS
# times on each, alternating, after a warm-up. The words: a rare name (10
# events in 1 M), a common name (0.5%), a common phrase (12%), a word that
# is not there, and a name in a field. Forms:
#
#   word       the engine's word filter (victoria-logs only): what a word
#              lookup through the bloom filters costs; it misses the words
#              inside runs of Chinese text
#   substring  what Vigil does: the word typed as it is (Vigil rewrites
#              it), *"word"* on victoria-logs
#   pairs      the substring filter and the word's character pairs in the
#              pairs field, which the engine looks up in its bloom filters
#              first: *"司马青云"* "log.syslog.sd.bg@32473.h":seq(司马, 马青, 青云)
#
# each as the console's page of the newest 100 events (Vigil
# /api/v1/search/hits?size=100, victoria-logs /select/logsql/query?limit=100)
# and as a count of every match (`| stats count()`). Times are wall seconds
# per request (curl's time_total): median (min-max). Every process started
# here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C.UTF-8

N=1000000
ROUNDS=5
IROUNDS=1
SEARCH=1
KEEP=0
usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while getopts "n:r:i:skh" opt; do
  case $opt in
    n) N=$OPTARG ;;
    r) ROUNDS=$OPTARG ;;
    i) IROUNDS=$OPTARG ;;
    s) SEARCH=0 ;;
    k) KEEP=1 ;;
    *) usage ;;
  esac
done
[[ $N =~ ^[1-9][0-9]*$ ]] || { echo "bench-zhsearch: -n must be a positive number" >&2; exit 2; }
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "bench-zhsearch: -r must be a positive number" >&2; exit 2; }
[[ $IROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "bench-zhsearch: -i must be a positive number" >&2; exit 2; }
for cmd in go curl ss awk jq; do
  command -v "$cmd" >/dev/null || { echo "bench-zhsearch: $cmd is missing" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/vigil-bench-zhsearch.XXXXXX)
PIDS=()
cleanup() {
  stop_all
  if [ "$KEEP" = 1 ]; then echo "bench-zhsearch: work directory kept: $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
CLK_TCK=$(getconf CLK_TCK)
log() { echo "bench-zhsearch: $*" >&2; }
die() { log "$*"; exit 1; }
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh

log "building vigil, vigil-loadgen and victoria-logs"
go build -o "$WORK/vigil" ./cmd/vigil
go build -o "$WORK/loadgen" ./cmd/vigil-loadgen
build_victorialogs
printf 'detect:\n  enabled: false\nhttp:\n  max_concurrent_searches: 2\n' >"$WORK/vigil.yaml"

START=$(date -u -d "@$(( $(date +%s) / 3600 * 3600 - 26 * 3600 ))" +%Y-%m-%dT%H:%M:%SZ)
END=$(date -u -d "$START 24 hours" +%Y-%m-%dT%H:%M:%SZ)
log "generating $N lines from $START over 24h, plain and with pairs"
"$WORK/loadgen" -gen "$N" -zh -o "$WORK/plain.log" -start "$START" -span 24h
"$WORK/loadgen" -gen "$N" -zh -bigrams -o "$WORK/pairs.log" -start "$START" -span 24h

# start KIND DATA: a server (vigil or vl) on the data directory DATA; sets
# PID, HP (HTTP port) and SP (syslog port).
start() {
  local kind=$1 data=$2 deadline health
  HP=$(free_port)
  SP=$(free_port)
  while [ "$SP" = "$HP" ]; do SP=$(free_port); done
  if [ "$kind" = vigil ]; then
    "$WORK/vigil" serve --config "$WORK/vigil.yaml" --data "$data" --http "127.0.0.1:$HP" --syslog "127.0.0.1:$SP" \
      >>"$WORK/vigil.log" 2>&1 &
    health=healthz
  else
    "$WORK/victoria-logs" -storageDataPath="$data" -httpListenAddr="127.0.0.1:$HP" -retentionPeriod=30d \
      -syslog.listenAddr.tcp="127.0.0.1:$SP" -loggerLevel=WARN >>"$WORK/vl.log" 2>&1 &
    health=health
  fi
  PID=$!
  PIDS+=("$PID")
  deadline=$((SECONDS + 120))
  until [ -n "$(ss -Htln "( sport = :$SP )")" ] && curl -sf --max-time 2 -o /dev/null "http://127.0.0.1:$HP/$health"; do
    kill -0 "$PID" 2>/dev/null || die "$kind exited at start"
    [ $SECONDS -lt $deadline ] || die "$kind did not start within 120s"
    sleep 0.1
  done
}

ING=$WORK/ingest.tsv
printf 'round\ttarget\tinput\tevents_per_s\tcpu_s\tbusy_s\tstore_B_per_event\n' >"$ING"

# ingest ROUND KIND INPUT: a fresh server ingests INPUT.log until a count
# finds every line; one row of the ingest table.
ingest() {
  local round=$1 kind=$2 input=$3 data=$WORK/$2-$3 t0 b0 s e wait_url tok=() ticks busy bytes store
  rm -rf "$data"
  start "$kind" "$data"
  if [ "$kind" = vigil ]; then
    wait_url="http://127.0.0.1:$HP/api/v1/search?q=%7Bvigil.input%3D%22syslog%22%7D%20%7C%20stats%20count()%20rows&order=none"
    tok=(-token "$(cat "$data/api-token")")
    store=$data/store
  else
    wait_url="http://127.0.0.1:$HP/select/logsql/query?query=*%20%7C%20stats%20count()%20rows"
    store=$data
  fi
  t0=$(cpu_ticks "$PID")
  b0=$(busy_ticks)
  s=$(date +%s%N)
  "$WORK/loadgen" -send "$WORK/$input.log" -addr "127.0.0.1:$SP" >/dev/null
  "$WORK/loadgen" -wait "$wait_url" "${tok[@]}" -lines "$N" -timeout 10m >/dev/null || die "$kind did not store every line of $input"
  e=$(date +%s%N)
  ticks=$(($(cpu_ticks "$PID") - t0))
  busy=$(($(busy_ticks) - b0))
  stop "$PID"
  bytes=$(du -sb "$store" | cut -f1)
  printf '%d\t%s\t%s\t%.0f\t%.1f\t%.1f\t%.1f\n' "$round" "$kind" "$input" \
    "$(awk -v n="$N" -v a="$s" -v b="$e" 'BEGIN {print n / ((b - a) / 1e9)}')" \
    "$(awk -v t="$ticks" -v hz="$CLK_TCK" 'BEGIN {print t / hz}')" \
    "$(awk -v t="$busy" -v hz="$CLK_TCK" 'BEGIN {print t / hz}')" \
    "$(awk -v b="$bytes" -v n="$N" 'BEGIN {print b / n}')" |
    tee -a "$ING" | tr '\t' ' ' | sed 's/^/bench-zhsearch: ingest: /' >&2
}

log "$(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq "$IROUNDS"); do
  for kind in vigil vl; do
    for input in plain pairs; do ingest "$round" "$kind" "$input"; done
  done
done
if [ "$SEARCH" = 0 ]; then
  column -t -s $'\t' "$ING"
  exit 0
fi

# The searches: NAME, then the filter as Vigil is given it, and its pairs.
SEARCHES=(
  "rare|司马青云|seq(司马, 马青, 青云)"
  "name|张伟|seq(张伟)"
  "common|登录失败|seq(登录, 录失, 失败)"
  "absent|钓鱼网站|seq(钓鱼, 鱼网, 网站)"
  "field|user.full_name:张伟|seq(张伟)"
)
PAIRS='"log.syslog.sd.bg@32473.h"'

log "copying the stores for victoria-logs"
cp -a "$WORK/vigil-plain/store" "$WORK/vlcopy-plain"
cp -a "$WORK/vigil-pairs/store" "$WORK/vlcopy-pairs"
start vigil "$WORK/vigil-plain"
VP=$HP
start vigil "$WORK/vigil-pairs"
VB=$HP
start vl "$WORK/vlcopy-plain"
LP=$HP
start vl "$WORK/vlcopy-pairs"
LB=$HP
TOKP=$(cat "$WORK/vigil-plain/api-token")
TOKB=$(cat "$WORK/vigil-pairs/api-token")

enc() { jq -rn --arg q "$1" '$q|@uri'; }
R="start=$START&end=$END"
# url SERVER SHAPE QUERY: the request of a page (newest 100) or a count.
url() {
  local port q
  case $1 in vp) port=$VP ;; vb) port=$VB ;; lp) port=$LP ;; lb) port=$LB ;; esac
  if [ "$2" = count ]; then q="$3 | stats count() n"; else q=$3; fi
  case $1:$2 in
    v?:page) echo "http://127.0.0.1:$port/api/v1/search/hits?$R&size=100&q=$(enc "$q")" ;;
    v?:count) echo "http://127.0.0.1:$port/api/v1/search?$R&order=none&q=$(enc "$q")" ;;
    l?:page) echo "http://127.0.0.1:$port/select/logsql/query?$R&limit=100&query=$(enc "$q")" ;;
    l?:count) echo "http://127.0.0.1:$port/select/logsql/query?$R&query=$(enc "$q")" ;;
  esac
}
# get SERVER URL: one request; prints "CODE SECONDS", the body in $WORK/body.
get() {
  local auth=()
  case $1 in vp) auth=(-H "Authorization: Bearer $TOKP") ;; vb) auth=(-H "Authorization: Bearer $TOKB") ;; esac
  curl -s --max-time 300 "${auth[@]}" -o "$WORK/body" -w '%{http_code} %{time_total}' "$2"
}
# found SERVER SHAPE: the events of a page, or the count.
found() {
  case $1:$2 in
    v?:page) jq -r '.events | length' "$WORK/body" ;;
    *:count) jq -rs '.[0].n // "?"' "$WORK/body" ;;
    l?:page) wc -l <"$WORK/body" ;;
  esac
}

RES=$WORK/search.tsv
printf 'search\tshape\tform\tserver\tcodes\tmedian_s\tmin_s\tmax_s\tfound\n' >"$RES"
# measure NAME SHAPE FORM SERVER=QUERY...: a warm-up of each, then ROUNDS
# requests to each server in turn.
measure() {
  local name=$1 shape=$2 form=$3 i out s
  shift 3
  local -A times codes
  for s in "$@"; do get "${s%%=*}" "$(url "${s%%=*}" "$shape" "${s#*=}")" >/dev/null; done
  for i in $(seq "$ROUNDS"); do
    for s in "$@"; do
      out=$(get "${s%%=*}" "$(url "${s%%=*}" "$shape" "${s#*=}")")
      codes[${s%%=*}]+="${out%% *},"
      times[${s%%=*}]+="${out##* } "
    done
  done
  for s in "$@"; do
    local srv=${s%%=*}
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$shape" "$form" "$srv" \
      "$(echo "${codes[$srv]%,}" | tr ',' '\n' | sort | uniq -c | awk '{printf "%s%dx%s", (NR > 1 ? "," : ""), $1, $2}')" \
      "$(echo "${times[$srv]}" | tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')" \
      "$(echo "${times[$srv]}" | tr ' ' '\n' | grep . | sort -n | head -1)" \
      "$(echo "${times[$srv]}" | tr ' ' '\n' | grep . | sort -n | tail -1)" \
      "$(get "$srv" "$(url "$srv" "$shape" "${s#*=}")" >/dev/null; found "$srv" "$shape")" |
      tee -a "$RES" | tr '\t' ' ' | sed 's/^/bench-zhsearch: search: /' >&2
  done
}

log "load average before the searches: $(cut -d' ' -f1-3 /proc/loadavg)"
for entry in "${SEARCHES[@]}"; do
  IFS='|' read -r name q pairs <<<"$entry"
  field=""
  word=$q
  if [[ $q == *:* ]]; then field=${q%%:*}:; word=${q#*:}; fi
  sub="$field*\"$word\"*"
  for shape in page count; do
    measure "$name" "$shape" word "lp=$q"
    measure "$name" "$shape" substring "vp=$q" "lp=$sub"
    measure "$name" "$shape" pairs "vb=$sub $PAIRS:$pairs" "lb=$sub $PAIRS:$pairs"
  done
done
log "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
column -t -s $'\t' "$ING"
echo
column -t -s $'\t' "$RES"
