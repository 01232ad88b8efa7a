package exchange

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/vigil-soc/vigil/internal/parse/format"
)

// ECP returns the format of the Exchange Control Panel's server and
// activity logs (Logging\ECP\Server\ECPServer*.LOG and
// Logging\ECP\Activity\ECPActivity_*.LOG), named "exchange-ecp":
//
//	#Log-type: ECP Server Log
//	#Fields: TimeStamp,ServerName,EventId,EventData
//	2026-11-28T09:00:00.123Z,EXCH01,ECP.Request,S:TIME=13;S:SID=...;S:CMD=Get-InboxRule;S:REQID=;S:URL=/ecp/RulesEditor/InboxRules.svc/GetList?msExchEcpCanary=...;S:REFERRER=;S:EX=;S:ACTID=...;S:RS=0;S:BLD=15.1.2375.7;...
//
// EventData is a ';'-separated list of typed items, "S:NAME=value" (also
// Dbl:, I32:, F:); an item holding ';' or quotes is written in single
// quotes with its quotes doubled:
//
//	'S:CMD=Set-OabVirtualDirectory.ExternalUrl=''http://f/...''.Identity=''...'''
//
// S:CMD is the cmdlet the request ran, its parameters joined by '.', S:EX
// the exception (empty when the cmdlet succeeded), S:TIME the milliseconds
// it took. The activity log names the user (S:PSA, the primary SMTP address
// in <PII> tags); the server log names no user and no client address (those
// are in the HttpProxy log of the Ecp protocol, format exchange-httpproxy).
func ECP() format.Text { return ecpFormat{} }

const ecpName = "exchange-ecp"

type ecpFormat struct{}

// ecpState is what the format keeps per source: whether the last
// #Log-type named an ECP log (a state without it: a #Software line was
// read, its #Log-type is still to come).
type ecpState struct{ ecp bool }

func (ecpFormat) Name() string { return ecpName }

// Detect reports whether msg is a line of an ECP server or activity log:
// its #Log-type or #Fields header, or a record whose EventData is a typed
// item list and which is an ECP one (EventId "ECP.*", an /ecp/ URL, or a
// source whose #Log-type said ECP).
func (ecpFormat) Detect(msg []byte, src *format.Source) bool {
	msg = trimLine(msg)
	if len(msg) > 0 && msg[0] == '#' {
		d, v := headerLine(msg)
		switch d {
		case "software":
			return isExchangeSoftware(v)
		case "log-type":
			return isECPLogType(v)
		case "fields":
			return isECPFields(v) && ecpOpen(src)
		case "version", "date":
			// Between #Software and #Log-type, or in an ECP file.
			return src != nil && src.State(ecpName) != nil
		}
		return false
	}
	if !isTimestampStart(msg) {
		return false
	}
	_, _, id, data, ok := splitECP(msg)
	if !ok || !isTypedItem(data) {
		return false
	}
	return bytes.HasPrefix(id, []byte("ECP.")) || bytes.Contains(data, []byte("/ecp/")) || ecpOpen(src)
}

func ecpOpen(src *format.Source) bool {
	if src == nil {
		return false
	}
	st, _ := src.State(ecpName).(*ecpState)
	return st != nil && st.ecp
}

// isECPLogType reports whether a #Log-type value is an ECP log's.
func isECPLogType(v []byte) bool {
	return hasPrefixFold(v, "ECP Server Log") || hasPrefixFold(v, "ECP Activity")
}

// isECPFields reports whether a #Fields value is TimeStamp,ServerName,
// EventId,EventData.
func isECPFields(v []byte) bool {
	names, err := headerNames(v)
	return err == nil && len(names) == 4 && names[0] == "timestamp" && names[1] == "servername" &&
		names[2] == "eventid" && names[3] == "eventdata"
}

// isTypedItem reports whether EventData starts with a typed item.
func isTypedItem(b []byte) bool {
	b = bytes.TrimLeft(b, `"'`)
	for _, p := range [...]string{"S:", "Dbl:", "I32:", "F:"} {
		if bytes.HasPrefix(b, []byte(p)) {
			return true
		}
	}
	return false
}

// splitECP splits a record into its four columns; EventData is the rest of
// the line (it holds commas), without the CSV quotes when it has them.
func splitECP(msg []byte) (ts, server, id, data []byte, ok bool) {
	var cols [3][]byte
	rest := msg
	for i := range cols {
		j := bytes.IndexByte(rest, ',')
		if j < 0 {
			return nil, nil, nil, nil, false
		}
		cols[i], rest = rest[:j], rest[j+1:]
	}
	if len(rest) >= 2 && rest[0] == '"' && rest[len(rest)-1] == '"' {
		rest = bytes.ReplaceAll(rest[1:len(rest)-1], []byte(`""`), []byte(`"`))
	}
	if len(cols[2]) == 0 || bytes.IndexByte(cols[2], ' ') >= 0 {
		return nil, nil, nil, nil, false
	}
	return cols[0], cols[1], cols[2], rest, true
}

