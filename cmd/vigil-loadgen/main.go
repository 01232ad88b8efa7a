// Command vigil-loadgen generates and sends the syslog load that Vigil's
// ingest benchmark (scripts/bench-ingest.sh, docs/benchmarks.md) uses.
//
//	vigil-loadgen -gen N -o FILE [-seed S] [-start RFC3339] [-span DUR] [-attack N | -zh [-bigrams]]
//	vigil-loadgen -send FILE -addr HOST:PORT [-conns 1|2] [-octet] [-rate N]
//	vigil-loadgen -wait FILE|URL -lines N [-token T] [-timeout DUR]
//
// -gen writes N nginx JSON access-log lines wrapped in BSD syslog, exactly
// as nginx sends them ("<190>Nov 27 23:39:14 proxy1 nginx: {json}"), one
// per LF-terminated line, with the log_format of the deployment Vigil grew
// out of and a mail front end's mix of traffic (OWA, ActiveSync, EWS,
// autodiscover, MAPI). The same seed, start and span give the same bytes,
// so every receiver in a benchmark run is fed the same file. With -zh it
// writes a Chinese mail service's logs instead (RFC 5424, Chinese and
// English mixed, genzh.go) for the Chinese search benchmark
// (scripts/bench-zhsearch.sh); -bigrams adds each message's pairs of Han
// characters as structured data, to measure indexing them.
//
// -send writes that file over TCP in large writes (1 MiB), on one
// connection or, with -conns 2, on two connections that each carry one
// half of the file (split on a line boundary). The file is read into
// memory first, so the disk is not part of what is measured. With -octet
// each line is sent octet-counted (RFC 6587 "LEN SP MSG") instead of
// LF-terminated. With -rate N it paces the sending at N lines per second
// over all connections (in 10 ms steps of the file's average line size),
// for measuring delays at a given load rather than the receiver's
// fastest; behind_max is how far the sender fell behind that schedule (a
// receiver that does not read fast enough). It prints the first-byte time,
// bytes, lines and elapsed time as key=value pairs on one line.
//
// -wait polls until a receiver holds N events and prints when it got
// there, or fails after -timeout. For a file (rsyslog's output) it counts
// lines, reading only what was appended since the last poll, every 20 ms.
// For an http:// URL it runs a search that answers {"rows":"N"} (a LogsQL
// "* | stats count() rows" query on Vigil's API or on VictoriaLogs) every
// 50 ms, with -token as the bearer token; an answer of several such rows
// (one per node, from a node with cluster.peers) counts their sum. It
// also reports when the count was first above zero. Polling from here rather than
// from a shell loop keeps the cost of watching (a curl, sed and awk process
// per poll) off the two CPUs the receiver is measured on.
//
// Why not syslog-ng's loggen: it does one sendto() per line and tops out at
// about 170k lines/s while using a whole core of the benchmark machine's
// two, so it hides any receiver faster than that and steals the CPU the
// receiver needs. Large TCP writes cost the sender almost nothing.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

