package detect

import (
	"bytes"
	"encoding/gob"
	"testing"
	"time"
)

// FuzzParseRules: rule files are user input; any bytes give rules or an
// error, never a panic, and every rule that loads compiles or reports why.
func FuzzParseRules(f *testing.F) {
	f.Add([]byte("id: a\ntitle: A\ntype: threshold\nmatch: {event.outcome: failure}\ngroup_by: [source.ip]\nwindow: 10m\nthreshold: 5\n"))
	f.Add([]byte("id: s\ntitle: S\ntype: sequence\nwindow: 1m\nsteps:\n  - {match: {event.outcome: failure}, count: 3}\n  - {when: 'event.outcome == \"success\"'}\n"))
	f.Add([]byte("id: x\ntitle: X\ntype: match\nwhen: 'lower(url.path) matches \"^/ecp/\" && http.response.status_code >= 400'\nmessage: '{{.Count}} {{.Field \"source.ip\"}}'\n---\nid: y\n"))
	f.Add([]byte("id: g\ntitle: G\ntype: absence\nmatch: {event.dataset: nginx.access}\ngroup_by: ['host=first(host.name, host.hostname)']\nwindow: 5m\n"))
	f.Add([]byte("\x00\xff: [\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, _ := ParseRules("fuzz.yaml", data)
		for _, r := range rs {
			if err := Compile(r); err != nil {
				continue
			}
			eng, errs := New([]*Rule{r}, Options{})
			if len(errs) > 0 {
				t.Fatalf("rule compiled alone but not in an engine: %v", errs)
			}
			eng.Process(ev(1, time.Unix(1700000000, 0), "event.outcome", "failure", "source.ip", "203.0.113.1",
				"url.path", "/ecp/", "http.response.status_code", "500", "event.dataset", "nginx.access"))
		}
	})
}

// FuzzRestore: a damaged checkpoint is an error, never a panic.
func FuzzRestore(f *testing.F) {
	rules := mustRules(f, "id: a\ntitle: A\ntype: threshold\nmatch: {event.outcome: failure}\ngroup_by: [source.ip]\nwindow: 10m\nthreshold: 3\nsuppress: 1h\n")
	eng, _ := New(rules, Options{})
	for i := range 5 {
		eng.Process(ev(uint64(i), time.Unix(1700000000+int64(i), 0), "event.outcome", "failure", "source.ip", "203.0.113.1"))
	}
	var good bytes.Buffer
	if err := eng.Snapshot(&good); err != nil {
		f.Fatal(err)
	}
	f.Add(good.Bytes())
	f.Add(good.Bytes()[:good.Len()/2])
	// The plain form earlier versions wrote, so the fuzzer also reaches
	// the decoding of the state itself (a changed compressed byte mostly
	// fails zstd's checksum).
	var plain bytes.Buffer
	st := eng.state()
	if err := gob.NewEncoder(&plain).Encode(&st); err != nil {
		f.Fatal(err)
	}
	f.Add(plain.Bytes())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		e, _ := New(rules, Options{})
		if _, err := e.Restore(bytes.NewReader(data)); err != nil {
			return
		}
		e.Process(ev(10, time.Unix(1700000100, 0), "event.outcome", "failure", "source.ip", "203.0.113.1"))
		e.Advance(time.Unix(1700100000, 0))
	})
}
