package windows

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/vigil-soc/vigil/internal/parse/format"
)

// Snare returns the format "windows-snare": Windows events as
// tab-separated MSWinEventLog lines (nxlog's to_syslog_snare(), Snare
// agents):
//
//	MSWinEventLog TAB Criticality TAB Channel TAB Counter TAB Date TAB EventID
//	TAB SourceName TAB UserName TAB SIDType TAB EventType TAB ComputerName
//	TAB Category TAB DataString TAB Message [TAB Checksum-or-counter]
//
// where Date is "Thu Nov 28 09:00:00 2026" in the sender's local time
// (read in the input's time zone), EventType is "Success Audit",
// "Failure Audit", "Information"..., and Message is the event's rendered
// text with its line breaks and tabs turned into spaces. A hostname before
// MSWinEventLog (Snare without a syslog header) is allowed.
//
// Message labels are English: events rendered in another language keep
// their common fields (host, code, time, outcome from EventType) only.
func Snare() format.Text { return snareFormat{} }

type snareFormat struct{}

// marker starts a Snare record.
const marker = "MSWinEventLog\t"

// maxSnareFields bounds the tab-separated fields read from one line; the
// message takes the rest.
const maxSnareFields = 32

// Name implements format.Text.
func (snareFormat) Name() string { return "windows-snare" }

// Detect implements format.Text: the message starts with "MSWinEventLog"
// and a tab, possibly after a host name.
func (snareFormat) Detect(msg []byte, _ *format.Source) bool { return markerAt(msg) >= 0 }

// markerAt returns where "MSWinEventLog\t" starts: at the beginning of msg
// (after blanks) or after one word and a blank, else -1.
func markerAt(msg []byte) int {
	i := 0
	for i < len(msg) && (msg[i] == ' ' || msg[i] == '\t') {
		i++
	}
	if bytes.HasPrefix(msg[i:], []byte(marker)) {
		return i
	}
	j := i
	for j < len(msg) && msg[j] != ' ' && msg[j] != '\t' && j-i < 256 {
		j++
	}
	if j == i || j >= len(msg) || (msg[j] != ' ' && msg[j] != '\t') {
		return -1
	}
	j++
	if bytes.HasPrefix(msg[j:], []byte(marker)) {
		return j
	}
	return -1
}

// Parse implements format.Text.
func (snareFormat) Parse(msg []byte, src *format.Source, ev *format.Event) error {
	if src == nil {
		src = &format.Source{}
	}
	at := markerAt(msg)
	if at < 0 {
		return fmt.Errorf("no %q at the start of the message", "MSWinEventLog<TAB>")
	}
	line := bytes.TrimRight(msg[at:], "\r\n")
	var s string
	if ev.Copy != nil {
		s = ev.Copy(line)
	} else {
		s = string(line)
	}

	// starts[k] is where field k begins; fields are separated by tabs.
	var starts [maxSnareFields + 1]int
	n := 1
	for i := 0; i < len(s) && n < maxSnareFields; i++ {
		if s[i] == '\t' {
			starts[n] = i + 1
			n++
		}
	}
	starts[n] = len(s) + 1
	field := func(k int) string {
		if k >= n {
			return ""
		}
		return strings.TrimSpace(s[starts[k] : starts[k+1]-1])
	}
	if n < 11 {
		return fmt.Errorf("%d tab-separated fields, want at least 11 (MSWinEventLog, criticality, channel, counter, date, event ID, source, user, SID type, event type, computer)", n)
	}
	if strings.HasPrefix(field(2), "{") {
		return fmt.Errorf("Snare JSON records (MSWinEventLog, criticality, JSON object) are not supported; send nxlog JSON (to_json) instead")
	}

	var r record
	r.channel = field(2)
	r.eventID = field(5)
	r.provider = field(6)
	r.headerUser = field(7)
	r.eventType = field(9)
	r.computer = field(10)
	if n > 12 {
		// The message runs from the DataString field (normally empty) to
		// the end, without the checksum or counter Snare and nxlog add as
		// a last field.
		end := len(s)
		if n > 13 && isCounter(field(n-1)) {
			end = starts[n-1] - 1
		}
		if starts[12] <= end {
			scanLabels(s[starts[12]:end], func(key, value string) { r.set(key, value) })
		}
		r.message = field(13)
	}
	return apply(&r, ev, src, field(4), timeSnare, false)
}

