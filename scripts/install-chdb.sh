#!/usr/bin/env bash
# Installs chDB, ClickHouse's engine as a library, from npm for the test of
# the ClickHouse output's modern DDL (internal/output/chdb_test.go): no
# ClickHouse server newer than Debian's 18.16 can be installed on the test
# machines, and chDB 3.4.0 embeds the engine of ClickHouse 26.7.
#
#   scripts/install-chdb.sh
#
# Installs into $VIGIL_CHDB (default /var/cache/vigil-test/chdb as root,
# else $HOME/.cache/vigil-test/chdb); the tests get that folder, the one
# holding node_modules, in VIGIL_CHDB. About 550 MB (libchdb.so), outside
# the repository: never commit node_modules.
#
# Pinned: chdb 3.4.0, its engine @chdb/lib-linux-x64-gnu 26.7.3-stable.1
# (chdb names that exact version; the only platform Vigil's tests run on)
# and chdb's dependencies, through the package.json below. Idempotent: does
# nothing when that package.json is already installed; change a version
# here to upgrade. Needs node and npm (scripts/install-test-deps.sh
# installs Debian's).
set -euo pipefail

if [ -z "${VIGIL_CHDB:-}" ]; then
  if [ "$(id -u)" -eq 0 ]; then
    VIGIL_CHDB=/var/cache/vigil-test/chdb
  else
    VIGIL_CHDB=$HOME/.cache/vigil-test/chdb
  fi
fi
dest="$VIGIL_CHDB"

# overrides pin chdb's own dependencies, which it names as ranges.
manifest='{
  "name": "vigil-test-chdb",
  "private": true,
  "description": "chDB for Vigil tests (scripts/install-chdb.sh)",
  "license": "UNLICENSED",
  "dependencies": {
    "chdb": "3.4.0"
  },
  "overrides": {
    "@chdb/lib-linux-x64-gnu": "26.7.3-stable.1",
    "@clickhouse/client-common": "1.23.0",
    "node-addon-api": "6.1.0",
    "node-gyp-build": "4.8.4"
  }
}'

stamp="$dest/.installed"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$manifest" ] &&
  [ -f "$dest/node_modules/chdb/package.json" ]; then
  exit 0
fi

for p in node npm; do
  command -v "$p" >/dev/null 2>&1 || {
    echo "install-chdb: $p not found (scripts/install-test-deps.sh installs Debian's nodejs and npm)" >&2
    exit 1
  }
done

mkdir -p "$dest"
rm -f "$stamp"
printf '%s\n' "$manifest" >"$dest/package.json"
# chdb's install script is a no-op (node -e ""): none needs to run. The
# engines of other platforms are optional dependencies npm skips here.
(cd "$dest" && npm install --ignore-scripts --no-audit --no-fund --loglevel=error)

# The engine must be there and load (it exists for linux-x64 with glibc).
if ! version="$(cd "$dest" && node -e 'const c = require("chdb"); process.stdout.write(c.query("SELECT version()", "TSV").trim())')"; then
  echo "install-chdb: chdb does not load in $dest (its engine exists for linux-x64 with glibc, macOS and linux-arm64)" >&2
  exit 1
fi
printf '%s' "$manifest" >"$stamp"
echo "install-chdb: chdb 3.4.0 with ClickHouse $version -> $dest"
