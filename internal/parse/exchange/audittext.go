package exchange

import (
	"bytes"
	"errors"
	"strings"
	"time"

	"github.com/vigil-soc/vigil/internal/parse/format"
)

// AdminAuditText returns the format of Exchange's cmdlet audit events
// (channel "MSExchange Management", source "MSExchange CmdletLogs") sent as
// text rather than JSON, named "exchange-admin-audit-text":
//
//   - BSD syslog from nxlog (to_syslog_bsd), whose tag is the event's
//     SourceName with its space: `MSExchange CmdletLogs[5668]: Cmdlet
//     succeeded. Cmdlet Set-Mailbox, parameters -Identity "x" ...`. A
//     header parser that takes the whole tag as the app name leaves the
//     rendered message; one that stops at the space leaves
//     `CmdletLogs[5668]: ` or `MSExchange CmdletLogs[5668]: ` in front of
//     it. All three are read, and so is the bare rendered message.
//   - Snare (nxlog to_syslog_snare(), Snare agents): the tab-separated
//     MSWinEventLog line whose channel is "MSExchange Management" or whose
//     source is "MSExchange CmdletLogs", with the event ID, time and
//     computer of its header.
//
// The rendered message names no caller, so user.name is absent; the event
// ID (and so the outcome) comes from the Snare header, or, in syslog, from
// the words "Cmdlet succeeded." and "Cmdlet failed.".
func AdminAuditText() format.Text { return auditText{} }

const auditTextName = "exchange-admin-audit-text"

type auditText struct{}

// cmdletSource is the event source of the cmdlet audit events.
const cmdletSource = "MSExchange CmdletLogs"

func (auditText) Name() string { return auditTextName }

// Detect reports whether msg is a cmdlet audit event as text.
func (auditText) Detect(msg []byte, src *format.Source) bool {
	msg = trimLine(msg)
	if src != nil && strings.EqualFold(src.App, cmdletSource) {
		return true
	}
	if _, ok := cutCmdletTag(msg); ok {
		return true
	}
	if isCmdletMessage(msg) {
		return true
	}
	f, ok := snareFields(msg)
	return ok && isSnareCmdlet(f)
}

// Parse adds the fields of one cmdlet audit event.
func (auditText) Parse(msg []byte, src *format.Source, ev *format.Event) error {
	if src == nil {
		src = &format.Source{}
	}
	msg = trimLine(msg)
	if f, ok := snareFields(msg); ok && isSnareCmdlet(f) {
		return parseSnareCmdlet(f, src, ev)
	}
	if rest, ok := cutCmdletTag(msg); ok {
		msg = rest
	}
	m := string(msg)
	if ev.Copy != nil {
		m = ev.Copy(msg)
	}
	run := cmdletRun{host: src.Host, outcome: outcomeOfWords(m)}
	run.name, run.params, run.reason = parseCmdletMessage(m)
	if run.name == "" && run.outcome != "" {
		return errors.New(`message is not "Cmdlet succeeded|failed. Cmdlet NAME, parameters ..."`)
	}
	if strings.Contains(m, " throwing unhandled exception: ") {
		run.outcome = format.OutcomeFailure
	}
	run.emit(ev, src)
	return nil
}

// outcomeOfWords is the outcome the English rendered message states.
func outcomeOfWords(m string) string {
	switch {
	case strings.HasPrefix(m, "Cmdlet succeeded."):
		return format.OutcomeSuccess
	case strings.HasPrefix(m, "Cmdlet failed."):
		return format.OutcomeFailure
	}
	return ""
}

// isCmdletMessage reports whether msg starts like an English rendered
// cmdlet event.
func isCmdletMessage(msg []byte) bool {
	return bytes.HasPrefix(msg, []byte("Cmdlet succeeded. Cmdlet ")) || bytes.HasPrefix(msg, []byte("Cmdlet failed. Cmdlet "))
}

