package server

import (
	"cmp"
	"context"
	"math"
	"net/http"
	"runtime"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// The metrics are written in the Prometheus text exposition format
// (version 0.0.4) by the few lines below rather than by the Prometheus
// client library: the server needs counters, one histogram and figures
// read at scrape time, and the library's package initialisation (its
// default registry, protobuf descriptors, procfs) cost every ctm process
// about half a millisecond, also the short commands that serve nothing.

// durationBuckets are the upper bounds of the latency histogram, in
// seconds. API reads aim for p99 < 10ms; resolve that range finely.
var durationBuckets = [...]float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}

// metrics holds the server's request counts; everything else is read when
// /metrics is scraped. Each server has its own, so several servers (and
// tests) can coexist.
type metrics struct {
	s *Server

	mu       sync.Mutex
	requests map[requestKey]uint64
	duration map[routeKey]*histogram
}

type routeKey struct{ route, method string }

type requestKey struct {
	routeKey
	status int
}

// histogram counts observations per bucket (not cumulative; the writer
// sums them) and holds their sum.
type histogram struct {
	buckets [len(durationBuckets)]uint64
	count   uint64
	sum     float64
}

func newMetrics(s *Server) *metrics {
	return &metrics{s: s, requests: map[requestKey]uint64{}, duration: map[routeKey]*histogram{}}
}

// observe records one served request. Routes are patterns, never raw
// paths, and unknown methods are folded, so label cardinality stays small.
func (m *metrics) observe(route, method string, status int, elapsed time.Duration) {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodPatch, http.MethodDelete, http.MethodOptions:
	default:
		method = "OTHER"
	}
	k := routeKey{route, method}
	sec := elapsed.Seconds()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.requests[requestKey{k, status}]++
	h := m.duration[k]
	if h == nil {
		h = &histogram{}
		m.duration[k] = h
	}
	if i, _ := slices.BinarySearch(durationBuckets[:], sec); i < len(h.buckets) {
		h.buckets[i]++ // the first bound >= sec: bounds are inclusive
	}
	h.count++
	h.sum += sec
}

func (m *metrics) handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var e exposition
		// The store's figures come first: when they fail, the scrape
		// fails as a whole rather than showing a partial picture.
		if err := m.writeUsage(r.Context(), &e); err != nil {
			http.Error(w, "collect metrics: "+err.Error(), http.StatusInternalServerError)
			return
		}
		m.writeRequests(&e)
		if h := m.s.hub; h != nil {
			e.family("ctm_websocket_clients", "gauge", "WebSocket clients connected.")
			e.sample("ctm_websocket_clients", float64(h.Clients()))
			e.family("ctm_websocket_clients_dropped_total", "counter", "WebSocket clients dropped because their send queue was full.")
			e.sample("ctm_websocket_clients_dropped_total", float64(h.Dropped()))
		}
		writeRuntime(&e)
		writeProcess(&e)
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		w.Write(e.b)
	})
}

// writeUsage reads the store at scrape time, so the metrics are the same
// figures as the API, never a second count kept in memory.
func (m *metrics) writeUsage(ctx context.Context, e *exposition) error {
	// Bound the store queries so a stuck database cannot pile up scrapes.
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	all, err := m.s.views(ctx).AllTime(ctx)
	if err != nil {
		return err
	}
	e.family("ctm_tokens_total", "counter",
		"Tokens recorded, by model and type (input, output, cache_creation_5m, cache_creation_1h, cache_read).")
	for _, g := range all.Models {
		for _, kv := range []struct {
			typ string
			n   int64
		}{
			{"input", g.Input},
			{"output", g.Output},
			{"cache_creation_5m", g.CacheCreation5m},
			{"cache_creation_1h", g.CacheCreation1h},
			{"cache_read", g.CacheRead},
		} {
			e.sample("ctm_tokens_total", float64(kv.n), "model", g.Model, "type", kv.typ)
		}
	}
	e.family("ctm_cost_usd_total", "counter", "Cost in USD of the recorded tokens, by model; unpriced models count 0.")
	for _, g := range all.Models {
		e.sample("ctm_cost_usd_total", g.CostUSD.USD(), "model", g.Model)
	}
	e.family("ctm_records_total", "counter", "Distinct API responses recorded.")
	e.sample("ctm_records_total", float64(all.Entries))
	last := all.Last
	if m.s.opts.LastIngest != nil {
		last = m.s.opts.LastIngest()
	}
	if !last.IsZero() {
		e.family("ctm_ingest_lag_seconds", "gauge", "Seconds since the last ingest (or, without one, since the newest record).")
		e.sample("ctm_ingest_lag_seconds", m.s.opts.Now().Sub(last).Seconds())
	}
	return nil
}

