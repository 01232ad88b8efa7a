#!/usr/bin/python3
"""Run Vigil's parsers and rule pack over public attack recordings and
parser test corpora; see scripts/corpus/run.sh and docs/rule-pack.md
("The pack against public recordings").

For every corpus directory (a git snapshot read with git, or a plain
directory) it picks the files it knows, renders them to the lines a sender
would ship (EVTX and Mordor JSON: nxlog syslog, see evtx2nxlog.py; test
suites: their sample lines), then per file runs `vigil parse` (events per
event.dataset; fall-throughs: lines with vigil.parse_error or without
event.dataset) and `vigil rules test --in-order` (alerts per rule). It
writes OUT/report.md (Markdown, sorted), OUT/alerts.jsonl,
OUT/fallthrough.tsv and OUT/skipped.txt, and the rendered lines under
OUT/lines/. It uses no network and writes only under OUT.
"""

import argparse
import collections
import concurrent.futures as cf
import hashlib
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # write nothing into the source tree
sys.path.insert(0, HERE)
import extract  # noqa: E402

MIRROR = "/work/.mirror"
DEFAULT_CORPORA = [
    MIRROR + "/sbousseaden+EVTX-ATTACK-SAMPLES/repo",
    MIRROR + "/Yamato-Security+hayabusa-sample-evtx/repo",
    MIRROR + "/OTRF+Security-Datasets/repo",
    MIRROR + "/logpai+loghub/repo",
    MIRROR + "/logstash-plugins+logstash-patterns-core/repo",
    MIRROR + "/influxdata+go-syslog/repo",
    MIRROR + "/rsyslog+rsyslog/repo",
]

# Text corpora: which files hold sample lines, and how to read them.
TEXT_FILES = [
    (re.compile(r"^(OpenSSH|Linux|Apache)/\w+_2k\.log$"), extract.plain),
    (re.compile(r"^spec/patterns/(httpd|syslog)_spec\.rb$"), extract.logstash_spec),
    (re.compile(r"^rfc(3164|5424)/machine_test\.go$"), extract.go_syslog),
    (re.compile(r"^tests/[^/]*\.sh$"), extract.rsyslog_tests),
]
# Windows events the pack is meant to catch (issue 14 and the existing
# rules): the report lists the recordings that hold them and what fired.
WATCH = {
    "1102": "1102 Security log cleared", "104": "104 System log cleared",
    "4719": "4719 audit policy changed",
    "4728": "4728 member added (global)", "4732": "4732 member added (local)",
    "4756": "4756 member added (universal)", "4729": "4729 member removed (global)",
    "4733": "4733 member removed (local)", "4757": "4757 member removed (universal)",
    "4720": "4720 user created", "4722": "4722 user enabled", "4724": "4724 password reset",
    "4767": "4767 user unlocked", "4740": "4740 locked out", "4648": "4648 explicit credentials",
    "4625": "4625 logon failed", "104": "104 System log cleared",
}


def _hex(v):
    try:
        return int(str(v), 16)
    except ValueError:
        return None


def watched(ev):
    """Returns the WATCH label of a parsed Windows event, or None."""
    code = str(ev.get("EventID", ev.get("event.code", "")))
    chan = str(ev.get("Channel", ""))
    if chan == "MSExchange Management" or ev.get("SourceName") == "MSExchange CmdletLogs":
        return "Exchange cmdlet (MSExchange Management %s)" % code
    if code == "104":
        return WATCH[code] if chan == "System" else None
    if code == "4776":
        st = _hex(ev.get("Status", "0"))
        return "4776 NTLM validation failed 0x%x" % st if st else None
    if code == "4771":
        st = _hex(ev.get("Status", ev.get("FailureCode", "")))
        return "4771 pre-auth failed" + (" 0x%x" % st if st is not None else "")
    if code == "4768":
        st = _hex(ev.get("Status", "0"))
        return "4768 TGT refused 0x%x" % st if st else None
    return WATCH.get(code)


MORDOR = re.compile(r"^datasets/(atomic/windows|compound)/.*\.(zip|tar\.gz|json)$")


def corpus_name(d):
    d = d.rstrip("/")
    if os.path.basename(d) == "repo":
        d = os.path.dirname(d)
    return os.path.basename(d)


