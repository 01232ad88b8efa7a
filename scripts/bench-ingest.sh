#!/usr/bin/env bash
# Measures end-to-end syslog ingest: Vigil against rsyslog and the
# VictoriaLogs server, all fed the same input.
#
#   scripts/bench-ingest.sh [-n LINES] [-c CONNS] [-r ROUNDS] [-t TARGETS] [-b BIN] [-a N] [-R RATE] [-O] [-k]
#
#   -n LINES    lines to send (default 1000000)
#   -c CONNS    TCP connections, 1 or 2 (default: both, one after the other)
#   -r ROUNDS   how often each configuration runs (default 2; this machine
#               swings 25-45% between passes, so one run proves nothing)
#   -t TARGETS  space-separated subset of
#               "vigil vigil-nodetect vigil-geo rsyslog rsyslog-json victorialogs"
#               (vigil-geo is not in the default set)
#   -b BIN      use this vigil binary instead of building ./cmd/vigil
#               (to compare a change against the tree: run both in turn)
#   -a N        make every Nth line part of a password-guessing run, so the
#               built-in rules raise alerts (vigil-loadgen -attack N)
#   -R RATE     send at RATE lines/s instead of as fast as the target reads
#               (vigil-loadgen -rate): with -a, the alert delay at a given load;
#               events/s then shows whether the target kept up
#   -O          send octet-counted frames instead of LF-terminated lines
#   -k          keep the work directory (data dirs, logs, input file)
#
# One input file is generated (cmd/vigil-loadgen: nginx JSON access logs in
# BSD syslog, ~500 B a line) and every target is fed exactly those bytes over
# TCP by the same sender, which writes 1 MiB at a time. Targets alternate
# within a round. For each run:
#
#   vigil         fresh data dir, embedded defaults (the built-in rule pack
#                 runs); done when a search counts all events
#                 (`{vigil.input="syslog"} | stats count() rows`: alerts are not
#                 counted), i.e. when the last event is searchable. Disk:
#                 DIR/store and DIR/journal after SIGTERM. Also logs the
#                 alerts raised and their delay (vigil_detect_alert_delay_seconds).
#   vigil-nodetect  the same with detect.enabled: false (what detection costs).
#   vigil-geo     the same as vigil with geoip.databases naming the ip2region
#                 test database ($VIGIL_IP2REGION_TESTDB, default
#                 /var/cache/vigil-test/ip2region.db; scripts/fetch-ip2region-testdb.sh):
#                 what placing every source address costs.
#   rsyslog       private rsyslogd -n, imtcp -> omfile with a plain template;
#                 done when the file has all lines. Disk: the file.
#   rsyslog-json  the same plus mmjsonparse, writing %$!all-json%.
#   victorialogs  the VictoriaLogs server of the version Vigil embeds, built
#                 from the Go module cache, receiving the same syslog stream
#                 (it stores the line, it does not parse the JSON); done when
#                 its search counts all events. Disk: its data dir after stop.
#                 This is the reference the project's target is set against.
#
# Wall time runs from the sender's first byte to done. CPU seconds are the
# receiver's utime+stime (/proc/PID/stat) from just before sending to done;
# peak RSS is its VmHWM; busy_s is the CPU time of the whole machine (all
# processes, from /proc/stat) over the same span, so a run that shared the
# CPUs with other work shows it (2 CPUs: busy_s close to 2 x wall_s means
# the machine was saturated). Results go to stdout as a table; nothing is
# written to the docs (docs/benchmarks.md is written by hand from runs).
# Every wait is bounded; every process started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

