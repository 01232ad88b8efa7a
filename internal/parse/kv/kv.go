// Package kv reads generic key=value messages:
//
//	user=alice src=10.0.0.1 action="logon failed" port=443
//
// Each pair becomes a field named by its key; a few well-known keys are
// also mapped onto the normalized schema (docs/schema.md, "key=value
// messages").
package kv

import (
	"bytes"
	"net/netip"
	"strconv"
	"strings"

	"github.com/vigil-soc/vigil/internal/parse/format"
)

// MaxPairs caps the pairs taken from one message; the rest stay only in
// _msg.
const MaxPairs = 500

// maxKey is the longest key accepted.
const maxKey = 64

// prefix is put before a key that could be mistaken for a field Vigil sets
// itself: one that starts with "_" or contains a dot (every normalized
// name has one), so that `event.outcome=success` in a message is stored as
// kv.event.outcome and cannot forge the normalized field.
const prefix = "kv."

// Text returns the format "kv". A message is detected when it starts with
// two well-formed pairs: a key (a letter or '_', then letters, digits,
// '_', '.' or '-'; at most 64 bytes), '=', and a value that is either a
// word up to the next space or a double-quoted string (with \" and \\
// escapes), followed by a space or the end. Pairs are separated by spaces
// or tabs.
func Text() format.Text { return kvText{} }

type kvText struct{}

// Name implements format.Text.
func (kvText) Name() string { return "kv" }

// Detect implements format.Text.
func (kvText) Detect(msg []byte, _ *format.Source) bool {
	p := msg
	for range 2 {
		p = skipSpace(p)
		pr, ok := next(p)
		if !ok || !pr.wellFormed {
			return false
		}
		p = pr.rest
	}
	return true
}

// Parse implements format.Text. Words that are not pairs are skipped; an
// unterminated quoted value runs to the end of the message.
func (kvText) Parse(msg []byte, src *format.Source, ev *format.Event) error {
	var m mapped
	// scratch holds a prefixed key or an unescaped value until it is
	// copied; made only when needed (a stack buffer would escape through
	// ev.Copy).
	var scratch []byte
	p := skipSpace(msg)
	for n := 0; len(p) > 0 && n < MaxPairs; p = skipSpace(p) {
		pr, ok := next(p)
		if !ok {
			// Not a pair: skip the word.
			i := bytes.IndexAny(p, " \t")
			if i < 0 {
				break
			}
			p = p[i:]
			continue
		}
		p = pr.rest
		n++
		if len(pr.val) == 0 {
			continue
		}
		name := pr.key
		if name[0] == '_' || bytes.IndexByte(name, '.') >= 0 {
			scratch = append(append(grow(scratch, len(prefix)+len(name)), prefix...), name...)
			name = scratch
		}
		nm := copyStr(ev, name)
		val := pr.val
		if pr.quoted && bytes.IndexByte(val, '\\') >= 0 {
			scratch = unescape(grow(scratch, len(val)), val)
			val = scratch
		}
		v := copyStr(ev, val)
		ev.Add(nm, v)
		m.note(pr.key, v)
	}
	m.emit(ev, src)
	return nil
}

// pair is one key=value at the start of a text.
type pair struct {
	key, val []byte
	quoted   bool
	// wellFormed: a quoted value was closed, and a space or the end
	// follows the value.
	wellFormed bool
	rest       []byte
}

// next reads the pair at the start of p. ok is false when p does not start
// with a key and '='.
func next(p []byte) (pr pair, ok bool) {
	i := 0
	for ; i < len(p) && i <= maxKey; i++ {
		c := p[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' ||
			i > 0 && ('0' <= c && c <= '9' || c == '.' || c == '-') {
			continue
		}
		break
	}
	if i == 0 || i > maxKey || i == len(p) || p[i] != '=' {
		return pr, false
	}
	pr.key, p = p[:i], p[i+1:]
	if len(p) > 0 && p[0] == '"' {
		pr.quoted = true
		for j := 1; j < len(p); j++ {
			switch p[j] {
			case '\\':
				j++
			case '"':
				pr.val, pr.rest = p[1:j], p[j+1:]
				pr.wellFormed = len(pr.rest) == 0 || isSpace(pr.rest[0])
				return pr, true
			}
		}
		pr.val = p[1:]
		return pr, true
	}
	j := bytes.IndexAny(p, " \t")
	if j < 0 {
		j = len(p)
	}
	pr.val, pr.rest, pr.wellFormed = p[:j], p[j:], true
	return pr, true
}

// grow returns b emptied, with room for n bytes.
func grow(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, 0, max(n, 64))
	}
	return b[:0]
}

