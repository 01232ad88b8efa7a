package e2e

import (
	"fmt"
	"net/url"
	"testing"
	"time"
)

// TestOverviewBlocksServe: the server's warmer computes the overview's
// blocks of the last 24 hours at start, and the events the fixture sent
// after the start, timed hours back in blocks computed already, still
// count (the indexer's batches drop the blocks they fall in).
func TestOverviewBlocksServe(t *testing.T) {
	v := dashFixture(t)
	var ov struct {
		dashOverview
		CachedBlocks int `json:"cached_blocks"`
	}
	for i, deadline := 0, time.Now().Add(2*time.Minute); ; i++ {
		// Another end each time, so the 30-second cache never answers.
		end := time.Now().Add(-time.Duration(i) * time.Second).UTC().Format(time.RFC3339)
		getJSON(t, v, "/api/v1/overview?range=24h&end="+url.QueryEscape(end), &ov)
		if ov.CachedBlocks >= 4*80 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d cached blocks after 2 minutes, want the day's (about 4 panels x 94)", ov.CachedBlocks)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(ov.Errors) != 0 || len(ov.TopAccounts) == 0 || ov.TopAccounts[0].User != "zhangwei" || ov.TopAccounts[0].Failures != 26 {
		t.Errorf("with %d cached blocks: top accounts %+v (errors %v), want zhangwei with 26 failures",
			ov.CachedBlocks, ov.TopAccounts, ov.Errors)
	}
	if len(ov.TopSources) == 0 || ov.TopSources[0].IP != "203.0.113.7" || ov.TopSources[0].Failures != 20 {
		t.Errorf("top sources %s", fmt.Sprint(ov.TopSources))
	}
	// The cache's size is in the metrics.
	m := v.metrics(t)
	t.Logf("%v blocks, %v bytes", m["vigil_console_overview_blocks"], m["vigil_console_overview_block_bytes"])
	if m["vigil_console_overview_blocks"] < 80 || m["vigil_console_overview_block_bytes"] <= 0 {
		t.Errorf("vigil_console_overview_blocks = %v, vigil_console_overview_block_bytes = %v; want the day's blocks and their size",
			m["vigil_console_overview_blocks"], m["vigil_console_overview_block_bytes"])
	}
}
