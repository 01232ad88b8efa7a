package syslog

import "strings"

// AppendParamValue appends v escaped as an RFC 5424 PARAM-VALUE (section
// 6.3.3): '"', '\' and ']' get a backslash, and invalid UTF-8 becomes
// U+FFFD, so the structured data stays parseable.
func AppendParamValue(b []byte, v string) []byte {
	v = strings.ToValidUTF8(v, "\uFFFD")
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '"', '\\', ']':
			b = append(b, '\\', c)
		default:
			b = append(b, c)
		}
	}
	return b
}
