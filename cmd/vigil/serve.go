package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/vigil-soc/vigil/internal/alert"
	"github.com/vigil-soc/vigil/internal/api"
	"github.com/vigil-soc/vigil/internal/auth"
	"github.com/vigil-soc/vigil/internal/config"
	"github.com/vigil-soc/vigil/internal/console"
	"github.com/vigil-soc/vigil/internal/decision"
	"github.com/vigil-soc/vigil/internal/detect"
	"github.com/vigil-soc/vigil/internal/detect/kafkadetect"
	"github.com/vigil-soc/vigil/internal/geoip"
	"github.com/vigil-soc/vigil/internal/index"
	"github.com/vigil-soc/vigil/internal/input"
	"github.com/vigil-soc/vigil/internal/input/kafka"
	"github.com/vigil-soc/vigil/internal/journal"
	"github.com/vigil-soc/vigil/internal/lists"
	"github.com/vigil-soc/vigil/internal/memlimit"
	"github.com/vigil-soc/vigil/internal/notify"
	"github.com/vigil-soc/vigil/internal/output"
	"github.com/vigil-soc/vigil/internal/parse"
	"github.com/vigil-soc/vigil/internal/parse/charset"
	"github.com/vigil-soc/vigil/internal/parse/format"
	"github.com/vigil-soc/vigil/internal/preflight"
	"github.com/vigil-soc/vigil/internal/search"
	"github.com/vigil-soc/vigil/internal/service"
	"github.com/vigil-soc/vigil/internal/storage"
	"github.com/vigil-soc/vigil/internal/store/vlstore"
	"github.com/vigil-soc/vigil/rules"
)

const (
	serveSynopsis = "vigil serve [--config FILE] [--data DIR] [--http ADDR] [--syslog ADDR]"
	serveAbout    = `Runs the server: syslog and Kafka inputs, journal, search store, detection,
outputs and the API, until SIGTERM or SIGINT. It checks the configuration
first, as vigil config check does, and does not start when that finds a
problem (a rule file that does not load is only left out).`
	tokenFileName = "api-token"
)

// serveCmd runs the server until ctx is done.
func serveCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", serveSynopsis, serveAbout, stderr)
	cfgFile := fs.String("config", "", "YAML configuration file (default: built-in defaults, see docs/configuration.md)")
	data := fs.String("data", "", "data directory (overrides data_dir; default ./vigil-data)")
	httpAddr := fs.String("http", "", "API listen address (overrides http.addr; default 127.0.0.1:8514)")
	syslogAddr := fs.String("syslog", "", "syslog UDP+TCP listen address of the first syslog input (overrides inputs.syslog[0].addr; default 127.0.0.1:5514)")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	cfg, err := preflight.Load(*cfgFile, func(cfg *config.Config) {
		applyFlags(fs, cfg, *data, *httpAddr, *syslogAddr)
	})
	ps, _ := errors.AsType[config.Problems](err)
	if err != nil && (ps == nil || len(ps.Fatal()) > 0) {
		return err
	}
	log := newLogger(cfg.Log, stderr)
	for _, p := range ps {
		log.Warn("configuration: starting without what this concerns", "problem", p.String())
	}
	quietEngineLogs(cfg.Log.Level)
	return serve(ctx, cfg, log)
}

// applyFlags lets explicitly set flags override the file.
func applyFlags(fs *flag.FlagSet, cfg *config.Config, data, httpAddr, syslogAddr string) {
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "data":
			cfg.DataDir = data
		case "http":
			cfg.HTTP.Addr = httpAddr
		case "syslog":
			if len(cfg.Inputs.Syslog) == 0 {
				cfg.Inputs.Syslog = config.Default().Inputs.Syslog
			}
			cfg.Inputs.Syslog[0].Addr = syslogAddr
		}
	})
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: lvl}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// quietEngineLogs sets the embedded store's own logger, which is configured
// through flags it registers on flag.CommandLine, to Vigil's level (its INFO
// lines describe internals; WARN and up matter).
func quietEngineLogs(level string) {
	lvl := "WARN"
	if strings.EqualFold(level, "error") {
		lvl = "ERROR"
	}
	_ = flag.CommandLine.Set("loggerLevel", lvl)
}

