package exchange

import (
	"bytes"
	"fmt"

	"github.com/vigil-soc/vigil/internal/parse/format"
)

// MessageTracking returns the format of the message tracking log
// (TransportRoles\Logs\MessageTracking\MSGTRK*.LOG), named
// "exchange-messagetracking". Each line is one event in the life of a
// message: RECEIVE, SEND, DELIVER, FAIL, DSN, ... with the columns of the
// "#Fields" header, by default Exchange 2013-2019's
// date-time,client-ip,client-hostname,server-ip,server-hostname,source-context,connector-id,source,event-id,internal-message-id,message-id,network-message-id,recipient-address,recipient-status,total-bytes,recipient-count,related-recipient-address,reference,message-subject,sender-address,return-path,message-info,directionality,tenant-id,original-client-ip,original-server-ip,custom-data,transport-traffic-type,log-id,schema-version
// (a headerless line of 26 fields is read in Exchange 2010's order, which
// has no network-message-id and ends at custom-data).
func MessageTracking() format.Text { return trackingFormat{} }

const trackingName = "exchange-messagetracking"

type trackingFormat struct{}

// trackCols holds the index of each column MessageTracking reads, -1 when
// absent.
type trackCols struct {
	time, clientIP, clientHost, serverIP, serverHost, source, eventID, messageID, networkID,
	recipients, recipientStatus, totalBytes, recipientCount, subject, sender, returnPath, directionality, originalClientIP int

	// n is the number of columns in the header.
	n int
}

var trackingFields2013 = []string{"datetime", "clientip", "clienthostname", "serverip", "serverhostname", "sourcecontext",
	"connectorid", "source", "eventid", "internalmessageid", "messageid", "networkmessageid", "recipientaddress",
	"recipientstatus", "totalbytes", "recipientcount", "relatedrecipientaddress", "reference", "messagesubject",
	"senderaddress", "returnpath", "messageinfo", "directionality", "tenantid", "originalclientip", "originalserverip",
	"customdata", "transporttraffictype", "logid", "schemaversion"}

var trackingFields2010 = []string{"datetime", "clientip", "clienthostname", "serverip", "serverhostname", "sourcecontext",
	"connectorid", "source", "eventid", "internalmessageid", "messageid", "recipientaddress", "recipientstatus",
	"totalbytes", "recipientcount", "relatedrecipientaddress", "reference", "messagesubject", "senderaddress",
	"returnpath", "messageinfo", "directionality", "tenantid", "originalclientip", "originalserverip", "customdata"}

var (
	defaultTrackCols, _ = trackColsFrom(trackingFields2013)
	trackCols2010, _    = trackColsFrom(trackingFields2010)
)

// trackColsFrom maps the names of a #Fields line to columns.
func trackColsFrom(names []string) (trackCols, bool) {
	c := trackCols{-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, len(names)}
	for i, n := range names {
		p := (*int)(nil)
		switch n {
		case "datetime":
			p = &c.time
		case "clientip":
			p = &c.clientIP
		case "clienthostname":
			p = &c.clientHost
		case "serverip":
			p = &c.serverIP
		case "serverhostname":
			p = &c.serverHost
		case "source":
			p = &c.source
		case "eventid":
			p = &c.eventID
		case "messageid":
			p = &c.messageID
		case "networkmessageid":
			p = &c.networkID
		case "recipientaddress":
			p = &c.recipients
		case "recipientstatus":
			p = &c.recipientStatus
		case "totalbytes":
			p = &c.totalBytes
		case "recipientcount":
			p = &c.recipientCount
		case "messagesubject":
			p = &c.subject
		case "senderaddress":
			p = &c.sender
		case "returnpath":
			p = &c.returnPath
		case "directionality":
			p = &c.directionality
		case "originalclientip":
			p = &c.originalClientIP
		}
		if p != nil && *p < 0 {
			*p = i
		}
	}
	return c, c.time >= 0 && c.eventID >= 0 && c.source >= 0
}

// isTrackingHeader reports whether the names of a #Fields line are the
// message tracking log's.
func isTrackingHeader(names []string) bool {
	_, ok := trackColsFrom(names)
	return ok && len(names) > 1 && names[1] == "clientip"
}

// trackState is what MessageTracking keeps per source.
type trackState struct {
	cols   trackCols
	header bool // cols come from a #Fields line
}

func trackStateOf(src *format.Source) *trackState {
	if src == nil {
		return nil
	}
	st, _ := src.State(trackingName).(*trackState)
	return st
}

func (trackingFormat) Name() string { return trackingName }