def list_files(d):
    """Returns (path, size, blob id or None) for every file of a corpus."""
    try:
        out = subprocess.run(["git", "-C", d, "ls-tree", "-r", "-l", "-z", "HEAD"],
                             capture_output=True, check=True).stdout.decode("utf-8", "replace")
        files = []
        for ent in out.split("\0"):
            if not ent:
                continue
            meta, path = ent.split("\t", 1)
            _, typ, blob, size = meta.split()
            if typ == "blob":
                files.append((path, int(size) if size.isdigit() else -1, blob))
        return files
    except (subprocess.CalledProcessError, FileNotFoundError):
        files = []
        for root, _, names in os.walk(d):
            for n in names:
                p = os.path.join(root, n)
                files.append((os.path.relpath(p, d), os.path.getsize(p), None))
        return files


def read_file(d, path, blob):
    if blob:
        return subprocess.run(["git", "-C", d, "cat-file", "blob", blob], capture_output=True, check=True).stdout
    with open(os.path.join(d, path), "rb") as f:
        return f.read()


def safe(name):
    return re.sub(r"[^A-Za-z0-9._+-]", "_", name)


def plan(corpora, max_bytes, max_mordor, skipped):
    """Returns the jobs: (corpus, dir, path, blob, kind, size)."""
    jobs, seen = [], {}
    for d in corpora:
        c = corpus_name(d)
        if not os.path.isdir(d):
            skipped.append("%s: no such directory, corpus left out" % d)
            continue
        for path, size, blob in sorted(list_files(d)):
            kind = None
            low = path.lower()
            if low.endswith(".evtx"):
                kind = "evtx"
            elif MORDOR.match(path):
                kind = "mordor"
            else:
                for rx, fn in TEXT_FILES:
                    if rx.match(path):
                        kind = fn.__name__
                        break
            if kind is None:
                continue
            if size < 0:
                skipped.append("%s/%s: content absent from the snapshot (large or LFS file)" % (c, path))
                continue
            if kind == "evtx" and size > max_bytes:
                skipped.append("%s/%s: %d bytes, over --max-bytes %d" % (c, path, size, max_bytes))
                continue
            if kind == "mordor" and size > max_mordor:
                skipped.append("%s/%s: %d bytes, over --max-mordor-bytes %d" % (c, path, size, max_mordor))
                continue
            key = blob or (c, path)
            if key in seen:
                skipped.append("%s/%s: same content as %s" % (c, path, seen[key]))
                continue
            seen[key] = "%s/%s" % (c, path)
            jobs.append((c, d, path, blob, kind, size))
    return jobs


def render(job, out, converter, python, cache):
    """Writes a job's lines to OUT/lines and returns the .log path."""
    c, d, path, blob, kind, _ = job
    dst = os.path.join(out, "lines", c, safe(path) + ".log")
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    cached = os.path.join(cache, "%s-%s.log" % (blob, converter[1])) if cache and blob else None
    if cached and os.path.exists(cached):
        with open(cached, "rb") as s, open(dst, "wb") as t:
            t.write(s.read())
        return dst, ""
    data = read_file(d, path, blob)
    note = ""
    if kind in ("evtx", "mordor"):
        ext = ".evtx" if kind == "evtx" else (".tar.gz" if path.endswith(".tar.gz") else os.path.splitext(path)[1])
        tmp = os.path.join(out, "tmp", safe(c + "__" + path) + ext)
        os.makedirs(os.path.dirname(tmp), exist_ok=True)
        with open(tmp, "wb") as f:
            f.write(data)
        with open(dst, "w") as f:
            p = subprocess.run([python, converter[0], tmp], stdout=f, stderr=subprocess.PIPE, text=True)
        os.remove(tmp)
        note = p.stderr.strip().replace(tmp, "%s/%s" % (c, path))
        if p.returncode != 0:
            note = "converter failed: " + note[-300:]
    else:
        text = data.decode("utf-8", "replace")
        lines = getattr(extract, kind)(text)
        with open(dst, "w") as f:
            for line in lines:
                f.write(line + "\n")
    if cached:
        os.makedirs(cache, exist_ok=True)
        with open(dst, "rb") as s, open(cached + ".part", "wb") as t:
            t.write(s.read())
        os.replace(cached + ".part", cached)
    return dst, note