// server holds the running components.
type server struct {
	cfg    config.Config
	log    *slog.Logger
	reg    *prometheus.Registry
	j      *journal.Journal
	alerts *journal.Journal // the alert journal
	st     *vlstore.Store
	// searches serves the search endpoints and the console's search page.
	searches *service.Searches
	ix       *index.Indexer
	det      *detect.Detector // nil when detection is off
	notify   *notify.Notifier
	lists    *lists.Set
	geo      *geoip.DB
	// decisions are the enforcement decisions (rules' actions, operators').
	decisions *decision.Store
	// bg ends background helpers (list reloads) at shutdown.
	bg      context.Context
	stopBg  context.CancelFunc
	inputs  []*input.Syslog
	kafka   []*kafka.Input
	outputs []*output.Runner
	// Readers of the alert journal: the store writer and the outputs
	// that take alerts (the alert channels are in notify).
	alertStore   *alert.StoreWriter
	alertOutputs []*output.Runner
	httpSrv      *http.Server
	httpLn       net.Listener
	// state holds users, sessions and the audit trail (state.db).
	state *storage.DB
	// bouncers holds the bouncer keys (bouncers_serve.go).
	bouncers *service.Bouncers
	listSvc  *service.Lists
	ruleSvc  *service.Rules
	// alertSvc lists and triages alerts and incidents (API and console).
	alertSvc *service.Alerts
	// dash serves the entity pages and the overview; its warmer runs
	// while the HTTP server does.
	dash    *service.Dashboards
	started time.Time

	// elector and alertCopy run detection through Kafka (detect.mode
	// kafka; detect_kafka.go); nil otherwise.
	elector   *kafkadetect.Elector
	alertCopy *kafkadetect.Follower
	detectOut *output.Runner
	// inputsStopped ends when the inputs are told to stop.
	inputsStopped context.Context
}

// serve starts every component, runs until ctx is done, then stops them in
// data-path order so that everything received is journaled and indexed.
func serve(ctx context.Context, cfg config.Config, log *slog.Logger) (err error) {
	s := &server{cfg: cfg, log: log, reg: prometheus.NewRegistry(), started: time.Now()}
	s.bg, s.stopBg = context.WithCancel(context.Background())
	defer s.stopBg()
	s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{Name: "vigil_build_info", Help: "Always 1; labels describe the build.",
		ConstLabels: prometheus.Labels{"version": version}})
	buildInfo.Set(1)
	s.reg.MustRegister(buildInfo)
	if g := memlimit.New(uint64(cfg.MemoryTarget), log.With("component", "memory")); g != nil {
		s.reg.MustRegister(g)
		mctx, stopMem := context.WithCancel(context.Background())
		var memWG sync.WaitGroup
		memWG.Go(func() { g.Run(mctx) })
		defer memWG.Wait()
		defer stopMem()
	}

	if err := s.open(); err != nil {
		s.closeStorage()
		return err
	}
	log.Info("vigil started", "version", version, "data", cfg.DataDir, "http", s.httpLn.Addr().String(),
		"journal_next_seq", s.j.NextSeq(), "index_position", s.ix.Position())

	// Each stage gets its own context so shutdown can stop them in order.
	inCtx, stopInputs := context.WithCancel(context.Background())
	s.inputsStopped = inCtx
	ixCtx, stopIndex := context.WithCancel(context.Background())
	alCtx, stopAlerts := context.WithCancel(context.Background())
	defer stopInputs()
	defer stopIndex()
	defer stopAlerts()
	failed := make(chan error, len(s.inputs)+len(s.kafka)+len(s.outputs)+len(s.alertOutputs)+5)

	var inWG, ixWG, alWG, httpWG sync.WaitGroup
	for _, in := range s.inputs {
		inWG.Go(func() {
			if err := in.Serve(inCtx); err != nil {
				failed <- fmt.Errorf("input: %w", err)
			}
		})
	}
	for _, in := range s.kafka {
		inWG.Go(func() {
			if err := in.Run(inCtx); err != nil {
				failed <- fmt.Errorf("kafka input: %w", err)
			}
		})
	}
	ixWG.Go(func() {
		if err := s.ix.Run(ixCtx, 30*time.Second); err != nil {
			failed <- err
		}
	})
	s.runDetectKafka(ixCtx, &ixWG, failed)
	for _, o := range s.outputs {
		ixWG.Go(func() {
			if err := o.Run(ixCtx); err != nil {
				failed <- err
			}
		})
	}
	if s.alertStore != nil {
		alWG.Go(func() {
			if err := s.alertStore.Run(alCtx, 10*time.Second); err != nil {
				failed <- err
			}
		})
	}
	for _, o := range s.alertOutputs {
		alWG.Go(func() {
			if err := o.Run(alCtx); err != nil {
				failed <- err
			}
		})
	}
	httpWG.Go(func() {
		var err error
		if cfg.HTTP.CertFile != "" {
			err = s.httpSrv.ServeTLS(s.httpLn, cfg.HTTP.CertFile, cfg.HTTP.KeyFile)
		} else {
			err = s.httpSrv.Serve(s.httpLn)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			failed <- fmt.Errorf("http: %w", err)
		}
	})

	warmCtx, stopWarm := context.WithCancel(context.Background())
	defer stopWarm()
	httpWG.Go(func() { s.dash.Warm(warmCtx) })

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case runErr = <-failed:
		log.Error("shutting down after a failure", "err", runErr)
	}

	// 1. Stop accepting queries, 2. stop inputs (they hand what they read to
	// the journal), 3. let the indexer catch up with the journal (the
	// detector records its alerts), 4. let the alert readers catch up with
	// the alert journal, 5. flush the store, then commit the cursors, 6.
	// close the journals.
	shCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	_ = s.httpSrv.Shutdown(shCtx)
	cancel()
	stopWarm()
	httpWG.Wait()
	stopInputs()
	inWG.Wait()
	stopIndex()
	ixWG.Wait()
	stopAlerts()
	alWG.Wait()
	s.stopBg()
	if s.notify != nil {
		// Alerts raised while draining go out before the process ends.
		nctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := s.notify.Close(nctx); err != nil {
			log.Warn("alert channels: not everything was delivered", "err", err)
		}
		cancel()
	}
	if err := s.closeStorage(); err != nil && runErr == nil {
		runErr = err
	}
	log.Info("stopped")
	return runErr
}

