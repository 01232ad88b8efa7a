package input

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/vigil-soc/vigil/internal/journal"
)

// fakeAccount records a Framer's accounted growth.
type fakeAccount struct {
	held     int
	refuse   bool // refuse growth without need
	maxTaken int
}

func (a *fakeAccount) grow(n int, need bool) (bool, error) {
	if a.refuse && !need {
		return false, nil
	}
	a.held += n
	a.maxTaken = max(a.maxTaken, a.held)
	return true, nil
}

func (a *fakeAccount) shrink(n int) { a.held -= n }

// TestFramerAccount: a long octet-counted frame grows the buffer to what it
// needs (not the next power of two), every byte beyond minFramerBuf is
// accounted for, and the buffer shrinks back once the frame is consumed.
func TestFramerAccount(t *testing.T) {
	body := bytes.Repeat([]byte("x"), 4<<20+100)
	in := fmt.Appendf(nil, "%d %s%s", len(body), body, bytes.Repeat([]byte("<13>small message\n"), 20000))
	acct := &fakeAccount{}
	f := NewFramer(16 << 20)
	f.acct = acct
	rd := &chunkReader{data: in, sizes: []int{64 << 10}}
	var got []msg
	for {
		_, err := f.Fill(rd)
		if want := max(len(f.buf), minFramerBuf) - minFramerBuf; acct.held != want {
			t.Fatalf("accounted %d bytes for a %d-byte buffer", acct.held, len(f.buf))
		}
		for {
			m, fl, ok := f.Next()
			if !ok {
				break
			}
			got = append(got, msg{string(m[:min(len(m), 8)]), fl})
		}
		if err != nil {
			break
		}
	}
	if len(got) != 20001 || got[0] != (msg{"xxxxxxxx", 0}) || got[1] != (msg{"<13>smal", 0}) {
		t.Fatalf("got %d messages: %v", len(got), got[:min(3, len(got))])
	}
	hdr := len(fmt.Sprint(len(body))) + 1
	if acct.maxTaken != hdr+len(body)-minFramerBuf {
		t.Errorf("the buffer grew to %d bytes for a %d-byte frame", acct.maxTaken+minFramerBuf, hdr+len(body))
	}
	if len(f.buf) > maxFramerBuf {
		t.Errorf("buffer of %d bytes kept after the long frame", len(f.buf))
	}

	// Growth without need is optional.
	acct = &fakeAccount{refuse: true}
	f = NewFramer(1 << 20)
	f.acct = acct
	rd = &chunkReader{data: bytes.Repeat([]byte("<13>line\n"), 100000)}
	for range 10 {
		f.Fill(rd)
		for _, _, ok := f.Next(); ok; _, _, ok = f.Next() {
		}
	}
	if len(f.buf) != minFramerBuf || acct.held != 0 {
		t.Errorf("buffer %d bytes, %d accounted, with growth refused", len(f.buf), acct.held)
	}
}

// TestBufferBudget: connections that leave long frames unfinished cannot
// hold more than MaxBufferMemory; when others need memory the stalled ones
// are closed (their partial frames kept, truncated), so a sender with a
// whole long message gets through.
func TestBufferBudget(t *testing.T) {
	const budget = 1 << 20
	s := startSyslog(t, SyslogConfig{Addr: "127.0.0.1:0", TCP: true, MaxMessageSize: 256 << 10,
		MaxBufferMemory: budget, bufWait: 50 * time.Millisecond})
	partial := append([]byte(fmt.Sprintf("%d ", 250<<10)), bytes.Repeat([]byte("p"), 200<<10)...)
	over := false
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() { // the bound must hold at all times
		defer close(sampled)
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
			s.bufs.mu.Lock()
			if s.bufs.used > budget {
				over = true
			}
			s.bufs.mu.Unlock()
		}
	}()
	for i := range 8 {
		c := dialFrom(t, fmt.Sprintf("127.0.1.%d", i+1), s.TCPAddr())
		if _, err := c.Write(partial); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "a connection closed to free memory", func() bool {
		return s.metric(t, "vigil_input_connections_closed_total", "reason", "buffer_memory") >= 1
	})
	whole := bytes.Repeat([]byte("w"), 200<<10)
	c := dialFrom(t, "127.0.2.1", s.TCPAddr())
	fmt.Fprintf(c, "%d %s<13>next\n", len(whole), whole)
	waitFor(t, "the whole message and the next", func() bool { return len(s.sink.msgs(c.LocalAddr().String())) == 2 })
	if got := s.sink.msgs(c.LocalAddr().String()); !reflect.DeepEqual(got, []msg{{string(whole), 0}, {"<13>next", 0}}) {
		t.Errorf("got %v", got)
	}
	closed := s.metric(t, "vigil_input_connections_closed_total", "reason", "buffer_memory")
	for _, m := range s.sink.msgs("") {
		if m.Data[0] == 'p' && m.Flags != journal.FlagTruncated {
			t.Errorf("a partial frame is not flagged truncated: %v", m)
		}
	}
	close(stop)
	<-sampled
	if over {
		t.Errorf("buffers held more than %d bytes", budget)
	}
	if v := s.metric(t, "vigil_input_buffer_bytes"); v > budget {
		t.Errorf("vigil_input_buffer_bytes = %v", v)
	}
	t.Logf("closed %v stalled connections, %v waits", closed, s.metric(t, "vigil_input_buffer_waits_total"))
	s.stop()
	if v := s.metric(t, "vigil_input_buffer_bytes"); v != 0 {
		t.Errorf("vigil_input_buffer_bytes = %v after every connection closed", v)
	}
}

// TestBufferBudgetSparesPaused: a connection that waits for a full journal
// keeps its buffer memory, however long others wait for memory.
func TestBufferBudgetSparesPaused(t *testing.T) {
	const budget = 1 << 20
	s := startSyslog(t, SyslogConfig{Addr: "127.0.0.1:0", TCP: true, MaxMessageSize: 512 << 10,
		MaxBufferMemory: budget, bufWait: 20 * time.Millisecond})
	s.sink.setErr(errTestFull)
	// Two whole 400 KiB messages: each connection grows its buffer for
	// its message, then waits for the journal holding it.
	whole := bytes.Repeat([]byte("w"), 400<<10)
	var paused []string
	for i := range 2 {
		c := dialFrom(t, fmt.Sprintf("127.0.3.%d", i+1), s.TCPAddr())
		fmt.Fprintf(c, "%d %s", len(whole), whole)
		paused = append(paused, c.LocalAddr().String())
	}
	waitFor(t, "both to pause", func() bool { return s.metric(t, "vigil_input_paused_connections", "transport", "tcp") == 2 })
	// A third one needs memory that only the paused ones hold.
	c := dialFrom(t, "127.0.3.9", s.TCPAddr())
	fmt.Fprintf(c, "%d %s", len(whole), whole)
	waitFor(t, "the third to wait", func() bool { return s.metric(t, "vigil_input_buffer_waits_total") >= 1 })
	for range 20 { // many times bufWait
		time.Sleep(10 * time.Millisecond)
		if v := s.metric(t, "vigil_input_connections_closed_total", "reason", "buffer_memory"); v != 0 {
			t.Fatalf("%v connections closed for memory while they waited for the journal", v)
		}
	}
	s.sink.setErr(nil)
	waitFor(t, "all three messages", func() bool { return s.sink.len() == 3 })
	for _, p := range paused {
		if got := s.sink.msgs(p); len(got) != 1 || got[0].Flags != 0 {
			t.Errorf("paused sender %s: %v", p, got)
		}
	}
}
