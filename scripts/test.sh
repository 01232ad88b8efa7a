#!/usr/bin/env bash
# Runs Vigil's whole test suite: unit tests, fuzz seeds, and the end-to-end
# tests that start the real binary and feed it with real nginx, rsyslog and
# logger. Installs what the tests need first (idempotent).
#
#   scripts/test.sh              everything
#   FUZZTIME=30s scripts/test.sh also fuzz every target for 30s each
set -euo pipefail
cd "$(dirname "$0")/.."

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

# Components installed above must be found: a test that would skip for a
# missing one fails instead.
export VIGIL_TEST_STRICT=1
export VIGIL_PYTHON=/usr/bin/python3

echo "== go vet"
go vet ./...

echo "== unit tests (race detector)"
go test -count=1 -race $(go list ./... | grep -v /e2e)

echo "== end-to-end tests (real binary, nginx, rsyslog, logger)"
go test -count=1 -timeout 30m -v ./e2e/

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
