package input

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/vigil-soc/vigil/internal/journal"
)

// maxPauseBackoff is the longest wait between two appends of a batch that
// the journal refused for lack of disk space.
const maxPauseBackoff = time.Second

// connReader frames one stream connection and stores its messages.
type connReader struct {
	s    *Syslog
	c    net.Conn
	rd   io.Reader // c, or the TLS layer over it
	tm   *transportMetrics
	peer string

	ctx  context.Context // the input's: done when it stops
	buf  *bufHolder
	f    *Framer
	recs []journal.Record
	size int // bytes of Data in recs
}

// run reads until the connection ends and returns why it ended.
func (r *connReader) run(ctx context.Context, buf *bufHolder) error {
	r.ctx, r.buf = ctx, buf
	r.f = NewFramer(r.s.cfg.MaxMessageSize)
	r.f.acct = buf
	r.recs = make([]journal.Record, 0, maxBatch)
	idle := r.s.cfg.IdleTimeout
	for {
		if idle > 0 {
			r.c.SetReadDeadline(time.Now().Add(idle))
		}
		n, rerr := r.f.Fill(r.rd)
		if n > 0 {
			buf.touch()
		}
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
				r.tm.closedIdle.Inc()
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

// flush appends the queued messages to the sink (their Data points into the
// framer's buffer, which stays as it is until the next Fill), waiting while
// the journal is full. After any other sink error, or when the input stops
// while the journal is full, it counts the batch and everything still
// buffered as dropped and closes the connection, so that the sender
// notices.
func (r *connReader) flush() error {
	if len(r.recs) == 0 {
		return nil
	}
	n, size := len(r.recs), r.size
	// Received counts precede the append: what the sink refuses is then
	// counted again as dropped.
	r.tm.messages.Add(float64(n))
	r.tm.bytes.Add(float64(size))
	err := r.append()
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
	if errors.Is(err, journal.ErrFull) {
		r.tm.droppedFull.Add(float64(n))
	} else {
		r.tm.dropped.Add(float64(n))
	}
	r.tm.addStats(r.f.TakeStats())
	if k, ok := r.s.logSink.allow(); ok {
		r.s.log.Error("syslog: sink failed, closing connection", "transport", r.tm.name,
			"peer", r.peer, "dropped", n, "err", err, "suppressed", k)
	}
	r.c.Close()
	return fmt.Errorf("sink: %w", err)
}

// append appends r.recs to the sink. While the journal refuses them for
// lack of disk space it retries with a growing delay, without reading from
// the connection meanwhile: the socket buffers fill up and the sender
// waits (TCP flow control), so nothing it sent is lost. It gives up only
// when the input stops.
func (r *connReader) append() error {
	err := r.s.sink.Append(r.recs)
	if err == nil || !errors.Is(err, journal.ErrFull) {
		return err
	}
	r.s.pause(r.tm, 1)
	defer r.s.pause(r.tm, -1)
	// Waiting for the journal is no reason to lose buffer memory.
	r.buf.journalWait(true)
	defer r.buf.journalWait(false)
	for delay := 10 * time.Millisecond; ; delay = min(2*delay, maxPauseBackoff) {
		t := time.NewTimer(delay)
		select {
		case <-r.ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		err = r.s.sink.Append(r.recs)
		if err == nil || !errors.Is(err, journal.ErrFull) {
			return err
		}
	}
}

// pause counts a connection that starts (d = 1) or stops (d = -1) waiting
// for room in the journal, and logs when the first one starts and the last
// one stops.
func (s *Syslog) pause(tm *transportMetrics, d int64) {
	tm.paused.Add(float64(d))
	switch n := s.paused.Add(d); {
	case d > 0 && n == 1:
		s.log.Warn("syslog: journal full; not reading from TCP and TLS senders until it has room again (they wait, nothing is dropped)")
	case d < 0 && n == 0:
		s.log.Info("syslog: journal has room again; reading from all TCP and TLS senders")
	}
}
