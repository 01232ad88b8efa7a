#!/usr/bin/env bash
# Measures what enforcement at nginx costs per request and how soon a
# revocation reaches it (issue 15), with nginx proxying without any check
# as the reference, in the same minutes.
#
#   scripts/bench-proxy.sh [-n REQUESTS] [-r ROUNDS]
#
#   -n REQUESTS  sequential keep-alive requests per measurement (default 20000)
#   -r ROUNDS    rounds of all measurements, alternating (default 3)
#
# One Vigil (enforce.devices: registered-only, one registered device) and
# one Debian nginx with four servers: "plain" proxies to an upstream
# server block with no check; "auth" runs deploy/nginx's auth_request
# snippets; "lua" runs deploy/nginx/lua/vigil.lua (needs
# libnginx-mod-http-lua, lua-cjson). Measurements, each the mean, median
# and 99th percentile of one client's sequential requests:
#
#   plain        GET /Microsoft-Server-ActiveSync?...registered device
#   auth-cached  the same through auth_request (answers cached 3 s)
#   auth-miss    GET /owa/?User=<new on every request>: every request
#                misses the cache and asks Vigil
#   lua          the same request as plain, checked by the Lua module
#
# Then the device is revoked through the API and both paths are polled
# every 20 ms until they refuse it: the time from the API's answer to the
# first 403 (bounded by the cache's 3 s and the module's 2 s pull interval
# used here). Every process started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

N=20000
ROUNDS=3
usage() { sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while getopts "n:r:h" opt; do
  case $opt in
    n) N=$OPTARG ;;
    r) ROUNDS=$OPTARG ;;
    *) usage ;;
  esac
done
for cmd in go curl nginx; do
  command -v "$cmd" >/dev/null || { echo "bench-proxy: $cmd is missing" >&2; exit 1; }
done
# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh

W=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT

go build -o "$W/vigil" ./cmd/vigil
mkdir -p "$W/lists" "$W/cache" "$W/lua"
printf 'name: devices\nkind: device\nentries:\n  - user: alice\n    device: BENCHPHONE1\n' >"$W/lists/devices.yaml"
VPORT=$(free_port); SPORT=$(free_port)
printf 'inputs:\n  syslog:\n    - addr: 127.0.0.1:%s\ndetect:\n  lists_dir: %s\nenforce:\n  devices: registered-only\n' "$SPORT" "$W/lists" >"$W/vigil.yaml"
"$W/vigil" serve --config "$W/vigil.yaml" --data "$W/data" --http "127.0.0.1:$VPORT" >"$W/vigil.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$VPORT/healthz" >/dev/null && break; sleep 0.1; done
TOKEN=$(cat "$W/data/api-token")
KEY=$("$W/vigil" bouncers add --server "http://127.0.0.1:$VPORT" --data "$W/data" bench | tail -n 1)

UP=$(free_port); PLAIN=$(free_port); AUTH=$(free_port); LUA=$(free_port)
sed -e "s#127.0.0.1:8514#127.0.0.1:$VPORT#; s#/var/cache/nginx/vigil#$W/cache#" deploy/nginx/vigil-enforce-http.conf >"$W/enforce-http.conf"
sed -e "s#CHANGE-ME-BOUNCER-KEY#$KEY#" deploy/nginx/vigil-enforce.conf >"$W/enforce.conf"
sed -e "s#/etc/nginx/lua/#$W/lua/#; s#127.0.0.1:8514#127.0.0.1:$VPORT#; s#CHANGE-ME-BOUNCER-KEY#$KEY#; s#CHANGE-ME-VIGIL-TOKEN#$TOKEN#; s#devices = \"off\"#devices = \"registered-only\"#" \
  deploy/nginx/vigil-lua.conf >"$W/lua.conf"
