#!/usr/bin/python3
"""Render Windows event recordings as nxlog would send them to Vigil.

Reads EVTX files (with Debian's python3-evtx) and OTRF Security-Datasets
("Mordor") JSON exports (.json, .zip, .tar.gz of JSON lines) and prints one
line per event in the shape nxlog's im_msvistalog + to_json() +
to_syslog_bsd() sends over TCP syslog:

    <PRI>Mmm dd hh:mm:ss HOST SourceName[pid]: {json}

EVTX records become nxlog's keys: EventTime, Hostname, Keywords (signed),
EventType (AUDIT_SUCCESS/AUDIT_FAILURE for Security, else from Level),
SeverityValue, Severity, EventID, SourceName, ProviderGuid, Version, Task,
OpcodeValue, RecordNumber, ActivityID, ProcessID, ThreadID, Channel,
Category (Security-Auditing task names only), Opcode, each named
EventData/UserData element as its own key. There is no rendered Message:
that needs the providers' message DLLs, which only Windows has.

Unnamed <Data> strings (classic providers such as "MSExchange CmdletLogs")
are sent, with --unnamed list (the default), as a "Data" array in the order
of the event, as OpenWEC's nxlog format does; --unnamed drop leaves them out
as NXLog CE does. --event-xml adds the event XML as "EventXML" (nxlog's
CaptureEventXML TRUE).

Mordor exports that nxlog wrote (SourceModuleType im_msvistalog) keep their
keys; the keys Logstash added (@timestamp, @version, host, port, tags) are
removed. Exports with TimeCreated instead of EventTime get EventTime from it.

Output goes to standard output, or with --out-dir one .log file per input
file (the input's path relative to --base, "/" replaced by "__"). Counts and
skipped records go to standard error. Only the Python standard library and
python3-evtx are used; nothing is fetched.
"""

import argparse
import io
import json
import os
import re
import sys
import tarfile
import xml.etree.ElementTree as ET
import zipfile
from datetime import datetime, timezone

AUDIT_SUCCESS = 0x20000000000000
AUDIT_FAILURE = 0x10000000000000

# Windows levels to nxlog's EventType.
LEVEL_TYPES = {1: "CRITICAL", 2: "ERROR", 3: "WARNING", 4: "INFO", 5: "VERBOSE", 0: "INFO"}
# nxlog EventType -> (SeverityValue, Severity).
SEVERITY = {
    "AUDIT_SUCCESS": (2, "INFO"),
    "AUDIT_FAILURE": (4, "ERROR"),
    "CRITICAL": (5, "CRITICAL"),
    "ERROR": (4, "ERROR"),
    "WARNING": (3, "WARNING"),
    "INFO": (2, "INFO"),
    "VERBOSE": (1, "DEBUG"),
}
# nxlog SeverityValue -> syslog severity (to_syslog_bsd, facility user).
SYSLOG_SEVERITY = {1: 7, 2: 6, 3: 4, 4: 3, 5: 2}

# Task names Windows renders for Microsoft-Windows-Security-Auditing
# (the audit subcategories); nxlog sends them as Category.
SECURITY_TASKS = {
    12288: "Security State Change", 12289: "Security System Extension",
    12290: "System Integrity", 12291: "IPsec Driver", 12292: "Other System Events",
    12544: "Logon", 12545: "Logoff", 12546: "Account Lockout",
    12547: "IPsec Main Mode", 12548: "Special Logon", 12549: "IPsec Quick Mode",
    12550: "IPsec Extended Mode", 12551: "Other Logon/Logoff Events",
    12552: "Network Policy Server", 12553: "User / Device Claims",
    12554: "Group Membership",
    12800: "File System", 12801: "Registry", 12802: "Kernel Object", 12803: "SAM",
    12804: "Other Object Access Events", 12805: "Certification Services",
    12806: "Application Generated", 12807: "Handle Manipulation",
    12808: "File Share", 12809: "Filtering Platform Packet Drop",
    12810: "Filtering Platform Connection", 12811: "Detailed File Share",
    12812: "Removable Storage", 12813: "Central Policy Staging",
    13056: "Sensitive Privilege Use", 13057: "Non Sensitive Privilege Use",
    13058: "Other Privilege Use Events",
    13312: "Process Creation", 13313: "Process Termination",
    13314: "DPAPI Activity", 13315: "RPC Events", 13316: "Plug and Play Events",
    13317: "Token Right Adjusted Events",
    13568: "Audit Policy Change", 13569: "Authentication Policy Change",
    13570: "Authorization Policy Change", 13571: "MPSSVC Rule-Level Policy Change",
    13572: "Filtering Platform Policy Change", 13573: "Other Policy Change Events",
    13824: "User Account Management", 13825: "Computer Account Management",
    13826: "Security Group Management", 13827: "Distribution Group Management",
    13828: "Application Group Management", 13829: "Other Account Management Events",
    14080: "Directory Service Access", 14081: "Directory Service Changes",
    14082: "Directory Service Replication",
    14083: "Detailed Directory Service Replication",
    14336: "Credential Validation", 14337: "Kerberos Service Ticket Operations",
    14338: "Other Account Logon Events", 14339: "Kerberos Authentication Service",
}
OPCODES = {0: "Info", 1: "Start", 2: "Stop"}