BSD_NO_PRI = re.compile(r"^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S+ ([^\s\[:]+)")
APACHE_ERR = re.compile(r"^\[\w{3} \w{3} \d\d [\d:.]+ \d{4}\] \[([\w:]+)\]")


def shape(line, ev):
    """Returns the group key of a fall-through line: the parse error, the
    Windows channel, or the syslog format and program."""
    err = ev.get("vigil.parse_error")
    if err:
        return "parse error: " + re.sub(r"\d+", "N", str(err))[:90]
    m = re.search(r"\{.*\}\s*$", line)
    if m and '"EventID"' in line:
        try:
            j = json.loads(m.group(0))
            return "Windows %s (%s)" % (j.get("Channel", "?"), j.get("SourceName", "?"))
        except ValueError:
            pass
    fmt = ev.get("log.syslog.format")
    app = ev.get("log.syslog.appname")
    if fmt and fmt != "unknown":
        return "%s, %s" % (fmt, "app " + re.sub(r"\d+", "N", str(app)) if app else "no app name")
    m = BSD_NO_PRI.match(line)
    if m:
        return "BSD syslog without <PRI>, app " + re.sub(r"\[.*", "", m.group(1))
    m = APACHE_ERR.match(line)
    if m:
        return "Apache error log [%s]" % re.sub(r"^\w+:", "", m.group(1))
    return "unrecognised line"


def analyse(job, logpath, vigil):
    c, _, path, _, _, _ = job
    with open(logpath, encoding="utf-8", errors="replace") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    res = {"events": 0, "datasets": collections.Counter(), "fall": collections.defaultdict(list), "alerts": [], "note": "",
           "watch": collections.Counter()}
    if not lines:
        return res
    p = subprocess.run([vigil, "parse", "--timezone", "UTC", logpath], capture_output=True, text=True)
    evs = [l for l in p.stdout.split("\n") if l.strip()]
    if len(evs) != len(lines):
        res["note"] = "%d lines gave %d events" % (len(lines), len(evs))
    for i, l in enumerate(evs):
        try:
            ev = json.loads(l)
        except ValueError:
            continue
        res["events"] += 1
        src = lines[i] if i < len(lines) and len(evs) == len(lines) else ev.get("_msg", "")
        if "EventID" not in ev and '"EventID"' in src:
            # A line the parsers did not read: take the event's keys from its JSON.
            m = re.search(r"\{.*\}\s*$", src)
            try:
                ev = dict(json.loads(m.group(0)), **ev) if m else ev
            except ValueError:
                pass
        w = watched(ev)
        if w:
            res["watch"][w] += 1
        ds = ev.get("event.dataset")
        if ds and not ev.get("vigil.parse_error"):
            res["datasets"][ds] += 1
        else:
            res["datasets"]["(fall-through)"] += 1
            res["fall"][shape(src, ev)].append(src)
    p = subprocess.run([vigil, "rules", "test", "--in-order", "--timezone", "UTC", logpath], capture_output=True, text=True)
    for l in p.stdout.split("\n"):
        if l.startswith("{"):
            try:
                a = json.loads(l)
            except ValueError:
                continue
            res["alerts"].append(a)
    if p.returncode != 0:
        res["note"] += " rules test exit %d: %s" % (p.returncode, p.stderr.strip()[-200:])
    return res


def md_escape(s, n=220):
    s = s.replace("\t", " ").replace("|", "\\|").replace("`", "'")
    return s if len(s) <= n else s[:n] + "…"


