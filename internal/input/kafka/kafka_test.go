package kafka

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"

	"github.com/vigil-soc/vigil/internal/journal"
)

func TestValidate(t *testing.T) {
	ok := Config{Brokers: []string{"127.0.0.1:9092"}, Topics: []string{"logs"}}
	tests := []struct {
		name string
		mod  func(c *Config)
		want string // substring of the error, "" for none
	}{
		{"minimal", func(c *Config) {}, ""},
		{"all set", func(c *Config) {
			c.Name, c.Group, c.StartOffset, c.ClientID, c.MaxPollRecords = "k1", "g", "LATEST", "id", 5
			c.TLS = TLSConfig{Enabled: true, CAFile: "ca", CertFile: "c", KeyFile: "k", ServerName: "b"}
			c.SASL = SASLConfig{Mechanism: "SCRAM-SHA-512", Username: "u", PasswordFile: "f"}
		}, ""},
		{"no brokers", func(c *Config) { c.Brokers = nil }, "brokers: at least one"},
		{"broker without port", func(c *Config) { c.Brokers = []string{"kafka1"} }, `"kafka1" is not host:port`},
		{"broker port 0", func(c *Config) { c.Brokers = []string{"kafka1:0"} }, "port must be 1 to 65535"},
		{"broker no host", func(c *Config) { c.Brokers = []string{":9092"} }, "has no host"},
		{"no topics", func(c *Config) { c.Topics = nil }, "topics: at least one"},
		{"empty topic", func(c *Config) { c.Topics = []string{""} }, "empty topic name"},
		{"bad topic char", func(c *Config) { c.Topics = []string{"a b"} }, `character ' ' not allowed`},
		{"topic dot", func(c *Config) { c.Topics = []string{".."} }, "is not allowed"},
		{"topic too long", func(c *Config) { c.Topics = []string{strings.Repeat("a", 250)} }, "at most 249"},
		{"topic twice", func(c *Config) { c.Topics = []string{"a", "a"} }, "listed twice"},
		{"group spaces", func(c *Config) { c.Group = " g" }, "leading or trailing spaces"},
		{"start offset", func(c *Config) { c.StartOffset = "oldest" }, `start_offset "oldest"`},
		{"max poll negative", func(c *Config) { c.MaxPollRecords = -1 }, "max_poll_records -1"},
		{"max poll huge", func(c *Config) { c.MaxPollRecords = 2_000_000 }, "max_poll_records 2000000"},
		{"tls options without enabled", func(c *Config) { c.TLS.CAFile = "x" }, "tls: options set but enabled is false"},
		{"tls cert without key", func(c *Config) { c.TLS = TLSConfig{Enabled: true, CertFile: "c"} }, "cert_file and key_file"},
		{"sasl bad mechanism", func(c *Config) { c.SASL = SASLConfig{Mechanism: "gssapi", Username: "u", Password: "p"} }, `mechanism "gssapi"`},
		{"sasl no user", func(c *Config) { c.SASL = SASLConfig{Mechanism: "plain", Password: "p"} }, "needs a username"},
		{"sasl no password", func(c *Config) { c.SASL = SASLConfig{Mechanism: "plain", Username: "u"} }, "exactly one of password"},
		{"sasl both passwords", func(c *Config) {
			c.SASL = SASLConfig{Mechanism: "plain", Username: "u", Password: "p", PasswordFile: "f"}
		}, "exactly one of password"},
		{"sasl user without mechanism", func(c *Config) { c.SASL.Username = "u" }, "no mechanism"},
		{"name too long", func(c *Config) { c.Name = strings.Repeat("n", 300) }, "name is 300 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.mod(&c)
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want error containing %q", err, tt.want)
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	dir := t.TempDir()
	base := Config{Brokers: []string{"127.0.0.1:9092"}, Topics: []string{"logs"}}
	tests := []struct {
		name string
		mod  func(c *Config)
		want string
	}{
		{"missing ca file", func(c *Config) { c.TLS = TLSConfig{Enabled: true, CAFile: filepath.Join(dir, "nope")} }, "read ca_file"},
		{"ca file not pem", func(c *Config) {
			p := filepath.Join(dir, "ca.pem")
			os.WriteFile(p, []byte("not pem"), 0o600)
			c.TLS = TLSConfig{Enabled: true, CAFile: p}
		}, "no PEM certificate"},
		{"missing password file", func(c *Config) {
			c.SASL = SASLConfig{Mechanism: "plain", Username: "u", PasswordFile: filepath.Join(dir, "nope")}
		}, "read password_file"},
		{"empty password file", func(c *Config) {
			p := filepath.Join(dir, "pw")
			os.WriteFile(p, []byte("\n"), 0o600)
			c.SASL = SASLConfig{Mechanism: "plain", Username: "u", PasswordFile: p}
		}, "is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base
			tt.mod(&c)
			_, err := New(c, &memAppender{}, nil, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New() = %v, want error containing %q", err, tt.want)
			}
		})
	}
	if _, err := New(base, nil, nil, nil); err == nil {
		t.Fatal("New with nil appender succeeded")
	}
}

// TestConsume reads three partitions and checks every record arrives once
// with the input name, peer and receive time, and that the group's
// committed offsets cover them all.
var originRE = regexp.MustCompile(`^kafka:[^/]+/[0-9]+/[0-9]+@[0-9]+$`)

func TestConsume(t *testing.T) {
	_, addr := newCluster(t, 3, "logs")
	want := lines("line", 3000)
	want = append(want, []byte(`{"user":"alice","event":"login"}`), []byte("ünïcödé \x00\xff bytes"))
	produce(t, addr, "logs", want)
	produce(t, addr, "logs", [][]byte{{}}) // an empty value: skipped

	reg := prometheus.NewRegistry()
	app := &memAppender{}
	in, err := New(Config{Name: "k1", Brokers: []string{addr}, Topics: []string{"logs"}, Group: "g1", MaxPollRecords: 700},
		app, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	stop := runInput(t, in)
	waitFor(t, "all records", func() bool { return app.len() >= len(want) })
	// Let a stray extra record show up if there is one.
	time.Sleep(100 * time.Millisecond)
	st := in.Status()
	if !st.Running || st.Group != "g1" || st.Brokers[0] != addr || st.Topics[0] != "logs" {
		t.Errorf("Status() = %+v", st)
	}
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	got := app.counts()
	if len(app.recs) != len(want) {
		t.Errorf("appended %d records, want %d: %s", len(app.recs), len(want), describe(want, got))
	}
	for _, v := range want {
		if got[string(v)] != 1 {
			t.Fatalf("value %q appended %d times: %s", v, got[string(v)], describe(want, got))
		}
	}
	peers := map[string]int{}
	origins := map[string]bool{}
	for _, r := range app.recs {
		if r.Input != "k1" || r.Flags != 0 || r.Time.Before(before) || r.Time.After(time.Now()) {
			t.Fatalf("bad record %+v", r)
		}
		peers[r.Peer]++
		// Each record names where it came from: topic, partition,
		// offset and timestamp (its event id is made from that).
		o := string(r.Origin)
		if !originRE.MatchString(o) || !strings.HasPrefix(o, "kafka:logs/"+strings.TrimPrefix(r.Peer, "kafka://logs/")+"/") || origins[o] {
			t.Fatalf("record %q: origin %q", r.Data, o)
		}
		origins[o] = true
	}
	for p := range 3 {
		if peers["kafka://logs/"+strconv.Itoa(p)] == 0 {
			t.Errorf("no record from partition %d: peers %v", p, peers)
		}
	}
	if c := committed(t, addr, "g1", "logs"); sum(c) != int64(len(want)+1) {
		t.Errorf("committed offsets %v sum to %d, want %d", c, sum(c), len(want)+1)
	}
	if st := in.Status(); st.Running || st.Records != uint64(len(want)) || st.LastError != "" || st.Lag != 0 {
		t.Errorf("Status() after stop = %+v", st)
	}
	if n := testutil.ToFloat64(in.m.records.WithLabelValues("k1", "logs")); n != float64(len(want)) {
		t.Errorf("records_total = %v, want %d", n, len(want))
	}
	if n := testutil.ToFloat64(in.m.empty.WithLabelValues("k1", "logs")); n != 1 {
		t.Errorf("empty_total = %v, want 1", n)
	}
	var size int
	for _, v := range want {
		size += len(v)
	}
	if n := testutil.ToFloat64(in.m.bytes.WithLabelValues("k1", "logs")); n != float64(size) {
		t.Errorf("bytes_total = %v, want %d", n, size)
	}
}

// TestAppendErrorRetried makes the journal refuse the first appends, with
// any error (a full disk among them): the input pauses and retries the
// same records with backoff until they are stored, commits nothing before
// that, and stores each record once.
func TestAppendErrorRetried(t *testing.T) {
	for _, appendErr := range []error{
		errors.New("journal: write failed"),
		fmt.Errorf("journal: append: %w", syscall.ENOSPC),
	} {
		t.Run(appendErr.Error(), func(t *testing.T) {
			_, addr := newCluster(t, 2, "logs")
			want := lines("r", 500)
			produce(t, addr, "logs", want)

			var badCommit atomic.Value
			app := &memAppender{}
			app.fail = func(call, stored int) error {
				// Whatever is committed must already be stored.
				if c := sum(committed(t, addr, "g", "logs")); c > int64(stored) {
					badCommit.Store("committed " + strconv.FormatInt(c, 10) + " records, only " + strconv.Itoa(stored) + " appended")
				}
				if call <= 3 {
					return appendErr
				}
				return nil
			}
			in, err := New(Config{Brokers: []string{addr}, Topics: []string{"logs"}, Group: "g", MaxPollRecords: 100},
				app, prometheus.NewRegistry(), nil)
			if err != nil {
				t.Fatal(err)
			}
			stop := runInput(t, in)
			waitFor(t, "all records", func() bool { return app.len() >= len(want) })
			waitFor(t, "commit", func() bool { return sum(committed(t, addr, "g", "logs")) == int64(len(want)) })
			if st := in.Status(); !strings.Contains(st.LastError, appendErr.Error()) {
				t.Errorf("Status().LastError = %q, want the append error", st.LastError)
			}
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			if s, ok := badCommit.Load().(string); ok {
				t.Fatal(s)
			}
			got := app.counts()
			for _, v := range want {
				if got[string(v)] != 1 {
					t.Fatalf("%s", describe(want, got))
				}
			}
			if n := testutil.ToFloat64(in.m.appendErrors.WithLabelValues("kafka")); n != 3 {
				t.Errorf("append_errors_total = %v, want 3", n)
			}
		})
	}
}

// TestStopWhileAppendFails stops the input while the journal keeps
// failing: nothing of the failed batch is committed, and the next member
// of the group reads it.
func TestStopWhileAppendFails(t *testing.T) {
	_, addr := newCluster(t, 1, "logs")
	want := lines("s", 50)
	produce(t, addr, "logs", want)
	app := &memAppender{fail: func(int, int) error { return errors.New("journal closed") }}
	in, err := New(Config{Brokers: []string{addr}, Topics: []string{"logs"}}, app, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := runInput(t, in)
	waitFor(t, "append attempts", func() bool { app.mu.Lock(); defer app.mu.Unlock(); return app.calls >= 2 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if c := sum(committed(t, addr, DefaultGroup, "logs")); c != 0 {
		t.Fatalf("committed %d records that were never stored", c)
	}
	app2 := &memAppender{}
	in2, err := New(Config{Brokers: []string{addr}, Topics: []string{"logs"}}, app2, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	stop2 := runInput(t, in2)
	waitFor(t, "records in the second member", func() bool { return app2.len() >= len(want) })
	stop2()
	if got := app2.counts(); len(got) != len(want) {
		t.Fatal(describe(want, got))
	}
}

// TestCrashResume stops a member mid-stream, once cleanly and once as a
// crash after the journal append but before the offset commit (the broker
// refuses the commits), and lets a new member of the same group go on.
// No record may be skipped; the only duplicates allowed are records the
// first member stored but did not commit.
func TestCrashResume(t *testing.T) {
	for _, crash := range []bool{false, true} {
		name := "clean stop"
		if crash {
			name = "crash before commit"
		}
		t.Run(name, func(t *testing.T) {
			c, addr := newCluster(t, 3, "logs")
			want := lines("c", 6000)
			produce(t, addr, "logs", want)

			var refuse atomic.Bool
			c.ControlKey(int16(kmsg.OffsetCommit), func(req kmsg.Request) (kmsg.Response, error, bool) {
				c.KeepControl()
				if !refuse.Load() {
					return nil, nil, false
				}
				return refuseCommit(req.(*kmsg.OffsetCommitRequest)), nil, true
			})

			cfg := Config{Brokers: []string{addr}, Topics: []string{"logs"}, Group: "crash", MaxPollRecords: 250}
			// The first member's journal holds up appends once it stores
			// limit records, until release is closed.
			var limit atomic.Int64
			var held atomic.Bool
			limit.Store(1000)
			release := make(chan struct{})
			app1 := &memAppender{fail: func(_, stored int) error {
				for int64(stored) >= limit.Load() {
					held.Store(true)
					select {
					case <-release:
						return nil
					case <-time.After(5 * time.Millisecond):
					}
				}
				held.Store(false)
				return nil
			}}
			in1, err := New(cfg, app1, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			stop1 := runInput(t, in1)
			waitFor(t, "a first part", func() bool { return held.Load() })
			if crash {
				// Store a few more batches that cannot be committed.
				refuse.Store(true)
				limit.Store(int64(app1.len()) + 500)
				waitFor(t, "uncommitted batches", func() bool { return held.Load() && app1.len() >= int(limit.Load()) })
			}
			errc := make(chan error, 1)
			go func() { errc <- stop1() }()
			time.Sleep(20 * time.Millisecond) // let the cancel land first (either order is correct)
			close(release)
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			refuse.Store(false)
			if crash && in1.Status().LastError == "" {
				t.Error("refused commits left no LastError")
			}
			if app1.len() >= len(want) {
				t.Fatalf("first member read everything (%d records) before it was stopped", app1.len())
			}
			offs := committed(t, addr, "crash", "logs")

			// Per partition, the committed offset may not pass what was stored.
			first := map[string][]string{}
			for _, r := range app1.recs {
				first[r.Peer] = append(first[r.Peer], string(r.Data))
			}
			for p, off := range offs {
				if stored := len(first["kafka://logs/"+strconv.Itoa(int(p))]); off > int64(stored) {
					t.Fatalf("partition %d: committed offset %d past the %d records stored", p, off, stored)
				}
			}

			app2 := &memAppender{}
			in2, err := New(cfg, app2, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			stop2 := runInput(t, in2)
			waitFor(t, "the rest", func() bool {
				n := app1.len() + app2.len()
				return n >= len(want) && len(mergeCounts(app1.counts(), app2.counts())) == len(want)
			})
			if err := stop2(); err != nil {
				t.Fatal(err)
			}
			second := app2.counts()
			dups := 0
			for peer, vals := range first {
				p, _ := strconv.Atoi(strings.TrimPrefix(peer, "kafka://logs/"))
				for i, v := range vals {
					if second[v] == 0 {
						continue
					}
					dups++
					if int64(i) < offs[int32(p)] {
						t.Fatalf("%s offset %d (%q) was committed but read again", peer, i, v)
					}
				}
			}
			all := mergeCounts(app1.counts(), second)
			for _, v := range want {
				if all[string(v)] == 0 {
					t.Fatalf("record %q skipped: %s", v, describe(want, all))
				}
			}
			if !crash && dups != 0 {
				t.Errorf("clean stop: %d duplicates, want 0", dups)
			}
			if crash && dups == 0 {
				t.Errorf("crash: no duplicates, but commits were refused")
			}
			t.Logf("first member %d, second %d, duplicates %d, committed at stop %v",
				app1.len(), app2.len(), dups, offs)
		})
	}
}

// refuseCommit answers an offset commit with a non-retriable error for
// every partition.
func refuseCommit(req *kmsg.OffsetCommitRequest) *kmsg.OffsetCommitResponse {
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetCommitResponseTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition = p.Partition
			rp.ErrorCode = kerr.OffsetMetadataTooLarge.Code
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

func mergeCounts(a, b map[string]int) map[string]int {
	for k, v := range b {
		a[k] += v
	}
	return a
}

// TestStartLatest checks that a new group with start_offset latest skips
// what the topic held before it joined.
func TestStartLatest(t *testing.T) {
	_, addr := newCluster(t, 1, "logs")
	produce(t, addr, "logs", lines("old", 20))
	app := &memAppender{}
	in, err := New(Config{Brokers: []string{addr}, Topics: []string{"logs"}, StartOffset: "latest"}, app, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := runInput(t, in)
	// The member joins at some point: keep producing until it reads.
	i := 0
	waitFor(t, "new records", func() bool {
		produce(t, addr, "logs", [][]byte{[]byte("new-" + strconv.Itoa(i))})
		i++
		time.Sleep(50 * time.Millisecond)
		return app.len() > 0
	})
	stop()
	for v := range app.counts() {
		if strings.HasPrefix(v, "old") {
			t.Fatalf("latest read an old record %q", v)
		}
	}
}

// TestTruncate checks that a value longer than MaxMessageSize is cut and
// flagged, and an empty one skipped, without a broker (a broker would need
// a raised message size limit).
func TestTruncate(t *testing.T) {
	in, err := New(Config{Brokers: []string{"127.0.0.1:1"}, Topics: []string{"t"}}, &memAppender{}, prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	b := newBatcher(in)
	big := bytes.Repeat([]byte("x"), MaxMessageSize+10)
	now := time.Now()
	b.add(&kgo.Record{Topic: "t", Partition: 2, Value: big}, now)
	b.add(&kgo.Record{Topic: "t", Partition: 2, Value: nil}, now)
	b.add(&kgo.Record{Topic: "t", Partition: 2, Value: []byte("ok")}, now)
	if len(b.recs) != 2 {
		t.Fatalf("queued %d records, want 2", len(b.recs))
	}
	r := b.recs[0]
	if len(r.Data) != MaxMessageSize || r.Flags != journal.FlagTruncated || r.Peer != "kafka://t/2" {
		t.Fatalf("cut record: len %d flags %d peer %q", len(r.Data), r.Flags, r.Peer)
	}
	if b.recs[1].Flags != 0 || string(b.recs[1].Data) != "ok" {
		t.Fatalf("second record %+v", b.recs[1])
	}
	if n := testutil.ToFloat64(in.m.truncated.WithLabelValues("kafka", "t")); n != 1 {
		t.Errorf("truncated_total = %v", n)
	}
	if n := testutil.ToFloat64(in.m.empty.WithLabelValues("kafka", "t")); n != 1 {
		t.Errorf("empty_total = %v", n)
	}
	// A cut record must fit the real journal.
	j, err := journal.Open(t.TempDir(), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	r.Input = strings.Repeat("n", maxNameLen)
	r.Peer = "kafka://" + strings.Repeat("t", maxTopicLen) + "/2147483647"
	if err := j.Append([]journal.Record{r}); err != nil {
		t.Fatalf("journal refused a cut record: %v", err)
	}
}

// TestSASL consumes from a broker that requires SCRAM or PLAIN.
func TestSASL(t *testing.T) {
	for _, mech := range []struct{ kfake, cfg string }{
		{"SCRAM-SHA-256", MechanismScramSHA256},
		{"SCRAM-SHA-512", MechanismScramSHA512},
		{"PLAIN", MechanismPlain},
	} {
		t.Run(mech.cfg, func(t *testing.T) {
			c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(),
				kfake.Superuser(mech.kfake, "vigil", "s3cret"), kfake.SeedTopics(1, "logs"))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			addr := c.ListenAddrs()[0]
			pcl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.SASL(mustMech(t, SASLConfig{Mechanism: mech.cfg, Username: "vigil", Password: "s3cret"})))
			if err != nil {
				t.Fatal(err)
			}
			defer pcl.Close()
			if err := pcl.ProduceSync(t.Context(), &kgo.Record{Topic: "logs", Value: []byte("hello")}).FirstErr(); err != nil {
				t.Fatal(err)
			}
			pw := filepath.Join(t.TempDir(), "pw")
			os.WriteFile(pw, []byte("s3cret\n"), 0o600)
			app := &memAppender{}
			in, err := New(Config{Brokers: []string{addr}, Topics: []string{"logs"},
				SASL: SASLConfig{Mechanism: mech.cfg, Username: "vigil", PasswordFile: pw}}, app, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			stop := runInput(t, in)
			waitFor(t, "record", func() bool { return app.len() == 1 })
			stop()
		})
	}
}

func mustMech(t *testing.T, c SASLConfig) sasl.Mechanism {
	m, err := saslMechanism(c)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
