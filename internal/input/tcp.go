package input

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/vigil-soc/vigil/internal/journal"
)

// connReader frames one stream connection and stores its messages.
type connReader struct {
	s    *Syslog
	c    net.Conn
	rd   io.Reader // c, or the TLS layer over it
	tm   *transportMetrics
	peer string

	f    *Framer
	recs []journal.Record
	size int // bytes of Data in recs
}

// run reads until the connection ends and returns why it ended.
func (r *connReader) run() error {
	r.f = NewFramer(r.s.cfg.MaxMessageSize)
	r.recs = make([]journal.Record, 0, maxBatch)
	idle := r.s.cfg.IdleTimeout
	for {
		if idle > 0 {
			r.c.SetReadDeadline(time.Now().Add(idle))
		}
		_, rerr := r.f.Fill(r.rd)
		now := time.Now()
		for {
			msg, flags, ok := r.f.Next()
			if !ok {
				break
			}
			if err := r.add(msg, flags, now); err != nil {
				return err
			}
		}
		if rerr != nil {
			for {
				msg, flags, ok := r.f.End()
				if !ok {
					break
				}
				if err := r.add(msg, flags, now); err != nil {
					return err
				}
			}
			r.tm.addStats(r.f.TakeStats())
			if err := r.flush(); err != nil {
				return err
			}
			if errors.Is(rerr, os.ErrDeadlineExceeded) {
				return errors.New("idle timeout")
			}
			return rerr
		}
		// Count before the sink sees the batch, so the counters never lag
		// behind what is already journaled.
		if st := r.f.TakeStats(); st != (FramerStats{}) {
			r.tm.addStats(st)
		}
		if err := r.flush(); err != nil {
			return err
		}
	}
}

// add queues one message, storing the batch when it is full.
func (r *connReader) add(msg []byte, flags uint8, now time.Time) error {
	r.recs = append(r.recs, journal.Record{
		Time:  now,
		Input: r.s.cfg.Name,
		Peer:  r.peer,
		Flags: flags,
		Data:  msg,
	})
	r.size += len(msg)
	if len(r.recs) == maxBatch {
		return r.flush()
	}
	return nil
}

// flush copies the queued messages out of the framer's buffer into one new
// slab and appends them to the sink. After a sink error it counts the
// batch and everything still buffered as dropped and closes the
// connection, so that the sender notices.
func (r *connReader) flush() error {
	if len(r.recs) == 0 {
		return nil
	}
	slab := make([]byte, r.size)
	off := 0
	for i := range r.recs {
		d := r.recs[i].Data
		n := copy(slab[off:], d)
		r.recs[i].Data = slab[off : off+n : off+n]
		off += n
	}
	n, size := len(r.recs), r.size
	// Received counts precede the append: what the sink refuses is then
	// counted again as dropped.
	r.tm.messages.Add(float64(n))
	r.tm.bytes.Add(float64(size))
	err := r.s.sink.Append(r.recs)
	clear(r.recs)
	r.recs = r.recs[:0]
	r.size = 0
	if err == nil {
		return nil
	}
	// Count what this connection already read and can no longer store.
	for {
		_, _, ok := r.f.End()
		if !ok {
			break
		}
		n++
	}
	r.tm.dropped.Add(float64(n))
	r.tm.addStats(r.f.TakeStats())
	if k, ok := r.s.logSink.allow(); ok {
		r.s.log.Error("syslog: sink failed, closing connection", "transport", r.tm.name,
			"peer", r.peer, "dropped", n, "err", err, "suppressed", k)
	}
	r.c.Close()
	return fmt.Errorf("sink: %w", err)
}