# Keys Logstash/HELK added to the Mordor exports; nxlog never sends them.
LOGSTASH_KEYS = ("@timestamp", "@version", "host", "port", "tags", "beat", "agent", "ecs")

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

# python-evtx renders the string inserts of classic events as one <Data>
# holding "<string>a</string>\n<string>b</string>..."; Windows has one
# unnamed <Data> per insert.
STRING_INSERT = re.compile(r"<string>(.*?)</string>", re.S)


def local(tag):
    """Returns an XML tag without its namespace."""
    return tag.rsplit("}", 1)[-1]


def to_int(s, base=10):
    try:
        return int(s, base)
    except (TypeError, ValueError):
        return None


def event_time(s):
    """Returns an EVTX SystemTime ("2019-03-19 23:35:07.524200") in the
    ISO form im_msvistalog's JSON carries (2019-03-19T23:35:07.5242000Z)."""
    if not s:
        return None
    s = s.strip().replace("T", " ").rstrip("Z")
    frac = ""
    if "." in s:
        s, frac = s.split(".", 1)
    try:
        t = datetime.strptime(s, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None
    frac = (frac + "0000000")[:7]
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + frac + "Z"


def syslog_time(iso):
    """Returns the BSD syslog timestamp (Mmm dd hh:mm:ss, day padded with a
    space) of an ISO or nxlog local time; the time is written as it is."""
    m = re.match(r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}:\d{2}:\d{2})", iso or "")
    if not m:
        t = datetime.now(timezone.utc)
        return "%s %2d %s" % (MONTHS[t.month - 1], t.day, t.strftime("%H:%M:%S"))
    return "%s %2d %s" % (MONTHS[int(m.group(2)) - 1], int(m.group(3)), m.group(4))


def syslog_line(rec):
    """Wraps one nxlog JSON record as to_syslog_bsd() sends it."""
    sev = rec.get("SeverityValue")
    sev = SYSLOG_SEVERITY.get(sev if isinstance(sev, int) else to_int(str(sev)), 5)
    pri = 1 * 8 + sev
    host = str(rec.get("Hostname") or "-").replace(" ", "_")
    tag = str(rec.get("SourceName") or "nxlog")
    pid = rec.get("ProcessID", rec.get("ExecutionProcessID"))
    if pid not in (None, ""):
        tag += "[%s]" % pid
    body = json.dumps(rec, ensure_ascii=False, separators=(",", ":"))
    return "<%d>%s %s %s: %s" % (pri, syslog_time(str(rec.get("EventTime", ""))), host, tag, body)


