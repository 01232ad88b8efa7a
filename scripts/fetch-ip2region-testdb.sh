#!/usr/bin/env bash
# Fetches the ip2region database that internal/geoip's tests and the
# region e2e tests read: data/ip2region.db of the npm package ip2region
# (MIT, the old .db layout, about 8.7 MB; records such as
# "中国|0|广东省|深圳市|电信").
#
#   scripts/fetch-ip2region-testdb.sh
#
# The file goes to $VIGIL_IP2REGION_TESTDB (default
# /var/cache/vigil-test/ip2region.db). Idempotent: does nothing when the
# file is there with the expected checksum. Both the package and the file
# are checked against pinned SHA-256 sums. Never commit the database file.
# No npm package ships the newer .xdb layout: the tests write xdb files
# themselves (internal/geoip/ip2region_test.go).
set -euo pipefail

dest="${VIGIL_IP2REGION_TESTDB:-/var/cache/vigil-test/ip2region.db}"
# Pinned: the tests name addresses and their provinces, so the database
# must not change under them.
pkg="ip2region@2.3.0"
pkg_sha256="1c5777cd2fde5dceab82de858c9a2cd20304b3d50a7b5a80c48d10706020bc11"
db_sha256="3a8baab4f2e536a1c4a9be683cc81d563b0d4f942b304202be6f0d4aecc7f5d4"

sum() { sha256sum "$1" | cut -d' ' -f1; }

if [ -s "$dest" ] && [ "$(sum "$dest")" = "$db_sha256" ]; then
  exit 0
fi
command -v npm >/dev/null 2>&1 || { echo "fetch-ip2region-testdb: npm not found" >&2; exit 1; }
command -v tar >/dev/null 2>&1 || { echo "fetch-ip2region-testdb: tar not found" >&2; exit 1; }

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

(cd "$tmp" && npm pack --silent "$pkg" >pack.out)
tarball="$tmp/$(tail -n 1 "$tmp/pack.out")"
if [ ! -f "$tarball" ]; then
  echo "fetch-ip2region-testdb: npm pack produced no tarball" >&2
  exit 1
fi
if [ "$(sum "$tarball")" != "$pkg_sha256" ]; then
  echo "fetch-ip2region-testdb: $(basename "$tarball") has SHA-256 $(sum "$tarball"), want $pkg_sha256" >&2
  exit 1
fi
mkdir "$tmp/x"
tar -xzf "$tarball" -C "$tmp/x" package/data/ip2region.db
db="$tmp/x/package/data/ip2region.db"
if [ "$(sum "$db")" != "$db_sha256" ]; then
  echo "fetch-ip2region-testdb: ip2region.db has SHA-256 $(sum "$db"), want $db_sha256" >&2
  exit 1
fi

mkdir -p "$(dirname "$dest")"
# Copy next to the destination, then rename: a reader never sees half a file.
cp "$db" "$dest.tmp.$$"
mv -f "$dest.tmp.$$" "$dest"
echo "fetch-ip2region-testdb: $(basename "$tarball") -> $dest"
