package nginx_test

import (
	"testing"
	"time"

	"github.com/vigil-soc/vigil/internal/parse/format"
	"github.com/vigil-soc/vigil/internal/parse/nginx"
)

// fuzzText feeds arbitrary messages to an error log format: a message it
// detects and parses without an error has its dataset, and every value is
// valid UTF-8 when the message is.
func fuzzText(f *testing.F, tf format.Text, fixtures, dataset string, seeds ...string) {
	for _, l := range fixtureLines(f, fixtures) {
		f.Add([]byte(message(l)))
		f.Add([]byte(l))
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	users := &format.Users{}
	f.Fuzz(func(t *testing.T, msg []byte) {
		src := &format.Source{Users: users, Location: time.UTC}
		detected := tf.Detect(msg, src)
		ev := format.Event{}
		err := tf.Parse(msg, src, &ev)
		if detected && err == nil && ev.Get(format.FieldDataset) != dataset {
			t.Fatalf("no event.dataset for %q", msg)
		}
		checkFields(t, msg, ev.Fields)
	})
}

func FuzzError(f *testing.F) {
	fuzzText(f, nginx.Error(), "testdata/error.txt", "nginx.error",
		`2026/01/01 00:00:00 [error] 1#1: *1 user "`, `[warn] 1#1: , client: , server: , request: "`, `[emerg] 1#1:`)
}

func FuzzApacheError(f *testing.F) {
	fuzzText(f, nginx.ApacheError(), "testdata/apache-error.txt", "apache.error",
		`[Mon Jan 02 15:04:05 2006] [error] [client ] user `, `[Mon Jan 02 15:04:05.000000 2006] [:trace1] [pid :tid ] AH00000: `)
}
