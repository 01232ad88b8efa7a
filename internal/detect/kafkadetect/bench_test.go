package kafkadetect

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/vigil-soc/vigil/internal/detect"
	"github.com/vigil-soc/vigil/internal/eventjson"

	"github.com/vigil-soc/vigil/internal/output"
	"github.com/vigil-soc/vigil/internal/parse"
	"github.com/vigil-soc/vigil/internal/store"
	"github.com/vigil-soc/vigil/rules"
)

// benchInput returns the first 300k lines of VIGIL_BENCH_INPUT (e.g.
// `vigil-loadgen -gen 300000 -o FILE -attack 100`) as the detection topic
// holds them: each event's JSON and its original record.
func benchInput(b *testing.B) (values, raws [][]byte) {
	path := os.Getenv("VIGIL_BENCH_INPUT")
	if path == "" {
		b.Skip("VIGIL_BENCH_INPUT is not set")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	var lines [][]byte
	for l := range bytes.Lines(data) {
		if len(lines) == 300_000 {
			break
		}
		lines = append(lines, bytes.TrimRight(l, "\n"))
	}
	evs := detect.NewOffline(parse.New(parse.Options{}), detect.Records("syslog", lines, 1, time.Now())).Events()
	for _, e := range evs {
		row := store.Row{Time: e.Time, Fields: e.Fields}
		values = append(values, eventjson.AppendRow(nil, &row))
		raws = append(raws, e.Raw)
	}
	return values, raws
}

// BenchmarkElectedDetector measures what the elected detector spends per
// event of the detection topic with the built-in pack: decoding the
// events' JSON (on up to 4 CPUs) and running the detector on batches of
// 4096, as Run does (Kafka's fetching is not timed). Each pass over the input starts with a new
// detector, as cold as on fresh traffic. ns/op is the cost per event.
func BenchmarkElectedDetector(b *testing.B) {
	values, raws := benchInput(b)
	const batch = 4096
	ctx := context.Background()
	recs := make([]*kgo.Record, len(values))
	for i := range values {
		recs[i] = &kgo.Record{Offset: int64(i), Value: values[i], Headers: []kgo.RecordHeader{{Key: output.RawHeader, Value: raws[i]}}}
	}
	var d *detect.Detector
	bt := newBatcher()
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		if done%len(values) == 0 {
			b.StopTimer()
			var err error
			d, err = detect.NewDetector(detect.DetectorOptions{Dir: b.TempDir(), Builtin: rules.FS, CheckpointEvery: time.Hour}, nil)
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		start := done % len(values)
		n := min(batch, b.N-done, len(values)-start)
		bb, bad := bt.batch(recs[start : start+n])
		if bad > 0 {
			b.Fatalf("%d records not decoded", bad)
		}
		d.Process(ctx, bb)
		done += n
	}
}

// BenchmarkDecode measures decoding one event's JSON alone.
func BenchmarkDecode(b *testing.B) {
	values, _ := benchInput(b)
	var dec decoder
	var row store.Row
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := dec.decode(values[i%len(values)], &row); err != nil {
			b.Fatal(err)
		}
	}
}
