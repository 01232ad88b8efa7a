package kafka

import (
	"bytes"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// FuzzAdd feeds arbitrary record values, topics and partitions to the
// record builder: it never panics, keeps the value's bytes (or skips an
// empty one) and builds a peer that gives the topic back.
func FuzzAdd(f *testing.F) {
	f.Add([]byte("a"), "logs", int32(0))
	f.Add([]byte{}, "t.1_x-y", int32(2147483647))
	f.Add([]byte("\x00\xff{\"k\":1}\n"), "a/b", int32(-1))
	in, err := New(Config{Brokers: []string{"127.0.0.1:1"}, Topics: []string{"t"}}, &memAppender{}, nil, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, val []byte, topic string, part int32) {
		b := newBatcher(in)
		b.add(&kgo.Record{Topic: topic, Partition: part, Value: val}, time.Now())
		if len(val) == 0 {
			if len(b.recs) != 0 {
				t.Fatal("empty value queued")
			}
			return
		}
		if len(b.recs) != 1 || !bytes.Equal(b.recs[0].Data, val) || b.recs[0].Flags != 0 {
			t.Fatalf("queued %+v for %q", b.recs, val)
		}
		if p := b.recs[0].Peer; p != "kafka://"+topic+"/"+strconv.Itoa(int(part)) || topicOf(p) != topic {
			t.Fatalf("peer %q for topic %q partition %d (topicOf %q)", p, topic, part, topicOf(p))
		}
	})
}
