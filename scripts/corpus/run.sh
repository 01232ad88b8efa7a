#!/bin/sh
# Runs Vigil's parsers and built-in rule pack over public Windows attack
# recordings and parser test corpora (docs/rule-pack.md, "The pack against
# public recordings"). Not part of scripts/test.sh or CI; needs no network.
#
#   scripts/corpus/run.sh [-o OUTDIR] [-j JOBS] [-c CACHEDIR] [CORPUS_DIR...]
#
# CORPUS_DIR: git snapshots or plain directories (default: the snapshots
# under /work/.mirror). OUTDIR (default: a new temporary directory) gets
# report.md, alerts.jsonl, fallthrough.tsv, skipped.txt and lines/; nothing
# else is written except CACHEDIR when given (rendered EVTX/Mordor lines,
# reused by the next run). VIGIL: a vigil binary to use instead of building
# this tree's; PYTHON: a python3 with python3-evtx (default /usr/bin/python3).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out= jobs=2 cache=
while getopts o:j:c: opt; do
	case $opt in
	o) out=$OPTARG ;;
	j) jobs=$OPTARG ;;
	c) cache=$OPTARG ;;
	*) sed -n '2,14p' "$0" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ -n "$out" ] || out=$(mktemp -d "${TMPDIR:-/tmp}/vigil-corpus.XXXXXX")
mkdir -p "$out"
python=${PYTHON:-/usr/bin/python3}
"$python" -c 'import Evtx.Evtx' 2>/dev/null || { echo "run.sh: $python lacks python3-evtx (apt-get install python3-evtx)" >&2; exit 1; }
vigil=${VIGIL:-}
if [ -z "$vigil" ]; then
	vigil=$out/vigil
	(cd "$root" && go build -o "$vigil" ./cmd/vigil)
fi
set -- ${1+"$@"}
if [ -n "$cache" ]; then
	exec "$python" "$here/run.py" --out "$out" --vigil "$vigil" --jobs "$jobs" --python "$python" --cache "$cache" ${1+"$@"}
fi
exec "$python" "$here/run.py" --out "$out" --vigil "$vigil" --jobs "$jobs" --python "$python" ${1+"$@"}
