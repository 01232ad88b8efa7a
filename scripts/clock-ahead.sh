#!/usr/bin/env bash
# Runs a command with the machine's clock set ahead, then puts the clock
# back (to the true time: the time it was set ahead at, plus the time that
# passed meanwhile, measured on the monotonic uptime clock).
#
#   scripts/clock-ahead.sh DAYS command [args...]
#
# The test suite runs itself this way once more (scripts/test.sh), so a test
# that depends on today's date fails today rather than on some later day.
# Setting the clock needs root and CAP_SYS_TIME; without them the command
# is not run and the script says so and exits 0 (the suite's first pass has
# run already).
set -euo pipefail
days=$1
shift

uptime() { cut -d' ' -f1 /proc/uptime; }
start=$(date +%s.%N)
up0=$(uptime)
ahead=$(awk -v s="$start" -v d="$days" 'BEGIN { printf "%.6f", s + d * 86400 }')
if ! date -s "@$ahead" >/dev/null 2>&1; then
  echo "clock-ahead: cannot set the clock (needs root and CAP_SYS_TIME): not run"
  exit 0
fi
restore() {
  local now
  now=$(awk -v s="$start" -v a="$up0" -v b="$(uptime)" 'BEGIN { printf "%.6f", s + (b - a) }')
  date -s "@$now" >/dev/null
  echo "clock-ahead: clock back at $(date -u +%FT%TZ)"
}
trap restore EXIT
echo "clock-ahead: the clock reads $(date -u +%FT%TZ) ($days days ahead)"
"$@"
