package kafkadetect

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Checkpoint records in the state topic. A checkpoint is written as
// chunks keyed "chunk/GEN/I", then a head keyed "head" that names the
// generation, its chunk count, size, checksum and the offset of its first
// chunk; then the previous generation's chunks get tombstones, which
// compaction removes. A reader takes the last head in the topic: a
// checkpoint whose head was not written (a crash while writing it) does
// not count.
const (
	headKey     = "head"
	chunkPrefix = "chunk/"
	// ChunkSize is the most checkpoint bytes in one record (brokers take
	// 1 MB records by default).
	ChunkSize = 512 << 10
)

// head describes the latest checkpoint.
type head struct {
	Gen    uint64    `json:"gen"`
	Chunks int       `json:"chunks"`
	Size   int       `json:"size"`
	SHA256 string    `json:"sha256"`
	First  int64     `json:"first"` // offset of chunk 0
	Time   time.Time `json:"time"`
}

// stateStore keeps the detector's checkpoints in the state topic (it
// implements detect.Checkpoints). It is used by one goroutine at a time.
type stateStore struct {
	base      []kgo.Opt // client options, for reads
	prod      *kgo.Client
	topic     string
	chunkSize int
	log       *slog.Logger
	// gen and chunks describe the latest checkpoint known (written or
	// loaded): the next one is gen+1 and tombstones these chunks.
	gen    uint64
	chunks int
	// found reports whether the last Load found a checkpoint.
	found bool
	// marks, when set, are saved with every checkpoint and replaced by
	// those of every checkpoint loaded.
	marks *dedupe
}

// stateMagic starts a checkpoint of version 1 and later:
// "vigil-detect-kafka VERSION LENGTH\n", then LENGTH bytes of the
// high-water marks (JSON), then the detector's checkpoint. A checkpoint
// without it (version 0, before the marks) is the detector's alone.
const (
	stateMagic   = "vigil-detect-kafka "
	stateVersion = 1
)

// wrap returns the record of a checkpoint: data with the marks before it.
func (s *stateStore) wrap(data []byte) ([]byte, error) {
	if s.marks == nil {
		return data, nil
	}
	m, err := json.Marshal(s.marks)
	if err != nil {
		return nil, err
	}
	out := fmt.Appendf(nil, "%s%d %d\n", stateMagic, stateVersion, len(m))
	out = append(out, m...)
	return append(out, data...), nil
}

// unwrap restores the marks of a checkpoint (none in a version 0 one) and
// returns the detector's part.
func (s *stateStore) unwrap(data []byte) ([]byte, error) {
	if !bytes.HasPrefix(data, []byte(stateMagic)) {
		if s.marks != nil {
			s.marks.reset()
		}
		return data, nil
	}
	line, rest, _ := bytes.Cut(data[len(stateMagic):], []byte("\n"))
	var version, n int
	if _, err := fmt.Sscanf(string(line), "%d %d", &version, &n); err != nil || n < 0 || n > len(rest) {
		return nil, fmt.Errorf("checkpoint header %q unreadable", line)
	}
	if version != stateVersion {
		return nil, fmt.Errorf("checkpoint version %d, this node reads %d", version, stateVersion)
	}
	if s.marks != nil {
		if err := json.Unmarshal(rest[:n], s.marks); err != nil {
			return nil, err
		}
	}
	return rest[n:], nil
}

func chunkKey(gen uint64, i int) string {
	return chunkPrefix + strconv.FormatUint(gen, 10) + "/" + strconv.Itoa(i)
}

// split cuts data into chunks of at most size bytes (one empty chunk for
// no data).
func split(data []byte, size int) [][]byte {
	var out [][]byte
	for len(data) > size {
		out = append(out, data[:size])
		data = data[size:]
	}
	return append(out, data)
}