def main():
    ap = argparse.ArgumentParser(description="Run Vigil's parsers and rule pack over public corpora.")
    ap.add_argument("corpora", nargs="*", default=DEFAULT_CORPORA, help="corpus directories (default: the /work/.mirror snapshots)")
    ap.add_argument("--out", required=True, help="output directory (created)")
    ap.add_argument("--vigil", required=True, help="the vigil binary")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--max-bytes", type=int, default=4 << 20, help="skip EVTX/Mordor files larger than this")
    ap.add_argument("--max-mordor-bytes", type=int, default=256 << 10,
                    help="skip Mordor archives larger than this (compressed; they hold 10-20 times as much JSON)")
    ap.add_argument("--report-only", action="store_true", help="write report.md again from OUT/results of an earlier run")
    ap.add_argument("--top", type=int, default=8, help="fall-through shapes shown per corpus in report.md")
    ap.add_argument("--cache", default="", help="keep rendered lines here between runs (keyed by content and converter)")
    ap.add_argument("--python", default=sys.executable)
    a = ap.parse_args()

    out = os.path.abspath(a.out)
    os.makedirs(out, exist_ok=True)
    conv = os.path.join(HERE, "evtx2nxlog.py")
    with open(conv, "rb") as f:
        conv_id = hashlib.sha256(f.read()).hexdigest()[:12]
    skipped = []
    jobs = plan(a.corpora, a.max_bytes, a.max_mordor_bytes, skipped)
    print("%d files to run, %d left out" % (len(jobs), len(skipped)), file=sys.stderr)

    def one(job):
        logpath, note = render(job, out, (conv, conv_id), a.python, a.cache)
        res = analyse(job, logpath, a.vigil)
        if re.search(r", [1-9]\d* damaged|^converter failed", note, re.M):
            res["note"] = (res["note"] + " " + note.splitlines()[-1]).strip()
        return job, res

    def saved(job):
        return os.path.join(out, "results", job[0], safe(job[2]) + ".json")

    results = []
    if a.report_only:
        for job in jobs:
            if os.path.exists(saved(job)):
                with open(saved(job)) as f:
                    r = json.load(f)
                r["datasets"] = collections.Counter(r["datasets"])
                r["watch"] = collections.Counter(r.get("watch", {}))
                results.append((job, r))
    else:
        with cf.ThreadPoolExecutor(max_workers=max(1, a.jobs)) as ex:
            for n, (job, res) in enumerate(ex.map(one, jobs), 1):
                results.append((job, res))
                os.makedirs(os.path.dirname(saved(job)), exist_ok=True)
                with open(saved(job), "w") as f:
                    json.dump(res, f)
                if n % 50 == 0:
                    print("  %d/%d" % (n, len(jobs)), file=sys.stderr)
    report(out, results, skipped, [(corpus_name(d), snapshot(d)) for d in a.corpora if os.path.isdir(d)], a.top)
    print("report: %s" % os.path.join(out, "report.md"), file=sys.stderr)
    return 0


