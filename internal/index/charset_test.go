package index

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vigil-soc/vigil/internal/journal"
	"github.com/vigil-soc/vigil/internal/parse"
	"github.com/vigil-soc/vigil/internal/parse/charset"
	"github.com/vigil-soc/vigil/internal/store"
)

// rawDetector keeps the raw text of every record it is handed.
type rawDetector struct{ raw map[uint64]string }

func (d *rawDetector) Position() uint64                { return 0 }
func (d *rawDetector) Idle(context.Context, time.Time) {}
func (d *rawDetector) Flush(context.Context)           {}
func (d *rawDetector) Process(_ context.Context, b *Batch) {
	for i, seq := range b.Seqs {
		d.raw[seq] = string(b.Raw(i))
	}
}

// TestCharsets: records of an input with a charset are stored and handed
// to the detector as UTF-8; records with invalid bytes are stored too,
// counted per input in vigil_index_charset_errors_total.
func TestCharsets(t *testing.T) {
	e := openEnv(t, t.TempDir())
	defer e.close(t)
	now := time.Now()
	hdr := "<134>1 " + now.UTC().Format(time.RFC3339Nano) + " host app - - - "
	recs := []journal.Record{
		{Time: now, Input: "win", Data: []byte(hdr + "n=1 \xd3\xc3\xbb\xa7 \xd5\xc5\xc8\xfd")}, // 用户 张三 in GBK
		{Time: now, Input: "win", Data: []byte(hdr + "n=2 \xd5\xc5\xff")},                      // 张, then an invalid byte
		{Time: now, Input: "syslog", Data: []byte(hdr + "n=3 caf\xe9")},                        // invalid UTF-8
		{Time: now, Input: "syslog", Data: []byte(hdr + "n=4 用户")},
	}
	if err := e.j.Append(recs); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	det := &rawDetector{raw: map[uint64]string{}}
	ix := runUntil(t, e, Options{Parse: parse.Options{Charsets: charset.Inputs{"win": charset.GBK}}, Detector: det}, reg)
	defer ix.Close()

	want := map[string]string{"1": "n=1 用户 张三", "2": "n=2 张\uFFFD", "3": "n=3 caf\uFFFD", "4": "n=4 用户"}
	e.st.Flush()
	got := map[string]string{}
	raw := map[string]bool{}
	err := e.st.Search(context.Background(), store.Query{Text: "*", Order: store.Unordered}, func(r store.Row) error {
		got[strings.Clone(r.Get("vigil.seq"))] = strings.Clone(r.Get("_msg"))
		raw[strings.Clone(r.Get("vigil.seq"))] = r.Get("vigil.raw_base64") != ""
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for seq, msg := range want {
		if got[seq] != msg {
			t.Errorf("seq %s: _msg %q, want %q", seq, got[seq], msg)
		}
		if bad := seq == "2" || seq == "3"; raw[seq] != bad {
			t.Errorf("seq %s: vigil.raw_base64 present %v, want %v", seq, raw[seq], bad)
		}
	}
	if got, want := det.raw[1], hdr+"n=1 用户 张三"; got != want {
		t.Errorf("the detector's raw text: %q, want %q", got, want)
	}
	for input, n := range map[string]float64{"win": 1, "syslog": 1} {
		if got := testutil.ToFloat64(ix.m.charsetErrors.WithLabelValues(input)); got != n {
			t.Errorf("vigil_index_charset_errors_total{input=%q} = %v, want %v", input, got, n)
		}
	}
	if got := testutil.ToFloat64(ix.m.parseErrors); got != 2 {
		t.Errorf("vigil_index_parse_errors_total = %v, want 2", got)
	}
}
