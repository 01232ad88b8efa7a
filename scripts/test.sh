#!/usr/bin/env bash
# Runs Vigil's whole test suite: unit tests, fuzz seeds, and the end-to-end
# tests that start the real binary and feed it with real nginx, rsyslog and
# logger. Installs what the tests need first (idempotent).
#
#   scripts/test.sh              everything
#   FUZZTIME=30s scripts/test.sh also fuzz every target for 30s each
set -euo pipefail
cd "$(dirname "$0")/.."

# A run killed during the clock-ahead pass leaves the clock ahead: put it back first.
scripts/clock-ahead.sh --restore

scripts/install-test-deps.sh
# The GeoIP test database (about 8 MB from npm) for the geographic rules.
if [ -z "${VIGIL_GEOIP_TESTDB:-}" ]; then
  if [ "$(id -u)" -eq 0 ]; then
    VIGIL_GEOIP_TESTDB=/var/cache/vigil-test/geo-whois-asn-country.mmdb
  else
    VIGIL_GEOIP_TESTDB=$HOME/.cache/vigil-test/geo-whois-asn-country.mmdb
  fi
fi
export VIGIL_GEOIP_TESTDB
scripts/fetch-geoip-testdb.sh
# The ip2region database (about 8.7 MB from npm) for provinces and cities.
if [ -z "${VIGIL_IP2REGION_TESTDB:-}" ]; then
  if [ "$(id -u)" -eq 0 ]; then
    VIGIL_IP2REGION_TESTDB=/var/cache/vigil-test/ip2region.db
  else
    VIGIL_IP2REGION_TESTDB=$HOME/.cache/vigil-test/ip2region.db
  fi
fi
export VIGIL_IP2REGION_TESTDB
scripts/fetch-ip2region-testdb.sh
# chDB, ClickHouse 26.7's engine as a library (about 550 MB from npm), for the
# ClickHouse output's DDL for modern servers; VIGIL_CHDB holds node_modules.
if [ -z "${VIGIL_CHDB:-}" ]; then
  if [ "$(id -u)" -eq 0 ]; then
    VIGIL_CHDB=/var/cache/vigil-test/chdb
  else
    VIGIL_CHDB=$HOME/.cache/vigil-test/chdb
  fi
fi
export VIGIL_CHDB
scripts/install-chdb.sh

# The real third-party sample logs the parser tests read. They are not in
# the repository (shared/samples/SOURCES.md): on the project's machines
# they sit in the shared folder next to the checkout.
if [ -z "${VIGIL_SAMPLES:-}" ]; then
  for d in ../shared/samples /work/shared/samples; do
    if [ -d "$d" ]; then
      VIGIL_SAMPLES=$(cd "$d" && pwd)
      export VIGIL_SAMPLES
      break
    fi
  done
fi

# Components installed above must be found: a test that would skip for a
# missing one fails instead (the sample logs too).
export VIGIL_TEST_STRICT=1
export VIGIL_PYTHON=/usr/bin/python3

echo "== go vet"
go vet ./...

echo "== unit tests (race detector)"
go test -count=1 -race $(go list ./... | grep -v /e2e)

echo "== end-to-end tests (real binary, nginx, rsyslog, logger)"
go test -count=1 -timeout 30m -v ./e2e/

# No test may depend on the calendar: everything again, three years on.
echo "== all tests again with the machine's clock 1096 days ahead"
scripts/clock-ahead.sh 1096 bash -c 'go test -count=1 $(go list ./... | grep -v /e2e) && go test -count=1 -timeout 30m ./e2e/'

if [ -n "${FUZZTIME:-}" ]; then
  echo "== fuzzing each target for $FUZZTIME"
  for pkg in $(go list ./... | grep -v /e2e); do
    dir=$(go list -f '{{.Dir}}' "$pkg")
    for fz in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/func //'); do
      echo "-- $pkg $fz"
      go test -run='^$' -fuzz="^${fz}\$" -fuzztime="$FUZZTIME" "$pkg"
    done
  done
fi
echo "== all tests passed"
