package server

import (
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"github.com/claude-token-monitor/ctm/internal/usage"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Log attribute keys shared by every request log line.
const (
	logKeyRequestID = "request_id"
	logKeyMethod    = "method"
	logKeyPath      = "path"
	logKeyStatus    = "status"
	logKeyDuration  = "duration"
	logKeyBytes     = "bytes"
	logKeyRoute     = "route"
)

// requestIDHeader carries the request id in both directions.
const requestIDHeader = "X-Request-ID"

// contextKey is the type of this package's context keys, so that they
// cannot collide with keys of other packages.
type contextKey int

const requestInfoKey contextKey = iota

// requestInfo is what the middleware knows about a request in flight.
type requestInfo struct {
	id     string
	logger *slog.Logger
	// route is the matched pattern, set by Mount's wrapper; "" when no
	// route matched.
	route string
}

func requestInfoFrom(ctx context.Context) *requestInfo {
	info, _ := ctx.Value(requestInfoKey).(*requestInfo)
	return info
}

// loggerFrom returns the request's logger, which carries its request id.
func loggerFrom(ctx context.Context) *slog.Logger {
	if info := requestInfoFrom(ctx); info != nil {
		return info.logger
	}
	return slog.New(slog.DiscardHandler)
}

// Logger returns the logger of the request ctx belongs to: every line it
// writes carries the request id. Mounted handlers should log through it.
func Logger(ctx context.Context) *slog.Logger { return loggerFrom(ctx) }

// middleware wraps h in the server's middleware chain, outermost first.
func (s *Server) middleware(h http.Handler) http.Handler {
	chain := []func(http.Handler) http.Handler{
		s.requestID,
		s.accessLog,
		s.recovery,
		s.hostCheck,
		s.cors,
		s.auth,
		s.limitBody,
		gzipJSON,
	}
	for _, m := range slices.Backward(chain) {
		h = m(h)
	}
	return h
}

// saneRequestID accepts client ids that are safe to log and echo: 1 to
// 128 letters, digits, '.', '_', ':' or '-'. A loop, not a regular
// expression, whose counted repetition compiled into a large program at
// every process start, also of commands that serve nothing.
func saneRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '.', c == '_', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}

// requestID accepts a sane X-Request-ID or generates one, echoes it, and
// puts a logger carrying it in the request context.
func (s *Server) requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(requestIDHeader)
		if !saneRequestID(id) {
			id = newRequestID()
		}
		w.Header().Set(requestIDHeader, id)
		info := &requestInfo{id: id, logger: s.opts.Logger.With(slog.String(logKeyRequestID, id))}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestInfoKey, info)))
	})
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}

// statusWriter records the status and size of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController and WebSocket libraries reach the
// underlying writer (Flush, Hijack, deadlines).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush forwards to the underlying writer when it can flush.
func (w *statusWriter) Flush() { _ = http.NewResponseController(w.ResponseWriter).Flush() }

// accessLog logs one line per request and feeds the HTTP metrics.
func (s *Server) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		elapsed := time.Since(start)
		status := sw.status
		if status == 0 {
			status = http.StatusOK
		}
		route := "unmatched"
		if info := requestInfoFrom(r.Context()); info != nil && info.route != "" {
			route = info.route
		}
		s.metrics.observe(route, r.Method, status, elapsed)
		loggerFrom(r.Context()).Info("http request",
			slog.String(logKeyMethod, r.Method),
			slog.String(logKeyPath, r.URL.Path),
			slog.String(logKeyRoute, route),
			slog.Int(logKeyStatus, status),
			slog.Duration(logKeyDuration, elapsed),
			slog.Int64(logKeyBytes, sw.bytes),
		)
	})
}

