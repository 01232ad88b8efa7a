#!/usr/bin/env bash
# Measures 1, 2 and 3 Vigil nodes sharing one Kafka topic (detect.mode
# kafka, one elected detector) against one node detecting locally and kcat
# reading the same topic.
#
#   scripts/bench-scale-out.sh [-n LINES] [-r ROUNDS] [-p PARTS] [-a K] [-t TARGETS] [-b BIN] [-q PCT] [-k]
#
#   -n LINES    nginx lines in the raw topic (default 300000)
#   -r ROUNDS   rounds, each every target in turn (default 2; this machine
#               swings 20-45% between passes, so one run proves nothing)
#   -p PARTS    partitions of the raw topic (default 6)
#   -a K        every Kth line is part of a password-guessing run
#               (vigil-loadgen -attack; default 100)
#   -t TARGETS  space-separated subset of "kcat local kafka1 kafka2 kafka3"
#               (default: all, in that order)
#   -b BIN      use this vigil binary instead of building ./cmd/vigil
#   -q PCT      before each run, wait (up to 10 minutes) until the machine
#               was less than PCT% busy over 3 s
#   -k          keep the work directory (data directories, logs)
#
# Every run gets a fresh broker (cmd/vigil-kfake, one process, in memory)
# whose topic "nginx" (PARTS partitions) is loaded first with LINES lines of
# vigil-loadgen -gen (the nginx JSON alone, as `tail -F access.log | kcat -P`
# sends it: no key, and -X sticky.partitioning.linger.ms=0, so every line
# goes to a random partition). Only then are the readers started, so what
# is measured is how fast they consume a backlog, not how fast kcat
# produces it.
#
#   kcat    kcat -C -e -o beginning -q on the topic: the client's floor
#           (reads the records and writes them to a pipe; no parsing).
#   local   one vigil serve, inputs.kafka on the topic, detect.mode local
#           (the rules run inside the node, behind its indexer).
#   kafkaN  N vigil serve with the same consumer group on the topic,
#           detect.mode kafka (every node publishes its parsed events to
#           the one-partition detection topic, the elected node runs the
#           rules) and cluster.peers naming each other, so one count through
#           the first node counts every node's store.
#
# A node's run is done when every line is searchable:
# `{vigil.input="raw"} | stats count() rows` through the first node (with
# peers, the sum of every node's row) reaches LINES (vigil-loadgen -wait,
# polling every 50 ms). Wall time runs from starting the nodes (start-up
# and the consumer group's joins included) to that; events/s = LINES /
# wall. steady events/s is LINES over the time from the first searchable
# event to done (start-up and the first join left out). detect_s is when
# the detector had processed every event as well (the largest
# vigil_detect_position of the nodes reaches the events published).
# CPU s per 1 M is the nodes' utime+stime summed (/proc/PID/stat, from
# their start to detect_s) per million lines; owner_cpu is the share of
# it used by the node that was the elected detector at the end
# (vigil_detect_kafka_owner 1); broker_cpu the broker's over the same
# span. peak RSS is each node's VmHWM at the end. busy is how much of all
# CPUs the whole machine used over the run (near 100%: saturated).
#
# Alert delay under load: the nodes also read a second topic "probe"
# (input "probe", its own group). While the backlog drains, a probe
# every 2 s: 30 failed ActiveSync logins from one new address with the
# current time, produced with kcat like the lines; its delay is from kcat's
# exit (every line acknowledged by the broker) to the first search through
# the first node (scope=alerts, every 100 ms) that finds an alert for that
# address. Probes sent before done measure the delay under load (the probe
# lines are read at once, next to the backlog, but wait behind it in the
# detection topic: the delay shows how far detection runs behind ingest);
# one probe after detect_s, on idle nodes, is the floor. The kcat target
# has no probes. Results go to stdout as a table; docs/benchmarks.md is
# written by hand from runs. Every process started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

N=300000
ROUNDS=2
PARTS=6
ATTACK=100
TARGETS="kcat local kafka1 kafka2 kafka3"
VIGIL_BIN=""
QUIET=0
KEEP=0
usage() { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while getopts "n:r:p:a:t:b:q:kh" opt; do
  case $opt in
    n) N=$OPTARG ;;
    r) ROUNDS=$OPTARG ;;
    p) PARTS=$OPTARG ;;
    a) ATTACK=$OPTARG ;;
    t) TARGETS=$OPTARG ;;
    b) VIGIL_BIN=$OPTARG ;;
    q) QUIET=$OPTARG ;;
    k) KEEP=1 ;;
    *) usage ;;
  esac