// writeRequests writes the request counts and latencies, sorted by their
// labels so that the same counts always read the same.
func (m *metrics) writeRequests(e *exposition) {
	m.mu.Lock()
	reqs := make([]requestKey, 0, len(m.requests))
	counts := make(map[requestKey]uint64, len(m.requests))
	for k, n := range m.requests {
		reqs = append(reqs, k)
		counts[k] = n
	}
	routes := make([]routeKey, 0, len(m.duration))
	hists := make(map[routeKey]histogram, len(m.duration))
	for k, h := range m.duration {
		routes = append(routes, k)
		hists[k] = *h
	}
	m.mu.Unlock()

	// Labels print in name order (method, route, status), and so sort.
	slices.SortFunc(reqs, func(a, b requestKey) int {
		return cmp.Or(cmpRoute(a.routeKey, b.routeKey), cmp.Compare(a.status, b.status))
	})
	slices.SortFunc(routes, cmpRoute)
	e.family("ctm_http_requests_total", "counter", "HTTP requests served, by route pattern, method and status.")
	for _, k := range reqs {
		e.sample("ctm_http_requests_total", float64(counts[k]), "method", k.method, "route", k.route, "status", strconv.Itoa(k.status))
	}
	const name = "ctm_http_request_duration_seconds"
	e.family(name, "histogram", "HTTP request latency, by route pattern and method.")
	for _, k := range routes {
		h := hists[k]
		var cum uint64
		for i, bound := range durationBuckets {
			cum += h.buckets[i]
			e.sample(name+"_bucket", float64(cum), "method", k.method, "route", k.route, "le", formatFloat(bound))
		}
		e.sample(name+"_bucket", float64(h.count), "method", k.method, "route", k.route, "le", "+Inf")
		e.sample(name+"_sum", h.sum, "method", k.method, "route", k.route)
		e.sample(name+"_count", float64(h.count), "method", k.method, "route", k.route)
	}
}

// cmpRoute orders by method, then route: the labels' name order.
func cmpRoute(a, b routeKey) int {
	return cmp.Or(strings.Compare(a.method, b.method), strings.Compare(a.route, b.route))
}

// runtimeSamples are the runtime/metrics figures that MemStats lacks.
var runtimeSamples = []string{"/gc/gogc:percent", "/gc/gomemlimit:bytes", "/sched/gomaxprocs:threads"}

// writeRuntime writes the Go runtime's figures under the names (and with
// the meaning) that Prometheus' Go collector gives them, so that existing
// dashboards keep working.
func writeRuntime(e *exposition) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	gc := debug.GCStats{PauseQuantiles: make([]time.Duration, 5)}
	debug.ReadGCStats(&gc)
	rs := make([]rtmetrics.Sample, len(runtimeSamples))
	for i, name := range runtimeSamples {
		rs[i].Name = name
	}
	rtmetrics.Read(rs)

	e.family("go_gc_duration_seconds", "summary", "A summary of the wall-time pause (stop-the-world) duration in garbage collection cycles.")
	for i, q := range []string{"0", "0.25", "0.5", "0.75", "1"} {
		e.sample("go_gc_duration_seconds", gc.PauseQuantiles[i].Seconds(), "quantile", q)
	}
	e.sample("go_gc_duration_seconds_sum", gc.PauseTotal.Seconds())
	e.sample("go_gc_duration_seconds_count", float64(gc.NumGC))
	gauge := func(name, help string, v float64) {
		e.family(name, "gauge", help)
		e.sample(name, v)
	}
	counter := func(name, help string, v float64) {
		e.family(name, "counter", help)
		e.sample(name, v)
	}
	for i, name := range []string{"go_gc_gogc_percent", "go_gc_gomemlimit_bytes", "go_sched_gomaxprocs_threads"} {
		if v := rs[i].Value; v.Kind() == rtmetrics.KindUint64 {
			gauge(name, "Sourced from "+runtimeSamples[i]+".", float64(v.Uint64()))
		}
	}
	gauge("go_goroutines", "Number of goroutines that currently exist.", float64(runtime.NumGoroutine()))
	threads, _ := runtime.ThreadCreateProfile(nil)
	gauge("go_threads", "Number of OS threads created.", float64(threads))
	e.family("go_info", "gauge", "Information about the Go environment.")
	e.sample("go_info", 1, "version", runtime.Version())
	gauge("go_memstats_alloc_bytes", "Number of bytes allocated in heap and currently in use.", float64(ms.HeapAlloc))
	counter("go_memstats_alloc_bytes_total", "Total number of bytes allocated in heap until now, even if released already.", float64(ms.TotalAlloc))
	gauge("go_memstats_buck_hash_sys_bytes", "Number of bytes used by the profiling bucket hash table.", float64(ms.BuckHashSys))
	counter("go_memstats_frees_total", "Total number of heap objects frees.", float64(ms.Frees))
	gauge("go_memstats_gc_sys_bytes", "Number of bytes used for garbage collection system metadata.", float64(ms.GCSys))
	gauge("go_memstats_heap_alloc_bytes", "Number of heap bytes allocated and currently in use, same as go_memstats_alloc_bytes.", float64(ms.HeapAlloc))
	gauge("go_memstats_heap_idle_bytes", "Number of heap bytes waiting to be used.", float64(ms.HeapIdle))
	gauge("go_memstats_heap_inuse_bytes", "Number of heap bytes that are in use.", float64(ms.HeapInuse))
	gauge("go_memstats_heap_objects", "Number of currently allocated objects.", float64(ms.HeapObjects))
	gauge("go_memstats_heap_released_bytes", "Number of heap bytes released to OS.", float64(ms.HeapReleased))
	gauge("go_memstats_heap_sys_bytes", "Number of heap bytes obtained from system.", float64(ms.HeapSys))
	gauge("go_memstats_last_gc_time_seconds", "Number of seconds since 1970 of last garbage collection.", float64(ms.LastGC)/1e9)
	counter("go_memstats_mallocs_total", "Total number of heap objects allocated, both live and gc-ed.", float64(ms.Mallocs))
	gauge("go_memstats_mcache_inuse_bytes", "Number of bytes in use by mcache structures.", float64(ms.MCacheInuse))
	gauge("go_memstats_mcache_sys_bytes", "Number of bytes used for mcache structures obtained from system.", float64(ms.MCacheSys))
	gauge("go_memstats_mspan_inuse_bytes", "Number of bytes in use by mspan structures.", float64(ms.MSpanInuse))
	gauge("go_memstats_mspan_sys_bytes", "Number of bytes used for mspan structures obtained from system.", float64(ms.MSpanSys))
	gauge("go_memstats_next_gc_bytes", "Number of heap bytes when next garbage collection will take place.", float64(ms.NextGC))
	gauge("go_memstats_other_sys_bytes", "Number of bytes used for other system allocations.", float64(ms.OtherSys))
	gauge("go_memstats_stack_inuse_bytes", "Number of bytes in use by the stack allocator.", float64(ms.StackInuse))
	gauge("go_memstats_stack_sys_bytes", "Number of bytes obtained from system for stack allocator.", float64(ms.StackSys))
	gauge("go_memstats_sys_bytes", "Number of bytes obtained from system.", float64(ms.Sys))
}

