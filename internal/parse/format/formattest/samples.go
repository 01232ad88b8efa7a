package formattest

import (
	"os"
	"path/filepath"
	"testing"
)

// Samples returns the folder of the real third-party sample logs
// (shared/samples, see its SOURCES.md), joined with elem. The samples are
// not part of the repository: the folder is $VIGIL_SAMPLES, or a
// shared/samples next to a folder above the test's working directory (a
// checkout beside the project's shared folder). When it is absent the test
// is skipped, and fails instead when VIGIL_TEST_STRICT is set
// (scripts/test.sh): there the samples must be read.
func Samples(tb testing.TB, elem ...string) string {
	tb.Helper()
	dir := SamplesDir()
	if dir == "" {
		msg := "the sample logs (shared/samples) are not present; set VIGIL_SAMPLES to their folder"
		if os.Getenv("VIGIL_TEST_STRICT") != "" {
			tb.Fatal(msg + " (VIGIL_TEST_STRICT is set)")
		}
		tb.Skip(msg)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		tb.Fatalf("VIGIL_SAMPLES=%s: not a folder (%v)", dir, err)
	}
	return filepath.Join(append([]string{dir}, elem...)...)
}

// SamplesDir returns the folder of the sample logs, or "" when they are
// absent (fuzz targets seed from them when they are there).
func SamplesDir() string {
	if dir := os.Getenv("VIGIL_SAMPLES"); dir != "" {
		return dir
	}
	wd, err := os.Getwd()
	if err != nil {
		return ""
	}
	for dir := wd; ; {
		cand := filepath.Join(dir, "shared", "samples")
		if fi, err := os.Stat(cand); err == nil && fi.IsDir() {
			return cand
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}