// isCounter reports whether f looks like the last field of a Snare record:
// an event counter (possibly negative) or an MD5 checksum.
func isCounter(f string) bool {
	if f == "" || len(f) > 64 {
		return false
	}
	for i := 0; i < len(f); i++ {
		c := f[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == '-' && i == 0) {
			return false
		}
	}
	return true
}

// firstWord returns the first blank-separated word of s.
func firstWord(s string) string {
	if i := strings.IndexAny(s, " \t"); i >= 0 {
		return s[:i]
	}
	return s
}

// maxLabel bounds the length of a label (snareLabels).
const maxLabel = 48

// labelInfo is what the Snare tables say about one label, gathered at
// initialization so that the scanner looks a label up once.
type labelInfo struct {
	section   bool
	any       target            // the key in any section, or none
	inSection map[string]target // the key in a given section
}

// target is the record key a label's value goes to.
type target struct {
	key   string
	token bool // only the value's first word (snareTokens)
}

// labels indexes snareLabels and snareKeys by label; labelLens has bit n
// set when some label is n bytes long. Both are read only.
var labels, labelLens = func() (map[string]*labelInfo, uint64) {
	m := make(map[string]*labelInfo, len(snareLabels))
	var lens uint64
	for l, section := range snareLabels {
		m[l] = &labelInfo{section: section}
		lens |= 1 << len(l)
	}
	for k, key := range snareKeys {
		info := m[k.label]
		if info == nil {
			continue // TestTablesConsistent reports it
		}
		t := target{key, snareTokens[key]}
		if k.section == "" {
			info.any = t
			continue
		}
		if info.inSection == nil {
			info.inSection = make(map[string]target)
		}
		info.inSection[k.section] = t
	}
	return m, lens
}()

// blank reports whether c separates words in a Snare message.
func blank(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// scanLabels calls f for each "Label: value" of a rendered event message
// whose label is in snareLabels and has a key in snareKeys (in its section
// or in any), with the value up to the next known label, trimmed (its
// first word for snareTokens keys). The explanation Windows appends ("This
// event is generated when...") ends the last value.
func scanLabels(s string, f func(key, value string)) {
	if i := strings.Index(s, "This event "); i >= 0 {
		s = s[:i]
	}
	var section string
	var cur target
	valStart, prev := 0, 0
	emit := func(end int) {
		if cur.key == "" {
			return
		}
		v := strings.TrimSpace(s[valStart:end])
		if cur.token {
			v = firstWord(v)
		}
		f(cur.key, v)
	}
	for from := 0; from < len(s); {
		c := strings.IndexByte(s[from:], ':')
		if c < 0 {
			break
		}
		c += from
		from = c + 1
		if c+1 < len(s) && !blank(s[c+1]) {
			continue // "C:\Windows", "10:30"
		}
		start, info := labelStart(s, prev, c)
		if info == nil {
			continue
		}
		emit(start)
		prev = c + 1
		if info.section {
			section, cur = s[start:c], target{}
			continue
		}
		cur = info.any
		if t, ok := info.inSection[section]; ok {
			cur = t
		}
		valStart = c + 1
	}
	emit(len(s))
}

// labelStart returns where the longest known label that ends at the colon
// s[c] starts (at a word start, not before lo), and the label, or nil.
func labelStart(s string, lo, c int) (int, *labelInfo) {
	for i := max(lo, c-maxLabel); i < c; i++ {
		if blank(s[i]) || i > 0 && !blank(s[i-1]) {
			continue
		}
		if n := c - i; labelLens&(1<<n) != 0 {
			if info := labels[s[i:c]]; info != nil {
				return i, info
			}
		}
	}
	return -1, nil
}
