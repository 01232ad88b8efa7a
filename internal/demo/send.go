package demo

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// SendOptions configure Send.
type SendOptions struct {
	// Rate is the most lines a second; 0 sends as fast as the connection
	// takes them.
	Rate int
	// Progress, when set, is called about once a second and at the end
	// with the lines sent so far and the simulated time reached.
	Progress func(sent int, at time.Time)
	// Now and Sleep are the clock (time.Now, and a sleep that ends early
	// when ctx is done); nil means the real ones.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

// Send writes the lines to w, newline-framed (RFC 6587 non-transparent
// framing, what the syslog input reads on TCP), at most o.Rate a second.
// It returns the number of lines written.
func Send(ctx context.Context, w io.Writer, lines []Line, o SendOptions) (int, error) {
	now, sleep := o.Now, o.Sleep
	if now == nil {
		now = time.Now
	}
	if sleep == nil {
		sleep = sleepCtx
	}
	bw := bufio.NewWriterSize(w, 256<<10)
	begin := now()
	lastReport := begin
	for i, l := range lines {
		if i%1000 == 0 {
			if err := ctx.Err(); err != nil {
				return i, err
			}
			if o.Rate > 0 {
				// Where the sender should be by now; ahead: wait.
				if ahead := time.Duration(float64(i)/float64(o.Rate)*float64(time.Second)) - now().Sub(begin); ahead > 0 {
					if err := bw.Flush(); err != nil {
						return i, err
					}
					if err := sleep(ctx, ahead); err != nil {
						return i, err
					}
				}
			}
			if t := now(); o.Progress != nil && t.Sub(lastReport) >= time.Second {
				lastReport = t
				o.Progress(i, l.At)
			}
		}
		if _, err := bw.WriteString(l.Text); err != nil {
			return i, err
		}
		if err := bw.WriteByte('\n'); err != nil {
			return i, err
		}
	}
	if err := bw.Flush(); err != nil {
		return len(lines), err
	}
	if o.Progress != nil && len(lines) > 0 {
		o.Progress(len(lines), lines[len(lines)-1].At)
	}
	return len(lines), nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// listMarker starts every list file the demo writes: it only overwrites
// files that carry it.
const listMarker = "# Written by vigil demo"

// List file names the demo writes into the server's detect.lists_dir.
const (
	DevicesFile = "devices.yaml"
	AdminsFile  = "admins.txt"
)

// WriteLists writes the device registry (devices.yaml) and the admins list
// (admins.txt) the scenario expects into dir, the server's
// detect.lists_dir. A file of that name that the demo did not write is
// left alone and reported: the demo does not replace a real registry.
func (s *Scenario) WriteLists(dir string) error {
	var dev strings.Builder
	fmt.Fprintf(&dev, "%s: the demo's ActiveSync device registry (docs/demo.md).\nname: devices\nkind: device\nrole: plain\nentries:\n", listMarker)
	for _, e := range s.Devices {
		fmt.Fprintf(&dev, "  - user: %s\n    device: %s\n    note: %q\n    added: %s\n", e.User, e.Device, e.Note, e.Added.UTC().Format(time.RFC3339))
		if !e.Expires.IsZero() {
			fmt.Fprintf(&dev, "    expires: %s\n", e.Expires.UTC().Format(time.RFC3339))
		}
	}
	var adm strings.Builder
	fmt.Fprintf(&adm, "%s: the demo's Exchange administrators (docs/demo.md).\n# kind: user\n# role: plain\n", listMarker)
	for _, a := range s.Admins {
		adm.WriteString(a + "\n")
	}
	files := []struct{ name, text string }{{DevicesFile, dev.String()}, {AdminsFile, adm.String()}}
	for _, f := range files {
		path := filepath.Join(dir, f.name)
		if old, err := os.ReadFile(path); err == nil && !strings.HasPrefix(string(old), listMarker) {
			return fmt.Errorf("demo: %s exists and was not written by the demo: move it away or point --lists at another folder", path)
		}
	}
	for _, f := range files {
		if err := writeFileAtomic(filepath.Join(dir, f.name), []byte(f.text)); err != nil {
			return err
		}
	}
	return nil
}

// writeFileAtomic writes a file through a temporary one and a rename, so
// that the server's list reloader never reads half a file.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".demo-*.tmp")
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("demo: write %s: %w", path, err)
	}
	return nil
}
