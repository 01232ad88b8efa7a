package syslog

import (
	"fmt"
	"strings"
)

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

// CheckSender returns an error for each sender option that is not one of
// its values: transport udp, tcp or tls, header format rfc5424 or rfc3164,
// framing octet_counting or newline ("" is each one's default). The syslog
// output and the syslog alert channel share these options.
func CheckSender(transport, format, framing string) []error {
	var errs []error
	switch transport {
	case "", "udp", "tcp", "tls":
	default:
		errs = append(errs, fmt.Errorf("transport %q: want udp, tcp or tls", transport))
	}
	switch format {
	case "", "rfc5424", "rfc3164":
	default:
		errs = append(errs, fmt.Errorf("format %q: want rfc5424 or rfc3164", format))
	}
	switch framing {
	case "", "octet_counting", "newline":
	default:
		errs = append(errs, fmt.Errorf("framing %q: want octet_counting or newline", framing))
	}
	return errs
}
