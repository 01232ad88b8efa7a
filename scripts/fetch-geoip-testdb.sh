#!/usr/bin/env bash
# Fetches the CC0 country database that internal/geoip's tests read:
# the npm package @ip-location-db/geo-whois-asn-country-mmdb (about 8 MB,
# MaxMind DB format, records {"country_code": "US"}).
#
#   scripts/fetch-geoip-testdb.sh
#
# The file goes to $VIGIL_GEOIP_TESTDB (default
# /var/cache/vigil-test/geo-whois-asn-country.mmdb). Idempotent: does nothing
# when the file is already there; delete it to fetch a newer version.
# Never commit the database file.
set -euo pipefail

dest="${VIGIL_GEOIP_TESTDB:-/var/cache/vigil-test/geo-whois-asn-country.mmdb}"
# Pinned: the geographic tests name addresses and their countries, so the
# database must not change under them. Delete the file after changing this.
pkg="@ip-location-db/geo-whois-asn-country-mmdb@2.3.2026061719"

if [ -s "$dest" ]; then
  exit 0
fi
command -v npm >/dev/null 2>&1 || { echo "fetch-geoip-testdb: npm not found" >&2; exit 1; }
command -v tar >/dev/null 2>&1 || { echo "fetch-geoip-testdb: tar not found" >&2; exit 1; }

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

(cd "$tmp" && npm pack --silent "$pkg" >pack.out)
tarball="$tmp/$(tail -n 1 "$tmp/pack.out")"
if [ ! -f "$tarball" ]; then
  echo "fetch-geoip-testdb: npm pack produced no tarball" >&2
  exit 1
fi
mkdir "$tmp/x"
tar -xzf "$tarball" -C "$tmp/x"
mmdb="$(find "$tmp/x" -name '*.mmdb' -type f | head -n 1)"
if [ -z "$mmdb" ]; then
  echo "fetch-geoip-testdb: no .mmdb in $(basename "$tarball")" >&2
  exit 1
fi

mkdir -p "$(dirname "$dest")"
# Copy next to the destination, then rename: a reader never sees half a file.
cp "$mmdb" "$dest.tmp.$$"
mv -f "$dest.tmp.$$" "$dest"
echo "fetch-geoip-testdb: $(basename "$tarball") -> $dest"
