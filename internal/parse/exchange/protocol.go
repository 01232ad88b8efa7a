package exchange

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/vigil-soc/vigil/internal/parse/format"
)

// Protocol returns the format of the IMAP4 and POP3 protocol logs
// (Logging\Imap4 and Logging\Pop3 of the front end and back end services),
// named "exchange-imap-pop".
//
// Each line is one command of a client session, a CSV record with the
// columns of the "#Fields" header, by default
// dateTime,sessionId,seqNumber,sIp,cIp,user,duration,sBytes,rBytes,cmd,parameters,context
// (Exchange 2013 and later call the byte columns rqsize/rpsize and add a
// puid column; both spellings work, extra columns are ignored).
func Protocol() format.Text { return protocolFormat{} }

const protocolName = "exchange-imap-pop"

type protocolFormat struct{}

// protoCols holds the index of each column Protocol reads, -1 when absent.
type protoCols struct {
	time, session, sIP, cIP, user, duration, cmd, params, context int

	// min is the number of fields a line needs.
	min int
}

var defaultProtoCols = protoCols{time: 0, session: 1, sIP: 3, cIP: 4, user: 5, duration: 6, cmd: 9, params: 10, context: 11, min: 10}

// protoColsFrom maps the names of a #Fields line to columns.
func protoColsFrom(names []string) (protoCols, bool) {
	c := protoCols{-1, -1, -1, -1, -1, -1, -1, -1, -1, 0}
	for i, n := range names {
		p := (*int)(nil)
		switch n {
		case "datetime":
			p = &c.time
		case "sessionid":
			p = &c.session
		case "sip", "localendpoint", "serverendpoint":
			p = &c.sIP
		case "cip", "remoteendpoint", "clientendpoint":
			p = &c.cIP
		case "user":
			p = &c.user
		case "duration":
			p = &c.duration
		case "cmd", "command":
			p = &c.cmd
		case "parameters":
			p = &c.params
		case "context":
			p = &c.context
		}
		if p != nil && *p < 0 {
			*p = i
		}
	}
	if c.time < 0 || c.session < 0 || c.cmd < 0 || (c.sIP < 0 && c.cIP < 0) {
		return c, false
	}
	for _, i := range []int{c.time, c.session, c.sIP, c.cIP, c.cmd} {
		c.min = max(c.min, i+1)
	}
	return c, true
}

// maxSessions bounds the sessions whose user and protocol a source
// remembers; past it the memory starts afresh.
const maxSessions = 4096

// protoState is what Protocol keeps per source.
type protoState struct {
	cols     protoCols
	header   bool   // cols come from a #Fields line
	logType  string // "imap" or "pop3" from #Log-type, "" when not seen
	last     string // the protocol of the last line
	sessions map[string]session
	scratch  []byte
}

// session is what is known about one client session.
type session struct {
	user  string
	proto string
	port  int
}

func protoStateOf(src *format.Source) *protoState {
	if src == nil {
		return nil
	}
	st, _ := src.State(protocolName).(*protoState)
	return st
}

func (protocolFormat) Name() string { return protocolName }

// Detect reports whether msg is an Exchange IMAP4/POP3 protocol log line or
// one of its header lines.
func (protocolFormat) Detect(msg []byte, src *format.Source) bool {
	msg = trimLine(msg)
	if len(msg) > 0 && msg[0] == '#' {
		d, v := headerLine(msg)
		switch d {
		case "software":
			return isExchangeSoftware(v)
		case "version", "date":
			return protoStateOf(src) != nil
		case "log-type":
			return protoLogType(v) != ""
		case "fields":
			names, err := headerNames(v)
			if err != nil {
				return false
			}
			_, ok := protoColsFrom(names)
			return ok
		}
		return false
	}
	if !isTimestampStart(msg) {
		return false
	}
	cols := defaultProtoCols
	if st := protoStateOf(src); st != nil && st.header {
		cols = st.cols
	}
	// A line whose end is broken (cut, or an unbalanced quote) is still
	// ours when its start is; Parse then says what is wrong with it.
	var fs [maxFields]csvField
	n, err := splitCSV(msg, &fs)
	if err == nil && n < cols.min || n <= max(cols.session, cols.sIP, cols.cIP) {
		return false
	}
	if !isHexID(fs[cols.session].b) {
		return false
	}
	for _, i := range []int{cols.sIP, cols.cIP} {
		if i >= 0 {
			if _, port := splitEndpoint(fs[i].b); port < 0 {
				return false
			}
		}
	}
	return true
}