const writeSize = 1 << 20

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "vigil-loadgen:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("vigil-loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	gen := fs.Int("gen", 0, "generate this many lines (with -o)")
	out := fs.String("o", "", "output file for -gen")
	seed := fs.Uint64("seed", 1, "random seed for -gen")
	start := fs.String("start", "", "time of the first line, RFC3339 (default: the current hour minus 2h, UTC)")
	span := fs.Duration("span", time.Hour, "time the generated lines cover")
	attack := fs.Int("attack", 0, "make every Nth line part of a password-guessing run (0: none)")
	zh := fs.Bool("zh", false, "generate a Chinese mail service's logs (RFC 5424) instead of nginx access logs")
	bigrams := fs.Bool("bigrams", false, "with -zh: add the pairs of adjacent Han characters of each message as structured data (bg@32473 h)")
	send := fs.String("send", "", "file to send")
	addr := fs.String("addr", "127.0.0.1:5514", "TCP address to send to")
	conns := fs.Int("conns", 1, "connections to send on (1 or 2)")
	octet := fs.Bool("octet", false, "send octet-counted frames instead of LF-terminated lines")
	rate := fs.Int("rate", 0, "lines per second to send at, over all connections (0: as fast as the receiver reads)")
	wait := fs.String("wait", "", "file or search URL to poll until it has -lines events")
	want := fs.Int64("lines", 0, "events to wait for (with -wait)")
	token := fs.String("token", "", "bearer token for a -wait URL")
	timeout := fs.Duration("timeout", 5*time.Minute, "give up waiting after this long")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: vigil-loadgen -gen N -o FILE [-seed S] [-start RFC3339] [-span DUR] [-attack N | -zh [-bigrams]]")
		fmt.Fprintln(stderr, "       vigil-loadgen -send FILE -addr HOST:PORT [-conns 1|2] [-octet] [-rate N]")
		fmt.Fprintln(stderr, "       vigil-loadgen -wait FILE|URL -lines N [-token T] [-timeout DUR]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case *gen > 0 && *out != "" && *send == "":
		t0 := time.Now().UTC().Truncate(time.Hour).Add(-2 * time.Hour)
		if *start != "" {
			var err error
			if t0, err = time.Parse(time.RFC3339, *start); err != nil {
				return fmt.Errorf("-start: %w", err)
			}
		}
		if *zh {
			return generateZH(*out, *gen, *seed, t0, *span, *bigrams)
		}
		return generate(*out, *gen, *seed, t0, *span, *attack)
	case *wait != "" && *want > 0:
		if strings.HasPrefix(*wait, "http://") || strings.HasPrefix(*wait, "https://") {
			return waitSearch(stdout, *wait, *token, *want, *timeout)
		}
		return waitLines(stdout, *wait, *want, *timeout)
	case *send != "" && *gen == 0:
		if *conns != 1 && *conns != 2 {
			return fmt.Errorf("-conns must be 1 or 2, not %d", *conns)
		}
		if *rate < 0 {
			return fmt.Errorf("-rate must be 0 or more, not %d", *rate)
		}
		return sendFile(stdout, *send, *addr, *conns, *octet, *rate)
	}
	fs.Usage()
	return flag.ErrHelp
}

// generate writes n lines to path; with attack > 0 every attack-th line is
// a failed ActiveSync logon of a password-guessing run.
func generate(path string, n int, seed uint64, start time.Time, span time.Duration, attack int) error {
	g := newGenerator(seed)
	return writeLines(path, n, start, span, func(b []byte, t time.Time, i int) []byte {
		if attack > 0 && i%attack == attack-1 {
			return g.attackLine(b, t, i/attack)
		}
		return g.line(b, t)
	})
}

// writeLines writes n lines that line appends, the i-th for its time
// within span from start, each with an LF, to path.
func writeLines(path string, n int, start time.Time, span time.Duration, line func(b []byte, t time.Time, i int) []byte) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	w := bufio.NewWriterSize(f, writeSize)
	step := span / time.Duration(max(n, 1))
	var b []byte
	for i := range n {
		b = append(line(b[:0], start.Add(time.Duration(i)*step), i), '\n')
		if _, err := w.Write(b); err != nil {
			f.Close()
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	return nil
}

// sendFile sends the file at path to addr and prints what it sent; rate > 0
// paces it at that many lines per second.
func sendFile(stdout io.Writer, path, addr string, conns int, octet bool, rate int) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	lines := bytes.Count(data, []byte{'\n'})
	if len(data) > 0 && data[len(data)-1] != '\n' {
		lines++
	}
	parts := split(data, conns)
	if octet {
		for i, p := range parts {
			parts[i] = octetFrame(p)
		}
	}
	cs := make([]net.Conn, len(parts))
	for i := range parts {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			for _, c := range cs[:i] {
				c.Close()
			}
			return fmt.Errorf("connect %s: %w", addr, err)
		}
		cs[i] = c
	}
	// Paced: each connection carries its share of the rate, in bytes per
	// second at the file's average line size.
	var perSec float64
	if rate > 0 && lines > 0 {
		perSec = float64(rate) / float64(len(parts)) * float64(len(data)) / float64(lines)
	}
	var (
		wg     sync.WaitGroup
		errs   = make([]error, len(parts))
		sent   = make([]int64, len(parts))
		behind = make([]time.Duration, len(parts))
		begin  = time.Now()
	)
	for i, p := range parts {
		wg.Go(func() {
			sent[i], behind[i], errs[i] = write(cs[i], p, begin, perSec)
		})
	}
	wg.Wait()
	elapsed := time.Since(begin)
	var total int64
	for _, n := range sent {
		total += n
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "start_unix_ns=%d bytes=%d lines=%d conns=%d octet=%t elapsed=%.3fs lines_per_s=%.0f MiB_per_s=%.1f",
		begin.UnixNano(), total, lines, conns, octet, elapsed.Seconds(),
		float64(lines)/elapsed.Seconds(), float64(total)/elapsed.Seconds()/(1<<20))
	if rate > 0 {
		fmt.Fprintf(stdout, " rate=%d behind_max=%.3fs", rate, slices.Max(behind).Seconds())
	}
	fmt.Fprintln(stdout)
	return nil
}