// open opens storage, then binds every listener, so that a bad address or
// an unusable data directory fails the start with a clear message.
func (s *server) open() error {
	cfg := s.cfg
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	tokens, err := s.tokens()
	if err != nil {
		return err
	}
	if s.state, err = storage.Open(filepath.Join(cfg.DataDir, storage.FileName)); err != nil {
		return err
	}
	s.j, err = journal.Open(filepath.Join(cfg.DataDir, "journal"), journal.Options{
		SegmentSize:   int64(cfg.Journal.SegmentSize),
		Fsync:         journal.FsyncPolicy(cfg.Journal.Fsync),
		FsyncInterval: cfg.Journal.FsyncInterval.D(),
		MaxAge:        cfg.Journal.MaxAge.D(),
		MaxSize:       int64(cfg.Journal.MaxSize),
		Compress:      cfg.Journal.CompressEnabled(),
		CompressLevel: journal.CompressLevel(cfg.Journal.CompressLevel),
		MinFreeDisk:   int64(cfg.Journal.MinFreeDisk),
		Logger:        s.log.With("component", "journal"),
		Registerer:    s.reg,
	})
	if err != nil {
		return err
	}
	if cfg.Detect.On() {
		// Alerts are recorded in a journal of their own, read by the
		// store, the alert channels and the outputs from their cursors.
		s.alerts, err = journal.Open(filepath.Join(cfg.DataDir, "alerts"), journal.Options{
			// Alerts are still recorded for a while after a full disk
			// paused ingest, never down to the last byte.
			MinFreeDisk:   int64(cfg.Journal.MinFreeDisk) / 2,
			SegmentSize:   8 << 20,
			Fsync:         journal.FsyncPolicy(cfg.Journal.Fsync),
			FsyncInterval: cfg.Journal.FsyncInterval.D(),
			MaxAge:        cfg.Journal.MaxAge.D(),
			MaxSize:       int64(cfg.Journal.MaxSize),
			Compress:      cfg.Journal.CompressEnabled(),
			CompressLevel: journal.CompressLevel(cfg.Journal.CompressLevel),
			Logger:        s.log.With("component", "alert-journal"),
		})
		if err != nil {
			return fmt.Errorf("alert journal: %w", err)
		}
	}
	s.st, err = vlstore.Open(vlstore.Config{
		Path:             filepath.Join(cfg.DataDir, "store"),
		Retention:        cfg.Store.Retention.D(),
		FutureLimit:      cfg.Store.FutureLimit.D(),
		MaxDiskBytes:     int64(cfg.Store.MaxDiskSize),
		MinFreeDiskBytes: int64(cfg.Store.MinFreeDisk),
		CacheBytes:       int64(cfg.Store.CacheSize),
		StreamFields:     []string{parse.FieldInput, parse.FieldHostname, parse.FieldAppName},
	}, s.reg, s.log.With("component", "store"))
	if err != nil {
		return err
	}
	if s.geo, err = openGeo(cfg); err != nil {
		return err
	}
	if s.geo != nil {
		s.watchGeo()
	}
	popts, err := parseOptions(cfg)
	if err != nil {
		return err
	}
	popts.JournalID = s.j.ID()
	popts.Geo = s.geo
	iopts := index.Options{
		Batch:          cfg.Store.FlushBatch,
		CommitInterval: cfg.Store.CommitInterval.D(),
		Parse:          popts,
	}
	iopts.Parse.OriginEventIDs = true // outputs get every event's id; the store has vigil.seq
	if cfg.Detect.On() {
		if err := s.openDetect(); err != nil {
			return err
		}
		if cfg.Detect.KafkaMode() {
			if err := s.openDetectPublisher(popts); err != nil {
				return err
			}
		} else {
			iopts.Detector = s.det
		}
	}
	if err := s.openDecisions(); err != nil {
		return err
	}
	s.ix, err = index.New(s.j, notifyStore{s.st, s}, iopts, s.reg, s.log.With("component", "index"))
	if err != nil {
		return err
	}
	for _, ic := range cfg.Inputs.Syslog {
		in, err := input.NewSyslog(input.SyslogConfig{
			Name:           ic.Name,
			Addr:           ic.Addr,
			UDP:            ic.Addr != "" && ic.UDPEnabled(),
			TCP:            ic.Addr != "" && ic.TCPEnabled(),
			TLSAddr:        ic.TLS.Addr,
			CertFile:       ic.TLS.CertFile,
			KeyFile:        ic.TLS.KeyFile,
			ClientCAFile:   ic.TLS.ClientCAFile,
			MaxMessageSize: int(ic.MaxMessageSize),
			MaxConnections: ic.MaxConnections,
			UDPReadBuffer:  int(ic.UDPReadBuffer),
			IdleTimeout:    ic.IdleTimeoutValue(),

			MaxTLSConnections:        ic.TLS.MaxConnections,
			MaxConnectionsPerAddress: ic.MaxConnectionsPerAddress,
			MaxBufferMemory:          int64(ic.MaxBufferMemory),
		}, s.j, s.reg, s.log.With("component", "input"))
		if err != nil {
			return err
		}
		if err := in.Listen(); err != nil {
			return err
		}
		s.inputs = append(s.inputs, in)
	}
	for _, oc := range cfg.Outputs.Syslog {
		snd, err := output.NewSyslog(oc, popts)
		if err != nil {
			return err
		}
		o, err := output.NewRunner(s.j, oc.Name, "syslog", snd.Target(), snd, s.reg, s.log.With("component", "output"))
		if err != nil {
			return err
		}
		s.outputs = append(s.outputs, o)
	}
	for _, oc := range cfg.Outputs.ClickHouse {
		oc.DefaultTimezone = cfg.Display.Timezone // the zone of new tables
		snd, err := output.NewClickHouse(oc, popts)
		if err != nil {
			return err
		}
		o, err := output.NewRunner(s.j, oc.Name, "clickhouse", snd.Target(), snd, s.reg, s.log.With("component", "output"))
		if err != nil {
			return err
		}
		s.outputs = append(s.outputs, o)
	}
	for _, oc := range cfg.Outputs.Kafka {
		snd, err := output.NewKafka(oc, popts)
		if err != nil {
			return err
		}
		o, err := output.NewRunner(s.j, oc.Name, "kafka", snd.Target(), snd, s.reg, s.log.With("component", "output"))
		if err != nil {
			return err
		}
		s.outputs = append(s.outputs, o)
	}
	for _, kc := range cfg.Inputs.Kafka {
		in, err := kafka.New(kc, s.kafkaAppender(), s.reg, s.log.With("component", "input", "input", kc.Name))
		if err != nil {
			return err
		}
		s.kafka = append(s.kafka, in)
	}
	hosts, err := api.NewHosts(cfg.HTTP.Addr, cfg.HTTP.AllowedHosts)
	if err != nil {
		return fmt.Errorf("http.allowed_hosts: %w", err)
	}
	searches := search.New(s.st, search.Limits{
		Timeout:       cfg.HTTP.SearchTimeout.D(),
		MaxConcurrent: cfg.HTTP.MaxConcurrentSearches,
		QueueWait:     cfg.HTTP.SearchQueueWait.D(),
		MaxBytes:      int64(cfg.HTTP.SearchMaxBytes),
	}, s.reg)
	sopt := service.SearchOptions{Raw: s.raw, JournalID: s.j.ID(),
		ExportRows: cfg.HTTP.MaxSearchLimit, Charsets: cfg.Charsets()}
	if err := s.openCluster(&sopt); err != nil { // cluster.go: the peers
		return err
	}
	s.searches = service.NewSearches(searches, sopt)
	opts := api.Options{
		Tokens:      tokens,
		MetricsAuth: cfg.HTTP.MetricsAuth,
		MaxLimit:    cfg.HTTP.MaxSearchLimit,
		Debug:       cfg.HTTP.Debug,
		Status:      s.status,
		Raw:         s.raw,
		Gatherer:    s.reg,
		Hosts:       hosts,
		Registerer:  s.reg,
		Lists:       s.listService(),
		Rules:       s.ruleService(),
		Decisions:   service.NewDecisions(s.decisions, s.state),
		Dashboards:  s.dashboards(searches),
		Searches:    s.searches,
	}
	if s.decisions != nil {
		// The bouncer API and nginx's check serve the store of openDecisions.
		s.openBouncers(&opts, s.decisions)
		if err := s.openEnforce(&opts, s.decisions); err != nil {
			return err
		}
	}
	if err := s.openConsole(&opts, searches); err != nil {
		return err
	}
	h, err := api.New(searches, opts, s.log.With("component", "api"))
	if err != nil {
		return err
	}
	s.httpLn, err = net.Listen("tcp", cfg.HTTP.Addr)
	if err != nil {
		return fmt.Errorf("http: %w", err)
	}
	s.httpSrv = &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	warnLoosePerms(s.log, privatePaths(cfg))
	return nil
}

