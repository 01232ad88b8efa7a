# Helpers of the benchmark scripts (scripts/bench-*.sh), which source this
# file after defining log, die, WORK and the array PIDS.

# free_port prints a loopback port that nothing uses over TCP or UDP.
free_port() {
  local p
  for _ in $(seq 100); do
    p=$((20000 + RANDOM % 40000))
    if [ -z "$(ss -Hantu "( sport = :$p )")" ]; then
      echo "$p"
      return
    fi
  done
  die "no free port found"
}

# cpu_ticks prints utime+stime of PID in clock ticks (fields 14 and 15 of
# /proc/PID/stat, counted after the ")" that ends the command name).
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
peak_rss_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }
# busy_ticks prints the CPU ticks the whole machine spent not idle.
busy_ticks() { awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8 + $9; exit}' /proc/stat; }

# wait_quiet waits (up to 10 minutes) until the machine was less than
# QUIET% busy over 3 s; QUIET 0 does not wait.
wait_quiet() {
  [ "$QUIET" -gt 0 ] || return 0
  local a b
  for _ in $(seq 200); do
    a=$(awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6; exit}' /proc/stat)
    sleep 3
    b=$(awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6; exit}' /proc/stat)
    if awk -v q="$QUIET" '{ busy = $3 - $1; idle = $4 - $2; exit !(100 * busy < q * (busy + idle)) }' <<<"$a $b"; then
      return 0
    fi
  done
  log "the machine stayed busier than $QUIET% for 10 minutes; running anyway"
}

# stop_all: SIGTERM to every process of PIDS, then SIGKILL to those that
# have not exited within 10 s (the exit traps of the scripts).
stop_all() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
}

# stop PID: SIGTERM, then wait (bounded) for a clean exit; PID is then
# forgotten, so the exit trap never signals a number the kernel reused.
stop() {
  local pid=$1 p keep=()
  for p in "${PIDS[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
  PIDS=("${keep[@]}")
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1200); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    sleep 0.1
  done
  log "process $pid did not stop within 120s after SIGTERM; killing it"
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# build_victorialogs builds $WORK/victoria-logs: the server of the exact
# engine version Vigil embeds (go.mod), from a copy of the module cache;
# its own dependencies come from the Go module proxy on the first build.
build_victorialogs() {
  local vlmod
  vlmod=$(go list -m -f '{{.Dir}}' github.com/VictoriaMetrics/VictoriaLogs)
  if [ ! -d "$vlmod" ]; then
    go mod download github.com/VictoriaMetrics/VictoriaLogs
    vlmod=$(go list -m -f '{{.Dir}}' github.com/VictoriaMetrics/VictoriaLogs)
  fi
  log "building victoria-logs $(go list -m -f '{{.Version}}' github.com/VictoriaMetrics/VictoriaLogs)"
  cp -r "$vlmod" "$WORK/vlsrc"
  chmod -R u+w "$WORK/vlsrc"
  (cd "$WORK/vlsrc" && go build -o "$WORK/victoria-logs" ./app/victoria-logs) || die "cannot build victoria-logs"
  rm -rf "$WORK/vlsrc"
}
