package journal

import "time"

// Record flags.
const (
	// FlagTruncated marks a message that was longer than the input's size
	// limit; Data holds its first bytes only.
	FlagTruncated uint8 = 1 << iota
	// FlagOrigin marks a record with an Origin (set by Append when Origin
	// is not empty): its body has a fourth field.
	FlagOrigin
)

// Record is one message as an input received it, before any parsing.
type Record struct {
	// Seq is the record's position in the journal. Append assigns it.
	Seq uint64
	// Time is when the message was received (not the event time).
	Time time.Time
	// Input is the name of the input that received the message.
	Input string
	// Peer is the sender's address ("ip:port"), empty when unknown.
	Peer string
	// Flags holds Flag* bits.
	Flags uint8
	// Data is the message exactly as received, without transport framing.
	Data []byte
	// Origin identifies the message where it came from, when the source
	// numbers its messages (a Kafka record's topic, partition and offset),
	// so that a message read twice is recognised; nil for syslog. Like
	// Data it aliases the reader's buffer.
	Origin []byte
}