// recovery turns a panic into a 500 INTERNAL_ERROR whose body reveals
// nothing; the panic and stack are logged with the request id.
func (s *Server) recovery(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v) // the handler asked net/http to abort the response
			}
			loggerFrom(r.Context()).Error("panic in handler",
				slog.String("panic", fmt.Sprint(v)),
				slog.String("stack", string(debug.Stack())))
			if sw.status == 0 {
				writeErrorStatus(sw, r, http.StatusInternalServerError, codeInternalError, "internal error")
			}
		}()
		next.ServeHTTP(sw, r)
	})
}

// hostCheck rejects requests whose Host is not a loopback name when the
// server listens on loopback: a DNS-rebinding page on another site would
// otherwise read the API through the victim's browser.
func (s *Server) hostCheck(next http.Handler) http.Handler {
	if !isLoopbackHost(s.opts.Host) {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isLoopbackName(r.Host) {
			writeErrorStatus(w, r, http.StatusForbidden, codeForbidden,
				fmt.Sprintf("host %q is not allowed; use localhost or 127.0.0.1", r.Host))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// isLoopbackName reports whether a Host header names localhost, 127.0.0.1
// or [::1], with any port.
func isLoopbackName(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	} else if strings.HasPrefix(hostport, "[") && strings.HasSuffix(hostport, "]") {
		host = hostport[1 : len(hostport)-1]
	}
	switch strings.ToLower(host) {
	case "localhost", "127.0.0.1", "::1":
		return true
	}
	return false
}

// cors answers preflights and adds CORS headers for configured origins.
// With no origins configured it does nothing, so browsers enforce the
// same-origin policy.
func (s *Server) cors(next http.Handler) http.Handler {
	if len(s.opts.CORSOrigins) == 0 {
		return next
	}
	any := slices.Contains(s.opts.CORSOrigins, "*")
	allowed := func(origin string) bool {
		return any || slices.Contains(s.opts.CORSOrigins, origin)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Add("Vary", "Origin")
		preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
		if !allowed(origin) {
			if preflight {
				writeErrorStatus(w, r, http.StatusForbidden, codeForbidden,
					fmt.Sprintf("origin %q is not allowed", origin))
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		h.Set("Access-Control-Allow-Origin", origin)
		if preflight {
			h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Request-ID")
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h.Set("Access-Control-Expose-Headers", "X-Request-ID, Content-Disposition")
		next.ServeHTTP(w, r)
	})
}

// auth enforces each route's rule from the route table (see authRule)
// when a token is configured.
func (s *Server) auth(next http.Handler) http.Handler {
	if s.opts.AuthToken == "" {
		return next
	}
	// Comparing fixed-size digests keeps the comparison constant-time even
	// in the token's length.
	want := sha256.Sum256([]byte(s.opts.AuthToken))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The rule of the route table; a path no route names (or one
		// with a wildcard) needs the token.
		rule := s.authOf[r.URL.Path]
		if rule == authPublic {
			// Open to probes, but only an authenticated request learns
			// more than "alive" (see handleHealth).
			token, ok := usage.BearerToken(r.Header.Get("Authorization"))
			got := sha256.Sum256([]byte(token))
			if ok && subtle.ConstantTimeCompare(got[:], want[:]) == 1 {
				r = r.WithContext(context.WithValue(r.Context(), authenticatedKey, true))
			}
			next.ServeHTTP(w, r)
			return
		}
		if rule == authPushToken || s.isStaticFile(r) {
			next.ServeHTTP(w, r)
			return
		}
		token, ok := usage.BearerToken(r.Header.Get("Authorization"))
		if !ok && rule == authTokenOrQuery {
			// Browsers cannot set headers on a WebSocket handshake, so it
			// alone may carry the token in the query string.
			token = r.URL.Query().Get("token")
			ok = token != ""
		}
		got := sha256.Sum256([]byte(strings.TrimSpace(token)))
		if !ok || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			writeErrorStatus(w, r, http.StatusUnauthorized, codeUnauthorized,
				"missing or invalid bearer token in the Authorization header")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// authenticatedKey marks a health request that carried the auth token.
const authenticatedKey contextKey = requestInfoKey + 2

// authenticated reports whether r may see what needs the auth token: no
// token is configured, or r carried it.
func (s *Server) authenticated(r *http.Request) bool {
	ok, _ := r.Context().Value(authenticatedKey).(bool)
	return s.opts.AuthToken == "" || ok
}

// isStaticFile reports whether r reads a dashboard file: a GET or HEAD that
// only the Static catch-all serves, outside the API prefix. The files hold
// no usage data, and the page must load to ask for the token at all.
func (s *Server) isStaticFile(r *http.Request) bool {
	if s.opts.Static == nil || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		return false
	}
	if r.URL.Path == s.opts.APIPrefix || strings.HasPrefix(r.URL.Path, s.opts.APIPrefix+"/") {
		return false
	}
	_, pattern := s.mux.Handler(r)
	return pattern == "GET /"
}

// limitBody caps request bodies so that a client cannot exhaust memory.
func (s *Server) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes)
		}
		next.ServeHTTP(w, r)
	})
}