def from_evtx_xml(xml, unnamed, event_xml):
    """Returns the nxlog record of one event's XML (as python-evtx renders it)."""
    root = ET.fromstring(xml)
    sysel = None
    data = None
    for child in root:
        name = local(child.tag)
        if name == "System":
            sysel = child
        elif name in ("EventData", "UserData"):
            data = child
    if sysel is None:
        raise ValueError("no System element")
    s = {}
    for el in sysel:
        s[local(el.tag)] = el
    rec = {}

    def text(name):
        el = s.get(name)
        return el.text.strip() if el is not None and el.text else None

    prov = s.get("Provider")
    t = event_time(s["TimeCreated"].get("SystemTime") if "TimeCreated" in s else None)
    if t:
        rec["EventTime"] = t
    rec["Hostname"] = text("Computer") or ""
    kw = to_int(text("Keywords") or "", 16) if (text("Keywords") or "").startswith("0x") else None
    if kw is not None:
        rec["Keywords"] = kw - (1 << 64) if kw >= 1 << 63 else kw
    level = to_int(text("Level"))
    channel = text("Channel") or ""
    etype = None
    if channel == "Security" and kw is not None:
        if kw & AUDIT_SUCCESS:
            etype = "AUDIT_SUCCESS"
        elif kw & AUDIT_FAILURE:
            etype = "AUDIT_FAILURE"
    if etype is None:
        etype = LEVEL_TYPES.get(level if level is not None else 0, "INFO")
    rec["EventType"] = etype
    rec["SeverityValue"], rec["Severity"] = SEVERITY[etype]
    rec["EventID"] = to_int(text("EventID"))
    src = None
    if prov is not None:
        src = prov.get("EventSourceName") or prov.get("Name")
        rec["SourceName"] = src
        if prov.get("Guid"):
            rec["ProviderGuid"] = prov.get("Guid").upper()
    for key, name in (("Version", "Version"), ("Task", "Task"), ("OpcodeValue", "Opcode"),
                      ("RecordNumber", "EventRecordID")):
        v = to_int(text(name))
        if v is not None:
            rec[key] = v
    corr = s.get("Correlation")
    if corr is not None and corr.get("ActivityID"):
        rec["ActivityID"] = corr.get("ActivityID").upper()
    ex = s.get("Execution")
    if ex is not None:
        for key in ("ProcessID", "ThreadID"):
            v = to_int(ex.get(key))
            if v is not None:
                rec[key] = v
    rec["Channel"] = channel
    if src == "Microsoft-Windows-Security-Auditing" and rec.get("Task") in SECURITY_TASKS:
        rec["Category"] = SECURITY_TASKS[rec["Task"]]
    elif src == "Microsoft-Windows-Eventlog" and rec.get("Task") == 104:
        rec["Category"] = "Log clear"
    if rec.get("OpcodeValue") in OPCODES:
        rec["Opcode"] = OPCODES[rec["OpcodeValue"]]
    sec = s.get("Security")
    if sec is not None and sec.get("UserID"):
        rec["UserID"] = sec.get("UserID")

    unnamed_values = []
    if data is not None:
        if local(data.tag) == "EventData":
            items = list(data)
        else:
            # UserData holds one provider element; its leaves are the fields.
            items = [leaf for top in data for leaf in top.iter() if len(leaf) == 0 and leaf is not top] or list(data)
        for el in items:
            tag = local(el.tag)
            if tag == "Binary":
                continue
            value = el.text or ""
            name = el.get("Name") if tag == "Data" else tag
            if name:
                rec[name] = value
            else:
                inserts = STRING_INSERT.findall(value)
                unnamed_values.extend(inserts if inserts else [value])
    if unnamed_values and unnamed == "list":
        rec["Data"] = unnamed_values
    if event_xml:
        rec["EventXML"] = windows_xml(root)
    return rec


def windows_xml(root):
    """Returns an event's XML on one line the way Windows renders it: one
    unnamed <Data> per string insert, no namespace prefixes."""
    for parent in root.iter():
        kids = list(parent)
        for el in kids:
            if local(el.tag) != "Data" or el.get("Name") or not el.text:
                continue
            inserts = STRING_INSERT.findall(el.text)
            if not inserts:
                continue
            at = list(parent).index(el)
            parent.remove(el)
            for i, v in enumerate(inserts):
                d = ET.Element(el.tag)
                d.text = v
                parent.insert(at + i, d)
    ET.register_namespace("", "http://schemas.microsoft.com/win/2004/08/events/event")
    x = ET.tostring(root, encoding="unicode")
    x = re.sub(r"</?ns\d+:|\sxmlns:ns\d+=\"[^\"]*\"", lambda m: m.group(0)[:2] if m.group(0).startswith("</") else ("<" if m.group(0).startswith("<") else ""), x)
    return re.sub(r">\s*\n\s*<", "><", x)


