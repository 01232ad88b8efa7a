#!/usr/bin/env bash
# Measures the Kafka output's throughput against kcat producing the same
# records to the same broker.
#
#   scripts/bench-kafka-output.sh [-n RECORDS] [-r ROUNDS] [-b TESTBIN] [-q PCT] [-k]
#
#   -n RECORDS  records per run (default 500000)
#   -r ROUNDS   rounds, each a Vigil run then a kcat run (default 3; this
#               machine swings 20-45% between passes, so one run proves
#               nothing)
#   -b TESTBIN  run this test binary of ./internal/output (go test -c)
#               instead of building one from the tree (to compare a change
#               against the tree: build both, pass each in turn)
#   -q PCT      before each run, wait (up to 10 minutes) until the machine
#               was less than PCT% busy over 3 s: on a machine shared with
#               other work, runs then start alike
#   -k          keep the work directory
#
# Every run gets a fresh broker: cmd/vigil-kfake as its own process (one
# broker, in memory, topics of 3 partitions) on a free loopback port.
#
#   vigil  BenchmarkKafkaOutput -benchtime RECORDSx with VIGIL_BENCH_KAFKA
#          naming that broker: RECORDS nginx access-log lines in BSD syslog
#          (about 430 B) are journaled first (not timed), then the output's
#          runner reads them, parses them, encodes the normalized events
#          as JSON (about 750 B), keys them by source.ip and produces them
#          with the output's defaults (zstd, acks=all). events/s comes from
#          the benchmark's ns/op: from the runner's start until every
#          record is acknowledged.
#   kcat   kcat -P -K TAB -z zstd -X acks=all producing the records of the
#          first Vigil run (read back from its topic with kcat -C: the same
#          keys and values, the same count) from a file; wall time from
#          start to exit (kcat exits once every record is acknowledged).
#
# cpu_us_per_event is the CPU time of the measured process per record: for
# Vigil the benchmark's (the runner, the encoding and the client; from its
# cpu-ns/op, the timed part only), for kcat its own (read from /proc every
# 10 ms while it runs: the last 10 ms may be missed). The broker's is in
# neither. busy is how much of all CPUs the whole machine used over the run
# (/proc/stat; for Vigil, over the whole benchmark process, journaling
# included): near 100% means the machine was saturated, by the run or by
# other work. Results go to stdout as a table; docs/benchmarks.md is written
# by hand from runs. Every process started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

N=500000
ROUNDS=3
TESTBIN=""
QUIET=0
KEEP=0
usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while getopts "n:r:b:q:kh" opt; do
  case $opt in
    n) N=$OPTARG ;;
    r) ROUNDS=$OPTARG ;;
    b) TESTBIN=$OPTARG ;;
    q) QUIET=$OPTARG ;;
    k) KEEP=1 ;;
    *) usage ;;
  esac
done
[[ $N =~ ^[1-9][0-9]*$ ]] || { echo "bench-kafka-output: -n must be a positive number" >&2; exit 2; }
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "bench-kafka-output: -r must be a positive number" >&2; exit 2; }
[[ $QUIET =~ ^[0-9]+$ ]] || { echo "bench-kafka-output: -q must be a percentage" >&2; exit 2; }

scripts/install-test-deps.sh # kcat
for cmd in go kcat ss awk; do
  command -v "$cmd" >/dev/null || { echo "bench-kafka-output: $cmd is missing" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/vigil-bench-kafka.XXXXXX)
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  if [ "$KEEP" = 1 ]; then
    echo "bench-kafka-output: work directory kept: $WORK" >&2
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

CLK_TCK=$(getconf CLK_TCK)
NCPU=$(grep -c '^cpu[0-9]' /proc/stat)
log() { echo "bench-kafka-output: $*" >&2; }
die() { log "$*"; exit 1; }
# shellcheck source=scripts/bench-lib.sh
. "$(dirname "$0")/bench-lib.sh"