// openConsole creates the first administrator when there is no user, and
// builds the console and the services of the API's users, audit, session
// and alert endpoints into o (the state file is open: the detector reads the
// rules' states from it).
func (s *server) openConsole(o *api.Options, searches *search.Service) error {
	if _, err := auth.EnsureAdmin(s.state, time.Now(), s.log); err != nil {
		return fmt.Errorf("console: first user: %w", err)
	}
	zone, _ := s.cfg.Display.Location() // validated by config.Load
	o.Sessions = auth.NewSessions(s.state, auth.Options{
		Idle:   s.cfg.Console.SessionIdle.D(),
		Max:    s.cfg.Console.SessionMax.D(),
		Secure: s.cfg.HTTP.CertFile != "",
	})
	o.Users = service.NewUsers(s.state, auth.Passwords{}, nil)
	o.Audit = service.NewAudit(s.state)
	s.alertSvc = service.NewAlerts(searches, s.state, service.AlertsOptions{IncidentWindow: s.cfg.Console.IncidentWindow.D()})
	o.Alerts = s.alertSvc
	con, err := console.New(console.Options{
		DB:         s.state,
		Sessions:   o.Sessions,
		Users:      o.Users,
		Audit:      o.Audit,
		Alerts:     s.alertSvc,
		Dashboards: o.Dashboards,
		Zone:       zone,
		Lang:       s.cfg.Display.Language,
		Registerer: s.reg,
		Log:        s.log.With("component", "console"),
		Lists:      s.listService(),
		Rules:      s.ruleService(),
		Searches:   s.searches,
		Decisions:  o.Decisions,
		Bouncers:   s.bouncers,
	})
	o.Console = con
	return err
}

