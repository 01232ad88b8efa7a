package syslog

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func FuzzParse(f *testing.F) {
	for _, name := range []string{"valid.txt", "malformed.txt"} {
		for _, l := range readFixture(f, name) {
			f.Add(l)
		}
	}
	for _, s := range []string{
		"", "<", "<1>", "<13>1 ", "<13>1 - - - - - [a b=\"\\", "Nov  7 03:09:14", "\xef\xbb\xbf",
		"<13>Feb 29 00:00:00 h a: m", "<13>52: .Nov 27 23:39:14: x", "<13>1 - [::1] a - - [x@1 y=\"]\"] m",
	} {
		f.Add([]byte(s))
	}
	cet := time.FixedZone("CET", 3600)
	p := &Parser{Location: cet, Now: func() time.Time { return recv }}
	var reused Message
	f.Fuzz(func(t *testing.T, in []byte) {
		orig := bytes.Clone(in)
		var m Message
		p.Parse(in, recv, &m)
		if !bytes.Equal(in, orig) {
			t.Fatalf("input modified")
		}
		if m.Priority < -1 || m.Priority > 191 {
			t.Fatalf("Priority = %d", m.Priority)
		}
		if m.Priority >= 0 && (m.Facility != m.Priority>>3 || m.Severity != m.Priority&7) ||
			m.Priority < 0 && (m.Facility != -1 || m.Severity != -1) {
			t.Fatalf("Priority, Facility, Severity = %d, %d, %d", m.Priority, m.Facility, m.Severity)
		}
		if (m.Format == Unknown) != (m.Priority == -1) || m.Format > RFC5424 {
			t.Fatalf("Format %v with Priority %d", m.Format, m.Priority)
		}
		checkSuffix(t, in, &m)
		if m.Format == Unknown && len(m.Message) != len(in) {
			t.Fatalf("Unknown Message %q is not the whole input", m.Message)
		}
		if m.Format != RFC5424 && len(m.StructuredData) > 0 {
			t.Fatalf("StructuredData for %v", m.Format)
		}
		if m.Hostname == "-" || m.AppName == "-" || m.ProcID == "-" || m.MsgID == "-" {
			t.Fatalf("NILVALUE kept: %+v", m)
		}
		if len(in) > 0 && in[0] != '<' && m.Err != "" {
			t.Fatalf("Err %q without a PRI", m.Err)
		}
		for _, s := range []string{m.Hostname, m.AppName, m.ProcID, m.MsgID} {
			if strings.IndexByte(s, ' ') >= 0 {
				t.Fatalf("space in header field %q", s)
			}
		}

		// Same result when parsing into a used Message.
		p.Parse(in, recv, &reused)
		if !equal(&m, &reused) {
			t.Fatalf("reused Message differs:\n%+v\n%+v", m, reused)
		}

		// No string refers to the input.
		before := snapshot(&m)
		for i := range in {
			in[i] ^= 0xff
		}
		if after := snapshot(&m); after != before {
			t.Fatalf("strings changed with the input:\n%q\n%q", before, after)
		}
	})
}
