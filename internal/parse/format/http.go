package format

import (
	"net/url"
	"strconv"
	"strings"
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

// protocols maps the first path segment of an Exchange front end's URL
// (lowercase) to network.protocol.
var protocols = map[string]string{
	"owa":                         "owa",
	"ecp":                         "ecp",
	"ews":                         "ews",
	"microsoft-server-activesync": "activesync",
	"autodiscover":                "autodiscover",
	"mapi":                        "mapi",
	"rpc":                         "rpc",
	"oab":                         "oab",
	"powershell":                  "powershell",
}

// Protocol returns network.protocol for a request path, or "".
func Protocol(path string) string {
	p := strings.TrimPrefix(path, "/")
	if i := strings.IndexAny(p, "/?"); i >= 0 {
		p = p[:i]
	}
	return protocols[strings.ToLower(p)]
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
		ev.Add(FieldStatus, strconv.Itoa(r.Status))
	}
	ev.Add(FieldUserAgent, r.UserAgent)
	proto := Protocol(r.Path)
	ev.Add(FieldProtocol, proto)
	noCredentials := r.UserLogged && r.User == "" // before the query names a user
	user := r.User
	if proto == "activesync" && r.Query != "" {
		// Percent-decoding can produce any bytes: keep the text valid.
		get := func(k string) string { return strings.ToValidUTF8(QueryParam(r.Query, k), "\uFFFD") }
		if user == "" {
			user = get("User")
		}
		ev.Add(FieldDeviceID, get("DeviceId"))
		ev.Add(FieldDeviceType, get("DeviceType"))
		ev.Add(FieldAction, get("Cmd"))
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
	lowerPath := strings.ToLower(r.Path)
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
			return "authentication", OutcomeFailure, "HTTP 401 from the " + proto + " endpoint"
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

// QueryParam returns the first value of key in a URL query, as
// url.ParseQuery(query).Get(key) would, without building the map: pairs
// are separated by '&', a pair with ';' or with a bad escape is skipped,
// and keys and values are unescaped ('+' is a space).
func QueryParam(query, key string) string {
	for query != "" {
		var pair string
		pair, query, _ = strings.Cut(query, "&")
		if pair == "" || strings.Contains(pair, ";") {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		if strings.ContainsAny(k, "%+") {
			var err error
			if k, err = url.QueryUnescape(k); err != nil {
				continue
			}
		}
		if k != key {
			continue
		}
		if strings.ContainsAny(v, "%+") {
			var err error
			if v, err = url.QueryUnescape(v); err != nil {
				continue
			}
		}
		return v
	}
	return ""
}