// parseOptions returns the parser's options from the configuration.
func parseOptions(cfg config.Config) (parse.Options, error) {
	o := parse.Options{
		Location:       time.Local,
		MaxFields:      cfg.Parse.MaxFields,
		KeepJSONText:   cfg.Parse.KeepJSONText,
		FutureLimit:    cfg.Store.FutureLimit.D(),
		MaxClockSkew:   cfg.Detect.MaxClockSkew.D(),
		Formats:        map[string]string{},
		Users:          &format.Users{Domains: cfg.Parse.UserDomains},
		KeepSourceKeys: cfg.Parse.KeepSourceKeys,
		Charsets:       cfg.Charsets(),
	}
	o.Locations = map[string]*time.Location{}
	for i, in := range cfg.Inputs.Syslog {
		loc, _ := in.Location() // validated by config.Load
		if i == 0 {
			o.Location = loc
		}
		o.Locations[in.Name] = loc
		if err := parse.CheckFormat(in.Format); err != nil {
			return o, fmt.Errorf("config: inputs.syslog[%d].format: %w", i, err)
		}
		o.Formats[in.Name] = in.Format
	}
	for i, in := range cfg.Inputs.Kafka {
		if err := parse.CheckFormat(in.Format); err != nil {
			return o, fmt.Errorf("config: inputs.kafka[%d].format: %w", i, err)
		}
		o.Formats[in.Name] = in.Format
	}
	return o, nil
}

