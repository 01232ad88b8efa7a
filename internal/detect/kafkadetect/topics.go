package kafkadetect

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/vigil-soc/vigil/internal/input/kafka"
)

// readTimeout bounds one read of a range of a topic (a checkpoint, the
// alerts after it).
const readTimeout = 2 * time.Minute

// clientOpts returns the options every client of c starts from.
func clientOpts(c Config) ([]kgo.Opt, error) {
	opts := []kgo.Opt{kgo.SeedBrokers(c.Brokers...), kgo.ClientID(c.ClientID)}
	sec, err := kafka.SecurityOpts(c.TLS, c.SASL)
	if err != nil {
		return nil, err
	}
	return append(opts, sec...), nil
}

// topicSpec is a topic the detector needs: one partition, compacted or
// not.
type topicSpec struct {
	name    string
	compact bool
}

// ensureTopics creates the topics that do not exist, with one partition
// each, and checks that each has exactly one partition (the detector's
// order and its offsets rest on it).
func ensureTopics(ctx context.Context, cl *kgo.Client, topics []topicSpec) error {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 30_000
	for _, t := range topics {
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic = t.name
		rt.NumPartitions = 1
		rt.ReplicationFactor = -1 // the brokers' default
		if t.compact {
			for k, v := range map[string]string{
				"cleanup.policy": "compact",
				// Old checkpoints become removable within the hour.
				"segment.ms":                strconv.Itoa(int(time.Hour / time.Millisecond)),
				"min.cleanable.dirty.ratio": "0.1",
			} {
				rc := kmsg.NewCreateTopicsRequestTopicConfig()
				rc.Name, rc.Value = k, kmsg.StringPtr(v)
				rt.Configs = append(rt.Configs, rc)
			}
		}
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("create topics: %w", err)
	}
	for _, t := range resp.Topics {
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("create topic %s: %w", t.Topic, err)
		}
	}
	meta := kmsg.NewPtrMetadataRequest()
	for _, t := range topics {
		mt := kmsg.NewMetadataRequestTopic()
		mt.Topic = kmsg.StringPtr(t.name)
		meta.Topics = append(meta.Topics, mt)
	}
	mresp, err := meta.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("topic metadata: %w", err)
	}
	for _, t := range mresp.Topics {
		name := ""
		if t.Topic != nil {
			name = *t.Topic
		}
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			return fmt.Errorf("topic %s: %w", name, err)
		}
		if n := len(t.Partitions); n != 1 {
			return fmt.Errorf("topic %s has %d partitions; detection needs exactly one (delete it or name another topic)", name, n)
		}
	}
	return nil
}

// offsets returns the first and the next offset of partition 0 of topic.
func offsets(ctx context.Context, cl *kgo.Client, topic string) (start, end int64, err error) {
	get := func(ts int64) (int64, error) {
		req := kmsg.NewPtrListOffsetsRequest()
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition = 0
		rp.Timestamp = ts
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return 0, err
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					return 0, err
				}
				return p.Offset, nil
			}
		}
		return 0, fmt.Errorf("no offset for %s/0 in the answer", topic)
	}
	if start, err = get(-2); err != nil {
		return 0, 0, fmt.Errorf("topic %s: earliest offset: %w", topic, err)
	}
	if end, err = get(-1); err != nil {
		return 0, 0, fmt.Errorf("topic %s: latest offset: %w", topic, err)
	}
	return start, end, nil
}

// readRange calls fn for the records of partition 0 of topic from offset
// from up to (not including) to, in order, with a client of its own.
// Compaction may have removed some offsets of the range.
func readRange(ctx context.Context, base []kgo.Opt, topic string, from, to int64, fn func(*kgo.Record)) error {
	if from >= to {
		return nil
	}
	opts := append(append([]kgo.Opt(nil), base...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().At(from)}}),
		kgo.FetchMaxBytes(16<<20))
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	for {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("read %s offsets %d to %d: %w", topic, from, to, err)
		}
		var ferr error
		fetches.EachError(func(_ string, _ int32, err error) { ferr = err })
		if ferr != nil {
			return fmt.Errorf("read %s: %w", topic, ferr)
		}
		done := false
		fetches.EachRecord(func(r *kgo.Record) {
			if r.Offset < to {
				fn(r)
			}
			done = done || r.Offset >= to-1
		})
		if done {
			return nil
		}
	}
}
