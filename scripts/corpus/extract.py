"""Log lines out of third-party parser test suites, for scripts/corpus/run.py.

Each function takes a file's text and returns the log lines it holds, one
string each, in file order. Lines with an embedded newline are left out
(a log line cannot hold one). Nothing here is copied into Vigil's tree.
"""

import re

# logstash-patterns-core spec/patterns/*.rb: the sample a spec matches is
# a string after let(:x) {, on the line after let(:x) do, or the second
# argument of grok_match / the value of message = / value =.
RB_STRING = r"""('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")"""
RB_LINES = [
    re.compile(r"let\(:\w+\)\s*\{\s*" + RB_STRING),
    re.compile(r"grok_match\(?\s*\w+\s*,\s*" + RB_STRING),
    re.compile(r"^\s*(?:message|value\d*|msg)\s*=\s*" + RB_STRING),
]
RB_DO = re.compile(r"let\(:\w+\)\s*(?:do|\{)\s*$")
RB_ALONE = re.compile(r"^\s*" + RB_STRING + r"\s*$")


def ruby_unquote(s):
    q, body = s[0], s[1:-1]
    if q == "'":
        return body.replace("\\'", "'").replace("\\\\", "\\")
    return _unescape(body)


def logstash_spec(text):
    out = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        for rx in RB_LINES:
            m = rx.search(line)
            if m:
                out.append(ruby_unquote(m.group(1)))
                break
        else:
            if RB_DO.search(line) and i + 1 < len(lines):
                m = RB_ALONE.match(lines[i + 1])
                if m:
                    out.append(ruby_unquote(m.group(1)))
    return [s for s in out if "\n" not in s and len(s) >= 15]


# go-syslog *_test.go: []byte(`...`) and []byte("...") literals that start
# with a PRI.
GO_RAW = re.compile(r"\[\]byte\(`(<[^`]*)`\)")
GO_STR = re.compile(r'\[\]byte\("(<(?:[^"\\]|\\.)*)"\)')


def _unescape(body):
    def rep(m):
        c = m.group(1)
        table = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "0": "\0", "a": "\a", "b": "\b", "f": "\f", "v": "\v"}
        if c[0] == "x":
            return chr(int(c[1:], 16))
        if c[0] == "u":
            return chr(int(c[1:], 16))
        return table.get(c, "\\" + c)

    return re.sub(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|.)", rep, body)


def go_syslog(text):
    found = []
    for m in GO_RAW.finditer(text):
        found.append((m.start(), m.group(1)))
    for m in GO_STR.finditer(text):
        found.append((m.start(), _unescape(m.group(1))))
    found.sort()
    seen, out = set(), []
    for _, s in found:
        if "\n" in s or s in seen:
            continue
        seen.add(s)
        out.append(s)
    return out


# rsyslog tests/*.sh: tcpflood ... -M "\"<message>\"" (the message's quotes
# written \\\").
RS_MSG = re.compile(r'-M\s*"\\"(.*?)(?<!\\)\\""')


def rsyslog_tests(text):
    out = []
    for m in RS_MSG.finditer(text):
        s = m.group(1).replace('\\\\\\"', '"').replace('\\"', '"').replace("\\\\", "\\")
        if "\n" not in s:
            out.append(s)
    return out


def plain(text):
    return [l for l in text.splitlines() if l.strip()]