// tokens returns the configured API tokens, or the one in the token file,
// generating it on first start.
func (s *server) tokens() ([]string, error) {
	if len(s.cfg.HTTP.Tokens) > 0 {
		return s.cfg.HTTP.Tokens, nil
	}
	path := tokenPath(s.cfg)
	b, err := os.ReadFile(path)
	if err == nil {
		t := strings.TrimSpace(string(b))
		if len(t) < 16 {
			return nil, fmt.Errorf("token file %s: token shorter than 16 characters", path)
		}
		return []string{t}, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("token file: %w", err)
	}
	var raw [24]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, fmt.Errorf("generate API token: %w", err)
	}
	t := hex.EncodeToString(raw[:])
	if err := os.WriteFile(path, []byte(t+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write token file: %w", err)
	}
	s.log.Info("generated an API token; vigil search reads it from this file", "file", path)
	return []string{t}, nil
}

// openDetect loads lists, the alert channels and the rules, and restores
// the detection state.
func (s *server) openDetect() error {
	cfg := s.cfg.Detect
	log := s.log.With("component", "detect")
	var err error
	if cfg.ListsDir != "" {
		s.lists, err = lists.Load(cfg.ListsDir, lists.WithRegisterer(s.reg), lists.WithLogger(log))
		if s.lists == nil {
			return fmt.Errorf("detect.lists_dir: %w", err)
		}
		if err != nil {
			// The good files are loaded; the broken ones show in the status.
			log.Error("lists: some files do not load", "err", err)
		}
		go s.lists.Watch(s.bg, 5*time.Second)
	}
	acfg := s.cfg.Alerts
	acfg.Location, _ = s.cfg.Display.Location() // validated by config.Load
	acfg.Language = s.cfg.Display.Language
	acfg.ConsoleURL = s.cfg.HTTP.ExternalURL
	s.notify, err = notify.NewFollowing(acfg, s.alerts, s.reg, s.log.With("component", "alerts"))
	if err != nil {
		return fmt.Errorf("alerts: %w", err)
	}
	s.alertStore, err = alert.NewStoreWriter(s.alerts, s.st.Alerts(), alert.StoreWriterOptions{}, s.reg, s.log.With("component", "alert-store"))
	if err != nil {
		return err
	}
	for _, oc := range s.cfg.Outputs.ClickHouse {
		oc.DefaultTimezone = s.cfg.Display.Timezone // the zone of new tables
		w, err := output.NewClickHouseAlerts(oc, s.log.With("component", "output"))
		if err != nil {
			return err
		}
		o, err := output.NewRunner(s.alerts, oc.Name+"-alerts", "clickhouse-threat-table", w.Target(), w, s.reg, s.log.With("component", "output"))
		if err != nil {
			return err
		}
		s.alertOutputs = append(s.alertOutputs, o)
	}
	for _, oc := range s.cfg.Outputs.Kafka {
		if oc.AlertsTopic == "" {
			continue
		}
		k, err := output.NewKafkaAlerts(oc)
		if err != nil {
			return err
		}
		o, err := output.NewRunner(s.alerts, oc.Name+"-alerts", "kafka-alerts", k.Target(), k, s.reg, s.log.With("component", "output"))
		if err != nil {
			return err
		}
		s.alertOutputs = append(s.alertOutputs, o)
	}
	var builtin fs.FS
	if cfg.BuiltinOn() {
		builtin = rules.FS
	}
	states, err := s.state.RuleStates()
	if err != nil {
		return err
	}
	loc, _ := s.cfg.Display.Location() // validated by config.Load
	dopts := detect.DetectorOptions{
		Dir:             filepath.Join(s.cfg.DataDir, "detect"),
		Builtin:         builtin,
		Disable:         cfg.Disable,
		Enabled:         service.Overrides(states),
		RulesDir:        cfg.RulesDir,
		Engine:          detect.Options{Lateness: cfg.Lateness.D(), MaxClockSkew: cfg.MaxClockSkew.D(), Lists: detect.ListsOf(s.lists), Geo: s.geo, Language: s.cfg.Display.Language, Location: loc},
		Journal:         s.j,
		Charsets:        s.cfg.Charsets(),
		Alerts:          s.alerts,
		CheckpointEvery: cfg.CheckpointInterval.D(),
		Log:             log,
	}
	if cfg.KafkaMode() {
		if err := s.openDetectKafka(&dopts, log); err != nil {
			return err
		}
	}
	s.det, err = detect.NewDetector(dopts, s.reg)
	return err
}

