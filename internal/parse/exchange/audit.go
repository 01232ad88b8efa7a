package exchange

import (
	"encoding/json"
	"errors"
	"strings"

	"github.com/vigil-soc/vigil/internal/parse/format"
)

// AdminAuditJSON returns the format of Exchange's cmdlet audit events as
// NXLog's im_msvistalog sends them with to_json(), named
// "exchange-admin-audit". Exchange 2010 and later write one event for each
// cmdlet run (in the Exchange Management Shell, the admin center or by a
// service) to the "MSExchange Management" event log, source
// "MSExchange CmdletLogs": event 1 "Cmdlet succeeded. Cmdlet NAME,
// parameters -Identity "x" -Flag "True".", event 6 "Cmdlet failed. ..."
// and event 8 "(PID n, Thread n) Task NAME throwing unhandled exception:
// ...".
//
// The rendered message names no caller: Exchange puts it, with the rest,
// in unnamed <Data> elements, which NXLog only passes on in the event's XML
// (im_msvistalog CaptureEventXML TRUE, field EventXML). When EventXML is
// there the cmdlet, parameters, caller and error come from it.
func AdminAuditJSON() format.JSON { return auditJSON{} }

const auditJSONName = "exchange-admin-audit"

type auditJSON struct{}

func (auditJSON) Name() string { return auditJSONName }

// Match reports whether the event comes from the MSExchange Management log.
func (auditJSON) Match(ev *format.Event) bool {
	var channel, source string // the last of each, as Event.Get
	for _, f := range ev.Payload() {
		switch f.Name {
		case "Channel":
			channel = f.Value
		case "SourceName":
			source = f.Value
		}
	}
	return isAuditLog(channel) || isAuditLog(source)
}

func isAuditLog(s string) bool {
	return strings.EqualFold(s, "MSExchange Management") || strings.EqualFold(s, "MSExchange CmdletLogs")
}

// Map adds the normalized fields of a cmdlet audit event.
func (auditJSON) Map(ev *format.Event, src *format.Source) error {
	if src == nil {
		src = &format.Source{}
	}
	run := cmdletRun{id: ev.Get("EventID"), host: ev.Get("Hostname")}
	msg := ev.Get("Message")
	var data []string
	if x := ev.Get("EventXML"); x != "" {
		data = eventDataValues(x)
		if len(data) == 1 && strings.HasPrefix(strings.TrimSpace(data[0]), "<string>") {
			data = stringList(data[0])
		}
	}
	if len(data) < 2 || !isCmdletName(data[0]) {
		data = unnamedData(ev)
	}
	if !run.fromData(data) {
		run.name, run.params, run.reason = parseCmdletMessage(msg)
	}
	if run.name == "" && (run.id == "1" || run.id == "6") {
		return errors.New(`event message is not "Cmdlet succeeded|failed. Cmdlet NAME, parameters ..." and there is neither EventXML nor unnamed Data`)
	}
	if t, ok := parseISOTime([]byte(ev.Get("EventTime")), src.Location); ok {
		ev.Time = t
	}
	run.emit(ev, src)
	switch {
	case msg != "":
		ev.Message = msg
	case run.name != "":
		// No rendered message: a summary for _msg, so that a search for
		// the cmdlet's name finds it.
		ev.Message = strings.TrimSpace("Cmdlet " + run.name + " " + run.params)
	}
	return nil
}

// cmdletRun is what one MSExchange CmdletLogs event says, whatever the
// transport brought it in.
type cmdletRun struct {
	id                   string // event ID: 1 succeeded, 6 failed, 8 unhandled exception; "" when unknown
	outcome              string // when id is unknown: from the message's words
	name, params, reason string
	caller, client, host string
}

// fromData fills the run from the event's unnamed EventData strings:
// cmdlet, parameters, caller, two SIDs, client application, process, ...,
// and for a failure the exception. It reports whether they name a cmdlet.
func (r *cmdletRun) fromData(data []string) bool {
	if len(data) < 2 || !isCmdletName(data[0]) {
		return false
	}
	r.name, r.params = data[0], data[1]
	if len(data) > 2 {
		r.caller = data[2]
	}
	if len(data) > 5 {
		r.client = data[5]
	}
	if r.id == "6" {
		r.reason = exceptionIn(data)
	}
	return true
}

