package journal

import (
	"context"
	"fmt"
	"testing"
	"time"
)

const (
	benchBatch   = 64
	benchRecSize = 450
)

// benchRecords returns a batch of benchBatch records of about benchRecSize bytes of data.
func benchRecords() []Record {
	recs := make([]Record, benchBatch)
	now := time.Now()
	for i := range recs {
		recs[i] = Record{Time: now, Input: "syslog-tcp", Peer: "10.1.2.3:51234", Data: payload("bench", i, benchRecSize)}
	}
	return recs
}

// BenchmarkAppend appends batches of 64 records of 450 bytes from one goroutine.
func BenchmarkAppend(b *testing.B) {
	for _, policy := range []FsyncPolicy{FsyncNever, FsyncInterval} {
		b.Run(string(policy), func(b *testing.B) {
			j, err := Open(b.TempDir(), Options{Fsync: policy})
			if err != nil {
				b.Fatal(err)
			}
			defer j.Close()
			recs := benchRecords()
			b.SetBytes(benchBatch * benchRecSize)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if err := j.Append(recs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkAppendParallel appends batches of 8 records from many goroutines
// (group commit).
func BenchmarkAppendParallel(b *testing.B) {
	j, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	b.SetBytes(8 * benchRecSize)
	b.ReportAllocs()
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		recs := benchRecords()[:8]
		for pb.Next() {
			if err := j.Append(recs); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N*8)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkRead reads records of 450 bytes, plain and zstd-compressed.
func BenchmarkRead(b *testing.B) {
	for _, compress := range []bool{false, true} {
		b.Run(fmt.Sprintf("compressed=%v", compress), func(b *testing.B) {
			j, err := Open(b.TempDir(), Options{Fsync: FsyncNever, SegmentSize: 16 << 20, Compress: compress})
			if err != nil {
				b.Fatal(err)
			}
			defer j.Close()
			const total = 200_000
			recs := benchRecords()
			for i := 0; i < total; i += benchBatch {
				if err := j.Append(recs); err != nil {
					b.Fatal(err)
				}
			}
			j.maintain()
			n := int(j.NextSeq() - 1)
			ctx := context.Background()
			var r *Reader
			buf := make([]Record, 0, 256)
			b.SetBytes(benchRecSize)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i += len(buf) {
				if r == nil || r.Position() > uint64(n) {
					if r != nil {
						r.Close()
					}
					r, _ = j.ReaderAt(1)
				}
				buf, err = r.Next(ctx, buf, 256)
				if err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			r.Close()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