// closeStorage flushes the store, commits the cursors of the indexer and
// the alert store writer and closes the journals, in that order.
func (s *server) closeStorage() error {
	var errs []error
	if s.st != nil {
		if err := s.st.Close(); err != nil {
			errs = append(errs, err)
		} else {
			// The store is on disk: everything added so far is safe.
			if s.ix != nil {
				errs = append(errs, s.ix.Commit())
			}
			if s.alertStore != nil {
				errs = append(errs, s.alertStore.Commit())
			}
		}
	}
	if s.ix != nil {
		errs = append(errs, s.ix.Close())
	}
	if s.alertStore != nil {
		errs = append(errs, s.alertStore.Close())
	}
	if s.j != nil {
		errs = append(errs, s.j.Close())
	}
	if s.alerts != nil {
		errs = append(errs, s.alerts.Close())
	}
	if s.state != nil {
		errs = append(errs, s.state.Close())
	}
	if s.decisions != nil {
		errs = append(errs, s.decisions.Close())
	}
	return errors.Join(errs...)
}

// listService serves the lists and the device registry to the API and
// the console (one service: it serializes the changes): the detector's
// own Set, so that a change applies to the next event.
func (s *server) listService() *service.Lists {
	if s.listSvc == nil {
		var set service.ListSet
		if s.lists != nil {
			set = s.lists
		}
		s.listSvc = service.NewLists(set, s.state, nil)
	}
	return s.listSvc
}

// ruleService serves the rule pack; nil when detection is off.
func (s *server) ruleService() *service.Rules {
	if s.det != nil && s.ruleSvc == nil {
		s.ruleSvc = service.NewRules(ruleEngine{s.det}, s.state, nil)
	}
	return s.ruleSvc
}