// emit adds the normalized fields of the run: dataset exchange.admin_audit,
// event.code, the cmdlet's fields, the outcome (and its reason), the caller
// as user.name, the client application and host.name.
func (r *cmdletRun) emit(ev *format.Event, src *format.Source) {
	params := r.params
	if strings.EqualFold(strings.TrimSpace(params), "$null") {
		params = ""
	}
	ev.Add(format.FieldDataset, "exchange.admin_audit")
	ev.Add(format.FieldCode, r.id)
	outcome := r.outcome
	switch r.id {
	case "1":
		outcome = format.OutcomeSuccess
	case "6", "8":
		outcome = format.OutcomeFailure
	}
	ev.Add(format.FieldHostName, r.host)
	addCmdlet(ev, src, r.name, params, "")
	if r.name == "" {
		ev.Add(format.FieldCategory, "configuration")
	}
	ev.Add(format.FieldOutcome, outcome)
	if outcome == format.OutcomeFailure {
		ev.Add(format.FieldReason, r.reason)
	}
	setUser(ev, src, r.caller)
	ev.Add(fieldExchangeClientApp, r.client)
}

// unnamedData returns the unnamed EventData strings of a JSON event
// without EventXML, as shippers flatten them: repeated "Data" keys (one
// field each, in order), or one "Data" (or "EventData.Data") value that
// is a JSON array of strings, or the "<string>...</string>" list of an
// event whose strings were rendered as one array.
func unnamedData(ev *format.Event) []string {
	var out []string
	for i := range ev.Fields {
		f := &ev.Fields[i]
		if f.Name != "Data" && f.Name != "EventData.Data" {
			continue
		}
		v := f.Value
		switch t := strings.TrimSpace(v); {
		case len(out) == 0 && strings.HasPrefix(t, "[") && strings.HasSuffix(t, "]"):
			var a []string
			if json.Unmarshal([]byte(t), &a) == nil {
				return clipData(a)
			}
		case len(out) == 0 && strings.HasPrefix(t, "<string>"):
			return clipData(stringList(t))
		}
		if len(out) < maxFields {
			out = append(out, v)
		}
	}
	return out
}

// clipData keeps at most maxFields values.
func clipData(a []string) []string {
	if len(a) > maxFields {
		a = a[:maxFields]
	}
	return a
}

// stringList splits "<string>a</string>\n<string>b</string>" into its
// unescaped strings.
func stringList(s string) []string {
	var out []string
	for len(out) < maxFields {
		i := strings.Index(s, "<string>")
		if i < 0 {
			break
		}
		s = s[i+len("<string>"):]
		end := strings.Index(s, "</string>")
		if end < 0 {
			break
		}
		out = append(out, xmlUnescape(s[:end]))
		s = s[end+len("</string>"):]
	}
	return out
}

// addCmdlet adds what a cmdlet run says: exchange.cmdlet and event.action
// (the cmdlet), exchange.parameters, event.category (iam for cmdlets that
// change permissions, roles or group members, else configuration),
// event.type (by verb), exchange.object (the -Identity, -Mailbox, -Name or
// -Role, unless object is given) and, for iam cmdlets, user.target.name
// (the -User, -Trustee or -Member who gains or loses the access).
func addCmdlet(ev *format.Event, src *format.Source, name, params, object string) {
	if name == "" {
		return
	}
	ev.Add(format.FieldCmdlet, name)
	ev.Add(format.FieldAction, name)
	ev.Add(format.FieldCmdletParams, params)
	iam := isIAMCmdlet(name)
	if iam {
		ev.Add(format.FieldCategory, "iam")
	} else {
		ev.Add(format.FieldCategory, "configuration")
	}
	ev.Add(format.FieldType, cmdletType(name))

	var target string
	objRank := 99
	if object != "" {
		objRank = -1
	}
	eachParam(params, func(p, v string) bool {
		if r := objectRank(p); r < objRank && v != "" {
			object, objRank = v, r
		}
		if iam && target == "" && (strings.EqualFold(p, "User") || strings.EqualFold(p, "Trustee") || strings.EqualFold(p, "Member")) {
			target = v
		}
		return true
	})
	ev.Add(format.FieldTargetObject, object)
	if target != "" {
		t, _ := src.Users.Normalize(target)
		ev.Add(format.FieldUserTarget, t)
	}
}

// objectRank orders the parameters that name the object a cmdlet acts on.
func objectRank(p string) int {
	for i, n := range [...]string{"Identity", "Mailbox", "Name", "Role"} {
		if strings.EqualFold(p, n) {
			return i
		}
	}
	return 99
}

