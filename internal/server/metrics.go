package server

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics holds the server's own Prometheus registry; nothing is
// registered globally, so several servers (and tests) can coexist.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(s *Server) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ctm_http_requests_total",
			Help: "HTTP requests served, by route pattern, method and status.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ctm_http_request_duration_seconds",
			Help: "HTTP request latency, by route pattern and method.",
			// API reads aim for p99 < 10ms; resolve that range finely.
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route", "method"}),
	}
	m.reg.MustRegister(
		m.requests,
		m.duration,
		&usageCollector{s: s},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
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
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(route, method).Observe(elapsed.Seconds())
}

// usageCollector reads the store at scrape time, so the metrics are the
// same figures as the API, never a second count kept in memory.
type usageCollector struct {
	s *Server
}

var (
	tokensDesc = prometheus.NewDesc("ctm_tokens_total",
		"Tokens recorded, by model and type (input, output, cache_creation_5m, cache_creation_1h, cache_read).",
		[]string{"model", "type"}, nil)
	costDesc = prometheus.NewDesc("ctm_cost_usd_total",
		"Cost in USD of the recorded tokens, by model; unpriced models count 0.",
		[]string{"model"}, nil)
	recordsDesc = prometheus.NewDesc("ctm_records_total",
		"Distinct API responses recorded.", nil, nil)
	lagDesc = prometheus.NewDesc("ctm_ingest_lag_seconds",
		"Seconds since the last ingest (or, without one, since the newest record).", nil, nil)
)

// Describe implements prometheus.Collector.
func (c *usageCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- tokensDesc
	ch <- costDesc
	ch <- recordsDesc
	ch <- lagDesc
}

// Collect implements prometheus.Collector.
func (c *usageCollector) Collect(ch chan<- prometheus.Metric) {
	// A scrape has no context; bound the store queries so a stuck
	// database cannot pile up scrapes.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	all, err := c.s.views(ctx).AllTime(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(tokensDesc, err)
		return
	}
	for _, m := range all.Models {
		for _, kv := range []struct {
			typ string
			n   int64
		}{
			{"input", m.Input},
			{"output", m.Output},
			{"cache_creation_5m", m.CacheCreation5m},
			{"cache_creation_1h", m.CacheCreation1h},
			{"cache_read", m.CacheRead},
		} {
			emit(ch, tokensDesc, prometheus.CounterValue, float64(kv.n), m.Model, kv.typ)
		}
		emit(ch, costDesc, prometheus.CounterValue, m.CostUSD.USD(), m.Model)
	}
	emit(ch, recordsDesc, prometheus.CounterValue, float64(all.Entries))
	last := all.Last
	if c.s.opts.LastIngest != nil {
		last = c.s.opts.LastIngest()
	}
	if !last.IsZero() {
		emit(ch, lagDesc, prometheus.GaugeValue, c.s.opts.Now().Sub(last).Seconds())
	}
}

// emit sends a constant metric, skipping one whose labels are invalid (a
// model id that is not UTF-8) rather than panicking on bad data.
func emit(ch chan<- prometheus.Metric, d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) {
	if m, err := prometheus.NewConstMetric(d, t, v, labels...); err == nil {
		ch <- m
	}
}

// hubCollector exports the WebSocket hub's clients and the clients it
// dropped for being too slow.
type hubCollector struct{ h *Hub }

var (
	wsClientsDesc = prometheus.NewDesc("ctm_websocket_clients",
		"WebSocket clients connected.", nil, nil)
	wsDroppedDesc = prometheus.NewDesc("ctm_websocket_clients_dropped_total",
		"WebSocket clients dropped because their send queue was full.", nil, nil)
)

func (c hubCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- wsClientsDesc
	ch <- wsDroppedDesc
}

func (c hubCollector) Collect(ch chan<- prometheus.Metric) {
	emit(ch, wsClientsDesc, prometheus.GaugeValue, float64(c.h.Clients()))
	emit(ch, wsDroppedDesc, prometheus.CounterValue, float64(c.h.Dropped()))
}