// Parse adds the fields of one ECP log line.
func (ecpFormat) Parse(msg []byte, src *format.Source, ev *format.Event) error {
	if src == nil {
		src = &format.Source{}
	}
	msg = trimLine(msg)
	if len(msg) > 0 && msg[0] == '#' {
		d, v := headerLine(msg)
		switch d {
		case "software":
			// A new file starts: its #Log-type follows.
			src.SetState(ecpName, &ecpState{})
		case "log-type":
			src.SetState(ecpName, &ecpState{ecp: isECPLogType(v)})
		case "fields":
			if !isECPFields(v) {
				return fmt.Errorf("#Fields is not TimeStamp,ServerName,EventId,EventData: %q", clip(v))
			}
		}
		return format.ErrSkip
	}
	ts, server, id, data, ok := splitECP(msg)
	if !ok {
		return fmt.Errorf("want TimeStamp,ServerName,EventId,EventData: %q", clip(msg))
	}
	t, ok := parseISOTime(ts, src.Location)
	if !ok {
		return fmt.Errorf("TimeStamp %q is not a timestamp", clip(ts))
	}
	str := func(b []byte) string { return evString(ev, b) }
	ev.Time = t
	ev.Add(format.FieldDataset, "exchange.ecp")
	ev.Add(format.FieldProtocol, "ecp")
	ev.Add(format.FieldHostName, str(server))

	var cmd, url, exc, user, took string
	hasEx := false
	eachItem(string(data), func(key, v string) {
		switch key {
		case "S:CMD":
			cmd = v
		case "S:URL":
			url = v
		case "S:EX":
			exc, hasEx = v, true
		case "S:PSA":
			user = v
		case "S:TIME":
			took = v
		}
	})
	name, params := ecpCommand(cmd)
	if name != "" {
		addCmdlet(ev, src, name, params, "")
	} else {
		ev.Add(format.FieldAction, str(id))
	}
	if url != "" {
		u := url
		if i := strings.Index(u, "://"); i >= 0 {
			u = u[i+3:]
			if j := strings.IndexByte(u, '/'); j >= 0 {
				u = u[j:]
			} else {
				u = "/"
			}
		}
		path, query, _ := strings.Cut(u, "?")
		ev.Add(format.FieldURLPath, path)
		ev.Add(format.FieldURLQuery, query)
	}
	if isDigits([]byte(took)) && len(took) < 12 {
		ev.Add(format.FieldDuration, strings.TrimLeft(took, "0")+"000000")
	}
	switch {
	case hasEx && exc == "":
		ev.Add(format.FieldOutcome, format.OutcomeSuccess)
	case hasEx:
		ev.Add(format.FieldOutcome, format.OutcomeFailure)
		ev.Add(format.FieldReason, firstLine(strings.ReplaceAll(exc, `\r\n`, "\n")))
	}
	if u := strings.TrimSuffix(strings.TrimPrefix(user, "<PII>"), "</PII>"); u != "" {
		setUser(ev, src, u)
	}
	return nil
}

// eachItem calls f with the key ("S:CMD") and value of each item of an
// EventData list. Items are separated by ';'; an item that starts with a
// single quote runs to the quote that closes it (doubled quotes inside are
// one quote).
func eachItem(b string, f func(key, v string)) {
	for b != "" {
		var item string
		if b[0] == '\'' {
			item, b = cutQuoted(b)
			if _, after, ok := strings.Cut(b, ";"); ok {
				b = after
			} else {
				b = ""
			}
		} else {
			item, b, _ = strings.Cut(b, ";")
		}
		if eq := strings.IndexByte(item, '='); eq > 0 {
			f(item[:eq], item[eq+1:])
		}
	}
}

// cutQuoted reads the single-quoted text at the start of s, in which a
// doubled quote stands for one, and returns it and what follows the
// closing quote.
func cutQuoted(s string) (value, rest string) {
	var b strings.Builder
	i := 1
	for ; i < len(s); i++ {
		if s[i] == '\'' {
			if i+1 < len(s) && s[i+1] == '\'' {
				b.WriteByte('\'')
				i++
				continue
			}
			break
		}
		b.WriteByte(s[i])
	}
	return b.String(), s[min(i+1, len(s)):]
}

// ecpCommand reads S:CMD, "Set-OabVirtualDirectory.ExternalUrl='http://f/
// x'.Identity='982d...'" or "Pipeline.1|Get-MailboxRegionalConfiguration",
// into the cmdlet and its parameters as the management shell writes them
// (-Name "value", -Flag $true).
func ecpCommand(s string) (name, params string) {
	if rest, ok := strings.CutPrefix(s, "Pipeline."); ok {
		if i := strings.IndexByte(rest, '|'); i >= 0 {
			s = rest[i+1:]
			if j := strings.IndexByte(s, '|'); j >= 0 {
				s = s[:j]
			}
		}
	}
	name, rest, _ := strings.Cut(s, ".")
	if !isCmdletName(name) {
		return "", ""
	}
	var b strings.Builder
	for n := 0; rest != "" && n < maxAuditParams; n++ {
		eq := strings.IndexByte(rest, '=')
		if eq <= 0 {
			break
		}
		p := rest[:eq]
		rest = rest[eq+1:]
		var v string
		quoted := rest != "" && rest[0] == '\''
		if quoted {
			v, rest = cutQuoted(rest)
			rest = strings.TrimPrefix(rest, ".")
		} else {
			v, rest, _ = strings.Cut(rest, ".")
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("-" + p + " ")
		if quoted {
			b.WriteString(`"` + strings.ReplaceAll(clipString(v), `"`, `""`) + `"`)
		} else {
			b.WriteString(clipString(v))
		}
	}
	return name, b.String()
}