// unescape decodes \" and \\ in a quoted value; other backslashes (Windows
// paths) stay.
func unescape(dst, v []byte) []byte {
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) && (v[i+1] == '"' || v[i+1] == '\\') {
			i++
		}
		dst = append(dst, v[i])
	}
	return dst
}

func skipSpace(p []byte) []byte {
	for len(p) > 0 && isSpace(p[0]) {
		p = p[1:]
	}
	return p
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' }

func copyStr(ev *format.Event, b []byte) string {
	if ev.Copy != nil {
		return ev.Copy(b)
	}
	return string(b)
}

// mapped holds the values of the well-known keys; the first of each wins.
type mapped struct {
	srcIP, dstIP, srcPort, dstPort, user, action, outcome string
}

// note records v if key is a well-known key.
func (m *mapped) note(key []byte, v string) {
	var buf [maxKey]byte
	if len(key) > len(buf) {
		return
	}
	k := buf[:len(key)]
	for i, c := range key {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		k[i] = c
	}
	var dst *string
	switch string(k) {
	case "src", "src_ip", "srcip", "source_ip", "client_ip", "clientip":
		dst = &m.srcIP
	case "dst", "dst_ip", "dstip", "dest_ip", "destination_ip":
		dst = &m.dstIP
	case "sport", "src_port", "srcport", "source_port":
		dst = &m.srcPort
	case "dport", "dst_port", "dstport", "dest_port", "destination_port":
		dst = &m.dstPort
	case "user", "username", "user_name", "usr":
		dst = &m.user
	case "action":
		dst = &m.action
	case "outcome", "result":
		dst = &m.outcome
	default:
		return
	}
	if *dst == "" {
		*dst = v
	}
}

// emit adds event.dataset and the normalized fields.
func (m *mapped) emit(ev *format.Event, src *format.Source) {
	ev.Add(format.FieldDataset, "kv")
	if isIP(m.srcIP) {
		ev.Add(format.FieldSourceIP, m.srcIP)
	}
	if isPort(m.srcPort) {
		ev.Add(format.FieldSourcePort, m.srcPort)
	}
	if isIP(m.dstIP) {
		ev.Add(format.FieldDestIP, m.dstIP)
	}
	if isPort(m.dstPort) {
		ev.Add(format.FieldDestPort, m.dstPort)
	}
	ev.SetUser(src, m.user)
	ev.Add(format.FieldAction, m.action)
	if m.outcome != "" {
		ev.Add(format.FieldOutcome, outcome(m.outcome))
	} else if m.action != "" {
		ev.Add(format.FieldOutcome, actionOutcome(m.action))
	}
}

// outcome maps an outcome= or result= value to event.outcome when it
// clearly says success or failure, else "".
func outcome(v string) string {
	switch {
	case oneOf(v, "success", "succeeded", "successful", "succeed", "ok"):
		return format.OutcomeSuccess
	case oneOf(v, "failure", "failed", "fail"):
		return format.OutcomeFailure
	}
	return ""
}

// actionOutcome returns event.outcome for an action= value that contains
// the word failed/failure/fail or success/succeeded/successful and not
// both ("logon failed", "login_success"), else "".
func actionOutcome(v string) string {
	var fail, ok bool
	for len(v) > 0 {
		i := 0
		for i < len(v) && !letter(v[i]) {
			i++
		}
		j := i
		for j < len(v) && letter(v[j]) {
			j++
		}
		switch w := v[i:j]; {
		case oneOf(w, "failed", "failure", "fail"):
			fail = true
		case oneOf(w, "success", "succeeded", "successful"):
			ok = true
		}
		v = v[j:]
	}
	switch {
	case fail && !ok:
		return format.OutcomeFailure
	case ok && !fail:
		return format.OutcomeSuccess
	}
	return ""
}

func letter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// oneOf reports whether s is one of words, ignoring ASCII case.
func oneOf(s string, words ...string) bool {
	for _, w := range words {
		if strings.EqualFold(s, w) {
			return true
		}
	}
	return false
}

func isIP(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	_, err := netip.ParseAddr(s)
	return err == nil
}

func isPort(s string) bool {
	if s == "" || len(s) > 5 {
		return false
	}
	n, err := strconv.Atoi(s)
	return err == nil && n >= 0 && n <= 65535 && s[0] != '+' && s[0] != '-'
}
