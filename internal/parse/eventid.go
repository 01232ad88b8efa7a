package parse

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"

	"github.com/vigil-soc/vigil/internal/journal"
)

// EventIDLen is the length of an event id: 32 hexadecimal digits.
const EventIDLen = 32

// AppendEventID appends the event id of rec, read from the journal with
// id journalID, to b. The id is unique across machines and stable for the
// same message:
//
//   - a message the source numbers (a Kafka record: rec.Origin holds its
//     topic, partition, offset and timestamp) gets the first 128 bits of
//     the SHA-256 of its origin, the same on every node and every time
//     the record is read;
//   - any other message gets the journal's random 64-bit id followed by
//     its sequence number (which the journal never reuses), both in hex.
//
// Outputs (ClickHouse event_id, the Kafka record header) carry it, so a
// message delivered twice is recognised downstream.
func AppendEventID(b []byte, journalID uint64, rec *journal.Record) []byte {
	var raw [16]byte
	if len(rec.Origin) > 0 {
		sum := sha256.Sum256(rec.Origin)
		copy(raw[:], sum[:16])
	} else {
		binary.BigEndian.PutUint64(raw[:8], journalID)
		binary.BigEndian.PutUint64(raw[8:], rec.Seq)
	}
	return hex.AppendEncode(b, raw[:])
}
