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
		"<13> Nov 28 10:00:00 h a b[1]: m", "<13>52: h: *Nov 28 10:00:00: %A-1-B: m", "Nov 28 10:00:00 h a: m",
		"<13>Nov 28 10:00:00 h : %A-1-B: m", "<13>2 - h", "<13>1 - h\x00 a\x7f - - -",
		"Nov 0 00:00:00 $ 0: {\"0", // a spaced TAG before nxlog JSON, without [pid]
	} {
		f.Add([]byte(s))
	}
	cet := time.FixedZone("CET", 3600)
	p := &Parser{Location: cet, Now: func() time.Time { return recv }}
	files := &Parser{Location: cet, Now: func() time.Time { return recv }, FileLines: true}
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
		if m.PriorityAssumed {
			t.Fatalf("PriorityAssumed without FileLines")
		}
		checkFields(t, &m)

		// Same result when parsing into a used Message.
		p.Parse(in, recv, &reused)
		if !equal(&m, &reused) {
			t.Fatalf("reused Message differs:\n%+v\n%+v", m, reused)
		}

		// A log file's line: the same as with a PRI 13 in front, when
		// it starts with a date; else the same as without FileLines.
		var fm Message
		files.Parse(in, recv, &fm)
		checkSuffix(t, in, &fm)
		checkFields(t, &fm)
		if fm.PriorityAssumed {
			var pm Message
			p.Parse(append([]byte("<13>"), in...), recv, &pm)
			pm.PriorityAssumed = true
			got := fm
			if got.Err != "" && pm.Err != "" {
				got.Err, pm.Err = "", "" // the offsets differ by 4
			}
			if pm.Format != RFC3164 || !equal(&got, &pm) {
				t.Fatalf("line read as:\n%+v\nwith <13> in front:\n%+v", fm, pm)
			}
		} else if !equal(&fm, &m) {
			t.Fatalf("FileLines changed a line without a date:\n%+v\n%+v", fm, m)
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

// checkFields checks the header fields' characters: no spaces, except
// single ones inside an RFC 3164 TAG that ends with a numeric "[pid]".
func checkFields(t *testing.T, m *Message) {
	t.Helper()
	for _, s := range []string{m.Hostname, m.ProcID, m.MsgID} {
		if strings.IndexByte(s, ' ') >= 0 {
			t.Fatalf("space in header field %q", s)
		}
	}
	if strings.IndexByte(m.AppName, ' ') >= 0 {
		// nxlog's to_json: a spaced TAG without "[pid]" before `: {"`.
		noPID := m.ProcID == "" && !strings.HasPrefix(string(m.Message), `{"`)
		if m.Format != RFC3164 || noPID || strings.Contains(m.AppName, "  ") ||
			m.AppName[0] == ' ' || m.AppName[len(m.AppName)-1] == ' ' || len(m.AppName) > maxTag {
			t.Fatalf("AppName %q with ProcID %q", m.AppName, m.ProcID)
		}
		for _, c := range []byte(m.ProcID) {
			if !isDigit(c) {
				t.Fatalf("AppName %q with ProcID %q", m.AppName, m.ProcID)
			}
		}
	}
}