done
for v in N ROUNDS PARTS; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "bench-scale-out: -${v:0:1} must be a positive number" >&2; exit 2; }
done
[[ $ATTACK =~ ^[0-9]+$ ]] || { echo "bench-scale-out: -a must be a number" >&2; exit 2; }
[[ $QUIET =~ ^[0-9]+$ ]] || { echo "bench-scale-out: -q must be a percentage" >&2; exit 2; }
for t in $TARGETS; do
  case $t in kcat|local|kafka1|kafka2|kafka3) ;; *) echo "bench-scale-out: unknown target $t" >&2; exit 2 ;; esac
done

scripts/install-test-deps.sh # kcat, curl
for cmd in go kcat curl ss awk; do
  command -v "$cmd" >/dev/null || { echo "bench-scale-out: $cmd is missing" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/vigil-bench-scale.XXXXXX)
PIDS=()
PROBER=""
cleanup() {
  [ -z "$PROBER" ] || kill -TERM "$PROBER" 2>/dev/null || true
  stop_all
  if [ "$KEEP" = 1 ]; then
    echo "bench-scale-out: work directory kept: $WORK" >&2
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

CLK_TCK=$(getconf CLK_TCK)
NCPU=$(grep -c '^cpu[0-9]' /proc/stat)
WAIT_S=$((120 + N / 2000)) # the longest one run may take
log() { echo "bench-scale-out: $*" >&2; }
die() { log "$*"; exit 1; }
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh

# start_broker starts a fresh vigil-kfake with the raw topic and the probe
# topic and sets BROKER and BROKER_PID.
start_broker() {
  local out=$WORK/kfake.out
  rm -f "$out"
  "$WORK/vigil-kfake" -addr "127.0.0.1:0" -topics nginx,probe -partitions "$PARTS" >"$out" 2>"$WORK/kfake.err" &
  BROKER_PID=$!
  PIDS+=("$BROKER_PID")
  for _ in $(seq 100); do
    if grep -q '^READY ' "$out"; then
      BROKER=$(sed -n 's/^READY //p' "$out")
      return
    fi
    kill -0 "$BROKER_PID" 2>/dev/null || die "vigil-kfake exited: $(cat "$WORK/kfake.err")"
    sleep 0.1
  done
  die "vigil-kfake did not say READY"
}

# produce TOPIC < FILE: each line one record, no key, a random partition
# each (no sticky batches), as `tail -F access.log | kcat -P` ships them.
produce() { kcat -P -b "$BROKER" -t "$1" -X sticky.partitioning.linger.ms=0; }

# load_topic fills the raw topic and checks that it holds every line.
load_topic() {
  local t0 got
  t0=$(date +%s%N)
  produce nginx <"$WORK/access.log" || die "kcat -P failed"
  got=$(offsets_sum)
  [ "$got" -eq "$N" ] || die "the raw topic holds $got records, want $N"
  log "loaded $N lines into $PARTS partitions in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
}

# offsets_sum prints the records in the raw topic: the sum of its
# partitions' end offsets.
offsets_sum() {
  local p args=()
  for p in $(seq 0 $((PARTS - 1))); do args+=(-t "nginx:$p:-1"); done
  kcat -Q -b "$BROKER" "${args[@]}" | awk '{s += $NF} END {print s + 0}'
}

TOKEN=bench-scale-out-token-0123456789
printf '%s\n' "$TOKEN" >"$WORK/token"
chmod 600 "$WORK/token"

# node_config NAME MODE NODES: the configuration of node NAME (n1, n2, n3)
# of NODES, with the HTTP ports HPORT[1..NODES].
node_config() {
  local name=$1 mode=$2 nodes=$3 i
  cat <<YAML
http:
  tokens: [$TOKEN]
inputs:
  kafka:
    - {name: raw, brokers: [$BROKER], topics: [nginx], group: vigil-raw}
    - {name: probe, brokers: [$BROKER], topics: [probe], group: vigil-probe}
YAML
  if [ "$mode" = kafka ]; then
    printf 'detect:\n  mode: kafka\n  kafka:\n    brokers: [%s]\n' "$BROKER"
  fi
  if [ "$nodes" -gt 1 ]; then
    printf 'cluster:\n  name: %s\n  peers:\n' "$name"
    for i in $(seq "$nodes"); do
      [ "n$i" = "$name" ] || printf '    - {name: n%d, url: "http://127.0.0.1:%d", token_file: %s}\n' "$i" "${HPORT[$i]}" "$WORK/token"
    done
  fi
}

api() { curl -sf --max-time 10 -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$1$2"; }
# metric PORT NAME prints the value of an unlabelled metric.
metric() { api "$1" /metrics | awk -v m="$2" '$1 == m {print $2; exit}'; }

# probe_lines IP: 30 failed ActiveSync logins of one account from IP, now.
probe_lines() {
  local ip=$1 now i
  now=$(date -u '+%d/%b/%Y:%H:%M:%S +0000')
  for i in $(seq 30); do
    printf '{"source":"192.168.0.99","ip":"%s","user":"probe@corp.example","time_local":"%s","statuscode":401,"bytes_sent":328,"http_referer":"","http_user_agent":"Apple-iPhone14C2/2006.100","request_uri":"/Microsoft-Server-ActiveSync?User=probe&DeviceId=PROBE%d&DeviceType=iPhone&Cmd=Sync","request_time":0.01,"gzip_ration":"","query_string":"User=probe&DeviceId=PROBE%d&DeviceType=iPhone&Cmd=Sync"}\n' \
      "$ip" "$now" "$i" "$i"
  done
}

# probe PORT IP PHASE: sends one probe and appends "PHASE DELAY_S" to
# $WORK/probes once the first node finds its alert (or "PHASE -" after
# 120 s).
probe() {
  local port=$1 ip=$2 phase=$3 t1 q
  probe_lines "$ip" >"$WORK/probe.jsonl"
  produce probe <"$WORK/probe.jsonl" || { log "kcat -P of a probe failed"; return; }
  t1=$(date +%s%N)
  q="source.ip:%22$ip%22+|+stats+count()+rows"
  for _ in $(seq 1200); do
    if api "$port" "/api/v1/search?scope=alerts&order=none&q=$q" 2>/dev/null | grep -q '"rows":"[1-9]'; then
      echo "$phase $(awk -v a="$t1" -v b="$(date +%s%N)" 'BEGIN {printf "%.2f", (b - a) / 1e9}')" >>"$WORK/probes"
      return
    fi
    sleep 0.1
  done
  echo "$phase -" >>"$WORK/probes"
}

# prober PORT RUN: a probe every 2 s (after the one before found its alert)
# until $WORK/drained exists.
prober() {
  local port=$1 run=$2 i=0
  sleep 2
  while [ ! -e "$WORK/drained" ]; do
    i=$((i + 1))
    probe "$port" "198.18.$run.$i" load
    sleep 2
  done
}

RESULTS=$WORK/results.tsv
printf 'round\ttarget\tevents\twall_s\tevents_per_s\tsteady_per_s\tdetect_s\tcpu_s_per_M\towner_cpu\tbroker_cpu_s_per_M\tpeak_rss_MiB\tbusy\talert_delay_load_s\talert_delay_idle_s\n' >"$RESULTS"

RUN=0

run_kcat() {
  local round=$1 t0 t1 b0 b1 kpid kticks t got
  b0=$(busy_ticks)
  t0=$(date +%s%N)
  kcat -C -b "$BROKER" -t nginx -o beginning -e -q >"$WORK/kcat.out" &
  kpid=$!
  kticks=0
  while kill -0 "$kpid" 2>/dev/null; do # its CPU time, read until it exits
    t=$(sed 's/^.*) //' "/proc/$kpid/stat" 2>/dev/null | awk '{print $12 + $13}') || true
    [ -z "$t" ] || kticks=$t
    sleep 0.01
  done
  wait "$kpid" || die "kcat -C failed"
  t1=$(date +%s%N)
  b1=$(busy_ticks)
  got=$(wc -l <"$WORK/kcat.out")
  [ "$got" -eq "$N" ] || log "WARNING: kcat read $got records, want $N"
  rm -f "$WORK/kcat.out"
  awk -v r="$round" -v n="$N" -v s="$t0" -v d="$t1" -v k="$kticks" -v hz="$CLK_TCK" -v b=$((b1 - b0)) -v cpus="$NCPU" 'BEGIN {
    w = (d - s) / 1e9
    printf "%d\tkcat\t%d\t%.2f\t%.0f\t-\t-\t%.1f\t-\t-\t-\t%.0f%%\t-\t-\n", r, n, w, n / w, k / hz / n * 1e6, 100 * b / hz / (w * cpus)
  }' >>"$RESULTS"
  log "result: $(tail -1 "$RESULTS" | tr '\t' ' ')"
}

# run_nodes ROUND TARGET MODE NODES
run_nodes() {
  local round=$1 target=$2 mode=$3 nodes=$4 i pid t0 b0 b1 k0 out done_ns first_ns detect_ns pos want ticks owner_ticks=0 bticks hwm="" deadline
  local -a PID
  RUN=$((RUN + 1))
  HPORT=()
  for i in $(seq "$nodes"); do
    HPORT[$i]=$(free_port)
  done
  rm -f "$WORK/drained" "$WORK/probes"
  for i in $(seq "$nodes"); do
    rm -rf "$WORK/n$i"
    node_config "n$i" "$mode" "$nodes" >"$WORK/n$i.yaml"
  done
  k0=$(cpu_ticks "$BROKER_PID")
  b0=$(busy_ticks)
  t0=$(date +%s%N)
  for i in $(seq "$nodes"); do
    "$WORK/vigil" serve --config "$WORK/n$i.yaml" --data "$WORK/n$i" --http "127.0.0.1:${HPORT[$i]}" \
      --syslog "127.0.0.1:$(free_port)" >"$WORK/$target-$round-n$i.log" 2>&1 &
    PID[$i]=$!
    PIDS+=("${PID[$i]}")
  done
  deadline=$((SECONDS + 30))
  until api "${HPORT[1]}" /healthz >/dev/null 2>&1; do
    kill -0 "${PID[1]}" 2>/dev/null || die "vigil exited at start: $(tail -5 "$WORK/$target-$round-n1.log")"
    [ $SECONDS -lt $deadline ] || die "vigil did not start within 30s"
    sleep 0.1
  done
  prober "${HPORT[1]}" "$RUN" &
  PROBER=$!
  out=$("$WORK/loadgen" -wait "http://127.0.0.1:${HPORT[1]}/api/v1/search?q=%7Bvigil.input%3D%22raw%22%7D+|+stats+count()+rows&order=none" \
    -token "$TOKEN" -lines "$N" -timeout "${WAIT_S}s") || die "$target: $out"
  done_ns=$(sed -n 's/.*done_unix_ns=\([0-9]*\).*/\1/p' <<<"$out")
  first_ns=$(sed -n 's/.*first_unix_ns=\([0-9]*\).*/\1/p' <<<"$out")
  grep -q "lines=$N\b" <<<"$out" || log "WARNING: the nodes hold $(sed -n 's/.*lines=\([0-9]*\).*/\1/p' <<<"$out") lines, $N were loaded"
  # Detection is done when a node's detector has processed every event:
  # with detect.mode kafka its position is the next offset of the
  # detection topic (one event each), in local mode the next journal
  # sequence number (the journal has only the events here).
  touch "$WORK/drained"
  wait "$PROBER" || true
  PROBER=""
  want=$N
  [ ! -e "$WORK/probes" ] || want=$((N + 30 * $(wc -l <"$WORK/probes")))
  deadline=$((SECONDS + WAIT_S))
  while :; do
    pos=0
    for i in $(seq "$nodes"); do
      p=$(metric "${HPORT[$i]}" vigil_detect_position 2>/dev/null || true)
      p=${p%%.*}
      [ -z "$p" ] || [ "$(awk -v a="$p" 'BEGIN {printf "%d", a}')" -le "$pos" ] || pos=$(awk -v a="$p" 'BEGIN {printf "%d", a}')
    done
    [ "$pos" -lt "$want" ] || break
    [ $SECONDS -lt $deadline ] || { log "WARNING: detection at $pos of $want events after ${WAIT_S}s"; break; }
    sleep 0.2
  done
  detect_ns=$(date +%s%N)
  b1=$(busy_ticks)
  ticks=0
  for i in $(seq "$nodes"); do
    t=$(cpu_ticks "${PID[$i]}")
    ticks=$((ticks + t))
    if [ "$mode" = kafka ] && [ "$(metric "${HPORT[$i]}" vigil_detect_kafka_owner)" = 1 ]; then owner_ticks=$t; fi
    hwm="$hwm${hwm:+/}$(($(peak_rss_kib "${PID[$i]}") / 1024))"
  done
  bticks=$(($(cpu_ticks "$BROKER_PID") - k0))
  # The floor: one probe on idle nodes.
  probe "${HPORT[1]}" "198.18.$RUN.250" idle
  for i in $(seq "$nodes"); do stop "${PID[$i]}"; done
  awk -v r="$round" -v t="$target" -v n="$N" -v s="$t0" -v f="$first_ns" -v d="$done_ns" -v dd="$detect_ns" \
    -v k="$ticks" -v ok="$owner_ticks" -v bk="$bticks" -v hz="$CLK_TCK" -v b=$((b1 - b0)) -v cpus="$NCPU" \
    -v mode="$mode" -v hwm="$hwm" -v pf="$WORK/probes" 'BEGIN {
      w = (d - s) / 1e9
      while ((getline line < pf) > 0) {
        split(line, a, " ")
        if (a[2] == "-") { miss[a[1]]++; continue }
        v = a[2] + 0
        if (!(a[1] in lo) || v < lo[a[1]]) lo[a[1]] = v
        if (!(a[1] in hi) || v > hi[a[1]]) hi[a[1]] = v
        cnt[a[1]]++
      }
      for (ph in cnt) rng[ph] = (lo[ph] == hi[ph] ? sprintf("%.2f", lo[ph]) : sprintf("%.2f-%.2f", lo[ph], hi[ph])) " (" cnt[ph] ")"
      for (ph in miss) rng[ph] = rng[ph] " " miss[ph] " missed"
      printf "%d\t%s\t%d\t%.2f\t%.0f\t%s\t%.2f\t%.1f\t%s\t%.1f\t%s\t%.0f%%\t%s\t%s\n", r, t, n, w, n / w, (d > f && f > 0 ? sprintf("%.0f", n / ((d - f) / 1e9)) : "-"),
        (dd - s) / 1e9, k / hz / n * 1e6, (mode == "kafka" ? sprintf("%.0f%%", 100 * ok / k) : "-"), bk / hz / n * 1e6,
        hwm, 100 * b / hz / ((dd - s) / 1e9 * cpus), ("load" in rng ? rng["load"] : "-"), ("idle" in rng ? rng["idle"] : "-")
    }' >>"$RESULTS"
  log "result: $(tail -1 "$RESULTS" | tr '\t' ' ')"
}

