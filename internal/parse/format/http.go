package format

import (
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// HTTP is one request to a web front end, as an access log records it.
type HTTP struct {
	Method, Path, Query string
	Status              int // 0 when unknown
	User                string
	UserAgent           string
	// Location is the redirect target when the log records it.
	Location string
	// UserLogged reports that the log has a field for the user of HTTP
	// Basic authentication (nginx's $remote_user), so an empty User means
	// the request carried no Basic credentials.
	UserLogged bool
}

// endpoint is one of an Exchange front end's endpoints: the first path
// segment of its URLs (lowercase), its network.protocol and the
// event.reason of a 401 from it (built once: AddHTTP runs per event).
type endpoint struct{ segment, proto, reason401 string }

func newEndpoint(segment, proto string) endpoint {
	return endpoint{segment, proto, "HTTP 401 from the " + proto + " endpoint"}
}

var endpoints = [...]endpoint{
	newEndpoint("owa", "owa"),
	newEndpoint("ecp", "ecp"),
	newEndpoint("ews", "ews"),
	newEndpoint("microsoft-server-activesync", "activesync"),
	newEndpoint("autodiscover", "autodiscover"),
	newEndpoint("mapi", "mapi"),
	newEndpoint("rpc", "rpc"),
	newEndpoint("oab", "oab"),
	newEndpoint("powershell", "powershell"),
}

// protocolOf returns network.protocol for the first path segment of a URL
// (lowercase), or "".
func protocolOf(segment []byte) string {
	for i := range endpoints {
		if string(segment) == endpoints[i].segment { // no allocation
			return endpoints[i].proto
		}
	}
	return ""
}

// Protocol returns network.protocol for a request path, or "".
func Protocol(path string) string {
	p := strings.TrimPrefix(path, "/")
	for i := 0; i < len(p); i++ {
		if p[i] == '/' || p[i] == '?' {
			p = p[:i]
			break
		}
	}
	// The first segment lowercased as strings.ToLower does; ASCII (every
	// request's, in practice) without allocating.
	var buf [32]byte
	if len(p) > len(buf) {
		return protocolOf([]byte(strings.ToLower(p)))
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c >= utf8.RuneSelf {
			return protocolOf([]byte(strings.ToLower(p)))
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	return protocolOf(buf[:len(p)])
}

// AddHTTP adds the normalized fields of an HTTP request to ev: method,
// path, query, status, user agent, network.protocol, the ActiveSync user,
// device and command, and the authentication outcome where the request
// shows one (docs/schema.md, "Authentication outcome").
func AddHTTP(ev *Event, src *Source, r HTTP) {
	ev.Add(FieldMethod, r.Method)
	ev.Add(FieldURLPath, r.Path)
	ev.Add(FieldURLQuery, r.Query)
	if r.Status > 0 {
		ev.AddInt(FieldStatus, int64(r.Status))
	}
	ev.Add(FieldUserAgent, r.UserAgent)
	proto := Protocol(r.Path)
	ev.Add(FieldProtocol, proto)
	noCredentials := r.UserLogged && r.User == "" // before the query names a user
	user := r.User
	if proto == "activesync" && r.Query != "" {
		// Percent-decoding can produce any bytes: keep the text valid.
		var p activeSync
		p.read(r.Query, user == "")
		if user == "" {
			user = strings.ToValidUTF8(p[asUser], "\uFFFD")
		}
		ev.Add(FieldDeviceID, strings.ToValidUTF8(p[asDeviceID], "\uFFFD"))
		ev.Add(FieldDeviceType, strings.ToValidUTF8(p[asDeviceType], "\uFFFD"))
		ev.Add(FieldAction, strings.ToValidUTF8(p[asCmd], "\uFFFD"))
	}
	ev.SetUser(src, user)
	r.User = user

	category, outcome, reason := httpAuth(proto, r, noCredentials)
	if category != "" {
		ev.Add(FieldCategory, category)
	} else {
		ev.Add(FieldCategory, "web")
	}
	ev.Add(FieldOutcome, outcome)
	ev.Add(FieldReason, reason)
}

// httpAuth decides whether a request is an authentication attempt and how
// it ended. The evidence for each rule is in docs/schema.md.
func httpAuth(proto string, r HTTP, noCredentials bool) (category, outcome, reason string) {
	lowerPath := ""
	if proto == "owa" { // the only cases that read it
		lowerPath = strings.ToLower(r.Path)
	}
	switch {
	case proto == "owa" && lowerPath == "/owa/auth.owa" && (r.Method == "" || strings.EqualFold(r.Method, "POST")):
		// (Logs without the method, such as the original deployment's
		// nginx format, still show the logon attempt.)
		// Forms-based logon. Exchange answers 302 either way: to the
		// mailbox on success, back to logon.aspx with reason=2 on a bad
		// password. Without the Location the outcome is unknown here;
		// the follow-up GET of logon.aspx?reason=2 shows the failure.
		loc := strings.ToLower(r.Location)
		switch {
		case strings.Contains(loc, "logon.aspx") && strings.Contains(loc, "reason=2"):
			return "authentication", OutcomeFailure, "OWA forms logon rejected (redirect to logon.aspx?reason=2: bad user name or password)"
		case r.Location != "" && r.Status == 302:
			return "authentication", OutcomeSuccess, "OWA forms logon accepted"
		case r.Status == 401 || r.Status == 403:
			return "authentication", OutcomeFailure, "OWA forms logon answered " + strconv.Itoa(r.Status)
		}
		return "authentication", OutcomeUnknown, ""
	case proto == "owa" && strings.HasPrefix(lowerPath, "/owa/auth/logon.aspx") && QueryParam(r.Query, "reason") == "2":
		return "authentication", OutcomeFailure, "OWA logon page shown with reason=2 (bad user name or password)"
	case r.Status == 401 && proto == "activesync" && noCredentials:
		// ActiveSync authenticates with Basic: nginx fills $remote_user
		// from the Authorization header, so a 401 without it answered a
		// request that sent no credentials (the client's first try, before
		// the challenge), not a wrong password.
		return "authentication", OutcomeUnknown, "ActiveSync 401 challenge: the request carried no credentials"
	case r.Status == 401:
		if proto != "" {
			return "authentication", OutcomeFailure, reason401(proto)
		}
		return "authentication", OutcomeFailure, "HTTP 401"
	case proto == "owa" && r.Status == 440:
		// Not a logon attempt: the session cookie expired and OWA asks the
		// browser to log on again.
		return "session", OutcomeFailure, "OWA 440 login timeout (session expired)"
	case proto != "" && proto != "owa" && proto != "ecp" && r.Status >= 200 && r.Status < 300 && r.User != "":
		// Basic/NTLM-authenticated protocols authenticate every request;
		// a 2xx with a user name is a successful logon.
		return "authentication", OutcomeSuccess, ""
	}
	return "", "", ""
}

// activeSync holds the query parameters of an ActiveSync request that
// AddHTTP reads, indexed by asUser etc.
type activeSync [4]string

const (
	asUser = iota
	asDeviceID
	asDeviceType
	asCmd
)

// read sets each parameter to QueryParam(query, its name), reading the
// query once; User only when user is set.
func (p *activeSync) read(query string, user bool) {
	var found [len(p)]bool
	left := len(p)
	if !user {
		found[asUser] = true
		left--
	}
	for query != "" && left > 0 {
		var k, v string
		var ok bool
		k, v, query, ok = queryPair(query)
		if !ok {
			continue
		}
		i := -1
		switch k {
		case "User":
			i = asUser
		case "DeviceId":
			i = asDeviceID
		case "DeviceType":
			i = asDeviceType
		case "Cmd":
			i = asCmd
		}
		if i < 0 || found[i] {
			continue
		}
		if v, ok = queryValue(v); ok {
			p[i], found[i] = v, true
			left--
		}
	}
}

// queryPair splits the first pair off query and returns its unescaped key,
// its raw value and the rest of query; ok is false for a pair QueryParam
// skips whatever the key (empty, with ';', or a bad escape in the key).
func queryPair(query string) (key, value, rest string, ok bool) {
	// One scan for what strings.Cut and Contains would each look for.
	eq, semi, esc := -1, false, false
	i := 0
	for ; i < len(query) && query[i] != '&'; i++ {
		switch query[i] {
		case '=':
			if eq < 0 {
				eq = i
			}
		case ';':
			semi = true
		case '%', '+':
			esc = esc || eq < 0 // in the key
		}
	}
	pair := query[:i]
	if i < len(query) {
		rest = query[i+1:]
	}
	if pair == "" || semi {
		return "", "", rest, false
	}
	k, v := pair, ""
	if eq >= 0 {
		k, v = pair[:eq], pair[eq+1:]
	}
	if esc {
		var err error
		if k, err = url.QueryUnescape(k); err != nil {
			return "", "", rest, false
		}
	}
	return k, v, rest, true
}

// queryValue unescapes a raw query value; ok is false for a bad escape.
func queryValue(v string) (string, bool) {
	if strings.ContainsAny(v, "%+") {
		var err error
		if v, err = url.QueryUnescape(v); err != nil {
			return "", false
		}
	}
	return v, true
}

// reason401 is event.reason of a 401 from a protocol's endpoint.
func reason401(proto string) string {
	for i := range endpoints {
		if endpoints[i].proto == proto {
			return endpoints[i].reason401
		}
	}
	return "HTTP 401 from the " + proto + " endpoint"
}

// QueryParam returns the first value of key in a URL query, as
// url.ParseQuery(query).Get(key) would, without building the map: pairs
// are separated by '&', a pair with ';' or with a bad escape is skipped,
// and keys and values are unescaped ('+' is a space).
func QueryParam(query, key string) string {
	for query != "" {
		var k, v string
		var ok bool
		k, v, query, ok = queryPair(query)
		if !ok || k != key {
			continue
		}
		if v, ok = queryValue(v); ok {
			return v
		}
	}
	return ""
}
