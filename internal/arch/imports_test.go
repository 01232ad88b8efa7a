package arch

import (
	"bytes"
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/vigil-soc/vigil/"

type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

// packages lists the module's packages with their direct imports and all
// their dependencies (tests excluded: a test may start a server).
func packages(t *testing.T) []pkg {
	t.Helper()
	out, err := exec.Command("go", "list", "-json=ImportPath,Imports,Deps", mod+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var ps []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	return ps
}

func within(path string, names ...string) bool {
	for _, n := range names {
		if path == mod+n || strings.HasPrefix(path, mod+n+"/") {
			return true
		}
	}
	return false
}

func TestImportRules(t *testing.T) {
	engine := []string{"internal/journal", "internal/parse", "internal/index", "internal/detect",
		"internal/store", "internal/input", "internal/output", "internal/alert", "internal/notify",
		"internal/lists", "internal/syslog", "internal/geoip"}
	rules := []struct {
		who       []string // packages the rule is about
		deps      bool     // check all dependencies, not only direct imports
		forbidden func(string) bool
		why       string
	}{
		{engine, true, func(p string) bool {
			return within(p, "internal/service", "internal/storage", "internal/auth", "internal/httpx",
				"internal/api", "internal/console", "web")
		}, "the engine knows nothing of the layers above it"},
		{[]string{"internal/service", "internal/storage"}, false, func(p string) bool {
			return p == "net/http" || p == "html/template"
		}, "the service layer knows nothing of HTTP"},
		{[]string{"internal/service", "internal/storage"}, true, func(p string) bool {
			return within(p, "internal/api", "internal/console", "internal/httpx", "web")
		}, "the service layer does not depend on its front ends"},
	}
	ps := packages(t)
	if len(ps) < 20 {
		t.Fatalf("go list found only %d packages", len(ps))
	}
	for _, p := range ps {
		if strings.HasSuffix(p.ImportPath, "_test") {
			continue
		}
		for _, r := range rules {
			if !within(p.ImportPath, r.who...) {
				continue
			}
			list := p.Imports
			if r.deps {
				list = p.Deps
			}
			for _, d := range list {
				if r.forbidden(d) {
					t.Errorf("%s imports %s: %s", strings.TrimPrefix(p.ImportPath, mod), d, r.why)
				}
			}
		}
		// Only the console renders HTML templates; only cmd wires the
		// front ends.
		for _, d := range p.Imports {
			if d == "html/template" && !within(p.ImportPath, "internal/console", "web") {
				t.Errorf("%s imports html/template: only internal/console renders pages", strings.TrimPrefix(p.ImportPath, mod))
			}
			if within(d, "internal/console") && !within(p.ImportPath, "cmd", "internal/console") {
				t.Errorf("%s imports %s: only cmd/ wires the console", strings.TrimPrefix(p.ImportPath, mod), d)
			}
		}
	}
}