// status is the body of /api/v1/status.
func (s *server) status() any {
	type inputStatus struct {
		Name    string `json:"name"`
		UDP     string `json:"udp,omitempty"`
		TCP     string `json:"tcp,omitempty"`
		TLS     string `json:"tls,omitempty"`
		Charset string `json:"charset"`
	}
	var ins []inputStatus
	for i, in := range s.inputs {
		c := s.cfg.Inputs.Syslog[i]
		cs, _ := charset.Lookup(c.Charset) // validated by config.Load
		ins = append(ins, inputStatus{Name: c.Name, UDP: addrString(in.UDPAddr()), TCP: addrString(in.TCPAddr()), TLS: addrString(in.TLSAddr()), Charset: cs.String()})
	}
	js := s.j.Stats()
	next := s.j.NextSeq()
	pos := s.ix.Position()
	return map[string]any{
		"version":    version,
		"started":    s.started.UTC().Format(time.RFC3339),
		"uptime_sec": int64(time.Since(s.started).Seconds()),
		"inputs":     ins,
		"kafka":      s.kafkaStatus(),
		"outputs":    s.outputStatus(),
		"journal":    js,
		"index": map[string]any{
			"position":    pos,
			"lag_records": next - pos,
		},
		"store":  s.st.Stats(),
		"detect": s.detectStatus(),
		"geoip":  s.geoStatus(),
		// bouncers: each CrowdSec bouncer's latest pull.
		"bouncers": s.bouncerStatus(),
	}
}

// geoStatus lists the address databases in service, in lookup order.
func (s *server) geoStatus() any {
	type dbStatus struct {
		Path   string `json:"path"`
		Format string `json:"format"`
		Type   string `json:"type,omitempty"`
		Built  string `json:"built,omitempty"`
		Size   int64  `json:"size_bytes"`
	}
	out := []dbStatus{}
	for _, in := range s.geo.Infos() {
		d := dbStatus{Path: in.Path, Format: in.Format, Type: in.Type, Size: in.Size}
		if !in.Built.IsZero() {
			d.Built = in.Built.UTC().Format(time.RFC3339)
		}
		out = append(out, d)
	}
	return map[string]any{"databases": out}
}

func (s *server) outputStatus() any {
	out := make([]output.Status, 0, len(s.outputs))
	for _, o := range s.outputs {
		out = append(out, o.Status())
	}
	return out
}

func (s *server) kafkaStatus() any {
	type inputStatus struct {
		kafka.Status
		Charset string `json:"charset"`
	}
	out := make([]inputStatus, 0, len(s.kafka))
	for i, in := range s.kafka {
		cs, _ := charset.Lookup(s.cfg.Inputs.Kafka[i].Charset) // validated by config.Load
		out = append(out, inputStatus{Status: in.Status(), Charset: cs.String()})
	}
	return out
}

func (s *server) detectStatus() any {
	if s.det == nil {
		return map[string]any{"enabled": false}
	}
	st := map[string]any{"enabled": true, "engine": s.det.Status(), "alert_channels": s.notify.Status()}
	if s.elector != nil {
		st["kafka"] = s.elector.Status()
	}
	outs := make([]output.Status, 0, len(s.alertOutputs))
	for _, o := range s.alertOutputs {
		outs = append(outs, o.Status())
	}
	next := s.alerts.NextSeq()
	st["alerts"] = map[string]any{
		"journal": s.alerts.Stats(),
		"store": map[string]any{
			"position":    s.alertStore.Position(),
			"lag_records": next - s.alertStore.Position(),
		},
		"outputs": outs,
	}
	if s.lists != nil {
		st["lists"] = s.lists.Status()
	}
	return st
}

// raw calls fn for up to count journal records from seq from on.
func (s *server) raw(ctx context.Context, from uint64, count int, fn func(*journal.Record) error) error {
	if from >= s.j.NextSeq() {
		return nil
	}
	r, err := s.j.ReaderAt(from)
	if err != nil {
		return err
	}
	defer r.Close()
	end := s.j.NextSeq()
	var recs []journal.Record
	for count > 0 && r.Position() < end {
		recs, err = r.Next(ctx, recs[:0], min(count, 1024))
		if err != nil {
			return err
		}
		for i := range recs {
			if err := fn(&recs[i]); err != nil {
				return err
			}
		}
		count -= len(recs)
	}
	return nil
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}
