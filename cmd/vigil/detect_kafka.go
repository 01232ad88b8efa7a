package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/vigil-soc/vigil/internal/detect"
	"github.com/vigil-soc/vigil/internal/detect/kafkadetect"
	"github.com/vigil-soc/vigil/internal/input/kafka"
	"github.com/vigil-soc/vigil/internal/journal"
	"github.com/vigil-soc/vigil/internal/output"
	"github.com/vigil-soc/vigil/internal/parse"
)

// detectOutput is the name of the output that publishes this node's
// events for the elected detector (journal cursor "output-detect-kafka").
const detectOutput = "detect-kafka"

// openDetectKafka makes the detector a candidate of the election through
// Kafka (detect.mode kafka) and sets up the copy of the alerts topic into
// the alert journal.
func (s *server) openDetectKafka(dopts *detect.DetectorOptions, log *slog.Logger) error {
	var err error
	kc := s.cfg.Detect.Kafka
	if s.elector, err = kafkadetect.New(kc, s.reg, log); err != nil {
		return err
	}
	s.elector.Prepare(dopts)
	s.alertCopy, err = kafkadetect.NewFollower(kc, s.alerts, s.reg, log)
	return err
}

// openDetectPublisher adds the output that publishes every event this
// node parses to the detection topic.
func (s *server) openDetectPublisher(popts parse.Options) error {
	kc := s.cfg.Detect.Kafka.WithDefaults()
	snd, err := output.NewKafkaDetect(output.KafkaConfig{
		Name: detectOutput, Brokers: kc.Brokers, Topic: kc.Topic, ClientID: kc.ClientID, TLS: kc.TLS, SASL: kc.SASL,
	}, popts)
	if err != nil {
		return fmt.Errorf("detect.kafka: %w", err)
	}
	o, err := output.NewRunner(s.j, detectOutput, "kafka-detect", snd.Target(), snd, s.reg, s.log.With("component", "output"))
	if err != nil {
		return err
	}
	s.outputs = append(s.outputs, o)
	s.detectOut = o
	return nil
}

// kafkaAppender is where the Kafka inputs append: the journal, and with
// detect.mode kafka the journal and then the detection topic. An input
// commits its offsets once Append returns, so a node killed afterwards
// has published every record whose offset it committed: the records it
// had not yet published are read again by the node that takes its
// partitions over, instead of reaching detection only when it restarts.
func (s *server) kafkaAppender() kafka.Appender {
	if s.detectOut == nil {
		return s.j
	}
	return publishedAppender{j: s.j, out: s.detectOut, stopped: &s.inputsStopped}
}

// publishedAppender appends to the journal, then waits until the output
// that publishes for detection has delivered the records.
type publishedAppender struct {
	j   *journal.Journal
	out *output.Runner
	// stopped ends when the inputs are told to stop (set by serve
	// before any input runs): a broker that cannot be reached then does
	// not hold the shutdown up.
	stopped *context.Context
}

// Append implements kafka.Appender. Once the journal has the records it
// reports success even if the wait ends early (at shutdown): the output
// publishes them from the journal while draining or at the next start.
func (a publishedAppender) Append(recs []journal.Record) error {
	if err := a.j.Append(recs); err != nil || len(recs) == 0 {
		return err
	}
	_ = a.out.WaitDelivered(*a.stopped, recs[len(recs)-1].Seq+1)
	return nil
}

// runDetectKafka starts the election and the alert copy (no-op in local
// mode); wg waits for them.
func (s *server) runDetectKafka(ctx context.Context, wg *sync.WaitGroup, failed chan<- error) {
	if s.elector == nil {
		return
	}
	wg.Go(func() {
		if err := s.elector.Run(ctx, s.det); err != nil {
			failed <- err
		}
	})
	wg.Go(func() {
		if err := s.alertCopy.Run(ctx); err != nil {
			failed <- err
		}
	})
}