def evtx_records(path, unnamed, event_xml, stats):
    import Evtx.Evtx as evtx  # python3-evtx

    with evtx.Evtx(path) as log:
        for r in log.records():
            try:
                xml = r.xml()
                yield from_evtx_xml(xml, unnamed, event_xml)
            except Exception as e:  # a damaged record: note it, go on
                stats["bad"] += 1
                if stats["bad"] <= 3:
                    print("  %s: record skipped: %s" % (path, str(e)[:120]), file=sys.stderr)


def from_mordor(obj):
    """Returns the nxlog record of one Mordor JSON object, or None when it is
    not a Windows event (network captures, cloud logs)."""
    if not isinstance(obj, dict) or "EventID" not in obj:
        return None
    rec = {k: v for k, v in obj.items() if k not in LOGSTASH_KEYS}
    if "EventTime" not in rec and "TimeCreated" in rec:
        rec["EventTime"] = event_time(str(rec.pop("TimeCreated"))) or rec.get("TimeCreated")
    ordered = {}
    for k in ("EventTime", "Hostname"):
        if k in rec:
            ordered[k] = rec.pop(k)
    ordered.update(rec)
    return ordered


def mordor_objects(path, stats):
    def lines(f, name):
        for raw in io.TextIOWrapper(f, encoding="utf-8", errors="replace"):
            raw = raw.strip()
            if not raw:
                continue
            try:
                yield json.loads(raw)
            except ValueError:
                stats["bad"] += 1
                if stats["bad"] <= 3:
                    print("  %s:%s: not JSON: %s" % (path, name, raw[:80]), file=sys.stderr)

    if path.endswith(".zip"):
        with zipfile.ZipFile(path) as z:
            for n in sorted(z.namelist()):
                if n.endswith(".json"):
                    with z.open(n) as f:
                        yield from lines(f, n)
    elif path.endswith((".tar.gz", ".tgz")):
        with tarfile.open(path) as t:
            for m in sorted(t.getmembers(), key=lambda m: m.name):
                if m.isfile() and m.name.endswith(".json"):
                    yield from lines(t.extractfile(m), m.name)
    else:
        with open(path, "rb") as f:
            yield from lines(f, "")


def convert(path, out, unnamed, event_xml):
    stats = {"events": 0, "bad": 0, "skipped": 0}
    if path.lower().endswith(".evtx"):
        recs = evtx_records(path, unnamed, event_xml, stats)
    else:
        recs = (from_mordor(o) for o in mordor_objects(path, stats))
    for rec in recs:
        if rec is None:
            stats["skipped"] += 1
            continue
        out.write(syslog_line(rec) + "\n")
        stats["events"] += 1
    return stats


def main():
    import signal

    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # quiet when piped into head
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="+", help=".evtx, .json, .zip or .tar.gz files")
    ap.add_argument("--out-dir", help="write one .log file per input here")
    ap.add_argument("--base", default="", help="path prefix removed from the output names")
    ap.add_argument("--unnamed", choices=("list", "drop"), default="list",
                    help="unnamed <Data> strings: a Data array (list) or left out (drop, NXLog CE)")
    ap.add_argument("--event-xml", action="store_true", help="add EventXML (nxlog CaptureEventXML)")
    a = ap.parse_args()
    total = {"events": 0, "bad": 0, "skipped": 0}
    for path in a.files:
        if a.out_dir:
            rel = os.path.relpath(path, a.base) if a.base else os.path.basename(path)
            name = rel.replace(os.sep, "__") + ".log"
            with open(os.path.join(a.out_dir, name), "w", encoding="utf-8") as out:
                st = convert(path, out, a.unnamed, a.event_xml)
        else:
            st = convert(path, sys.stdout, a.unnamed, a.event_xml)
        for k in total:
            total[k] += st[k]
        print("%s: %d events, %d damaged, %d not Windows events" % (path, st["events"], st["bad"], st["skipped"]), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
