#!/usr/bin/env bash
# Installs the real components Vigil's tests drive: nginx (sends its access
# log over syslog), rsyslog (forwards files over TCP), logger (bsdutils),
# node and npm (fetch the GeoIP test database and chDB, and run chDB),
# zookeeper (ClickHouse 18.16's replicated tables and ON CLUSTER DDL),
# crowdsec-custom-bouncer (pulls Vigil's decisions; installed without its
# recommended crowdsec package, whose setup needs the network), and chromium
# with a CJK font (the console's browser tests; without the font Chinese
# renders as empty boxes).
# Idempotent: installs only what is missing. Needs root (or sudo) and apt.
set -euo pipefail

need=()
command -v nginx    >/dev/null 2>&1 || need+=(nginx-light)
command -v rsyslogd >/dev/null 2>&1 || need+=(rsyslog)
command -v logger   >/dev/null 2>&1 || need+=(bsdutils)
command -v curl     >/dev/null 2>&1 || need+=(curl)
command -v kcat     >/dev/null 2>&1 || need+=(kcat)
command -v clickhouse-server >/dev/null 2>&1 || need+=(clickhouse-server)
# ZooKeeper (Java) for ClickHouse 18.16's replicated tables and ON CLUSTER DDL: the tests run
# it as a plain process on loopback (internal/output/chcluster_test.go), never the service.
[ -e /usr/share/java/zookeeper.jar ] && command -v java >/dev/null 2>&1 || need+=(zookeeper)
command -v node     >/dev/null 2>&1 || need+=(nodejs)
command -v npm      >/dev/null 2>&1 || need+=(npm)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v crowdsec-custom-bouncer >/dev/null 2>&1 || need+=(crowdsec-custom-bouncer)
# nginx's Lua module and Lua's JSON (deploy/nginx/lua/vigil.lua; e2e/proxy_test.go).
[ -e /usr/lib/nginx/modules/ngx_http_lua_module.so ] || need+=(libnginx-mod-http-lua)
[ -e /usr/lib/x86_64-linux-gnu/lua/5.1/cjson.so ] || [ -n "$(find /usr/lib -path '*/lua/5.1/cjson.so' 2>/dev/null)" ] || need+=(lua-cjson)
# grep without -q reads all of fc-list's output: with pipefail, fc-list killed by
# SIGPIPE after an early match would count as the font missing (it reinstalled
# the font on every run).
fc-list 2>/dev/null | grep -i 'Noto Sans CJK' >/dev/null || need+=(fonts-noto-cjk fontconfig)
# Debian's python3 (a pyenv python3 on PATH does not see Debian's modules).
[ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import aiosmtpd' >/dev/null 2>&1 || need+=(python3 python3-aiosmtpd)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
echo "install-test-deps: installing ${need[*]}"
# Packages must not start their system services here: the tests run their
# own instances on loopback ports. policy-rc.d exit 101 tells the package
# scripts not to start anything.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod +x "$policy"
  created_policy=1
fi
cleanup() { if [ "$created_policy" = 1 ]; then $SUDO rm -f "$policy"; fi; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