N=1000000
CONNS="1 2"
ROUNDS=2
TARGETS="vigil vigil-nodetect rsyslog rsyslog-json victorialogs"
OCTET=""
KEEP=0
VIGIL_BIN=""
ATTACK=0
RATE=0
usage() { sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while getopts "n:c:r:t:b:a:R:Okh" opt; do
  case $opt in
    n) N=$OPTARG ;;
    c) CONNS=$OPTARG ;;
    r) ROUNDS=$OPTARG ;;
    t) TARGETS=$OPTARG ;;
    b) VIGIL_BIN=$OPTARG ;;
    a) ATTACK=$OPTARG ;;
    R) RATE=$OPTARG ;;
    O) OCTET="-octet" ;;
    k) KEEP=1 ;;
    *) usage ;;
  esac
done
[[ $N =~ ^[1-9][0-9]*$ ]] || { echo "bench-ingest: -n must be a positive number" >&2; exit 2; }
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "bench-ingest: -r must be a positive number" >&2; exit 2; }
[[ $RATE =~ ^[0-9]+$ ]] || { echo "bench-ingest: -R must be a number of lines per second" >&2; exit 2; }
for c in $CONNS; do [[ $c == 1 || $c == 2 ]] || { echo "bench-ingest: -c must be 1 or 2" >&2; exit 2; }; done
for t in $TARGETS; do
  case $t in vigil|vigil-nodetect|vigil-geo|rsyslog|rsyslog-json|victorialogs) ;; *) echo "bench-ingest: unknown target $t" >&2; exit 2 ;; esac
done

scripts/install-test-deps.sh # rsyslog, curl
for cmd in go curl rsyslogd ss awk; do
  command -v "$cmd" >/dev/null || { echo "bench-ingest: $cmd is missing" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/vigil-bench.XXXXXX)
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  if [ "$KEEP" = 1 ]; then
    echo "bench-ingest: work directory kept: $WORK" >&2
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

CLK_TCK=$(getconf CLK_TCK)
WAIT_S=$((60 + N / 5000)) # the longest any one run may take to finish

log() { echo "bench-ingest: $*" >&2; }
die() { log "$*"; exit 1; }

# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh

# send prints the sender's report; the caller reads start_unix_ns from it.
send() {
  "$WORK/loadgen" -send "$WORK/input.log" -addr "127.0.0.1:$1" -conns "$2" -rate "$RATE" $OCTET
}
field() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" <<<"$2"; }

RESULTS=$WORK/results.tsv
printf 'round\tconns\ttarget\tevents\tsend_s\twall_s\tevents_per_s\tcpu_s\tbusy_s\tpeak_rss_MiB\tstore_B_per_ev\tjournal_B_per_ev\tfile_B_per_ev\n' >"$RESULTS"

# record ROUND CONNS TARGET SENT START_NS DONE_NS CPU_TICKS HWM_KIB STORE JOURNAL FILE
# (BUSY0 and BUSY1, the machine's busy ticks at start and done, are set by
# the caller.)
record() {
  local row
  row=$(awk -v r="$1" -v c="$2" -v t="$3" -v sent="$4" -v s="$5" -v d="$6" -v ticks="$7" -v hz="$CLK_TCK" \
    -v hwm="$8" -v st="$9" -v jn="${10}" -v fl="${11}" -v n="$N" -v busy="$((BUSY1 - BUSY0))" 'BEGIN {
      wall = (d - s) / 1e9
      f = "%d\t%d\t%s\t%d\t%s\t%.2f\t%.0f\t%.2f\t%.2f\t%.0f\t%s\t%s\t%s\n"
      printf f, r, c, t, n, sent, wall, n / wall, ticks / hz, busy / hz, hwm / 1024,
        (st == "" ? "-" : sprintf("%.1f", st / n)), (jn == "" ? "-" : sprintf("%.1f", jn / n)),
        (fl == "" ? "-" : sprintf("%.1f", fl / n))
    }')
  printf '%s\n' "$row" >>"$RESULTS"
  log "result: $(tr '\t' ' ' <<<"$row")"
}

