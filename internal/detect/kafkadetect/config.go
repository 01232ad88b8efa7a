// Package kafkadetect runs Vigil's detection once for several nodes: every
// node publishes its parsed events to a detection topic with one
// partition, and the members of one consumer group on that topic elect
// the detector (Kafka gives the partition to exactly one of them). The
// detector keeps its checkpoint in a compacted state topic and records its
// alerts in an alerts topic, from which every node copies them into its
// own alert journal. When the partition moves (a rebalance, a node that
// died), the new owner loads the latest checkpoint, processes the events
// after it again and does not raise the alerts recorded after it twice.
// docs/architecture.md ("Scale-out detection") describes the design.
package kafkadetect

import "github.com/vigil-soc/vigil/internal/config"

// Config configures detection through Kafka (detect.kafka).
type Config = config.DetectKafka