// write sends b on c and closes c: in writeSize pieces, or with perSec > 0
// in 10 ms steps of perSec/100 bytes on the schedule that starts at begin.
// behind is the most the writes fell behind that schedule.
func write(c net.Conn, b []byte, begin time.Time, perSec float64) (n int64, behind time.Duration, err error) {
	const step = 10 * time.Millisecond
	size := writeSize
	if perSec > 0 {
		size = max(1, int(perSec*step.Seconds()))
	}
	for k := 0; len(b) > 0; k++ {
		if perSec > 0 {
			due := begin.Add(time.Duration(k) * step)
			if d := time.Until(due); d > 0 {
				time.Sleep(d)
			} else {
				behind = max(behind, -d)
			}
		}
		m, err := c.Write(b[:min(len(b), size)])
		n += int64(m)
		if err != nil {
			c.Close()
			return n, behind, fmt.Errorf("send to %s: %w", c.RemoteAddr(), err)
		}
		b = b[m:]
	}
	if err := c.Close(); err != nil {
		return n, behind, fmt.Errorf("close connection to %s: %w", c.RemoteAddr(), err)
	}
	return n, behind, nil
}

// split cuts data into n parts of about equal size on line boundaries.
func split(data []byte, n int) [][]byte {
	var parts [][]byte
	for i := n; i > 1; i-- {
		cut := len(data) / i
		if j := bytes.IndexByte(data[cut:], '\n'); j >= 0 {
			cut += j + 1
		} else {
			cut = len(data)
		}
		parts = append(parts, data[:cut])
		data = data[cut:]
	}
	return append(parts, data)
}

// octetFrame rewrites LF-terminated lines as "LEN SP MSG" frames.
func octetFrame(b []byte) []byte {
	out := make([]byte, 0, len(b)+len(b)/64)
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		out = strconv.AppendInt(out, int64(len(line)), 10)
		out = append(out, ' ')
		out = append(out, line...)
	}
	return out
}

// waitLines waits until the file at path has want LF-terminated lines.
func waitLines(stdout io.Writer, path string, want int64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var (
		f     *os.File
		lines int64
		buf   = make([]byte, writeSize)
	)
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	for {
		if f == nil {
			f, _ = os.Open(path) // it may not exist yet
		}
		for f != nil {
			n, err := f.Read(buf)
			lines += int64(bytes.Count(buf[:n], []byte{'\n'}))
			if err == io.EOF || n == 0 {
				break
			}
			if err != nil {
				return fmt.Errorf("read %s: %w", path, err)
			}
		}
		if lines >= want {
			fmt.Fprintf(stdout, "done_unix_ns=%d lines=%d\n", time.Now().UnixNano(), lines)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s has %d lines after %s, want %d", path, lines, timeout, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var rowsRE = regexp.MustCompile(`"rows":"?([0-9]+)`)

// waitSearch polls a count search at url until it reports want events.
func waitSearch(stdout io.Writer, url, token string, want int64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: 30 * time.Second}
	var got, first int64
	for {
		n, err := count(client, url, token)
		if err == nil {
			got = n
			if n > 0 && first == 0 {
				first = time.Now().UnixNano()
			}
			if n >= want {
				fmt.Fprintf(stdout, "done_unix_ns=%d first_unix_ns=%d lines=%d\n", time.Now().UnixNano(), first, n)
				return nil
			}
		}
		if time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("search %s: %w", url, err)
			}
			return fmt.Errorf("search finds %d events after %s, want %d", got, timeout, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// count runs one count search.
func count(client *http.Client, url, token string) (int64, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(body))
	}
	// One row, or one per node when a node with cluster.peers answers
	// for several: their sum. No row yet: stats over nothing may answer
	// nothing.
	var sum int64
	for _, m := range rowsRE.FindAllSubmatch(body, -1) {
		n, err := strconv.ParseInt(string(m[1]), 10, 64)
		if err != nil {
			return 0, err
		}
		sum += n
	}
	return sum, nil
}
