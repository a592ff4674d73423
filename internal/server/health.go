package server

import (
	"net/http"
	"os"
	"time"

	"github.com/claude-token-monitor/ctm/internal/httpapi"
)

// dataSource is one Claude data directory as health sees it.
type dataSource struct {
	Path         string     `json:"path"`
	Exists       bool       `json:"exists"`
	LastModified *time.Time `json:"last_modified,omitempty"`
}

// databaseHealth reports the store.
type databaseHealth struct {
	Status string `json:"status" enum:"connected,error"`
	// Kind is the store: sqlite or postgresql.
	Kind string `json:"kind,omitempty" enum:"sqlite,postgresql"`
	// Path is the SQLite file; absent for PostgreSQL.
	Path string `json:"path,omitempty"`
	// LatestRecord is the newest stored record's timestamp.
	LatestRecord *time.Time `json:"latest_record,omitempty"`
}

// healthResponse is the body of GET /health.
type healthResponse struct {
	Status        string         `json:"status" enum:"healthy,degraded,unhealthy"`
	Version       string         `json:"version"`
	UptimeSeconds int64          `json:"uptime_seconds"`
	DataSources   []dataSource   `json:"data_sources"`
	Database      databaseHealth `json:"database"`
	StatsCache    string         `json:"stats_cache" enum:"ok,stale,absent,unreadable"`
	// WatchMode is how data files are watched for live updates.
	WatchMode string `json:"watch_mode,omitempty" enum:"fsnotify,polling"`
	// Problems says why the status is not healthy.
	Problems []string `json:"problems"`
}

// aliveResponse is the body of GET /health for a request without the
// auth token, when one is configured.
type aliveResponse struct {
	Status string `json:"status" enum:"alive"`
}

// handleHealth reports unhealthy (503) when the store fails, degraded when
// no data directory exists or the stats cache is stale or unreadable.
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	if !s.authenticated(r) {
		// Without the token a probe learns only that the process
		// answers: no paths, version or activity.
		writeJSON(w, r, aliveResponse{Status: "alive"})
		return
	}
	resp := healthResponse{
		Status:        "healthy",
		Version:       s.opts.Version,
		UptimeSeconds: int64(s.opts.Now().Sub(s.started) / time.Second),
		DataSources:   make([]dataSource, 0, len(s.opts.DataSources)),
		Database:      databaseHealth{Status: "connected", Kind: s.opts.Database, Path: s.opts.DatabasePath},
		StatsCache:    s.statsCacheStatus(),
		Problems:      []string{},
	}
	if s.opts.WatchMode != nil {
		resp.WatchMode = s.opts.WatchMode()
	}
	anyExists := false
	for _, dir := range s.opts.DataSources {
		ds := dataSource{Path: dir}
		if fi, err := os.Stat(dir); err == nil {
			ds.Exists = true
			ds.LastModified = s.timeOrNil(fi.ModTime())
			anyExists = true
		}
		resp.DataSources = append(resp.DataSources, ds)
	}
	if len(s.opts.DataSources) > 0 && !anyExists {
		resp.Status = "degraded"
		resp.Problems = append(resp.Problems, "no Claude data directory exists")
	}
	if resp.StatsCache == "stale" || resp.StatsCache == "unreadable" {
		resp.Status = "degraded"
		resp.Problems = append(resp.Problems, "stats-cache.json is partial or unreadable")
	}
	latest, err := s.store().LatestTimestamp(r.Context())
	if err != nil {
		loggerFrom(r.Context()).Error("health: database check failed", "error", err)
		resp.Status = "unhealthy"
		resp.Database.Status = "error"
		resp.Problems = append(resp.Problems, "database query failed")
	}
	resp.Database.LatestRecord = s.timeOrNil(latest)
	status := http.StatusOK
	if resp.Status == "unhealthy" {
		// Load balancers and probes read the status code, not the body.
		status = http.StatusServiceUnavailable
	}
	writeEnvelope(w, r, status, httpapi.Envelope{Success: true, Data: resp})
}

// configResponse is the body of GET /config: the effective configuration,
// without secrets.
type configResponse struct {
	Version                 string   `json:"version"`
	Host                    string   `json:"host"`
	Port                    int      `json:"port"`
	APIPrefix               string   `json:"api_prefix"`
	CORSOrigins             []string `json:"cors_origins"`
	AuthEnabled             bool     `json:"auth_enabled"`
	AllowRemote             bool     `json:"allow_remote"`
	MaxBodyBytes            int64    `json:"max_body_bytes"`
	Timezone                string   `json:"timezone"`
	Database                string   `json:"database,omitempty" enum:"sqlite,postgresql"`
	DatabasePath            string   `json:"database_path,omitempty"`
	DataSources             []string `json:"data_sources"`
	StatsCacheEnabled       bool     `json:"stats_cache_enabled"`
	SnapshotIntervalSeconds int64    `json:"snapshot_interval_seconds"`
	RetentionDays           int      `json:"retention_days"`
	DashboardEnabled        bool     `json:"dashboard_enabled"`
}

func (s *Server) handleConfig(w http.ResponseWriter, r *http.Request) {
	o := &s.opts
	resp := configResponse{
		Version:                 o.Version,
		Host:                    o.Host,
		Port:                    o.Port,
		APIPrefix:               s.opts.APIPrefix,
		CORSOrigins:             nonNil(o.CORSOrigins),
		AuthEnabled:             o.AuthToken != "",
		AllowRemote:             o.AllowRemote,
		MaxBodyBytes:            o.MaxBodyBytes,
		Timezone:                s.opts.Location.String(),
		Database:                o.Database,
		DatabasePath:            o.DatabasePath,
		DataSources:             nonNil(o.DataSources),
		StatsCacheEnabled:       o.StatsCache != nil,
		SnapshotIntervalSeconds: int64(o.SnapshotInterval / time.Second),
		RetentionDays:           o.RetentionDays,
		DashboardEnabled:        o.Static != nil,
	}
	if port := s.listenPort(); port != 0 {
		resp.Port = port // the port actually bound when Port was 0
	}
	writeJSON(w, r, resp)
}

func nonNil(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}