def snapshot(d):
    """Returns the commit a corpus snapshot is at, or "" for a plain directory."""
    p = subprocess.run(["git", "-C", d, "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True)
    return p.stdout.strip() if p.returncode == 0 else ""


def report(out, results, skipped, snapshots, top):
    per_corpus = collections.OrderedDict()
    rules = collections.defaultdict(lambda: collections.Counter())
    fall = collections.defaultdict(lambda: [0, None, set()])
    with open(os.path.join(out, "alerts.jsonl"), "w") as fa:
        for job, res in sorted(results, key=lambda r: (r[0][0], r[0][2])):
            c, _, path, _, _, _ = job
            pc = per_corpus.setdefault(c, {"files": 0, "events": 0, "datasets": collections.Counter(), "alerts": 0})
            pc["files"] += 1 if res["events"] else 0
            pc["events"] += res["events"]
            pc["datasets"].update(res["datasets"])
            pc["alerts"] += len(res["alerts"])
            for al in res["alerts"]:
                rules[al.get("rule.id", "?")]["%s/%s" % (c, path)] += 1
                al["corpus.file"] = "%s/%s" % (c, path)
                fa.write(json.dumps(al, sort_keys=True, ensure_ascii=False) + "\n")
            for key, lines in sorted(res["fall"].items()):
                f = fall[(c, key)]
                f[0] += len(lines)
                f[2].add(path)
                if f[1] is None:
                    f[1] = lines[0]
            if res["note"]:
                skipped.append("%s/%s: %s" % (c, path, res["note"]))
    with open(os.path.join(out, "fallthrough.tsv"), "w") as ft:
        for (c, key), (n, ex, files) in sorted(fall.items()):
            ft.write("%s\t%s\t%d\t%d\t%s\n" % (c, key, n, len(files), ex.replace("\t", " ")))
    with open(os.path.join(out, "skipped.txt"), "w") as fs:
        fs.write("\n".join(sorted(skipped)) + ("\n" if skipped else ""))

    w = []
    w.append("| corpus | files | events | parsed (by `event.dataset`) | fall-through | alerts |")
    w.append("|---|---:|---:|---|---:|---:|")
    for c, pc in sorted(per_corpus.items()):
        ds = ", ".join("%s %d" % (k, v) for k, v in sorted(pc["datasets"].items(), key=lambda kv: (-kv[1], kv[0])) if k != "(fall-through)")
        w.append("| %s | %d | %d | %s | %d | %d |" % (c, pc["files"], pc["events"], ds or "-", pc["datasets"]["(fall-through)"], pc["alerts"]))
    w.append("")
    w.append("| rule | alerts | recordings (alerts) |")
    w.append("|---|---:|---|")
    for rid in sorted(rules):
        recs = rules[rid]
        names = ", ".join("`%s` (%d)" % (md_escape(r, 400), n) for r, n in sorted(recs.items()))
        w.append("| `%s` | %d | %s |" % (rid, sum(recs.values()), names))
    if not rules:
        w.append("| (none) | 0 | |")
    w.append("")
    w.append("Windows events the pack is meant to catch: the recordings that hold them, and those of them on which a rule other than `log-source-silent` fired (which rules: the table above; each recording: the end of report.md):")
    w.append("")
    w.append("| event | recordings | with an alert |")
    w.append("|---|---:|---:|")
    ev_recs = collections.defaultdict(lambda: [0, 0])
    for job, res in results:
        for k in res.get("watch") or {}:
            ev_recs[k][0] += 1
            ev_recs[k][1] += 1 if any(al.get("rule.id") != "log-source-silent" for al in res["alerts"]) else 0
    for k, (n, fired) in sorted(ev_recs.items(), key=lambda kv: (int(re.match(r"\d*", kv[0]).group(0) or 0), kv[0])):
        w.append("| %s | %d | %d |" % (k, n, fired))
    w.append("")
    w.append("Fall-through line shapes (lines with `vigil.parse_error` or without `event.dataset`), by corpus:")
    w.append("")
    w.append("| corpus | shape | lines | files | example |")
    w.append("|---|---|---:|---:|---|")
    by_corpus = collections.defaultdict(list)
    for (c, key), (n, ex, files) in fall.items():
        by_corpus[c].append((-n, key, ex, len(files)))
    for c in sorted(by_corpus):
        rows = sorted(by_corpus[c])
        for negn, key, ex, nfiles in rows[:top]:
            w.append("| %s | %s | %d | %d | `%s` |" % (c, md_escape(key, 120), -negn, nfiles, md_escape(ex, 160)))
        if len(rows) > top:
            w.append("| %s | (%d more shapes, in fallthrough.tsv) | %d | | |" % (c, len(rows) - top, -sum(r[0] for r in rows[top:])))
    w.append("")
    w.append("Left out: %d files (listed in skipped.txt of the output directory)." % len(skipped))
    w.append("")
    w.append("Snapshots: " + ", ".join("%s %s" % (c, h or "(directory)") for c, h in sorted(snapshots)) + ".")
    w.append("")
    w.append("## Details")
    w.append("")
    w.append("Recordings that hold Windows events the pack is meant to catch, and what fired on them:")
    w.append("")
    w.append("| recording | events of interest | alerts |")
    w.append("|---|---|---|")
    for job, res in sorted(results, key=lambda r: (r[0][0], r[0][2])):
        if not res.get("watch"):
            continue
        fired = collections.Counter(al.get("rule.id", "?") for al in res["alerts"])
        w.append("| `%s/%s` | %s | %s |" % (job[0], md_escape(job[2], 400),
                 ", ".join("%s ×%d" % (k, v) for k, v in sorted(res["watch"].items())),
                 ", ".join("`%s` ×%d" % (k, v) for k, v in sorted(fired.items())) or "none"))
    w.append("")
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write("\n".join(w) + "\n")


if __name__ == "__main__":
    sys.exit(main())
