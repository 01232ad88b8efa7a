package kafka

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-soc/vigil/internal/journal"
)

// countAppender counts records and bytes, the cheapest journal stand-in.
type countAppender struct{ n, size atomic.Int64 }

func (a *countAppender) Append(recs []journal.Record) error {
	var s int
	for i := range recs {
		s += len(recs[i].Data)
	}
	a.size.Add(int64(s))
	a.n.Add(int64(len(recs)))
	return nil
}

// BenchmarkConsume measures records/s from a kfake cluster preloaded with
// 200k nginx-like JSON lines (about 300 B) on 3 partitions, through the
// input (poll, batch, append, commit) into an appender that only counts.
// Each iteration is a new consumer group reading the whole topic.
func BenchmarkConsume(b *testing.B) {
	benchConsume(b, func(b *testing.B) counter { return &countAppender{} })
}

// BenchmarkConsumeJournal is BenchmarkConsume into a real journal
// (default options: written to the OS per append, fsynced on an interval).
func BenchmarkConsumeJournal(b *testing.B) {
	benchConsume(b, func(b *testing.B) counter {
		j, err := journal.Open(b.TempDir(), journal.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { j.Close() })
		return journalCounter{j}
	})
}

// counter is an Appender that tells how many records it holds.
type counter interface {
	Appender
	count() int64
}

func (a *countAppender) count() int64 { return a.n.Load() }

type journalCounter struct{ j *journal.Journal }

func (c journalCounter) Append(recs []journal.Record) error { return c.j.Append(recs) }
func (c journalCounter) count() int64                       { return int64(c.j.NextSeq() - c.j.FirstSeq()) }

func benchConsume(b *testing.B, newApp func(*testing.B) counter) {
	const total = 200_000
	_, addr := newCluster(b, 3, "logs")
	vals := make([][]byte, total)
	for i := range vals {
		vals[i] = fmt.Appendf(nil, `{"source":"192.168.0.8","ip":"10.1.%d.%d","user":"user%d@example.com","time_local":"27/Nov/2026:23:40:01 +0000","statuscode":200,"bytes_sent":512,"http_user_agent":"Outlook-iOS/2.0","request_uri":"/Microsoft-Server-ActiveSync?Cmd=Sync&DeviceId=%08d","request_time":0.042,"gzip_ration":"-","query_string":"%s"}`,
			i/256%256, i%256, i%5000, i, strings.Repeat("q", i%40))
	}
	produce(b, addr, "logs", vals)
	b.ResetTimer()
	var elapsed time.Duration
	for i := 0; b.Loop(); i++ {
		app := newApp(b)
		in, err := New(Config{Brokers: []string{addr}, Topics: []string{"logs"}, Group: fmt.Sprintf("bench-%d", i)}, app, nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		stop := runInput(b, in)
		waitFor(b, "all records", func() bool { return app.count() >= total })
		elapsed += time.Since(start)
		b.StopTimer()
		if err := stop(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(total)*float64(b.N)/elapsed.Seconds(), "records/s")
}
