package exchange

import (
	"testing"

	"github.com/vigil-soc/vigil/internal/parse/format"
	"github.com/vigil-soc/vigil/internal/parse/format/formattest"
)

// The real third-party samples are not copied here (see
// shared/samples/SOURCES.md): formattest.Samples finds them.

// checkSample asserts that every line of a sample is detected by f alone
// among the package's text formats, parses without error and has the
// fields every event of the format must have.
func checkSample(t *testing.T, f format.Text, name string, required []string, extra func(t *testing.T, r result)) {
	path := formattest.Samples(t, "exchange", name)
	lines := formattest.ReadLines(t, path, false)
	if len(lines) == 0 {
		t.Fatalf("%s is empty", path)
	}
	rs := runText(t, f, newSource(), lines)
	for i, r := range rs {
		check(t, r, nil)
		if r.skip {
			continue
		}
		for _, name := range required {
			if r.fields[name] == "" {
				t.Errorf("line %d: %s missing: %s", i+1, name, r.line)
			}
		}
		if r.time.IsZero() {
			t.Errorf("line %d: no event time", i+1)
		}
		if extra != nil {
			extra(t, r)
		}
		for _, other := range []format.Text{Protocol(), MessageTracking(), AdminAuditExport()} {
			if other.Name() != f.Name() && other.Detect([]byte(r.line), newSource()) {
				t.Errorf("line %d is also detected by %s", i+1, other.Name())
			}
		}
	}
}

func TestSampleIMAP(t *testing.T) {
	checkSample(t, Protocol(), "imappop_Imap4.log",
		[]string{"event.dataset", "network.protocol", "event.action", "session.id", "source.ip", "source.port", "destination.ip", "destination.port", "user.name"},
		func(t *testing.T, r result) {
			check(t, r, want{"event.dataset": "exchange.imap", "event.action": "authenticate", "event.category": "authentication",
				"event.outcome": "success", "user.name": "example123", "source.ip": "10.11.12.13", "destination.port": "143", "event.reason": ""})
		})
}

func TestSamplePOP3(t *testing.T) {
	checkSample(t, Protocol(), "imappop_Pop3.log",
		[]string{"event.dataset", "network.protocol", "event.action", "session.id", "source.ip", "destination.ip", "user.name"},
		func(t *testing.T, r result) {
			check(t, r, want{"event.dataset": "exchange.pop3", "event.action": "user", "user.name": "ccw.altitude",
				"event.outcome": "success", "source.port": "12345"})
		})
}

func TestSampleMessageTracking(t *testing.T) {
	events := map[string]bool{}
	checkSample(t, MessageTracking(), "test-messagetracking.log",
		[]string{"event.dataset", "event.category", "event.action", "exchange.source"},
		func(t *testing.T, r result) {
			events[r.fields["event.action"]] = true
			switch r.fields["event.action"] {
			case "RECEIVE", "SEND", "SENDEXTERNAL", "HAREDIRECTFAIL":
				for _, name := range []string{"email.from.address", "email.to.address", "email.message_id", "host.name"} {
					if r.fields[name] == "" {
						t.Errorf("%s missing: %s", name, r.line)
					}
				}
			}
			if r.fields["event.action"] == "HAREDIRECTFAIL" && r.fields["event.outcome"] != "failure" {
				t.Errorf("HAREDIRECTFAIL outcome %q", r.fields["event.outcome"])
			}
			if r.fields["exchange.source"] == "SMTP" && r.fields["network.protocol"] != "smtp" {
				t.Errorf("SMTP source without network.protocol smtp: %s", r.line)
			}
		})
	for _, e := range []string{"RECEIVE", "SEND"} {
		if !events[e] {
			t.Errorf("no %s event in the sample", e)
		}
	}
}

func TestSampleHTTPProxyIsNotOurs(t *testing.T) {
	for _, l := range formattest.ReadLines(t, formattest.Samples(t, "exchange", "test-httpproxy.log"), false) {
		for _, f := range []format.Text{Protocol(), MessageTracking(), AdminAuditExport()} {
			if f.Detect([]byte(l), newSource()) {
				t.Errorf("%s detects the HttpProxy line", f.Name())
			}
		}
	}
}
