package exchange

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"github.com/vigil-soc/vigil/internal/parse/format"
)

// AdminAuditExport returns the format of the administrator audit log
// exported to CSV with Search-AdminAuditLog | Export-Csv, named
// "exchange-admin-audit-csv". The header line names the columns; the
// columns read are those of the AdminAuditLogEvent object — RunDate,
// Caller, CmdletName, CmdletParameters, ObjectModified, Succeeded, Error,
// OriginatingServer — and those of Microsoft's Get-SimpleAuditLogReport
// (Cmdlet, FullCommand). A "#TYPE" line and the header line return
// format.ErrSkip.
//
// Export-Csv writes a multi-valued property such as CmdletParameters as its
// type name ("System.Collections.ArrayList"); export it as text instead, for
// example with
//
//	Select-Object RunDate,Caller,CmdletName,
//	  @{n='CmdletParameters';e={($_.CmdletParameters|%{"-$($_.Name) `"$($_.Value)`""}) -join ' '}},
//	  ObjectModified,Succeeded,Error,OriginatingServer
//
// RunDate is read in the source's time zone, in the forms PowerShell writes
// a date in common cultures: "11/28/2026 9:00:00 AM" (month first when there
// is an AM/PM), "28/11/2026 09:00:00", "28.11.2026 09:00:00",
// "2026-11-28 09:00:00", "2026/11/28 9:00:00", and ISO 8601.
//
// The EAC's export (an XML attachment mailed by New-AdminAuditLogSearch) is
// AdminAuditXML.
func AdminAuditExport() format.Text { return auditCSV{} }

const auditCSVName = "exchange-admin-audit-csv"

type auditCSV struct{}

// auditCols holds the index of each column read, -1 when absent.
type auditCols struct {
	runDate, caller, cmdlet, params, fullCommand, object, succeeded, errText, server int

	// n is the number of columns in the header.
	n int
}

func auditColsFrom(names []string) (auditCols, bool) {
	c := auditCols{-1, -1, -1, -1, -1, -1, -1, -1, -1, len(names)}
	for i, n := range names {
		p := (*int)(nil)
		switch n {
		case "rundate":
			p = &c.runDate
		case "caller":
			p = &c.caller
		case "cmdletname", "cmdlet":
			p = &c.cmdlet
		case "cmdletparameters", "parameters":
			p = &c.params
		case "fullcommand":
			p = &c.fullCommand
		case "objectmodified":
			p = &c.object
		case "succeeded":
			p = &c.succeeded
		case "error":
			p = &c.errText
		case "originatingserver":
			p = &c.server
		}
		if p != nil && *p < 0 {
			*p = i
		}
	}
	return c, c.runDate >= 0 && c.caller >= 0 && (c.cmdlet >= 0 || c.fullCommand >= 0)
}

type auditCSVState struct {
	cols auditCols
}

func auditCSVStateOf(src *format.Source) *auditCSVState {
	if src == nil {
		return nil
	}
	st, _ := src.State(auditCSVName).(*auditCSVState)
	return st
}

func (auditCSV) Name() string { return auditCSVName }

// Detect reports whether msg is the #TYPE line, the header line or, after a
// header from the same source, a data line of an admin audit log export.
func (auditCSV) Detect(msg []byte, src *format.Source) bool {
	msg = trimLine(msg)
	switch {
	case len(msg) == 0:
		return false
	case hasPrefixFold(msg, "#TYPE "):
		return bytes.Contains(msg, []byte("AdminAuditLog"))
	case bytes.Contains(msg, []byte("RunDate")) && bytes.Contains(msg, []byte("Caller")):
		if names, err := headerNames(msg); err == nil {
			if _, ok := auditColsFrom(names); ok {
				return true
			}
		}
	}
	st := auditCSVStateOf(src)
	if st == nil || msg[0] == '#' {
		return false
	}
	// After a header, a line with the header's number of fields is a
	// record, and so is a broken one (Parse then says why).
	var fs [maxFields]csvField
	n, err := splitCSV(msg, &fs)
	return err != nil || n == st.cols.n
}

