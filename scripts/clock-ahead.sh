#!/usr/bin/env bash
# Runs a command with the machine's clock set ahead, then puts the clock
# back (to the true time: the time it was set ahead at, plus the time that
# passed meanwhile, measured on the monotonic uptime clock).
#
#   scripts/clock-ahead.sh DAYS command [args...]
#   scripts/clock-ahead.sh --restore   # only put back a clock a killed run left ahead
#
# The test suite runs itself this way once more (scripts/test.sh), so a test
# that depends on today's date fails today rather than on some later day.
# Setting the clock needs root and CAP_SYS_TIME; without them the command
# is not run and the script says so and exits 0 (the suite's first pass has
# run already).
set -euo pipefail
days=$1
shift || true

uptime() { cut -d' ' -f1 /proc/uptime; }

# A run that was killed (SIGKILL, a lost session) cannot put the clock back
# itself: it leaves its true start time here, and the next run restores the
# clock from it first. /run is emptied at boot, when the clock is read anew.
state=/run/vigil-clock-ahead
if [ -f "$state" ]; then
  read -r pid0 start0 upA <"$state" || true
  if [ -n "${pid0:-}" ] && ! kill -0 "$pid0" 2>/dev/null; then
    now=$(awk -v s="$start0" -v a="$upA" -v b="$(uptime)" 'BEGIN { printf "%.6f", s + (b - a) }')
    if date -s "@$now" >/dev/null 2>&1; then
      echo "clock-ahead: a killed run had left the clock ahead; set back to $(date -u +%FT%TZ)"
      rm -f "$state"
    fi
  elif [ -n "${pid0:-}" ]; then
    echo "clock-ahead: another run (pid $pid0) has the clock ahead: not run"
    exit 0
  fi
fi

[ "$days" = --restore ] && exit 0

start=$(date +%s.%N)
up0=$(uptime)
ahead=$(awk -v s="$start" -v d="$days" 'BEGIN { printf "%.6f", s + d * 86400 }')
if ! echo "$$ $start $up0" 2>/dev/null >"$state"; then
  echo "clock-ahead: cannot write $state (needs root): not run"
  exit 0
fi
if ! date -s "@$ahead" >/dev/null 2>&1; then
  rm -f "$state"
  echo "clock-ahead: cannot set the clock (needs root and CAP_SYS_TIME): not run"
  exit 0
fi
restore() {
  local now
  now=$(awk -v s="$start" -v a="$up0" -v b="$(uptime)" 'BEGIN { printf "%.6f", s + (b - a) }')
  date -s "@$now" >/dev/null
  rm -f "$state"
  echo "clock-ahead: clock back at $(date -u +%FT%TZ)"
}
trap restore EXIT
echo "clock-ahead: the clock reads $(date -u +%FT%TZ) ($days days ahead)"
"$@"