# COUNT_Q is the LogsQL query "* | stats count() rows", URL-encoded.
COUNT_Q='*%20%7C%20stats%20count()%20rows'
# VIGIL_COUNT_Q counts the events of the syslog input only (a stream filter:
# cheap, and alerts, which belong to no input, are left out).
VIGIL_COUNT_Q='%7Bvigil.input%3D%22syslog%22%7D%20%7C%20stats%20count()%20rows'

# search_count prints the number of events Vigil finds for a query, or nothing.
search_count() {
  curl -sf --max-time 30 -H "Authorization: Bearer $2" \
    "http://127.0.0.1:$1/api/v1/search?q=$3+|+stats+count()+rows&order=none" |
    sed -n 's/.*"rows":"\([0-9]*\)".*/\1/p'
}

run_vigil() {
  local round=$1 conns=$2 name=${3:-vigil} dir=$WORK/vigil-data hp sp pid token t0 out start sent n done_ns deadline ticks hwm
  local cfg=()
  rm -rf "$dir"
  if [ "$name" = vigil-nodetect ]; then
    printf 'detect:\n  enabled: false\n' >"$WORK/nodetect.yaml"
    cfg=(--config "$WORK/nodetect.yaml")
  fi
  if [ "$name" = vigil-geo ]; then
    local db=${VIGIL_IP2REGION_TESTDB:-/var/cache/vigil-test/ip2region.db}
    [ -s "$db" ] || die "vigil-geo: no $db (scripts/fetch-ip2region-testdb.sh)"
    printf 'geoip:\n  databases: [{path: %s}]\n' "$db" >"$WORK/geo.yaml"
    cfg=(--config "$WORK/geo.yaml")
  fi
  hp=$(free_port)
  sp=$(free_port)
  while [ "$sp" = "$hp" ]; do sp=$(free_port); done
  "$WORK/vigil" serve "${cfg[@]}" --data "$dir" --http "127.0.0.1:$hp" --syslog "127.0.0.1:$sp" >"$WORK/$name-$round-$conns.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  deadline=$((SECONDS + 30))
  until [ -s "$dir/api-token" ] && curl -sf --max-time 2 -o /dev/null "http://127.0.0.1:$hp/metrics" \
      -H "Authorization: Bearer $(cat "$dir/api-token")"; do
    kill -0 "$pid" 2>/dev/null || die "vigil exited at start: $(tail -5 "$WORK/vigil-$round-$conns.log")"
    [ $SECONDS -lt $deadline ] || die "vigil did not start within 30s"
    sleep 0.1
  done
  token=$(cat "$dir/api-token")
  BUSY0=$(busy_ticks)
  t0=$(cpu_ticks "$pid")
  out=$(send "$sp" "$conns") || die "send to vigil failed"
  start=$(field start_unix_ns "$out")
  sent=$(field elapsed "$out")
  sent=${sent%s}
  out=$("$WORK/loadgen" -wait "http://127.0.0.1:$hp/api/v1/search?q=$VIGIL_COUNT_Q&order=none" -token "$token" \
    -lines "$N" -timeout "${WAIT_S}s") || die "vigil: $out"
  done_ns=$(field done_unix_ns "$out")
  BUSY1=$(busy_ticks)
  n=$(field lines "$out")
  [ "$n" -eq "$N" ] || log "WARNING: vigil search counts $n events, $N were sent"
  ticks=$(($(cpu_ticks "$pid") - t0))
  hwm=$(peak_rss_kib "$pid")
  # Correctness spot check: the JSON fields were parsed.
  local want got
  want=$(grep -c '"statuscode":440' "$WORK/input.log" || true)
  got=$(search_count "$hp" "$token" 'http.response.status_code:%3D440')
  [ "$got" = "$want" ] || log "WARNING: vigil finds ${got:-?} events with http.response.status_code 440, the input has $want"
  if [ "$name" = vigil ]; then
    # Alerts raised and how long after receipt they were handed out.
    curl -sf --max-time 10 -H "Authorization: Bearer $token" "http://127.0.0.1:$hp/metrics" | awk '
      /^vigil_detect_alert_delay_seconds_bucket/ { match($0, /le="[^"]+"/); le = substr($0, RSTART + 4, RLENGTH - 5); n++; les[n] = le; cnt[n] = $NF }
      /^vigil_detect_alert_delay_seconds_count/ { total = $NF }
      /^vigil_detect_events_total/ { evs = $NF }
      END {
        p50 = p90 = p99 = top = "-"
        for (i = 1; i <= n; i++) {
          if (p50 == "-" && cnt[i] >= 0.5 * total) p50 = les[i]
          if (p90 == "-" && cnt[i] >= 0.9 * total) p90 = les[i]
          if (p99 == "-" && cnt[i] >= 0.99 * total) p99 = les[i]
          if (top == "-" && cnt[i] >= total) top = les[i]
        }
        printf "bench-ingest: detection: %d events evaluated, %d alerts; alert delay p50 <= %ss, p90 <= %ss, p99 <= %ss, max <= %ss\n", evs, total, p50, p90, p99, top
      }' >&2 || true
  fi
  stop "$pid"
  record "$round" "$conns" "$name" "$sent" "$start" "$done_ns" "$ticks" "$hwm" \
    "$(du -sb "$dir/store" | cut -f1)" "$(du -sb "$dir/journal" | cut -f1)" ""
}

run_rsyslog() {
  local round=$1 conns=$2 json=$3 name=rsyslog dir=$WORK/rsyslog port pid t0 out start sent done_ns deadline ticks hwm
  [ "$json" = 1 ] && name=rsyslog-json
  rm -rf "$dir"
  mkdir -p "$dir/work"
  port=$(free_port)
  {
    echo "global(workDirectory=\"$dir/work\")"
    echo "module(load=\"imtcp\")"
    echo "input(type=\"imtcp\" address=\"127.0.0.1\" port=\"$port\")"
    if [ "$json" = 1 ]; then
      echo 'module(load="mmjsonparse")'
      echo 'template(name="out" type="string" string="%$!all-json%\n")'
      echo 'action(type="mmjsonparse" cookie="")'
    else
      echo 'template(name="out" type="string" string="%timereported:::date-rfc3339% %hostname% %syslogtag%%msg%\n")'
    fi
    echo "action(type=\"omfile\" file=\"$dir/out.log\" template=\"out\")"
  } >"$dir/rsyslog.conf"
  rsyslogd -n -f "$dir/rsyslog.conf" -i "$dir/rsyslogd.pid" >"$WORK/$name-$round-$conns.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  deadline=$((SECONDS + 30))
  until [ -n "$(ss -Htln "( sport = :$port )")" ]; do
    kill -0 "$pid" 2>/dev/null || die "rsyslogd exited at start: $(tail -5 "$WORK/$name-$round-$conns.log")"
    [ $SECONDS -lt $deadline ] || die "rsyslogd did not listen within 30s"
    sleep 0.1
  done
  BUSY0=$(busy_ticks)
  t0=$(cpu_ticks "$pid")
  out=$(send "$port" "$conns") || die "send to rsyslogd failed"
  start=$(field start_unix_ns "$out")
  sent=$(field elapsed "$out")
  sent=${sent%s}
  out=$("$WORK/loadgen" -wait "$dir/out.log" -lines "$N" -timeout "${WAIT_S}s") || die "$name: $out"
  done_ns=$(field done_unix_ns "$out")
  BUSY1=$(busy_ticks)
  ticks=$(($(cpu_ticks "$pid") - t0))
  hwm=$(peak_rss_kib "$pid")
  if [ "$json" = 1 ] && ! head -1 "$dir/out.log" | grep -q '"statuscode"'; then
    log "WARNING: mmjsonparse did not parse the JSON: $(head -c 300 "$dir/out.log")"
  fi
  stop "$pid"
  record "$round" "$conns" "$name" "$sent" "$start" "$done_ns" "$ticks" "$hwm" "" "" "$(stat -c %s "$dir/out.log")"
}

run_victorialogs() {
  local round=$1 conns=$2 dir=$WORK/vl-data hp sp pid t0 out start sent n done_ns deadline ticks hwm
  rm -rf "$dir"
  hp=$(free_port)
  sp=$(free_port)
  while [ "$sp" = "$hp" ]; do sp=$(free_port); done
  "$WORK/victoria-logs" -storageDataPath="$dir" -httpListenAddr="127.0.0.1:$hp" \
    -syslog.listenAddr.tcp="127.0.0.1:$sp" -loggerLevel=WARN >"$WORK/victorialogs-$round-$conns.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  deadline=$((SECONDS + 30))
  until [ -n "$(ss -Htln "( sport = :$sp )")" ] && curl -sf --max-time 2 -o /dev/null "http://127.0.0.1:$hp/health"; do
    kill -0 "$pid" 2>/dev/null || die "victoria-logs exited at start: $(tail -5 "$WORK/victorialogs-$round-$conns.log")"
    [ $SECONDS -lt $deadline ] || die "victoria-logs did not start within 30s"
    sleep 0.1
  done
  BUSY0=$(busy_ticks)
  t0=$(cpu_ticks "$pid")
  out=$(send "$sp" "$conns") || die "send to victoria-logs failed"
  start=$(field start_unix_ns "$out")
  sent=$(field elapsed "$out")
  sent=${sent%s}
  out=$("$WORK/loadgen" -wait "http://127.0.0.1:$hp/select/logsql/query?query=$COUNT_Q" \
    -lines "$N" -timeout "${WAIT_S}s") || die "victoria-logs: $out"
  done_ns=$(field done_unix_ns "$out")
  BUSY1=$(busy_ticks)
  n=$(field lines "$out")
  [ "$n" -eq "$N" ] || log "WARNING: victoria-logs counts $n events, $N were sent"
  ticks=$(($(cpu_ticks "$pid") - t0))
  hwm=$(peak_rss_kib "$pid")
  stop "$pid"
  record "$round" "$conns" victorialogs "$sent" "$start" "$done_ns" "$ticks" "$hwm" "$(du -sb "$dir" | cut -f1)" "" ""
}

if [ -n "$VIGIL_BIN" ]; then
  [ -x "$VIGIL_BIN" ] || die "-b $VIGIL_BIN is not an executable"
  cp "$VIGIL_BIN" "$WORK/vigil"
  log "using $VIGIL_BIN; building vigil-loadgen"
else
  log "building vigil and vigil-loadgen"
  go build -o "$WORK/vigil" ./cmd/vigil
fi
go build -o "$WORK/loadgen" ./cmd/vigil-loadgen
if [[ " $TARGETS " == *" victorialogs "* ]]; then
  build_victorialogs
fi
log "generating $N lines"
"$WORK/loadgen" -gen "$N" -attack "$ATTACK" -o "$WORK/input.log"
log "input: $(stat -c %s "$WORK/input.log") bytes, $N lines; $(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg)"

for round in $(seq "$ROUNDS"); do
  for conns in $CONNS; do
    for target in $TARGETS; do
      log "round $round, $conns connection(s): $target"
      case $target in
        vigil) run_vigil "$round" "$conns" ;;
        vigil-nodetect) run_vigil "$round" "$conns" vigil-nodetect ;;
        vigil-geo) run_vigil "$round" "$conns" vigil-geo ;;
        rsyslog) run_rsyslog "$round" "$conns" 0 ;;
        rsyslog-json) run_rsyslog "$round" "$conns" 1 ;;
        victorialogs) run_victorialogs "$round" "$conns" ;;
      esac
    done
  done
done

echo
column -t -s $'\t' "$RESULTS"