cp deploy/nginx/lua/vigil.lua "$W/lua/"
cat >"$W/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $W/nginx.pid;
error_log $W/error.log warn;
load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;
events { worker_connections 256; }
http {
    client_body_temp_path $W/body; proxy_temp_path $W/proxy; fastcgi_temp_path $W/fastcgi;
    uwsgi_temp_path $W/uwsgi; scgi_temp_path $W/scgi;
    access_log off;
    upstream up { server 127.0.0.1:$UP; keepalive 16; }
    include $W/enforce-http.conf;
    include $W/lua.conf;
    server { listen 127.0.0.1:$UP; location / { return 200 "ok"; } }
    server { listen 127.0.0.1:$PLAIN;
        location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; } }
    server { listen 127.0.0.1:$AUTH; include $W/enforce.conf;
        location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; } }
    server { listen 127.0.0.1:$LUA; include $(pwd)/deploy/nginx/vigil-lua-server.conf;
        location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; } }
}
EOF
nginx -p "$W" -e "$W/error.log" -c "$W/nginx.conf" &
PIDS+=($!)
sleep 2

cat >"$W/client.go" <<'EOF'
// client sends n sequential keep-alive GETs ({i} in the URL is replaced by
// the request's number) and prints mean, median and p99 in microseconds;
// with -until it polls every 20 ms until the status is 403 and prints the
// milliseconds that took.
package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

func main() {
	n := flag.Int("n", 1000, "requests")
	until := flag.Bool("until", false, "poll until 403")
	flag.Parse()
	url := flag.Arg(0)
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	get := func(i int) int {
		resp, err := c.Get(strings.ReplaceAll(url, "{i}", strconv.Itoa(i)))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if *until {
		start := time.Now()
		for i := 0; get(i) != 403; i++ {
			time.Sleep(20 * time.Millisecond)
		}
		fmt.Printf("%.0f\n", float64(time.Since(start).Microseconds())/1000)
		return
	}
	for i := 0; i < 200; i++ {
		get(-i - 1)
	}
	d := make([]float64, *n)
	for i := range d {
		t := time.Now()
		if code := get(i); code != 200 {
			fmt.Fprintf(os.Stderr, "HTTP %d\n", code)
			os.Exit(1)
		}
		d[i] = float64(time.Since(t).Nanoseconds()) / 1000
	}
	var sum float64
	for _, x := range d {
		sum += x
	}
	slices.Sort(d)
	fmt.Printf("mean %.0f us, p50 %.0f us, p99 %.0f us\n", sum/float64(len(d)), d[len(d)/2], d[len(d)*99/100])
}
EOF
(cd "$W" && go mod init client >/dev/null 2>&1 && go build -o client client.go)
Q='/Microsoft-Server-ActiveSync?Cmd=Sync&User=alice&DeviceId=BENCHPHONE1&DeviceType=iPhone'
echo "bench-proxy: $(date -u +%FT%TZ), $N requests per measurement, nginx $(nginx -v 2>&1 | sed 's#.*/##')"
for r in $(seq "$ROUNDS"); do
  echo "round $r"
  echo "  plain        $("$W/client" -n "$N" "http://127.0.0.1:$PLAIN$Q")"
  echo "  auth-cached  $("$W/client" -n "$N" "http://127.0.0.1:$AUTH$Q")"
  echo "  auth-miss    $("$W/client" -n "$N" "http://127.0.0.1:$AUTH/owa/?User=r$r-{i}")"
  echo "  lua          $("$W/client" -n "$N" "http://127.0.0.1:$LUA$Q")"
done
curl -sf -o /dev/null -H "Authorization: Bearer $TOKEN" -X POST "http://127.0.0.1:$VPORT/api/v1/devices/BENCHPHONE1/revoke" -d '{"user":"alice"}'
"$W/client" -until "http://127.0.0.1:$AUTH$Q" >"$W/auth-ms" &
A=$!
"$W/client" -until "http://127.0.0.1:$LUA$Q" >"$W/lua-ms" &
L=$!
wait "$A" "$L"
echo "revocation to 403: auth_request $(cat "$W/auth-ms") ms, lua $(cat "$W/lua-ms") ms"