// Save writes data as the next checkpoint and returns once the brokers
// have all of it (acks=all).
func (s *stateStore) Save(ctx context.Context, data []byte) error {
	data, err := s.wrap(data)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	gen := s.gen + 1
	parts := split(data, s.chunkSize)
	recs := make([]*kgo.Record, len(parts))
	for i, p := range parts {
		recs[i] = &kgo.Record{Topic: s.topic, Key: []byte(chunkKey(gen, i)), Value: p}
	}
	res := s.prod.ProduceSync(ctx, recs...)
	if err := res.FirstErr(); err != nil {
		return fmt.Errorf("write checkpoint to %s: %w", s.topic, err)
	}
	sum := sha256.Sum256(data)
	h := head{Gen: gen, Chunks: len(parts), Size: len(data), SHA256: hex.EncodeToString(sum[:]), First: recs[0].Offset, Time: time.Now().UTC()}
	hv, _ := json.Marshal(h)
	if err := s.prod.ProduceSync(ctx, &kgo.Record{Topic: s.topic, Key: []byte(headKey), Value: hv}).FirstErr(); err != nil {
		return fmt.Errorf("write checkpoint head to %s: %w", s.topic, err)
	}
	if s.gen > 0 && s.chunks > 0 {
		// The previous checkpoint's chunks go; a failure leaves them
		// for a while longer (compaction only keeps the latest head).
		tomb := make([]*kgo.Record, s.chunks)
		for i := range tomb {
			tomb[i] = &kgo.Record{Topic: s.topic, Key: []byte(chunkKey(s.gen, i))}
		}
		if err := s.prod.ProduceSync(ctx, tomb...).FirstErr(); err != nil {
			s.log.Warn("detect: cannot remove the previous checkpoint's chunks", "topic", s.topic, "err", err)
		}
	}
	s.gen, s.chunks = gen, len(parts)
	return nil
}

// Load reads the latest complete checkpoint: it looks for the last head
// from the end of the topic backwards, then reads that head's chunks. A
// checkpoint that is incomplete or fails its checksum is logged and
// treated as none (detection starts from the group's committed offset
// with empty state).
func (s *stateStore) Load(ctx context.Context) ([]byte, time.Time, error) {
	s.found = false
	if s.marks != nil {
		s.marks.reset() // none unless a checkpoint has them
	}
	cl, err := kgo.NewClient(s.base...)
	if err != nil {
		return nil, time.Time{}, err
	}
	start, end, err := offsets(ctx, cl, s.topic)
	cl.Close()
	if err != nil {
		return nil, time.Time{}, err
	}
	var (
		h    *head
		hOff int64
	)
	for to, n := end, int64(16); to > start && h == nil; n *= 4 {
		from := max(start, to-n)
		err := readRange(ctx, s.base, s.topic, from, to, func(r *kgo.Record) {
			if string(r.Key) != headKey || r.Value == nil {
				return
			}
			var v head
			if json.Unmarshal(r.Value, &v) != nil {
				s.log.Warn("detect: unreadable checkpoint head skipped", "topic", s.topic, "offset", r.Offset)
				return
			}
			h, hOff = &v, r.Offset
		})
		if err != nil {
			return nil, time.Time{}, err
		}
		to = from
	}
	if h == nil {
		return nil, time.Time{}, nil
	}
	// Whatever happens below, the next checkpoint is a new generation.
	s.gen, s.chunks = h.Gen, h.Chunks
	parts := make([][]byte, h.Chunks)
	prefix := chunkPrefix + strconv.FormatUint(h.Gen, 10) + "/"
	err = readRange(ctx, s.base, s.topic, h.First, hOff, func(r *kgo.Record) {
		rest, ok := strings.CutPrefix(string(r.Key), prefix)
		if !ok {
			return
		}
		if i, err := strconv.Atoi(rest); err == nil && i >= 0 && i < len(parts) {
			parts[i] = r.Value
		}
	})
	if err != nil {
		return nil, time.Time{}, err
	}
	data := bytes.Join(parts, nil)
	sum := sha256.Sum256(data)
	if len(data) != h.Size || hex.EncodeToString(sum[:]) != h.SHA256 {
		s.log.Error("detect: the latest checkpoint is incomplete or damaged; starting with empty state",
			"topic", s.topic, "generation", h.Gen, "size", len(data), "want_size", h.Size)
		return nil, time.Time{}, nil
	}
	if data, err = s.unwrap(data); err != nil {
		s.log.Error("detect: the latest checkpoint is unreadable; starting with empty state",
			"topic", s.topic, "generation", h.Gen, "err", err)
		return nil, time.Time{}, nil
	}
	s.found = true
	return data, h.Time, nil
}
