package enforce

import (
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"strings"
)

// ActiveSync is what a request to /Microsoft-Server-ActiveSync says about
// its sender.
type ActiveSync struct {
	User   string // the User parameter, as the client wrote it ("" when absent)
	Device string // the DeviceId
	Type   string // the DeviceType
	Cmd    string // the command (plain form only; "" for the base64 form)
	Base64 bool   // the query was the base64-encoded form
}

// activeSyncPath is the path prefix of ActiveSync requests (compared
// case-insensitively).
const activeSyncPath = "/microsoft-server-activesync"

// IsActiveSync reports whether path is an ActiveSync request's path.
func IsActiveSync(path string) bool {
	return len(path) >= len(activeSyncPath) && strings.EqualFold(path[:len(activeSyncPath)], activeSyncPath) &&
		(len(path) == len(activeSyncPath) || path[len(activeSyncPath)] == '/' || path[len(activeSyncPath)] == '?')
}

// ParseActiveSync reads an ActiveSync request's raw query string in either
// form ([MS-ASHTTP] 2.2.1.1.1): the plain one
// (Cmd=Sync&User=alice&DeviceId=ABC&DeviceType=iPhone, parameter names
// compared case-insensitively) or the base64-encoded binary one that
// Outlook and iOS clients send. In the base64 form the DeviceId is a byte
// string: it is reported as text when every byte is printable ASCII, else
// as upper-case hex. ok is false when the query is neither.
func ParseActiveSync(query string) (as ActiveSync, ok bool) {
	if query == "" {
		return as, false
	}
	if strings.IndexByte(query, '&') >= 0 || !looksBase64(query) {
		as.User = param(query, "User")
		as.Device = param(query, "DeviceId")
		as.Type = param(query, "DeviceType")
		as.Cmd = param(query, "Cmd")
		return as, as.Device != "" || as.User != "" || as.Cmd != ""
	}
	return parseBase64(query)
}

// looksBase64 reports whether q can be a (possibly percent-escaped)
// base64 text: the plain form always has a '=' before its end.
func looksBase64(q string) bool {
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '+', c == '/', c == '%':
		case c == '=':
			// Only padding at the end.
			if strings.Trim(q[i:], "=") != "" {
				return false
			}
			return true
		default:
			return false
		}
	}
	return true
}

// maxBase64Query bounds the base64 query decoded (a real one is well
// under 200 bytes).
const maxBase64Query = 2048

// Tags of the base64 form's command parameters ([MS-ASHTTP] 2.2.1.1.1.1.1).
const tagUser = 8

func parseBase64(q string) (as ActiveSync, ok bool) {
	if len(q) > maxBase64Query {
		return as, false
	}
	if strings.IndexByte(q, '%') >= 0 {
		u, err := url.QueryUnescape(q)
		if err != nil {
			return as, false
		}
		q = u
	}
	var buf [maxBase64Query]byte
	n, err := base64.StdEncoding.Decode(buf[:], []byte(q))
	if err != nil {
		n, err = base64.RawStdEncoding.Decode(buf[:], []byte(strings.TrimRight(q, "=")))
		if err != nil {
			return as, false
		}
	}
	b := buf[:n]
	// Protocol version (1), command code (1), locale (2).
	if len(b) < 5 {
		return as, false
	}
	b = b[4:]
	field := func() ([]byte, bool) {
		if len(b) < 1 || len(b) < 1+int(b[0]) {
			return nil, false
		}
		v := b[1 : 1+int(b[0])]
		b = b[1+int(b[0]):]
		return v, true
	}
	dev, ok1 := field()
	_, ok2 := field() // policy key
	typ, ok3 := field()
	if !ok1 || !ok2 || !ok3 || len(dev) == 0 {
		return as, false
	}
	as = ActiveSync{Device: deviceText(dev), Type: string(typ), Base64: true}
	for len(b) >= 2 {
		tag := b[0]
		b = b[1:]
		v, ok := field()
		if !ok {
			break
		}
		if tag == tagUser {
			as.User = string(v)
		}
	}
	return as, true
}

// deviceText renders a base64 form's DeviceId bytes.
func deviceText(b []byte) string {
	for _, c := range b {
		if c < 0x21 || c > 0x7e {
			return strings.ToUpper(hex.EncodeToString(b))
		}
	}
	return string(b)
}

// param returns the first value of key (compared case-insensitively) in
// a raw query, unescaped; "" when absent or badly escaped.
func param(query, key string) string {
	for query != "" {
		var pair string
		pair, query, _ = strings.Cut(query, "&")
		k, v, _ := strings.Cut(pair, "=")
		if strings.IndexByte(k, '%') >= 0 {
			var err error
			if k, err = url.QueryUnescape(k); err != nil {
				continue
			}
		}
		if !strings.EqualFold(k, key) {
			continue
		}
		if strings.ContainsAny(v, "%+") {
			u, err := url.QueryUnescape(v)
			if err != nil {
				return ""
			}
			v = u
		}
		return strings.ToValidUTF8(v, "\uFFFD")
	}
	return ""
}
