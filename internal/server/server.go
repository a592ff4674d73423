// Package server serves the Claude Token Monitor JSON API, the WebSocket
// feed, the Prometheus metrics endpoint, (optionally) the dashboard and,
// on a team server, the team ingest and OTLP routes over HTTP. One route
// table (routeTable) lists every route with its auth rule and its OpenAPI
// description. Its handlers parse parameters, call a view of package views
// (the ones the CLI and the MCP server call) and write the envelope, so
// the API and the CLI always agree; the package sums nothing itself.
package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// StatsCacheReader reads Claude Code's stats-cache.json. fresh is false when
// the returned copy is an older good copy kept because the current file is
// partial or unreadable. An error wrapping fs.ErrNotExist, or an
// ENOTFOUND usage error, means there is no stats cache at all.
type StatsCacheReader interface {
	Read() (sc *usage.StatsCache, fresh bool, err error)
}

// Options configures a Server. Store and Pricer are required; every other
// field has a usable zero value.
type Options struct {
	Store  usage.Store
	Pricer usage.Pricer
	// DisplayName returns a human name for a model id; nil uses the id.
	DisplayName func(model string) string
	Logger      *slog.Logger
	// Location is the time zone of days, hours and weeks; nil means UTC.
	Location *time.Location

	// Host and Port are the listen address; Host defaults to 127.0.0.1 and
	// Port 0 picks a free port.
	Host string
	Port int
	// APIPrefix is the path prefix of the JSON API, default /api/v1.
	APIPrefix string
	// CORSOrigins lists the origins allowed to call the API from a
	// browser; "*" allows any. Empty turns CORS off.
	CORSOrigins []string
	// AuthToken, when set, is required as "Authorization: Bearer <token>"
	// on every route except health.
	AuthToken string
	// AllowRemote allows a non-loopback Host without AuthToken.
	AllowRemote bool
	// MaxBodyBytes limits request bodies; default 1 MiB.
	MaxBodyBytes int64

	Version      string
	DatabasePath string
	// Database names the kind of store, "sqlite" or "postgresql", for
	// /health and /config; DatabasePath is left empty for PostgreSQL,
	// whose URL holds credentials.
	Database string
	// DataSources are the Claude data directories, reported by health.
	DataSources []string
	// StatsCache may be nil when no stats cache is read.
	StatsCache StatsCacheReader

	// SnapshotInterval is the period of RunSnapshots; default 30m.
	SnapshotInterval time.Duration
	// RetentionDays is how long snapshots are kept; default 90.
	RetentionDays int

	// WatchMode, when set, returns how data files are watched for live
	// updates ("fsnotify" or "polling"); health reports it.
	WatchMode func() string

	// LastIngest returns when the ingester last stored records; it drives
	// the ingest-lag metric. nil uses the newest record timestamp.
	LastIngest func() time.Time

	// CacheTTL is how long read responses are reused (see Invalidate);
	// 0 means DefaultCacheTTL and a negative value turns the cache off.
	CacheTTL time.Duration

	// Static, when set, is served at "/" (the dashboard). Its files hold
	// no usage data, so they load without AuthToken; the page asks for
	// the token when the API answers 401.
	Static fs.FS

	// Limits are the per-block limits of the blocks views and alerts, as
	// usage.NewLimits builds them from a plan and overrides; the zero
	// value sets none.
	Limits usage.Limits

	// WebSocket, when set, serves the live feed at APIPrefix + "/ws" from
	// a hub that the server creates with these options and owns (see Hub
	// and Close). A nil Stats sends the /stats summary (StatsSummary).
	WebSocket *HubOptions

	// Team, when set, serves the two routes of a team server, which take a
	// team user's push token as well as AuthToken: POST APIPrefix +
	// "/ingest" (records sent by ctm push) and POST /v1/logs (Claude
	// Code's OTLP telemetry). Store must be a usage.TeamStore.
	Team bool

	// Budgets are the cost budgets GET /budgets reports (BUDGETS_FILE).
	Budgets []usage.Budget

	// OnChange, when set, is called after every change the server learns
	// of (see Changed), on the goroutine that made it; it must not block.
	// Budgets are checked from it.
	OnChange func()

	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Server is the HTTP API server. Create it with New, start it with Open and
// stop it with Close; or use Handler with httptest.
type Server struct {
	// opts are the options New was given, with defaults filled in.
	opts    Options
	started time.Time

	mux *http.ServeMux
	// table is every route served, in the order mounted, with its auth
	// rule; authOf indexes the rules by path for the auth middleware.
	table   []route
	authOf  map[string]authRule
	handler http.Handler
	metrics *metrics
	cache   *respCache // nil when off
	// hub is the WebSocket feed's hub, nil without Options.WebSocket.
	hub *Hub

	// blocks holds the state of NotifyBlocks and of the "max" token limit
	// (see blocks.go).
	blocks blockState

	openAPIOnce sync.Once
	openAPIDoc  []byte
	openAPIErr  error

	mu       sync.Mutex
	ln       net.Listener
	srv      *http.Server
	serveErr chan error
}

// Default values of Options fields.
const (
	DefaultAPIPrefix        = "/api/v1"
	DefaultHost             = "127.0.0.1"
	DefaultMaxBodyBytes     = 1 << 20
	DefaultSnapshotInterval = 30 * time.Minute
	DefaultRetentionDays    = 90
)

// New validates opts and builds a Server. It refuses a non-loopback Host
// without AuthToken unless AllowRemote is set, because the API would expose
// a user's usage to the network.
func New(opts Options) (*Server, error) {
	if opts.Store == nil {
		return nil, errors.New("server: Store is required")
	}
	if opts.Pricer == nil {
		return nil, errors.New("server: Pricer is required")
	}
	if opts.Host == "" {
		opts.Host = DefaultHost
	}
	if opts.Port < 0 || opts.Port > 65535 {
		return nil, fmt.Errorf("server: port %d is out of range 0..65535", opts.Port)
	}
	if !isLoopbackHost(opts.Host) && opts.AuthToken == "" && !opts.AllowRemote {
		return nil, fmt.Errorf("server: refusing to listen on non-loopback host %q without an auth token; set AUTH_TOKEN or allow remote access explicitly", opts.Host)
	}
	if opts.APIPrefix == "" {
		opts.APIPrefix = DefaultAPIPrefix
	}
	opts.APIPrefix = "/" + strings.Trim(opts.APIPrefix, "/")
	if opts.APIPrefix == "/" || strings.ContainsAny(opts.APIPrefix, " {}") {
		return nil, fmt.Errorf("server: invalid API prefix %q", opts.APIPrefix)
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.SnapshotInterval <= 0 {
		opts.SnapshotInterval = DefaultSnapshotInterval
	}
	if opts.RetentionDays <= 0 {
		opts.RetentionDays = DefaultRetentionDays
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Location == nil {
		opts.Location = time.UTC
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.DisplayName == nil {
		opts.DisplayName = func(m string) string { return m }
	}
	if _, ok := opts.Store.(usage.TeamStore); opts.Team && !ok {
		return nil, errors.New("server: team routes need a team store (PostgreSQL)")
	}
	if opts.CacheTTL == 0 {
		opts.CacheTTL = DefaultCacheTTL
	}
	s := &Server{
		opts:   opts,
		mux:    http.NewServeMux(),
		authOf: map[string]authRule{},
	}
	s.started = s.opts.Now()
	if s.opts.CacheTTL > 0 {
		s.cache = newRespCache(s.opts.CacheTTL)
	}
	s.metrics = newMetrics(s)
	if opts.WebSocket != nil {
		ho := *opts.WebSocket
		if ho.Stats == nil {
			ho.Stats = s.StatsSummary
		}
		if ho.Logger == nil {
			ho.Logger = opts.Logger
		}
		s.hub = newHub(ho)
	}
	for _, rt := range s.routeTable() {
		s.mountRoute(rt)
	}
	s.handler = s.middleware(http.HandlerFunc(s.dispatch))
	return s, nil
}

// APIPrefix returns the normalised API path prefix, e.g. "/api/v1".
func (s *Server) APIPrefix() string { return s.opts.APIPrefix }

// Handler returns the server's complete handler, middleware included.
func (s *Server) Handler() http.Handler { return s.handler }

// dispatch routes a request, answering unknown paths and wrong methods with
// the JSON error envelope instead of ServeMux's plain-text replies.
func (s *Server) dispatch(w http.ResponseWriter, r *http.Request) {
	if _, pattern := s.mux.Handler(r); pattern != "" {
		s.mux.ServeHTTP(w, r)
		return
	}
	// Let the mux decide between 404 and 405 without writing its body.
	probe := &probeWriter{header: http.Header{}}
	s.mux.ServeHTTP(probe, r)
	if probe.status == http.StatusMethodNotAllowed {
		if allow := probe.header.Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
		}
		writeErrorStatus(w, r, http.StatusMethodNotAllowed, codeMethodNotAllowed,
			fmt.Sprintf("method %s is not allowed on %s", r.Method, r.URL.Path))
		return
	}
	writeError(w, r, usage.Errorf(usage.ENOTFOUND, "no route for %s %s", r.Method, r.URL.Path))
}

// probeWriter records the status ServeMux would send, discarding the body.
type probeWriter struct {
	header http.Header
	status int
}

func (p *probeWriter) Header() http.Header         { return p.header }
func (p *probeWriter) Write(b []byte) (int, error) { return len(b), nil }
func (p *probeWriter) WriteHeader(status int)      { p.status = status }

// Open listens on Host:Port and serves in a goroutine until Close.
func (s *Server) Open() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		return errors.New("server: already open")
	}
	addr := net.JoinHostPort(s.opts.Host, strconv.Itoa(s.opts.Port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	s.ln = ln
	s.srv = &http.Server{
		Handler: s.handler,
		// ReadHeaderTimeout stops slowloris clients from holding
		// connections open with a trickle of header bytes.
		ReadHeaderTimeout: 5 * time.Second,
		// ReadTimeout bounds slow request bodies; bodies are at most
		// MaxBodyBytes so 30s is generous.
		ReadTimeout: 30 * time.Second,
		// WriteTimeout bounds a response to a client that stops reading.
		// It does not cut WebSocket connections: net/http clears
		// deadlines when a connection is hijacked.
		WriteTimeout: 60 * time.Second,
		// IdleTimeout closes idle keep-alive connections so they do not
		// pile up.
		IdleTimeout:    120 * time.Second,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(s.opts.Logger.Handler(), slog.LevelWarn),
	}
	s.serveErr = make(chan error, 1)
	go func(srv *http.Server, ln net.Listener, done chan<- error) {
		err := srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		done <- err
	}(s.srv, ln, s.serveErr)
	s.opts.Logger.Info("http server listening", slog.String("url", s.urlLocked()))
	return nil
}

// URL returns the base URL of the open server, e.g. http://127.0.0.1:51888,
// or "" before Open.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.urlLocked()
}

func (s *Server) urlLocked() string {
	if s.ln == nil {
		return ""
	}
	return "http://" + s.ln.Addr().String()
}

// listenPort returns the bound TCP port, or 0 before Open.
func (s *Server) listenPort() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return 0
	}
	if a, ok := s.ln.Addr().(*net.TCPAddr); ok {
		return a.Port
	}
	return 0
}

// Close ends the WebSocket feed's connections, then shuts the server down
// gracefully, waiting for in-flight requests until ctx is done, then
// closes remaining connections. The hub goes first: Shutdown does not
// wait for upgraded connections.
func (s *Server) Close(ctx context.Context) error {
	if s.hub != nil {
		s.hub.Close()
	}
	s.mu.Lock()
	srv, done := s.srv, s.serveErr
	s.srv, s.ln = nil, nil
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	err := srv.Shutdown(ctx)
	if err != nil {
		// Shutdown gave up waiting: cut the stragglers.
		err = errors.Join(err, srv.Close())
	}
	if serr := <-done; serr != nil {
		err = errors.Join(err, serr)
	}
	return err
}

// isLoopbackHost reports whether host names the loopback interface only.
func isLoopbackHost(host string) bool {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