// Detect reports whether msg is a message tracking log line or one of its
// header lines.
func (trackingFormat) Detect(msg []byte, src *format.Source) bool {
	msg = trimLine(msg)
	if len(msg) > 0 && msg[0] == '#' {
		d, v := headerLine(msg)
		switch d {
		case "software":
			return isExchangeSoftware(v)
		case "version", "date":
			return trackStateOf(src) != nil
		case "log-type":
			return isTrackingLogType(v)
		case "fields":
			names, err := headerNames(v)
			return err == nil && isTrackingHeader(names)
		}
		return false
	}
	if !isTimestampStart(msg) {
		return false
	}
	var fs [maxFields]csvField
	n, err := splitCSV(msg, &fs)
	st := trackStateOf(src)
	cols := trackColsFor(st, n)
	switch {
	case err != nil:
		// A line whose end is broken is still ours when its start is;
		// Parse then says what is wrong with it.
		cols = trackColsFor(st, 0)
		if n <= max(cols.eventID, cols.source) {
			return false
		}
	case st != nil && st.header:
		if n < cols.n-2 || n > cols.n+2 {
			return false
		}
	case n != len(trackingFields2013) && n != len(trackingFields2010):
		return false
	}
	return isUpperWord(fs[cols.eventID].b, false) && isUpperWord(fs[cols.source].b, true)
}

// trackColsFor returns the columns for a line of n fields.
func trackColsFor(st *trackState, n int) trackCols {
	switch {
	case st != nil && st.header:
		return st.cols
	case n == len(trackingFields2010):
		return trackCols2010
	}
	return defaultTrackCols
}

// isUpperWord reports whether b is an event or source name as Exchange
// writes them: capital letters and '_' (empty allowed when emptyOK).
func isUpperWord(b []byte, emptyOK bool) bool {
	if len(b) == 0 {
		return emptyOK
	}
	if len(b) > 40 {
		return false
	}
	for _, c := range b {
		if !(c >= 'A' && c <= 'Z' || c == '_') {
			return false
		}
	}
	return true
}

func isTrackingLogType(v []byte) bool {
	return bytes.Contains(bytes.ToLower(v), []byte("message tracking"))
}

// Parse adds the fields of one message tracking line to ev.
func (trackingFormat) Parse(msg []byte, src *format.Source, ev *format.Event) error {
	if src == nil {
		src = &format.Source{}
	}
	msg = trimLine(msg)
	st := trackStateOf(src)
	if len(msg) > 0 && msg[0] == '#' {
		if st == nil {
			st = &trackState{}
			src.SetState(trackingName, st)
		}
		d, v := headerLine(msg)
		switch d {
		case "software":
			st.header = false
		case "fields":
			names, err := headerNames(v)
			if err != nil {
				return fmt.Errorf("#Fields: %w", err)
			}
			cols, ok := trackColsFrom(names)
			if !ok {
				return fmt.Errorf("#Fields line lacks date-time, source or event-id: %q", clip(v))
			}
			st.cols, st.header = cols, true
		}
		return format.ErrSkip
	}
	var fs [maxFields]csvField
	n, err := splitCSV(msg, &fs)
	if err != nil {
		return err
	}
	cols := trackColsFor(st, n)
	if n <= cols.eventID || n <= cols.source || n <= cols.time {
		return fmt.Errorf("%d fields, want %d", n, cols.n)
	}
	get := func(i int) []byte {
		if i < 0 || i >= n {
			return nil
		}
		return fs[i].value()
	}
	t, ok := parseISOTime(get(cols.time), src.Location)
	if !ok {
		return fmt.Errorf("date-time %q is not a timestamp", clip(get(cols.time)))
	}
	ev.Time = t
	eventID := get(cols.eventID)
	if !isUpperWord(eventID, false) {
		return fmt.Errorf("event-id %q is not an event name", clip(eventID))
	}
	status := get(cols.recipientStatus)

	ev.Add(format.FieldDataset, "exchange.messagetracking")
	ev.Add(format.FieldCategory, "email")
	ev.Add(format.FieldAction, eventName(eventID, ev))
	outcome := trackingOutcome(eventID, status)
	ev.Add(format.FieldOutcome, outcome)
	if outcome == format.OutcomeFailure {
		ev.AddBytes(format.FieldReason, status)
	}
	source := get(cols.source)
	ev.AddBytes(fieldExchangeSource, source)
	if bytes.Equal(source, []byte("SMTP")) {
		ev.Add(format.FieldProtocol, "smtp")
	}
	// The sender; a message without one (a bounce, a DSN) has only its
	// envelope sender, the return-path, often "<>".
	if from := get(cols.sender); len(from) > 0 {
		ev.AddBytes(format.FieldEmailFrom, from)
	} else {
		ev.AddBytes(format.FieldEmailFrom, get(cols.returnPath))
	}
	ev.AddBytes(format.FieldEmailTo, get(cols.recipients))
	ev.AddBytes(format.FieldEmailSubject, get(cols.subject))
	ev.AddBytes(format.FieldEmailMessageID, get(cols.messageID))
	ev.AddBytes(fieldEmailLocalID, get(cols.networkID))
	if ip := get(cols.clientIP); isAddress(ip) {
		ev.AddBytes(format.FieldSourceIP, ip)
	}
	ev.AddBytes(fieldSourceDomain, get(cols.clientHost))
	if ip := get(cols.serverIP); isAddress(ip) {
		ev.AddBytes(format.FieldDestIP, ip)
	}
	// The Exchange server the event happened on: the server of a
	// RECEIVE or DELIVER, the client of a SEND (whose server is the next
	// hop), whichever is there for the rest.
	host := get(cols.serverHost)
	if len(host) == 0 || bytes.HasPrefix(eventID, []byte("SEND")) {
		if c := get(cols.clientHost); len(c) > 0 {
			host = c
		}
	}
	ev.AddBytes(format.FieldHostName, host)
	if ip := get(cols.originalClientIP); isAddress(ip) {
		ev.AddBytes(fieldOriginalClientIP, ip)
	}
	if b := get(cols.totalBytes); atoi(b) >= 0 {
		ev.AddBytes(fieldNetworkBytes, b)
	}
	if b := get(cols.recipientCount); atoi(b) >= 0 {
		ev.AddBytes(fieldExchangeRecipients, b)
	}
	ev.AddBytes(fieldDirectionality, get(cols.directionality))
	return nil
}