# start_broker starts a fresh vigil-kfake and sets BROKER and BROKER_PID.
start_broker() {
  local port out
  port=$(free_port)
  out=$WORK/kfake.out
  "$WORK/vigil-kfake" -addr "127.0.0.1:$port" -partitions 3 >"$out" 2>"$WORK/kfake.err" &
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

# stop_broker stops the broker and forgets its PID.
stop_broker() {
  local p keep=()
  for p in "${PIDS[@]}"; do [ "$p" = "$BROKER_PID" ] || keep+=("$p"); done
  PIDS=("${keep[@]}")
  kill -TERM "$BROKER_PID" 2>/dev/null || true
  wait "$BROKER_PID" 2>/dev/null || true
}

log "building vigil-kfake and the output's test binary in $WORK"
go build -o "$WORK/vigil-kfake" ./cmd/vigil-kfake
if [ -z "$TESTBIN" ]; then
  go test -c -o "$WORK/output.test" ./internal/output
  TESTBIN=$WORK/output.test
fi
TESTBIN=$(realpath "$TESTBIN")

RESULTS=$WORK/results.tsv
printf 'round\ttarget\trecords\twall_s\tevents_per_s\tcpu_us_per_event\tbusy\n' >"$RESULTS"
record() { # ROUND TARGET WALL_S CPU_S BUSY_TICKS SPAN_NS (the span the ticks were counted over)
  local row
  row=$(awk -v r="$1" -v t="$2" -v w="$3" -v c="$4" -v b="$5" -v span="$6" -v hz="$CLK_TCK" -v cpus="$NCPU" -v n="$N" \
    'BEGIN { printf "%d\t%s\t%d\t%.2f\t%.0f\t%.1f\t%.0f%%\n", r, t, n, w, n / w, c / n * 1e6, 100 * b / hz / (span / 1e9 * cpus) }')
  printf '%s\n' "$row" >>"$RESULTS"
  log "result: $(tr '\t' ' ' <<<"$row")"
}

for round in $(seq "$ROUNDS"); do
  # Vigil's output.
  wait_quiet
  start_broker
  b0=$(busy_ticks)
  t0=$(date +%s%N)
  out=$(cd internal/output && VIGIL_BENCH_KAFKA=$BROKER VIGIL_BENCH_KAFKA_TOPIC=vigil \
    "$TESTBIN" -test.run '^$' -test.bench '^BenchmarkKafkaOutput$' -test.benchtime "${N}x" 2>&1) ||
    die "benchmark failed: $out"
  t1=$(date +%s%N)
  b1=$(busy_ticks)
  nsop=$(awk '/^BenchmarkKafkaOutput/ {print $3}' <<<"$out")
  cpuns=$(awk '/^BenchmarkKafkaOutput/ {for (i = 4; i < NF; i++) if ($(i + 1) == "cpu-ns/op") print $i}' <<<"$out")
  [ -n "$nsop" ] && [ -n "$cpuns" ] || die "no benchmark result in: $out"
  record "$round" vigil "$(awk -v ns="$nsop" -v n="$N" 'BEGIN {print ns * n / 1e9}')" \
    "$(awk -v ns="$cpuns" -v n="$N" 'BEGIN {print ns * n / 1e9}')" $((b1 - b0)) $((t1 - t0))
  if [ ! -s "$WORK/records.tsv" ]; then
    # The benchmark's first pass produced one record before the timed one.
    kcat -C -b "$BROKER" -t vigil -o beginning -e -q -f '%k\t%s\n' | head -n "$N" >"$WORK/records.tsv" || true
    got=$(wc -l <"$WORK/records.tsv")
    [ "$got" -eq "$N" ] || die "read $got records back from the output's topic, want $N"
    log "records for kcat: $N, $(wc -c <"$WORK/records.tsv") bytes of keys and values"
  fi
  stop_broker

  # kcat, the same records.
  wait_quiet
  start_broker
  b0=$(busy_ticks)
  t0=$(date +%s%N)
  kcat -P -b "$BROKER" -t kcat -K $'\t' -z zstd -X acks=all <"$WORK/records.tsv" &
  kpid=$!
  kticks=0
  while kill -0 "$kpid" 2>/dev/null; do # its CPU time, read until it exits
    t=$(sed 's/^.*) //' "/proc/$kpid/stat" 2>/dev/null | awk '{print $12 + $13}') || true
    [ -z "$t" ] || kticks=$t
    sleep 0.01
  done
  wait "$kpid" || die "kcat -P failed"
  t1=$(date +%s%N)
  b1=$(busy_ticks)
  record "$round" kcat "$(awk -v a="$t0" -v b="$t1" 'BEGIN {print (b - a) / 1e9}')" \
    "$(awk -v t="$kticks" -v hz="$CLK_TCK" 'BEGIN {print t / hz}')" $((b1 - b0)) $((t1 - t0))
  got=$(kcat -C -b "$BROKER" -t kcat -o beginning -e -q -f '%o\n' | wc -l)
  [ "$got" -eq "$N" ] || die "kcat produced $got records, want $N"
  stop_broker
done

column -t -s $'\t' "$RESULTS"
