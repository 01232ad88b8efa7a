package kv_test

import "testing"

func TestKV(t *testing.T) { runFixtures(t, "testdata/kv.txt") }