// eventName returns the event-id as a constant string when it is a known
// one, so that the common case does not allocate.
func eventName(b []byte, ev *format.Event) string {
	if s, ok := trackingEvents[string(b)]; ok {
		return s.name
	}
	return evString(ev, b)
}

// trackingEvent describes an event-id: its name and the outcome it records.
type trackingEvent struct {
	name, outcome string
}

// trackingEvents lists the event-ids of Exchange 2013-2019 with the outcome
// each stands for. Events that record a step (EXPAND, RESOLVE, AGENTINFO,
// HAREDIRECT, ...) or a delay (DEFER, THROTTLE) have none.
var trackingEvents = func() map[string]trackingEvent {
	m := make(map[string]trackingEvent)
	for _, n := range []string{"RECEIVE", "SEND", "SENDEXTERNAL", "DELIVER", "DUPLICATEDELIVER", "SUBMIT", "RESUBMIT",
		"TRANSFER", "HARECEIVE", "MODERATORAPPROVE"} {
		m[n] = trackingEvent{n, format.OutcomeSuccess}
	}
	for _, n := range []string{"FAIL", "BADMAIL", "POISONMESSAGE", "DROP", "SUBMITDROP", "HAREDIRECTFAIL", "SUBMITFAIL",
		"RESUBMITFAIL", "MODERATORREJECT", "MODERATIONEXPIRE", "MODERATORSALLNDR"} {
		m[n] = trackingEvent{n, format.OutcomeFailure}
	}
	for _, n := range []string{"DSN", "DEFER", "SUBMITDEFER", "RESUBMITDEFER", "THROTTLE", "EXPAND", "REDIRECT", "RESOLVE",
		"DUPLICATEEXPAND", "DUPLICATEREDIRECT", "AGENTINFO", "HADISCARD", "HAREDIRECT", "INITMESSAGECREATED", "LOAD",
		"NOTIFYMAPI", "NOTIFYSHADOW", "PROCESS", "PROCESSMEETINGMESSAGE", "SUPPRESSED", "CLIENTSUBMISSION", "SAFETYNET"} {
		m[n] = trackingEvent{n, ""}
	}
	return m
}()

// trackingOutcome returns the outcome of an event: by its event-id (see
// trackingEvents); a DSN by the class of the status it reports (5.x.x: a
// non-delivery report, failure; 4.x.x: a delay, unknown; 2.x.x: success;
// none: failure, as most DSNs are NDRs).
func trackingOutcome(eventID, status []byte) string {
	e := trackingEvents[string(eventID)]
	if e.name != "DSN" {
		return e.outcome
	}
	switch statusClass(status) {
	case '2':
		return format.OutcomeSuccess
	case '4':
		return format.OutcomeUnknown
	}
	return format.OutcomeFailure
}

// statusClass returns the class digit of an SMTP status ("550 5.1.1 ...",
// "5.1.1 ...", "[{LRT=...};{LED=550 5.4.1 ...}]"), or 0.
func statusClass(s []byte) byte {
	for i := 0; i+1 < len(s); i++ {
		c := s[i]
		if (c == '2' || c == '4' || c == '5') && (i == 0 || !isDigitByte(s[i-1])) &&
			(s[i+1] == '.' || i+2 < len(s) && isDigitByte(s[i+1]) && isDigitByte(s[i+2])) {
			return c
		}
	}
	return 0
}

func isDigitByte(c byte) bool { return c >= '0' && c <= '9' }