if [ -n "$VIGIL_BIN" ]; then
  [ -x "$VIGIL_BIN" ] || die "-b $VIGIL_BIN is not an executable"
  cp "$VIGIL_BIN" "$WORK/vigil"
else
  log "building vigil"
  go build -o "$WORK/vigil" ./cmd/vigil
fi
go build -o "$WORK/vigil-kfake" ./cmd/vigil-kfake
go build -o "$WORK/loadgen" ./cmd/vigil-loadgen
"$WORK/loadgen" -gen "$N" -attack "$ATTACK" -o "$WORK/syslog.log"
sed 's/^[^{]*//' "$WORK/syslog.log" >"$WORK/access.log" # the JSON only, as nginx writes it to a file
rm "$WORK/syslog.log"
log "input: $N lines, $(stat -c %s "$WORK/access.log") bytes; $NCPU CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg)"

for round in $(seq "$ROUNDS"); do
  for target in $TARGETS; do
    wait_quiet
    log "round $round: $target"
    start_broker
    load_topic
    case $target in
      kcat) run_kcat "$round" ;;
      local) run_nodes "$round" local local 1 ;;
      kafka1) run_nodes "$round" kafka1 kafka 1 ;;
      kafka2) run_nodes "$round" kafka2 kafka 2 ;;
      kafka3) run_nodes "$round" kafka3 kafka 3 ;;
    esac
    stop "$BROKER_PID"
  done
done

echo
column -t -s $'\t' "$RESULTS"
