package nginx_test

import "testing"

func TestJSON(t *testing.T)        { runFixtures(t, "testdata/json.txt") }
func TestCombined(t *testing.T)    { runFixtures(t, "testdata/combined.txt") }
func TestError(t *testing.T)       { runFixtures(t, "testdata/error.txt") }
func TestApacheError(t *testing.T) { runFixtures(t, "testdata/apache-error.txt") }