// isHexID reports whether b is a session ID as Exchange writes it, 16 hex
// digits (any length up to 32 is accepted).
func isHexID(b []byte) bool {
	if len(b) == 0 || len(b) > 32 {
		return false
	}
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// protoLogType returns "imap" or "pop3" for the #Log-type of a protocol log.
func protoLogType(v []byte) string {
	l := bytes.ToLower(v)
	if !bytes.Contains(l, []byte("protocol log")) {
		return ""
	}
	switch {
	case bytes.Contains(l, []byte("imap")):
		return "imap"
	case bytes.Contains(l, []byte("pop")):
		return "pop3"
	}
	return ""
}

// Parse adds the fields of one protocol log line to ev.
func (f protocolFormat) Parse(msg []byte, src *format.Source, ev *format.Event) error {
	if src == nil {
		src = &format.Source{}
	}
	msg = trimLine(msg)
	st := protoStateOf(src)
	if len(msg) > 0 && msg[0] == '#' {
		return f.header(msg, src, st)
	}
	cols := defaultProtoCols
	if st != nil && st.header {
		cols = st.cols
	}
	var fs [maxFields]csvField
	n, err := splitCSV(msg, &fs)
	if err != nil {
		return err
	}
	if n < cols.min {
		return fmt.Errorf("%d fields, want at least %d", n, cols.min)
	}
	get := func(i int) csvField {
		if i < 0 || i >= n {
			return csvField{}
		}
		return fs[i]
	}
	t, ok := parseISOTime(get(cols.time).b, src.Location)
	if !ok {
		return fmt.Errorf("dateTime %q is not a timestamp", clip(get(cols.time).b))
	}
	if st == nil {
		st = &protoState{cols: defaultProtoCols}
		src.SetState(protocolName, st)
	}
	ev.Time = t

	cmd := get(cols.cmd).value()
	sessionID := get(cols.session).b
	sIP := get(cols.sIP).b
	_, sPort := splitEndpoint(sIP)
	// Front end and back end logs number their sessions alike; the
	// server port tells them apart.
	sess, known := st.sessions[string(sessionID)]
	if known && sess.port != sPort {
		sess, known = session{}, false
	}

	proto := st.decide(sPort, cmd, sess.proto)
	switch proto {
	case "imap":
		ev.Add(format.FieldDataset, "exchange.imap")
		ev.Add(format.FieldProtocol, "imap")
	case "pop3":
		ev.Add(format.FieldDataset, "exchange.pop3")
		ev.Add(format.FieldProtocol, "pop3")
	default:
		ev.Add(format.FieldDataset, "exchange.imap_pop")
	}
	ev.AddBytes(format.FieldSessionID, sessionID)
	addEndpoint(ev, format.FieldSourceIP, format.FieldSourcePort, get(cols.cIP).b)
	addEndpoint(ev, format.FieldDestIP, format.FieldDestPort, sIP)

	action := lowerCmd(cmd, ev)
	ev.Add(format.FieldAction, action)
	if d := get(cols.duration).b; atoi(d) > 0 {
		// Milliseconds to nanoseconds, in the source's scratch memory.
		st.scratch = append(append(st.scratch[:0], bytes.TrimLeft(d, "0")...), "000000"...)
		ev.AddBytes(format.FieldDuration, st.scratch)
	} else if atoi(d) == 0 {
		ev.Add(format.FieldDuration, "0")
	}

	// The user: the user column; else the name a LOGIN or USER command
	// carries; else the one a refused logon's context names ("Msg=
	// AuthFailed:LogonDenied,User: name"); else the one the session named
	// before.
	user := evString(ev, get(cols.user).value())
	params := get(cols.params).value()
	if user == "" || user == "-" {
		switch action {
		case "login", "user":
			user = evString(ev, firstToken(params))
		}
	}
	ctx := parseContext(get(cols.context))
	if user == "" || user == "-" {
		user = evString(ev, ctx.user())
	}
	if user == "" {
		user = sess.user
	}
	if user != "" {
		setUser(ev, src, user)
	}

	auth := isAuthCommand(action)
	outcome, reason := resultOf(ctx)
	switch {
	case auth:
		ev.Add(format.FieldCategory, "authentication")
		if outcome == "" {
			outcome = format.OutcomeUnknown
		}
	case action == "opensession":
		ev.Add(format.FieldCategory, "network")
		ev.Add(format.FieldType, "start")
	case action == "closesession":
		ev.Add(format.FieldCategory, "network")
		ev.Add(format.FieldType, "end")
	default:
		ev.Add(format.FieldCategory, "email")
	}
	ev.Add(format.FieldOutcome, outcome)
	if outcome == format.OutcomeFailure {
		ev.AddBytes(format.FieldReason, reason)
	}

	// Remember the session (bounded) until it closes. The state outlives
	// the event, so it keeps its own copy of the user name.
	switch {
	case action == "closesession":
		if known {
			delete(st.sessions, string(sessionID))
		}
	case !known || (user != "" && sess.user != user) || (proto != "" && sess.proto != proto):
		if st.sessions == nil || len(st.sessions) >= maxSessions {
			st.sessions = make(map[string]session)
		}
		if user != "" && user != sess.user {
			sess.user = strings.Clone(user)
		}
		if proto != "" {
			sess.proto = proto
		}
		sess.port = sPort
		st.sessions[string(sessionID)] = sess
	}
	return nil
}

// header handles a "#" line: it updates the source's state and returns
// format.ErrSkip, or an error for a #Fields line without the needed
// columns.
func (protocolFormat) header(msg []byte, src *format.Source, st *protoState) error {
	if st == nil {
		st = &protoState{cols: defaultProtoCols}
		src.SetState(protocolName, st)
	}
	d, v := headerLine(msg)
	switch d {
	case "software":
		// A new file starts: forget what the previous one said.
		st.logType, st.header, st.cols = "", false, defaultProtoCols
	case "log-type":
		st.logType = protoLogType(v)
	case "fields":
		names, err := headerNames(v)
		if err != nil {
			return fmt.Errorf("#Fields: %w", err)
		}
		cols, ok := protoColsFrom(names)
		if !ok {
			return fmt.Errorf("#Fields line lacks dateTime, sessionId, cmd or the endpoints: %q", clip(v))
		}
		st.cols, st.header = cols, true
	}
	return format.ErrSkip
}

// decide returns "imap", "pop3" or "" for a line: from the #Log-type
// header, else the server port, else what the session was, else the
// command, else what the source's previous line was.
func (st *protoState) decide(port int, cmd []byte, sessProto string) string {
	p := st.logType
	if p == "" {
		switch port {
		case 143, 993, 1143, 1993:
			p = "imap"
		case 110, 995, 1110, 1995:
			p = "pop3"
		}
	}
	if p == "" {
		p = sessProto
	}
	if p == "" {
		p = protoOfCommand(cmd)
	}
	if p == "" {
		p = st.last
	}
	if p != "" {
		st.last = p
	}
	return p
}

// protoOfCommand returns the protocol that has cmd and the other does not.
func protoOfCommand(cmd []byte) string {
	switch strings.ToLower(string(cmd)) {
	case "login", "authenticate", "select", "examine", "fetch", "uid", "idle", "lsub", "capability",
		"logout", "starttls", "close", "expunge", "search", "store", "copy", "move", "append", "create",
		"delete", "rename", "subscribe", "unsubscribe", "status", "namespace", "id", "getquota", "getquotaroot", "unselect", "check":
		return "imap"
	case "user", "pass", "apop", "stat", "retr", "dele", "uidl", "top", "quit", "capa", "rset", "stls", "auth", "xtnd":
		return "pop3"
	}
	return ""
}

// lowerCmd returns cmd in lowercase, as a constant string for the commands
// Exchange logs so that the common case does not allocate.
func lowerCmd(cmd []byte, ev *format.Event) string {
	for _, c := range knownCommands {
		if len(c) == len(cmd) && strings.EqualFold(c, string(cmd)) {
			return c
		}
	}
	if len(cmd) == 0 {
		return ""
	}
	return evString(ev, bytes.ToLower(cmd))
}

// evString returns b as a string in the event's memory.
func evString(ev *format.Event, b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if ev.Copy != nil {
		return ev.Copy(b)
	}
	return string(b)
}

var knownCommands = [...]string{
	"opensession", "closesession", "capability", "capa", "login", "authenticate", "auth", "user", "pass", "apop",
	"select", "examine", "fetch", "uid", "idle", "list", "lsub", "logout", "starttls", "stls", "close", "expunge",
	"search", "store", "copy", "move", "append", "create", "delete", "rename", "subscribe", "unsubscribe", "status",
	"namespace", "id", "noop", "stat", "retr", "dele", "uidl", "top", "quit", "rset", "xtnd",
}

// isAuthCommand reports whether a command checks credentials: IMAP LOGIN
// and AUTHENTICATE, POP3 PASS, AUTH and APOP. POP3 USER only names the
// account and is always answered +OK.
func isAuthCommand(action string) bool {
	switch action {
	case "login", "authenticate", "pass", "auth", "apop":
		return true
	}
	return false
}

// firstToken returns the first space-separated token of b without quotes,
// or nil for the password mask.
func firstToken(b []byte) []byte {
	b = bytes.TrimSpace(b)
	if i := bytes.IndexAny(b, " \t"); i >= 0 {
		b = b[:i]
	}
	b = bytes.Trim(b, `"`)
	if bytes.Equal(b, []byte("*****")) {
		return nil
	}
	return b
}

// protoContext holds the keys of a protocol log context that tell how a
// command ended: R (the response, "OK" or the response line), Msg and
// ErrMsg.
type protoContext struct {
	r, msg, errMsg []byte
}

// parseContext reads the key=value pairs of the context column, separated
// by ';', values optionally in double quotes (which may hold ';'). It reads
// the field as it is in the line: in a quoted CSV field each quote is
// doubled, and the quote token is then "". Only R, Msg and ErrMsg are
// kept; a value keeps no surrounding quotes.
func parseContext(f csvField) protoContext {
	var c protoContext
	b := f.b
	q := []byte(`"`)
	if f.esc {
		q = []byte(`""`)
	}
	for len(b) > 0 {
		// Find the end of this item: the next ';' outside quotes.
		end, in := len(b), false
		for i := 0; i < len(b); i++ {
			if b[i] == '"' && bytes.HasPrefix(b[i:], q) {
				in = !in
				i += len(q) - 1
				continue
			}
			if b[i] == ';' && !in {
				end = i
				break
			}
		}
		item := b[:end]
		if end < len(b) {
			b = b[end+1:]
		} else {
			b = nil
		}
		eq := bytes.IndexByte(item, '=')
		if eq <= 0 {
			continue
		}
		k, v := bytes.TrimSpace(item[:eq]), bytes.TrimSpace(item[eq+1:])
		for len(v) >= 2*len(q) && bytes.HasPrefix(v, q) && bytes.HasSuffix(v, q) {
			v = bytes.TrimSpace(v[len(q) : len(v)-len(q)])
		}
		switch {
		case len(k) == 1 && (k[0] == 'R' || k[0] == 'r'):
			c.r = v
		case bytes.EqualFold(k, []byte("Msg")):
			c.msg = v
		case bytes.EqualFold(k, []byte("ErrMsg")):
			c.errMsg = v
		}
	}
	return c
}

// user returns the account a context names: the "User: name" item of its
// Msg (Exchange writes `Msg="AuthFailed:LogonDenied,User: name@domain"` for
// a refused logon), else of ErrMsg or R; nil when there is none.
func (c protoContext) user() []byte {
	for _, v := range [...][]byte{c.msg, c.errMsg, c.r} {
		if u := userItem(v); len(u) > 0 {
			return u
		}
	}
	return nil
}

// userItem returns the value of a "User: name" item in a comma-separated
// context value: from after "User:" to the next comma, without blanks and
// quotes.
func userItem(v []byte) []byte {
	for len(v) > 0 {
		i := bytes.Index(v, []byte("User:"))
		if i < 0 {
			return nil
		}
		// The item starts the value or follows a comma (possibly and
		// blanks): "User:" inside a sentence is not an item.
		j := i
		for j > 0 && v[j-1] == ' ' {
			j--
		}
		if j == 0 || v[j-1] == ',' {
			u := v[i+len("User:"):]
			if j := bytes.IndexAny(u, ",;"); j >= 0 {
				u = u[:j]
			}
			u = bytes.Trim(u, " \t\"")
			if bytes.IndexByte(u, ' ') >= 0 {
				return nil
			}
			return u
		}
		v = v[i+len("User:"):]
	}
	return nil
}

// resultOf returns the outcome a context records and, for a failure, why.
//
// Exchange writes R=OK for a command that succeeded; otherwise R holds the
// response line it sent: `R="2 NO AUTHENTICATE failed."`, `R="a1 NO LOGIN
// failed."`, `R="-ERR Logon failure: unknown user name or bad password."`,
// `R="a4 BAD Command Argument Error. 11"`. A rejected logon also carries
// `ErrMsg=AuthFailed:LogonDenied` (and a Msg naming the user).
func resultOf(c protoContext) (outcome string, reason []byte) {
	switch {
	case len(c.errMsg) > 0:
		outcome, reason = format.OutcomeFailure, c.errMsg
		if len(c.r) > 0 && responseOutcome(c.r) == format.OutcomeFailure {
			// "NO AUTHENTICATE failed. (AuthFailed:LogonDenied)"
			r := stripTag(c.r)
			reason = make([]byte, 0, len(r)+len(c.errMsg)+3)
			reason = append(append(append(append(reason, r...), " ("...), c.errMsg...), ')')
		}
	case len(c.r) > 0:
		outcome = responseOutcome(c.r)
		if outcome == format.OutcomeFailure {
			reason = stripTag(c.r)
			if len(c.msg) > 0 && !hasPrefixFold(c.msg, "Proxy:") {
				reason = c.msg
			}
		}
	case hasPrefixFold(c.msg, "AuthFailed"):
		outcome, reason = format.OutcomeFailure, c.msg
	}
	return outcome, reason
}

// responseOutcome classifies an IMAP or POP3 response line: OK, a tagged
// "<tag> OK ..." and "+OK ..." succeed; NO, BAD (tagged or not) and "-ERR"
// fail; anything else ("+" continuations) is unknown.
func responseOutcome(r []byte) string {
	r = bytes.TrimSpace(r)
	first, rest, _ := bytes.Cut(r, []byte(" "))
	second, _, _ := bytes.Cut(bytes.TrimSpace(rest), []byte(" "))
	switch {
	case bytes.EqualFold(first, []byte("OK")), hasPrefixFold(first, "+OK"), bytes.EqualFold(second, []byte("OK")):
		return format.OutcomeSuccess
	case bytes.EqualFold(first, []byte("NO")), bytes.EqualFold(first, []byte("BAD")), hasPrefixFold(first, "-ERR"),
		bytes.EqualFold(second, []byte("NO")), bytes.EqualFold(second, []byte("BAD")):
		return format.OutcomeFailure
	}
	return format.OutcomeUnknown
}

// stripTag removes the IMAP tag from a tagged response: "2 NO LOGIN
// failed." becomes "NO LOGIN failed.".
func stripTag(r []byte) []byte {
	first, rest, ok := bytes.Cut(r, []byte(" "))
	if !ok {
		return r
	}
	second, _, _ := bytes.Cut(rest, []byte(" "))
	if !bytes.EqualFold(first, []byte("NO")) && !bytes.EqualFold(first, []byte("BAD")) &&
		(bytes.EqualFold(second, []byte("NO")) || bytes.EqualFold(second, []byte("BAD")) || bytes.EqualFold(second, []byte("OK"))) {
		return rest
	}
	return r
}

// clip shortens b for an error message.
func clip(b []byte) string {
	const n = 80
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}
