#!/usr/bin/env bash
# Measures what searches cost: wall time, CPU time and peak memory of the
# searches of issue 11 on Vigil, on another Vigil binary (the tree before a
# change) and on the VictoriaLogs server, all holding the same input.
#
#   scripts/bench-search.sh [-n LINES] [-r ROUNDS] [-t TARGETS] [-b BIN] [-k]
#
#   -n LINES    lines to ingest (default 1000000)
#   -r ROUNDS   how often each search runs on each target (default 2)
#   -t TARGETS  space-separated subset of "vigil vigil-b victorialogs"
#               (default: all; vigil-b needs -b)
#   -b BIN      the vigil binary of target vigil-b
#   -k          keep the work directory (data dirs, logs, input file)
#
# The input is scripts/bench-ingest.sh's (cmd/vigil-loadgen: nginx JSON
# access logs in BSD syslog). Vigil (detect.enabled: false) and
# victoria-logs each ingest it once over TCP; both Vigil binaries then
# search the same data directory. Each search runs on a new server process
# started on that data, so its peak RSS (VmHWM) is the search's plus the
# idle server's (rss_start, VmRSS before the search). Searches:
#
#   regex      every field against a regular expression that rarely
#              matches, counted: `*:~"(?i)(a|e).*(i|o).*(u|y).*z.*q" | stats count()`
#   regex-3s   the same on Vigil with http.search_timeout: 3s (target vigil)
#   limit1k    the newest 1,000 events (`*`, limit=1000: the API's default)
#   limit100k  the newest 100,000 events (`*`, limit=100000)
#   groupby8   eight at once of a group-by on five fields of every event:
#              Vigil `* | stats by (source.ip, user.name, url.path,
#              url.query, user_agent.original) count()`; victoria-logs, which
#              keeps the JSON in _msg, the same keys after `unpack_json`
#
# CPU seconds are the server's utime+stime over the search
# (/proc/PID/stat); codes are the HTTP status of each request. Results go
# to stdout as a table; every process started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

N=1000000
ROUNDS=2
TARGETS=""
VIGIL_B=""
KEEP=0
usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while getopts "n:r:t:b:kh" opt; do
  case $opt in
    n) N=$OPTARG ;;
    r) ROUNDS=$OPTARG ;;
    t) TARGETS=$OPTARG ;;
    b) VIGIL_B=$OPTARG ;;
    k) KEEP=1 ;;
    *) usage ;;
  esac
done
[[ $N =~ ^[1-9][0-9]*$ ]] || { echo "bench-search: -n must be a positive number" >&2; exit 2; }
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "bench-search: -r must be a positive number" >&2; exit 2; }
if [ -z "$TARGETS" ]; then
  TARGETS="vigil victorialogs"
  [ -z "$VIGIL_B" ] || TARGETS="vigil vigil-b victorialogs"
fi
for t in $TARGETS; do
  case $t in vigil|victorialogs) ;; vigil-b) [ -x "$VIGIL_B" ] || { echo "bench-search: vigil-b needs -b BIN" >&2; exit 2; } ;;
    *) echo "bench-search: unknown target $t" >&2; exit 2 ;; esac
done
for cmd in go curl ss awk; do
  command -v "$cmd" >/dev/null || { echo "bench-search: $cmd is missing" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/vigil-bench-search.XXXXXX)
PIDS=()
cleanup() {
  stop_all
  if [ "$KEEP" = 1 ]; then echo "bench-search: work directory kept: $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

CLK_TCK=$(getconf CLK_TCK)
log() { echo "bench-search: $*" >&2; }
die() { log "$*"; exit 1; }
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# start TARGET [CONFIG]: starts a server on the target's data with a new
# HTTP port; sets PID, HP (HTTP port) and SP (syslog port).
start() {
  local target=$1 cfg=${2:-$WORK/nodetect.yaml} deadline
  HP=$(free_port)
  SP=$(free_port)
  while [ "$SP" = "$HP" ]; do SP=$(free_port); done
  case $target in
    vigil|vigil-b)
      local bin=$WORK/vigil
      [ "$target" = vigil ] || bin=$VIGIL_B
      "$bin" serve --config "$cfg" --data "$WORK/vigil-data" --http "127.0.0.1:$HP" --syslog "127.0.0.1:$SP" \
        >>"$WORK/$target.log" 2>&1 &
      ;;
    victorialogs)
      "$WORK/victoria-logs" -storageDataPath="$WORK/vl-data" -httpListenAddr="127.0.0.1:$HP" \
        -syslog.listenAddr.tcp="127.0.0.1:$SP" -loggerLevel=WARN >>"$WORK/$target.log" 2>&1 &
      ;;
  esac
  PID=$!
  PIDS+=("$PID")
  deadline=$((SECONDS + 60))
  until [ -n "$(ss -Htln "( sport = :$SP )")" ] && curl -sf --max-time 2 -o /dev/null "http://127.0.0.1:$HP/$(health "$target")"; do
    kill -0 "$PID" 2>/dev/null || die "$target exited at start: $(tail -5 "$WORK/$target.log")"
    [ $SECONDS -lt $deadline ] || die "$target did not start within 60s"
    sleep 0.1
  done
}
health() { if [ "$1" = victorialogs ]; then echo health; else echo healthz; fi; }

