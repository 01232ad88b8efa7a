// Package preflight checks a configuration the way vigil serve needs it:
// its keys and values (package config), and what it refers to on this
// machine: rule ids, rule files, folders, certificates and keys. vigil
// config check and vigil serve both call Load, so that a configuration the
// check accepts is one the server starts with, and the server refuses to
// start with the same messages the check prints.
package preflight

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/vigil-soc/vigil/internal/config"
	"github.com/vigil-soc/vigil/internal/detect"
	"github.com/vigil-soc/vigil/internal/geoip"
	"github.com/vigil-soc/vigil/internal/input/kafka"
	"github.com/vigil-soc/vigil/rules"
)

// Load reads the configuration file (the built-in defaults when path is
// ""), lets override change the result (vigil serve's flags; nil: none),
// then validates it and checks what it refers to (Check). The error is a
// config.Problems listing every problem found, or another error when the
// file cannot be read at all. vigil serve starts only when every problem
// is tolerated.
func Load(path string, override func(*config.Config)) (config.Config, error) {
	cfg, err := config.Read(path)
	ps, ok := errors.AsType[config.Problems](err)
	if err != nil && !ok {
		return cfg, err
	}
	if override != nil {
		override(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		vps, _ := errors.AsType[config.Problems](err)
		ps = append(ps, vps...)
	}
	ps = append(ps, Check(&cfg)...)
	ps.Sort()
	return cfg, ps.Err()
}

// Check checks what cfg refers to: the ids in detect.disable name rules of
// the built-in pack or of detect.rules_dir; the rule files there load and
// compile (tolerated problems: the server runs without such a file);
// detect.lists_dir is a folder; each database of geoip.databases (or
// detect.geoip) opens; the
// certificates, keys, CA files and password files of the API, the inputs
// and the outputs are readable and what they should be. The detection
// settings are checked only when detection is on.
func Check(cfg *config.Config) config.Problems {
	c := &checker{cfg: cfg}
	if cfg.Detect.On() {
		c.rules()
		if d := cfg.Detect.ListsDir; d != "" {
			c.dir("detect.lists_dir", d)
		}
	}
	for i, src := range cfg.GeoIPSources() {
		if db, err := geoip.OpenSources(src); err != nil {
			c.bad(cfg.GeoIPKey(i), "%s", strings.TrimPrefix(err.Error(), "geoip: "))
		} else {
			db.Close()
		}
	}
	c.files()
	return c.ps
}

type checker struct {
	cfg *config.Config
	ps  config.Problems
}

func (c *checker) bad(path, format string, args ...any) {
	c.ps = append(c.ps, c.cfg.Problem(path, format, args...))
}

// dir checks that the folder named by key exists.
func (c *checker) dir(key, dir string) bool {
	info, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		c.bad(key, "directory %s does not exist", dir)
	case err != nil:
		c.bad(key, "%v", err)
	case !info.IsDir():
		c.bad(key, "%s is not a directory", dir)
	default:
		return true
	}
	return false
}

// rules loads the built-in pack and the rule folder as the server does,
// reports every file that does not load or compile, and checks
// detect.disable against the ids found.
func (c *checker) rules() {
	d := c.cfg.Detect
	builtin, errs := detect.LoadRules(rules.FS, ".")
	for _, err := range errs {
		c.bad("detect.builtin", "built-in rule pack: %v", err)
	}
	ids := map[string]bool{}
	for _, r := range builtin {
		ids[r.ID] = true
	}
	if d.RulesDir != "" && c.dir("detect.rules_dir", d.RulesDir) {
		user, errs := detect.LoadRules(os.DirFS(d.RulesDir), ".")
		for _, r := range user {
			if err := detect.Compile(r); err != nil {
				errs = append(errs, &detect.RuleError{File: r.File, ID: r.ID, Err: err})
			}
			ids[r.ID] = true
		}
		_, merr := detect.Merge(user)
		for _, err := range append(errs, merr...) {
			if re, ok := errors.AsType[*detect.RuleError](err); ok {
				re.File = filepath.Join(d.RulesDir, re.File)
			}
			// The server leaves such a file out and reports it in its
			// status, as when a file breaks while it runs: a rule file
			// does not stop the ingest.
			p := c.cfg.Problem("detect.rules_dir", "%v", err)
			p.Tolerated = true
			c.ps = append(c.ps, p)
		}
	}
	known := make([]string, 0, len(ids))
	for id := range ids {
		known = append(known, id)
	}
	slices.Sort(known)
	for i, id := range d.Disable {
		if !ids[id] {
			p := c.cfg.Problem(fmt.Sprintf("detect.disable[%d]", i), "unknown rule id %q%s", id, config.DidYouMean(id, known))
			p.Path = "detect.disable"
			c.ps = append(c.ps, p)
		}
	}
}

// files checks the certificates, keys and secrets the configuration names.
func (c *checker) files() {
	h := c.cfg.HTTP
	c.keyPair("http", h.CertFile, h.KeyFile)
	for i, s := range c.cfg.Inputs.Syslog {
		p := fmt.Sprintf("inputs.syslog[%d].tls", i)
		c.keyPair(p, s.TLS.CertFile, s.TLS.KeyFile)
		c.caFile(p+".client_ca_file", s.TLS.ClientCAFile)
	}
	for i, k := range c.cfg.Inputs.Kafka {
		c.kafka(fmt.Sprintf("inputs.kafka[%d]", i), k.TLS, k.SASL)
	}
	for i, o := range c.cfg.Outputs.Kafka {
		c.kafka(fmt.Sprintf("outputs.kafka[%d]", i), o.TLS, o.SASL)
	}
	for i, o := range c.cfg.Outputs.Syslog {
		c.caFile(fmt.Sprintf("outputs.syslog[%d].ca_file", i), o.CAFile)
	}
	// The alert channels check their own files (config.Validate).
}

func (c *checker) kafka(p string, t kafka.TLSConfig, s kafka.SASLConfig) {
	if t.Enabled {
		c.caFile(p+".tls.ca_file", t.CAFile)
		c.keyPair(p+".tls", t.CertFile, t.KeyFile)
	}
	if s.Mechanism != "" && s.PasswordFile != "" {
		c.read(p+".sasl.password_file", s.PasswordFile)
	}
}

// read reads the file named by key, reporting why it cannot.
func (c *checker) read(key, file string) ([]byte, bool) {
	b, err := os.ReadFile(file)
	if err != nil {
		c.bad(key, "%v", err)
		return nil, false
	}
	return b, true
}

// keyPair checks a certificate and its key (p.cert_file, p.key_file),
// when both are set (config.Validate reports one without the other).
func (c *checker) keyPair(p, certFile, keyFile string) {
	if certFile == "" || keyFile == "" {
		return
	}
	cert, ok1 := c.read(p+".cert_file", certFile)
	key, ok2 := c.read(p+".key_file", keyFile)
	if !ok1 || !ok2 {
		return
	}
	if _, err := tls.X509KeyPair(cert, key); err != nil {
		c.bad(p, "cert_file %s and key_file %s: %v", certFile, keyFile, err)
	}
}

// caFile checks a file of PEM CA certificates.
func (c *checker) caFile(key, file string) {
	if file == "" {
		return
	}
	b, ok := c.read(key, file)
	if ok && !x509.NewCertPool().AppendCertsFromPEM(b) {
		c.bad(key, "%s holds no PEM certificate", file)
	}
}
