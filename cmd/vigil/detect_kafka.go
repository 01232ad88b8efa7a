package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/vigil-soc/vigil/internal/detect"
	"github.com/vigil-soc/vigil/internal/detect/kafkadetect"
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
