#!/bin/sh
# Runs Vigil's parsers and built-in rule pack over public Windows attack
# recordings and parser test corpora (docs/rule-pack.md, "The pack against
# public recordings"). Not part of scripts/test.sh or CI; needs no network.
#
#   scripts/corpus/run.sh [-o OUTDIR] [-j JOBS] [-c CACHEDIR] [--report-only] [CORPUS_DIR...]
#
# CORPUS_DIR: git snapshots or plain directories (default: the snapshots
# under /work/.mirror). OUTDIR (default: a new temporary directory) gets
# report.md, alerts.jsonl, fallthrough.tsv, skipped.txt and lines/; nothing
# else is written except CACHEDIR when given (rendered EVTX/Mordor lines,
# reused by the next run). VIGIL: a vigil binary to use instead of building
# this tree's; PYTHON: a python3 with python3-evtx (default /usr/bin/python3).
# --report-only writes OUTDIR/report.md again from an earlier run's results.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out= jobs=2 cache= n=$#
# -o, -j and -c are read here; every other argument (corpus directories,
# run.py's long options such as --report-only or --max-bytes N) goes on.
while [ "$n" -gt 0 ]; do
	a=$1
	shift
	n=$((n - 1))
	case $a in
	-o | -j | -c)
		[ "$n" -gt 0 ] || { echo "run.sh: $a needs a value" >&2; exit 2; }
		v=$1
		shift
		n=$((n - 1))
		case $a in -o) out=$v ;; -j) jobs=$v ;; -c) cache=$v ;; esac
		;;
	-h | --help) sed -n '2,15p' "$0" >&2; exit 2 ;;
	*) set -- "$@" "$a" ;;
	esac
done
[ -n "$out" ] || out=$(mktemp -d "${TMPDIR:-/tmp}/vigil-corpus.XXXXXX")
mkdir -p "$out"
python=${PYTHON:-/usr/bin/python3}
"$python" -c 'import Evtx.Evtx' 2>/dev/null || { echo "run.sh: $python lacks python3-evtx (apt-get install python3-evtx)" >&2; exit 1; }
vigil=${VIGIL:-}
if [ -z "$vigil" ]; then
	vigil=$out/vigil
	(cd "$root" && go build -o "$vigil" ./cmd/vigil)
fi
if [ -n "$cache" ]; then
	exec "$python" "$here/run.py" --out "$out" --vigil "$vigil" --jobs "$jobs" --python "$python" --cache "$cache" ${1+"$@"}
fi
exec "$python" "$here/run.py" --out "$out" --vigil "$vigil" --jobs "$jobs" --python "$python" ${1+"$@"}
