//go:build race

package index

// raceEnabled: the tests run under the race detector.
const raceEnabled = true