// processStart is when the process started, near enough: package
// variables are set before main runs.
var processStart = time.Now()

// writeProcess writes the process figures that every platform has; the
// operating system's own (memory, file descriptors) follow where it has
// them (processOS).
func writeProcess(e *exposition) {
	e.family("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.")
	e.sample("process_start_time_seconds", float64(processStart.UnixMilli())/1e3)
	for _, f := range processOS() {
		e.family(f.name, f.typ, f.help)
		e.sample(f.name, f.value)
	}
}

// processFigure is one process metric read from the operating system.
type processFigure struct {
	name, typ, help string
	value           float64
}

// exposition is a metrics page being written.
type exposition struct {
	b []byte
	// header is the family whose HELP and TYPE lines wait for its first
	// sample: a family without samples is left out, as Prometheus expects.
	header []byte
}

// family starts a metric family.
func (e *exposition) family(name, typ, help string) {
	e.header = append(e.header[:0], "# HELP "...)
	e.header = append(e.header, name...)
	e.header = append(e.header, ' ')
	e.header = appendEscaped(e.header, help, false)
	e.header = append(e.header, "\n# TYPE "...)
	e.header = append(e.header, name...)
	e.header = append(e.header, ' ')
	e.header = append(e.header, typ...)
	e.header = append(e.header, '\n')
}

// sample writes one sample of the current family; labels are name and
// value pairs, in name order. A sample with a label value that is not
// UTF-8 (a model id from bad data) is left out rather than written as an
// invalid page.
func (e *exposition) sample(name string, v float64, labels ...string) {
	for i := 1; i < len(labels); i += 2 {
		if !utf8.ValidString(labels[i]) {
			return
		}
	}
	if len(e.header) > 0 {
		e.b = append(e.b, e.header...)
		e.header = e.header[:0]
	}
	e.b = append(e.b, name...)
	if len(labels) > 0 {
		e.b = append(e.b, '{')
		for i := 0; i+1 < len(labels); i += 2 {
			if i > 0 {
				e.b = append(e.b, ',')
			}
			e.b = append(e.b, labels[i]...)
			e.b = append(e.b, '=', '"')
			e.b = appendEscaped(e.b, labels[i+1], true)
			e.b = append(e.b, '"')
		}
		e.b = append(e.b, '}')
	}
	e.b = append(e.b, ' ')
	e.b = append(e.b, formatFloat(v)...)
	e.b = append(e.b, '\n')
}

// appendEscaped escapes a backslash and a newline, and in a label value a
// double quote, as the text format requires.
func appendEscaped(b []byte, s string, quote bool) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b = append(b, `\\`...)
		case c == '\n':
			b = append(b, `\n`...)
		case c == '"' && quote:
			b = append(b, `\"`...)
		default:
			b = append(b, c)
		}
	}
	return b
}

// formatFloat formats v as the text format (and Prometheus' own client)
// does: the shortest form that reads back the same, and +Inf, -Inf, NaN.
func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
