package kafka

import (
	"bytes"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestTopicRecreated deletes the topic and creates it again under the same
// name. Everything written to the new topic is read, from its first record
// also with start_offset latest (those records were written before the
// input subscribed again); the re-creation is counted once and the group's
// offsets end at the new topic's records. The input notices the
// re-creation in three ways: a commit of the old topic's records refused
// (the input holds up a journal append of them meanwhile), fetches of an
// idle topic refused, or the topic missing for a while ("created later").
func TestTopicRecreated(t *testing.T) {
	for _, tt := range []struct {
		name, start string
		idle        bool // the input read and committed everything before
		later       bool // create the topic only after the input noticed the deletion
	}{
		{"earliest", StartEarliest, false, false},
		{"latest", StartLatest, false, false},
		{"idle", StartEarliest, true, false},
		{"idle latest", StartLatest, true, false},
		{"created later", StartEarliest, false, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, addr := newCluster(t, 2, "logs")
			var logs bytes.Buffer // read after Run returned
			var held atomic.Bool
			release := make(chan struct{})
			app := &memAppender{fail: func(call, _ int) error {
				if call == 1 && !tt.idle {
					held.Store(true)
					<-release
				}
				return nil
			}}
			in, err := New(Config{Brokers: []string{addr}, Topics: []string{"logs"}, Group: "g", StartOffset: tt.start},
				app, prometheus.NewRegistry(), slog.New(slog.NewTextHandler(&logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			// The client retries a fetch refused with UNKNOWN_TOPIC_ID
			// a few times (a new topic's leader may not know it yet)
			// before it reports the error, with its retry backoff
			// (about 12 s in all by default) and metadata refreshes in
			// between: shorten both.
			in.opts = append(in.opts, kgo.MetadataMinAge(100*time.Millisecond),
				kgo.RetryBackoffFn(func(int) time.Duration { return 10 * time.Millisecond }))
			stop := runInput(t, in)
			// With latest the member reads only what comes after it
			// joined: write until its first append is under way.
			i := 0
			waitFor(t, "the first append", func() bool {
				produce(t, addr, "logs", [][]byte{[]byte("old-" + strconv.Itoa(i))})
				i++
				return held.Load() || app.len() > 0
			})
			if tt.idle {
				close(release)
				waitFor(t, "the old records committed", func() bool { return sum(committed(t, addr, "g", "logs")) == int64(i) })
			}

			if err := c.DeleteTopic("logs"); err != nil {
				t.Fatal(err)
			}
			if tt.later {
				close(release)
				produce(t, addr, "other", [][]byte{[]byte("x")}) // no auto-creation of logs
				waitFor(t, "the deletion noticed", func() bool { return in.Status().Recreated == 1 })
			}
			if err := c.CreateTopic("logs", 2, nil); err != nil {
				t.Fatal(err)
			}
			want := lines("new", 200)
			produce(t, addr, "logs", want)
			if !tt.later && !tt.idle {
				close(release)
			}

			waitFor(t, "the new topic's records", func() bool {
				got := app.counts()
				for _, v := range want {
					if got[string(v)] == 0 {
						return false
					}
				}
				return true
			})
			waitFor(t, "the new topic's offsets committed", func() bool { return sum(committed(t, addr, "g", "logs")) == int64(len(want)) })
			st := in.Status()
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			got := app.counts()
			for _, v := range want {
				if got[string(v)] != 1 {
					t.Fatalf("new topic: %s", describe(want, got))
				}
			}
			if st.Recreated != 1 {
				t.Errorf("Status().Recreated = %d, want 1", st.Recreated)
			}
			if n := testutil.ToFloat64(in.m.recreated.WithLabelValues("kafka", "logs")); n != 1 {
				t.Errorf("topic_recreated_total = %v, want 1", n)
			}
			if n := strings.Count(logs.String(), "topic was deleted or re-created"); n != 1 {
				t.Errorf("the re-creation was logged %d times, want once:\n%s", n, logs.String())
			}
		})
	}
}
