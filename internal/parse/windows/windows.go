// Package windows reads Windows Security audit events as nxlog (and Snare
// agents) send them from Windows servers: domain controllers (Kerberos,
// NTLM, lockouts, account and group changes) and member servers such as
// Exchange (logons).
//
// Two forms are understood, and both give the same normalized fields:
//
//   - JSON (format "windows"): the record of nxlog's im_msvistalog written
//     with to_json(): System fields (EventTime, Hostname, EventID,
//     SourceName, Channel, EventType, Keywords, Message) and the event's
//     EventData as top-level keys (TargetUserName, IpAddress, Status...),
//     whole or as the MSG of a syslog message. Package parse flattens the
//     JSON first; JSON's Map only adds the normalized fields.
//   - Snare (format "windows-snare"): the tab-separated MSWinEventLog line
//     of nxlog's to_syslog_snare() and of Snare agents, whose last text
//     field is the rendered message, read as "Label: value" pairs.
//
// The decode tables (event IDs, NTSTATUS and Kerberos codes, logon types,
// Snare labels) are in tables.go.
package windows

import (
	"strings"

	"github.com/vigil-soc/vigil/internal/parse/format"
)

// JSON returns the format "windows": Windows Security events as nxlog's
// to_json() writes them. It matches a JSON payload with an EventID whose
// Channel is "Security" or whose SourceName (or ProviderName) is
// Microsoft-Windows-Security-Auditing or Microsoft-Windows-Eventlog (the
// event log service: 104, a log was cleared, is in the System log), never
// Channel "MSExchange Management" (Exchange's admin audit log has its own
// format).
func JSON() format.JSON { return jsonFormat{} }

type jsonFormat struct{}

// Name implements format.JSON.
func (jsonFormat) Name() string { return "windows" }

// Match implements format.JSON.
func (jsonFormat) Match(ev *format.Event) bool {
	var id, sec bool
	fields := ev.Payload()
	for i := range fields {
		f := &fields[i]
		switch f.Name {
		case "EventID":
			id = f.Value != ""
		case "Channel":
			if f.Value == "MSExchange Management" {
				return false
			}
			sec = sec || strings.EqualFold(f.Value, "Security")
		case "SourceName", "ProviderName":
			sec = sec || f.Value == securityProvider || strings.EqualFold(f.Value, eventlogProvider)
		}
	}
	return id && sec
}

// Map implements format.JSON. It reads the keys nxlog writes at the top
// level, and the same names under an "EventData" or "UserData" object
// (UserData's own element, such as LogFileCleared, in between). A record
// without the event's data keys is read from its rendered Message.
func (jsonFormat) Map(ev *format.Event, src *format.Source) error {
	if src == nil {
		src = &format.Source{}
	}
	var r record
	var when string
	for i := range ev.Fields {
		name, v := ev.Fields[i].Name, ev.Fields[i].Value
		if n, ok := strings.CutPrefix(name, "EventData."); ok {
			name = n
		} else if n, ok := strings.CutPrefix(name, "UserData."); ok {
			if i := strings.LastIndexByte(n, '.'); i >= 0 {
				n = n[i+1:]
			}
			if n == "Channel" {
				// 104's UserData names the cleared log.
				if r.clearedChannel == "" {
					r.clearedChannel = strings.TrimSpace(v)
				}
				continue
			}
			name = n
		}
		if name == "EventTime" {
			if when == "" {
				when = v
			}
			continue
		}
		r.set(name, v)
	}
	r.fillFromMessage()
	return apply(&r, ev, src, when, timeNXLog, true)
}