// isIAMCmdlet reports whether a cmdlet changes who may do what: mailbox,
// folder, recipient and AD permissions, management roles, role
// assignments and scopes, role groups and group membership.
func isIAMCmdlet(name string) bool {
	_, n, _ := strings.Cut(name, "-")
	return containsFold(n, "permission") || hasPrefixFoldString(n, "managementrole") ||
		hasPrefixFoldString(n, "rolegroup") || hasPrefixFoldString(n, "managementscope") ||
		(len(n) >= len("groupmember") && strings.EqualFold(n[len(n)-len("groupmember"):], "groupmember")) ||
		hasPrefixFoldString(n, "roleassignmentpolicy")
}

// cmdletType returns event.type for a cmdlet's verb: New creation, Remove
// and Uninstall deletion, Get, Search and Test access, others change.
func cmdletType(name string) string {
	verb, _, _ := strings.Cut(name, "-")
	switch {
	case strings.EqualFold(verb, "new"):
		return "creation"
	case strings.EqualFold(verb, "remove"), strings.EqualFold(verb, "uninstall"):
		return "deletion"
	case strings.EqualFold(verb, "get"), strings.EqualFold(verb, "search"), strings.EqualFold(verb, "test"):
		return "access"
	}
	return "change"
}

// isCmdletName reports whether s is a PowerShell cmdlet name, Verb-Noun.
func isCmdletName(s string) bool {
	verb, noun, ok := strings.Cut(s, "-")
	if !ok || len(verb) < 2 || len(noun) == 0 || len(s) > 100 || verb[0] < 'A' || verb[0] > 'Z' {
		return false
	}
	for i := 0; i < len(verb); i++ {
		if c := verb[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	for i := 0; i < len(noun); i++ {
		if c := noun[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// parseCmdletMessage reads the rendered message of an MSExchange
// CmdletLogs event:
//
//	Cmdlet succeeded. Cmdlet Set-Mailbox, parameters -Identity "x" -ForwardingSmtpAddress "smtp:y@z".
//	Cmdlet failed. Cmdlet Get-App, parameters -Identity "x".
//	(PID 12460, Thread 9) Task Test-WebServicesConnectivity throwing unhandled exception: System.InvalidOperationException: ...
//
// It does not rely on the English words: the cmdlet is the first Verb-Noun
// word followed by a comma, its parameters start at the first " -" after
// it (so a translated message works too).
func parseCmdletMessage(m string) (name, params, reason string) {
	const unhandled = " throwing unhandled exception: "
	if i := strings.Index(m, unhandled); i >= 0 {
		head := strings.TrimSpace(m[:i])
		if j := strings.LastIndexByte(head, ' '); j >= 0 {
			head = head[j+1:]
		}
		if isCmdletName(head) {
			name = head
		}
		return name, "", firstLine(m[i+len(unhandled):])
	}
	rest := m
	for rest != "" {
		var word string
		word, rest, _ = strings.Cut(rest, " ")
		if !strings.HasSuffix(word, ",") || !isCmdletName(word[:len(word)-1]) {
			continue
		}
		name = word[:len(word)-1]
		rest = strings.TrimSpace(rest)
		if i := nextParam(rest, 0); i >= 0 {
			params = strings.TrimSpace(rest[i:])
			params = strings.TrimSpace(strings.TrimSuffix(params, "."))
		}
		return name, params, ""
	}
	return "", "", ""
}

// eachParam calls f with the name and value of each parameter in the form
// the audit log writes them, `-Identity "ceo" -Confirm "False" -UpdatesDir
// $null -AccessRights "FullAccess"`. A value runs to the next " -Name"
// outside double quotes; one pair of surrounding quotes is removed and
// $null is empty. It stops when f returns false.
func eachParam(s string, f func(name, value string) bool) {
	for {
		i := nextParam(s, 0)
		if i < 0 {
			return
		}
		s = s[i+1:]
		end := strings.IndexAny(s, " :")
		if end < 0 {
			end = len(s)
		}
		name := s[:end]
		s = s[end:]
		s = strings.TrimPrefix(s, ":")
		j := nextParam(s, 0)
		v := s
		if j >= 0 {
			v, s = s[:j], s[j:]
		} else {
			s = ""
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' && !strings.Contains(v[1:len(v)-1], `"`) {
			v = v[1 : len(v)-1]
		}
		if strings.EqualFold(v, "$null") {
			v = ""
		}
		if name != "" && !f(name, v) {
			return
		}
	}
}

// nextParam returns the index of the next '-' that starts a parameter name
// (at the start or after a blank, outside double quotes, followed by a
// letter), or -1.
func nextParam(s string, from int) int {
	in := false
	for i := from; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			in = !in
		case c == '-' && !in && (i == 0 || s[i-1] == ' ' || s[i-1] == '\t') && i+1 < len(s) &&
			(s[i+1] >= 'A' && s[i+1] <= 'Z' || s[i+1] >= 'a' && s[i+1] <= 'z'):
			return i
		}
	}
	return -1
}

// eventDataValues returns the text of each <Data> element in the
// <EventData> of a Windows event's XML, in order, unescaped.
func eventDataValues(x string) []string {
	if i := strings.Index(x, "<EventData"); i >= 0 {
		x = x[i:]
	} else {
		return nil
	}
	if i := strings.Index(x, "</EventData>"); i >= 0 {
		x = x[:i]
	}
	var out []string
	for len(out) < maxFields {
		i := strings.Index(x, "<Data")
		if i < 0 {
			break
		}
		x = x[i+len("<Data"):]
		if x == "" || (x[0] != '>' && x[0] != ' ' && x[0] != '/') {
			continue // <DataX...>
		}
		gt := strings.IndexByte(x, '>')
		if gt < 0 {
			break
		}
		if gt > 0 && x[gt-1] == '/' { // <Data/>, <Data Name='x'/>
			out = append(out, "")
			x = x[gt+1:]
			continue
		}
		x = x[gt+1:]
		end := strings.Index(x, "</Data>")
		if end < 0 {
			break
		}
		out = append(out, xmlUnescape(x[:end]))
		x = x[end+len("</Data>"):]
	}
	return out
}

// xmlUnescape replaces the predefined XML entities and character
// references.
func xmlUnescape(s string) string {
	if !strings.Contains(s, "&") {
		return s
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '&')
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		s = s[i:]
		semi := strings.IndexByte(s, ';')
		if semi < 0 || semi > 10 {
			b.WriteByte('&')
			s = s[1:]
			continue
		}
		ent := s[1:semi]
		switch {
		case ent == "amp":
			b.WriteByte('&')
		case ent == "lt":
			b.WriteByte('<')
		case ent == "gt":
			b.WriteByte('>')
		case ent == "quot":
			b.WriteByte('"')
		case ent == "apos":
			b.WriteByte('\'')
		case len(ent) > 1 && ent[0] == '#':
			r, ok := charRef(ent[1:])
			if !ok {
				b.WriteString(s[:semi+1])
			} else {
				b.WriteRune(r)
			}
		default:
			b.WriteString(s[:semi+1])
		}
		s = s[semi+1:]
	}
}

// charRef decodes the number of a character reference (without "&#" and
// ";"): decimal, or hex after 'x'.
func charRef(s string) (rune, bool) {
	base := 10
	if s != "" && (s[0] == 'x' || s[0] == 'X') {
		base, s = 16, s[1:]
	}
	if s == "" || len(s) > 7 {
		return 0, false
	}
	var r rune
	for i := 0; i < len(s); i++ {
		c := s[i]
		var d rune
		switch {
		case c >= '0' && c <= '9':
			d = rune(c - '0')
		case base == 16 && c >= 'a' && c <= 'f':
			d = rune(c-'a') + 10
		case base == 16 && c >= 'A' && c <= 'F':
			d = rune(c-'A') + 10
		default:
			return 0, false
		}
		r = r*rune(base) + d
	}
	return r, r > 0 && r <= 0x10FFFF
}

// exceptionIn returns the first line of the first EventData value after the
// fixed ones that names an exception: a failed cmdlet's error.
func exceptionIn(data []string) string {
	for i := 10; i < len(data); i++ {
		if strings.Contains(data[i], "Exception") {
			return firstLine(data[i])
		}
	}
	return ""
}

// firstLine returns s up to its first line break, at most 512 bytes.
func firstLine(s string) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	if len(s) > 512 {
		s = s[:512]
		for len(s) > 0 && s[len(s)-1]&0xC0 == 0x80 {
			s = s[:len(s)-1]
		}
		if len(s) > 0 && s[len(s)-1] >= 0xC0 {
			s = s[:len(s)-1]
		}
	}
	return strings.TrimSpace(s)
}