// cutCmdletTag removes a syslog tag that a header parser left in the
// message: "MSExchange CmdletLogs[pid]: " or "CmdletLogs[pid]: " (with or
// without the [pid]).
func cutCmdletTag(msg []byte) ([]byte, bool) {
	rest, ok := bytes.CutPrefix(msg, []byte("MSExchange "))
	if !ok {
		rest = msg
	}
	rest, ok = bytes.CutPrefix(rest, []byte("CmdletLogs"))
	if !ok {
		return msg, false
	}
	if len(rest) > 0 && rest[0] == '[' {
		end := bytes.IndexByte(rest, ']')
		if end < 0 || end > 12 || !isDigits(rest[1:end]) {
			return msg, false
		}
		rest = rest[end+1:]
	}
	rest, ok = bytes.CutPrefix(rest, []byte(":"))
	if !ok {
		return msg, false
	}
	return bytes.TrimLeft(rest, " "), true
}

// Snare header fields (after the MSWinEventLog marker at index 0).
const (
	snareChannel  = 2
	snareDate     = 4
	snareEventID  = 5
	snareSource   = 6
	snareComputer = 10
	snareMessage  = 12 // the message runs from the DataString field on
)

// snareFields splits a Snare MSWinEventLog line (possibly after one host
// word) into its tab-separated fields.
func snareFields(msg []byte) ([][]byte, bool) {
	// The marker starts the message or follows one word (a host name):
	// checked without scanning the whole message, which every text line
	// that reaches this format would pay.
	const marker = "MSWinEventLog\t"
	i := 0
	if !bytes.HasPrefix(msg, []byte(marker)) {
		j := bytes.IndexAny(msg[:min(len(msg), 257)], " \t")
		if j <= 0 || !bytes.HasPrefix(msg[j+1:], []byte(marker)) {
			return nil, false
		}
		i = j + 1
	}
	f := bytes.SplitN(msg[i:], []byte("\t"), 32)
	if len(f) < snareComputer+1 {
		return nil, false
	}
	return f, true
}

func isSnareCmdlet(f [][]byte) bool {
	return bytes.EqualFold(bytes.TrimSpace(f[snareChannel]), []byte("MSExchange Management")) ||
		bytes.EqualFold(bytes.TrimSpace(f[snareSource]), []byte(cmdletSource))
}

// parseSnareCmdlet reads a Snare line of the MSExchange Management log.
func parseSnareCmdlet(f [][]byte, src *format.Source, ev *format.Event) error {
	str := func(b []byte) string {
		b = bytes.TrimSpace(b)
		if ev.Copy != nil {
			return ev.Copy(b)
		}
		return string(b)
	}
	loc := src.Location
	if loc == nil {
		loc = time.Local
	}
	date := string(bytes.TrimSpace(f[snareDate]))
	t, err := time.ParseInLocation("Mon Jan _2 15:04:05 2006", date, loc)
	if err != nil {
		return errors.New("Snare date " + clip([]byte(date)) + ` is not like "Thu Nov 28 09:00:00 2026"`)
	}
	id := string(bytes.TrimSpace(f[snareEventID]))
	if !isDigits([]byte(id)) || id == "" {
		return errors.New("Snare event ID " + clip([]byte(id)) + " is not a number")
	}
	var m string
	if len(f) > snareMessage {
		parts := f[snareMessage:]
		// The last field is Snare's checksum or counter.
		if len(parts) > 1 && isCounterField(parts[len(parts)-1]) {
			parts = parts[:len(parts)-1]
		}
		m = str(bytes.Join(parts, []byte(" ")))
	}
	ev.Time = t
	run := cmdletRun{id: id, host: str(f[snareComputer])}
	run.name, run.params, run.reason = parseCmdletMessage(m)
	if run.name == "" && (id == "1" || id == "6") {
		return errors.New(`Snare message is not "Cmdlet succeeded|failed. Cmdlet NAME, parameters ..."`)
	}
	run.emit(ev, src)
	return nil
}

// isCounterField reports whether f is a Snare counter or checksum.
func isCounterField(f []byte) bool {
	f = bytes.TrimSpace(f)
	if len(f) == 0 || len(f) > 64 {
		return false
	}
	for i, c := range f {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == '-' && i == 0) {
			return false
		}
	}
	return true
}