# url TARGET SEARCH prints the search's URL (without host), or nothing when
# the target does not run it.
url() {
  local q args
  case $2 in
    regex | regex-3s) q='*:~"(?i)(a|e).*(i|o).*(u|y).*z.*q" | stats count() n' ;;
    limit1k) q='*' args='limit=1000' ;;
    limit100k) q='*' args='limit=100000' ;;
    groupby8)
      if [ "$1" = victorialogs ]; then
        q='* | unpack_json fields (ip, user, request_uri, query_string, http_user_agent) | stats by (ip, user, request_uri, query_string, http_user_agent) count() hits'
      else
        q='* | stats by (source.ip, user.name, url.path, url.query, user_agent.original) count() hits'
      fi
      args='limit=100000'
      ;;
  esac
  if [ "$1" = victorialogs ]; then
    [ "$2" != regex-3s ] || return 0
    printf '/select/logsql/query?%s&query=%s' "${args:-limit=0}" "$(jq -rn --arg q "$q" '$q|@uri')"
  else
    [ "$2" != regex-3s ] || [ "$1" = vigil ] || return 0
    case $2 in
      limit*) args="$args&order=desc" ;;
      *) args="${args:+$args&}order=none" ;;
    esac
    printf '/api/v1/search?%s&q=%s' "$args" "$(jq -rn --arg q "$q" '$q|@uri')"
  fi
}

RESULTS=$WORK/results.tsv
printf 'round\ttarget\tsearch\tcodes\twall_s\tcpu_s\tpeak_rss_MiB\trss_start_MiB\tbytes\n' >"$RESULTS"

# run ROUND TARGET SEARCH: one search (groupby8: eight at once) on a new
# server process.
run() {
  local round=$1 target=$2 search=$3 u cfg="" par=1 i t0 s e ticks hwm rss0 codes bytes auth=()
  u=$(url "$target" "$search")
  [ -n "$u" ] || return 0
  [ "$search" != regex-3s ] || cfg=$WORK/timeout.yaml
  [ "$search" != groupby8 ] || par=8
  start "$target" "$cfg"
  [ "$target" = victorialogs ] || auth=(-H "Authorization: Bearer $(cat "$WORK/vigil-data/api-token")")
  sleep 1
  rss0=$(rss_kib "$PID")
  t0=$(cpu_ticks "$PID")
  s=$(date +%s%N)
  for i in $(seq "$par"); do
    curl -s --max-time 600 "${auth[@]}" -o "$WORK/out.$i" -w '%{http_code} %{size_download}\n' \
      "http://127.0.0.1:$HP$u" >"$WORK/code.$i" &
  done
  wait $(jobs -p | grep -vx "$PID" || true) 2>/dev/null || true
  e=$(date +%s%N)
  ticks=$(($(cpu_ticks "$PID") - t0))
  hwm=$(peak_rss_kib "$PID")
  codes=$(cut -d' ' -f1 "$WORK"/code.* | sort | uniq -c | awk '{printf "%s%dx%s", (NR > 1 ? "," : ""), $1, $2}')
  bytes=$(cut -d' ' -f2 "$WORK"/code.* | awk '{s += $1} END {print s}')
  rm -f "$WORK"/code.* "$WORK"/out.*
  stop "$PID"
  printf '%d\t%s\t%s\t%s\t%.2f\t%.2f\t%d\t%d\t%s\n' "$round" "$target" "$search" "$codes" \
    "$(awk -v a="$s" -v b="$e" 'BEGIN {print (b - a) / 1e9}')" "$(awk -v t="$ticks" -v hz="$CLK_TCK" 'BEGIN {print t / hz}')" \
    $((hwm / 1024)) $((rss0 / 1024)) "$bytes" | tee -a "$RESULTS" | tr '\t' ' ' | sed 's/^/bench-search: result: /' >&2
}

command -v jq >/dev/null || die "jq is missing (it URL-encodes the queries)"
log "building vigil and vigil-loadgen"
go build -o "$WORK/vigil" ./cmd/vigil
go build -o "$WORK/loadgen" ./cmd/vigil-loadgen
if [[ " $TARGETS " == *" victorialogs "* ]]; then
  build_victorialogs
fi
printf 'detect:\n  enabled: false\n' >"$WORK/nodetect.yaml"
printf 'detect:\n  enabled: false\nhttp:\n  search_timeout: 3s\n' >"$WORK/timeout.yaml"
log "generating $N lines"
"$WORK/loadgen" -gen "$N" -o "$WORK/input.log"

# Ingest once per data directory; done when a count finds every line.
log "ingesting into vigil"
start vigil
"$WORK/loadgen" -send "$WORK/input.log" -addr "127.0.0.1:$SP" >/dev/null
"$WORK/loadgen" -wait "http://127.0.0.1:$HP/api/v1/search?q=%7Bvigil.input%3D%22syslog%22%7D%20%7C%20stats%20count()%20rows&order=none" \
  -token "$(cat "$WORK/vigil-data/api-token")" -lines "$N" -timeout 10m >/dev/null || die "vigil did not store every line"
stop "$PID"
if [[ " $TARGETS " == *" victorialogs "* ]]; then
  log "ingesting into victoria-logs"
  start victorialogs
  "$WORK/loadgen" -send "$WORK/input.log" -addr "127.0.0.1:$SP" >/dev/null
  "$WORK/loadgen" -wait "http://127.0.0.1:$HP/select/logsql/query?query=*%20%7C%20stats%20count()%20rows" \
    -lines "$N" -timeout 10m >/dev/null || die "victoria-logs did not store every line"
  stop "$PID"
fi
log "$(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg)"

for round in $(seq "$ROUNDS"); do
  for search in regex regex-3s limit1k limit100k groupby8; do
    for target in $TARGETS; do
      run "$round" "$target" "$search"
    done
  done
done

echo
column -t -s $'\t' "$RESULTS"
