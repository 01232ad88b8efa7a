//go:build unix

// Package benchenv holds what Vigil's measurement harnesses (tests and
// benchmarks that are skipped unless an input is named in the environment)
// share: the process's CPU time and settings read from the environment.
package benchenv

import (
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// CPUTime returns the CPU time the process has used so far, user and
// system, over all its threads (the code measured, the runtime's garbage
// collector and any in-process server alike). It may be called from any
// goroutine; getrusage(2) on the process itself does not fail.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic("benchenv: getrusage: " + err.Error())
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Int returns the positive integer in the environment variable name, or def
// when it is unset; anything else fails tb.
func Int(tb testing.TB, name string, def int) int {
	tb.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		tb.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return n
}