var gzipPool = sync.Pool{New: func() any {
	zw, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed) // the level is valid
	return zw
}}

// gzipJSON compresses JSON responses for clients that accept gzip.
func gzipJSON(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead || !acceptsGzip(r.Header.Get("Accept-Encoding")) {
			next.ServeHTTP(w, r)
			return
		}
		gw := &gzipWriter{ResponseWriter: w}
		defer gw.close()
		next.ServeHTTP(gw, r)
	})
}

// acceptsGzip reports whether an Accept-Encoding header allows gzip.
func acceptsGzip(header string) bool {
	for part := range strings.SplitSeq(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(name), "gzip") {
			continue
		}
		if q, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if v, err := strconv.ParseFloat(q, 64); err == nil && v == 0 {
				return false
			}
		}
		return true
	}
	return false
}

// gzipWriter decides at WriteHeader time whether to compress: only JSON
// bodies are, so downloads, metrics and upgrades pass through untouched.
type gzipWriter struct {
	http.ResponseWriter
	zw      *gzip.Writer
	decided bool
}

func (g *gzipWriter) WriteHeader(status int) {
	if !g.decided {
		g.decided = true
		h := g.Header()
		if status != http.StatusNoContent && status != http.StatusNotModified &&
			status >= http.StatusOK && h.Get("Content-Encoding") == "" &&
			strings.HasPrefix(h.Get("Content-Type"), "application/json") {
			h.Set("Content-Encoding", "gzip")
			h.Add("Vary", "Accept-Encoding")
			h.Del("Content-Length")
			g.zw = gzipPool.Get().(*gzip.Writer)
			g.zw.Reset(g.ResponseWriter)
		}
	}
	g.ResponseWriter.WriteHeader(status)
}

func (g *gzipWriter) Write(b []byte) (int, error) {
	if !g.decided {
		g.WriteHeader(http.StatusOK)
	}
	if g.zw != nil {
		return g.zw.Write(b)
	}
	return g.ResponseWriter.Write(b)
}

// Flush flushes compressed data, then the underlying writer.
func (g *gzipWriter) Flush() {
	if g.zw != nil {
		_ = g.zw.Flush()
	}
	_ = http.NewResponseController(g.ResponseWriter).Flush()
}

// Unwrap exposes the underlying writer (Hijack for WebSocket upgrades).
func (g *gzipWriter) Unwrap() http.ResponseWriter { return g.ResponseWriter }

func (g *gzipWriter) close() {
	if g.zw == nil {
		return
	}
	_ = g.zw.Close()
	g.zw.Reset(io.Discard)
	gzipPool.Put(g.zw)
	g.zw = nil
}

// Compile-time checks that the wrappers keep the optional interfaces the
// WebSocket hook needs reachable.
var (
	_ http.Flusher = (*statusWriter)(nil)
	_ http.Flusher = (*gzipWriter)(nil)
)