// Parse adds the fields of one exported audit record to ev.
func (auditCSV) Parse(msg []byte, src *format.Source, ev *format.Event) error {
	if src == nil {
		src = &format.Source{}
	}
	msg = trimLine(msg)
	if hasPrefixFold(msg, "#TYPE ") {
		return format.ErrSkip
	}
	st := auditCSVStateOf(src)
	if bytes.Contains(msg, []byte("RunDate")) && bytes.Contains(msg, []byte("Caller")) {
		if names, err := headerNames(msg); err == nil {
			if cols, ok := auditColsFrom(names); ok {
				src.SetState(auditCSVName, &auditCSVState{cols: cols})
				return format.ErrSkip
			}
		}
	}
	if st == nil {
		return fmt.Errorf("no header line (RunDate,Caller,CmdletName,...) seen before this line")
	}
	var fs [maxFields]csvField
	n, err := splitCSV(msg, &fs)
	if err != nil {
		return err
	}
	if n != st.cols.n {
		return fmt.Errorf("%d fields, the header has %d", n, st.cols.n)
	}
	get := func(i int) string {
		if i < 0 || i >= n {
			return ""
		}
		return evString(ev, fs[i].value())
	}
	c := st.cols
	runDate := get(c.runDate)
	t, ok := parseLocalDate(runDate, src.Location)
	if !ok {
		return fmt.Errorf("RunDate %q is not a date", clip([]byte(runDate)))
	}
	ev.Time = t

	name, params := get(c.cmdlet), get(c.params)
	if full := get(c.fullCommand); full != "" {
		cmd, rest, _ := strings.Cut(strings.TrimSpace(full), " ")
		if name == "" {
			name = cmd
		}
		if params == "" {
			params = strings.TrimSpace(rest)
		}
	}
	if isTypeName(params) {
		params = "" // Export-Csv of the raw object: no values to read
	}
	if !isCmdletName(name) {
		return fmt.Errorf("CmdletName %q is not a cmdlet name", clip([]byte(name)))
	}
	ev.Add(format.FieldDataset, "exchange.admin_audit")
	// ObjectModified names the object as Exchange resolved it; without it
	// the object comes from the parameters.
	addCmdlet(ev, src, name, params, get(c.object))
	errText := get(c.errText)
	switch s := get(c.succeeded); {
	case strings.EqualFold(s, "True"):
		ev.Add(format.FieldOutcome, format.OutcomeSuccess)
	case strings.EqualFold(s, "False"):
		ev.Add(format.FieldOutcome, format.OutcomeFailure)
		ev.Add(format.FieldReason, firstLine(errText))
	default:
		ev.Add(format.FieldOutcome, format.OutcomeUnknown)
	}
	setUser(ev, src, get(c.caller))
	// OriginatingServer is "EXCH01 (15.01.2507.006)".
	server, _, _ := strings.Cut(get(c.server), " (")
	ev.Add(format.FieldHostName, strings.TrimSpace(server))
	return nil
}

// isTypeName reports whether s is a .NET type name, which is what
// Export-Csv writes for a collection.
func isTypeName(s string) bool {
	return (strings.HasPrefix(s, "System.") || strings.HasPrefix(s, "Microsoft.") || strings.HasPrefix(s, "Deserialized.")) &&
		!strings.ContainsAny(s, " \"")
}

// parseLocalDate parses a date as PowerShell formats one in common
// cultures (see AdminAuditExport), in loc unless it carries a zone.
func parseLocalDate(s string, loc *time.Location) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if t, ok := parseISOTime([]byte(s), loc); ok {
		return t, true
	}
	if loc == nil {
		loc = time.UTC
	}
	datePart, timePart, _ := strings.Cut(s, " ")
	timePart = strings.TrimSpace(timePart)
	ampm := ""
	if i := strings.LastIndexByte(timePart, ' '); i >= 0 {
		ampm = strings.ToUpper(strings.TrimSpace(timePart[i+1:]))
		timePart = timePart[:i]
		if ampm != "AM" && ampm != "PM" {
			return time.Time{}, false
		}
	}
	sep := strings.IndexAny(datePart, "/.-")
	if sep < 0 {
		return time.Time{}, false
	}
	var parts [3]string
	rest := strings.TrimSuffix(datePart, ".")
	for i := range parts {
		var ok bool
		parts[i], rest, ok = strings.Cut(rest, datePart[sep:sep+1])
		if ok != (i < 2) {
			return time.Time{}, false
		}
	}
	a, b, c := atoi([]byte(parts[0])), atoi([]byte(parts[1])), atoi([]byte(parts[2]))
	if a < 0 || b < 0 || c < 0 {
		return time.Time{}, false
	}
	var year, month, day int
	switch {
	case len(parts[0]) == 4: // 2026/11/28, 2026-11-28
		year, month, day = a, b, c
	case len(parts[2]) != 4:
		return time.Time{}, false
	case datePart[sep] == '/' && ampm != "" && b <= 31 && a <= 12, datePart[sep] == '/' && a <= 12 && b > 12:
		// en-US: 11/28/2026 9:00:00 AM
		year, month, day = c, a, b
	default: // 28/11/2026, 28.11.2026, 28-11-2026
		year, month, day = c, b, a
	}
	var hour, minute, sec, nsec int
	if timePart != "" {
		hh, rest, _ := strings.Cut(timePart, ":")
		mm, ss, _ := strings.Cut(rest, ":")
		ss, frac, _ := strings.Cut(ss, ".")
		hour, minute = atoi([]byte(hh)), atoi([]byte(mm))
		sec = 0
		if ss != "" {
			sec = atoi([]byte(ss))
		}
		if frac != "" {
			scale := 100000000
			for i := 0; i < len(frac) && scale > 0; i++ {
				if frac[i] < '0' || frac[i] > '9' {
					return time.Time{}, false
				}
				nsec += int(frac[i]-'0') * scale
				scale /= 10
			}
		}
		if hour < 0 || minute < 0 || sec < 0 || minute > 59 || sec > 60 {
			return time.Time{}, false
		}
		switch ampm {
		case "AM":
			if hour == 12 {
				hour = 0
			}
		case "PM":
			if hour < 12 {
				hour += 12
			}
		}
		if hour > 23 {
			return time.Time{}, false
		}
	}
	if month < 1 || month > 12 || day < 1 || day > 31 || year < 1900 || year > 9999 {
		return time.Time{}, false
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, nsec, loc), true
}
