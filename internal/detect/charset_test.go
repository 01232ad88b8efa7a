package detect

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"testing/fstest"
	"time"

	"github.com/vigil-soc/vigil/internal/journal"
	"github.com/vigil-soc/vigil/internal/parse/charset"
)

// TestDetectorPayloadCharsets: payloads read back from the journal (their
// text was not kept across the restart) are decoded with their input's
// charset, like the text the indexer hands over.
func TestDetectorPayloadCharsets(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	mainJ := alertJournal(t, filepath.Join(dir, "journal"))
	var recs []journal.Record
	for range 5 {
		recs = append(recs, journal.Record{Time: t0, Input: "win", Data: []byte("\xd5\xc5\xc8\xfd \xb5\xc7\xc2\xbc\xca\xa7\xb0\xdc")}) // 张三 登录失败
	}
	if err := mainJ.Append(recs); err != nil {
		t.Fatal(err)
	}
	builtin := fstest.MapFS{"r.yaml": {Data: []byte("id: r\ntitle: R\ntype: threshold\nmatch: {event.outcome: failure}\ngroup_by: [source.ip]\nwindow: 1h\nthreshold: 5\n")}}
	aj := alertJournal(t, filepath.Join(dir, "alerts"))
	opts := DetectorOptions{Dir: dir, Builtin: builtin, CheckpointEvery: time.Nanosecond, Alerts: aj, Journal: mainJ,
		Charsets: charset.Inputs{"win": charset.GBK}}
	d, err := NewDetector(opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	d.Process(ctx, failures(1, 3, "203.0.113.1", t0))
	d.Flush(ctx)
	d2, err := NewDetector(opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	d2.Process(ctx, failures(4, 2, "203.0.113.1", t0.Add(time.Minute)))
	got := recorded(t, aj)
	if len(got) != 1 {
		t.Fatalf("%d alerts, want 1", len(got))
	}
	want := []string{"张三 登录失败", "张三 登录失败", "张三 登录失败", "line 4 from 203.0.113.1", "line 5 from 203.0.113.1"}
	if !slices.Equal(got[0].Payloads, want) {
		t.Fatalf("payloads %q, want %q", got[0].Payloads, want)
	}
}
