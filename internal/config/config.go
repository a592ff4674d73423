// Package config holds every setting of Claude Token Monitor and loads them
// from defaults, a .env file, the environment and command-line flags, in
// that order of precedence.
package config

import (
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"time"

	// Embed the time zone database so TIMEZONE works on systems without
	// one (containers, Windows).
	_ "time/tzdata"
)

// TokenLimitMax is the TokenLimit that means "the largest total seen in a
// past 5-hour block" (TOKEN_LIMIT=max).
const TokenLimitMax int64 = -1

// Config is the effective configuration. Build it with Load (or Default for
// tests), optionally override it with flags from BindFlags, then call
// Validate before use.
type Config struct {
	// ClaudeDirs are the Claude Code data roots (CLAUDE_DIR, comma-separated;
	// else CLAUDE_CONFIG_DIR; else those of ~/.claude and ~/.config/claude
	// that exist, falling back to ~/.claude so that health checks can report
	// it missing).
	ClaudeDirs []string
	// DatabasePath is the SQLite file (DATABASE_PATH).
	DatabasePath string
	// DatabaseURL selects PostgreSQL when set (DATABASE_URL); it is secret
	// because it may hold a password.
	DatabaseURL string
	// Host is the listen address (HOST).
	Host string
	// Port is the listen port (BACKEND_PORT).
	Port int
	// APIPrefix is the path the REST API is served under (API_PREFIX). It
	// starts with '/' and has no trailing '/'.
	APIPrefix string
	// LogLevel is DEBUG, INFO, WARN or ERROR (LOG_LEVEL); Validate makes it
	// DEBUG when Debug is set.
	LogLevel string
	// LogFormat is "text" or "json" (LOG_FORMAT); empty leaves the choice
	// to LogFormatFor.
	LogFormat string
	// LogFile, when set, receives a copy of the log (LOG_FILE).
	LogFile string
	// Debug turns on debug logging and diagnostics (DEBUG).
	Debug bool
	// CORSOrigins are the origins allowed by CORS, "*" for any; empty turns
	// CORS off (CORS_ORIGINS).
	CORSOrigins []string
	// Timezone is the configured zone name (TIMEZONE, else TZ), "Local"
	// when unset; Location is the loaded zone.
	Timezone string
	Location *time.Location
	// SnapshotInterval is how often totals are snapshotted (SNAPSHOT_INTERVAL).
	SnapshotInterval time.Duration
	// RetentionDays is how long snapshots are kept (RETENTION_DAYS).
	RetentionDays int
	// PricingFile adds or overrides model prices (PRICING_FILE).
	PricingFile string
	// BudgetsFile is the JSON or TOML file of cost budgets and their
	// notification targets (BUDGETS_FILE); "" for none.
	BudgetsFile string
	// PricingURL is where `ctm prices update` fetches a newer price table
	// (PRICING_URL); nothing else uses the network.
	PricingURL string
	// AuthToken protects the API when set (AUTH_TOKEN, or the content of
	// AUTH_TOKEN_FILE). It is secret.
	AuthToken string
	// AllowRemote permits a non-loopback Host without AuthToken (ALLOW_REMOTE).
	AllowRemote bool
	// Plan is the Claude subscription: pro, max5, max20, custom or "" (PLAN).
	Plan string
	// TokenLimit is the per-block token limit: 0 for the plan's default,
	// TokenLimitMax for the largest past block (TOKEN_LIMIT).
	TokenLimit int64
	// CostLimit is the per-block cost limit in USD, 0 for none (COST_LIMIT).
	CostLimit float64
	// MaxWSClients caps concurrent WebSocket clients (WS_MAX_CLIENTS).
	MaxWSClients int
	// PollInterval is how often data files are polled when file events are
	// unavailable (POLL_INTERVAL).
	PollInterval time.Duration
	// Home is the home directory used to expand "~" and to find the default
	// directories. Load takes it from HOME in the environment it is given,
	// so tests never touch the real home.
	Home string
}

// Default returns the built-in settings. Settings that depend on the home
// directory (ClaudeDirs, DatabasePath) are left empty; Load fills them.
func Default() Config {
	return Config{
		Host:             "127.0.0.1",
		Port:             51888,
		APIPrefix:        "/api/v1",
		LogLevel:         "INFO",
		Timezone:         "Local",
		Location:         time.Local,
		SnapshotInterval: 30 * time.Minute,
		RetentionDays:    90,
		MaxWSClients:     100,
		PollInterval:     2 * time.Second,
		PricingURL:       DefaultPricingURL,
	}
}

// LogFormatFor returns the log format to use: LogFormat when set, else
// text on a terminal or with Debug (for people) and JSON otherwise (for
// log collectors).
func (c *Config) LogFormatFor(terminal bool) string {
	switch {
	case c.LogFormat != "":
		return c.LogFormat
	case terminal || c.Debug:
		return "text"
	}
	return "json"
}

// Addr returns the listen address, host:port.
func (c *Config) Addr() string {
	return net.JoinHostPort(c.Host, strconv.Itoa(c.Port))
}

// Loopback reports whether Host only accepts connections from this machine.
func (c *Config) Loopback() bool {
	if c.Host == "localhost" {
		return true
	}
	ip := net.ParseIP(c.Host)
	return ip != nil && ip.IsLoopback()
}

// SlogLevel returns LogLevel as a slog level; debug when Debug is set.
func (c *Config) SlogLevel() slog.Level {
	if c.Debug {
		return slog.LevelDebug
	}
	var l slog.Level
	if l.UnmarshalText([]byte(c.LogLevel)) != nil {
		return slog.LevelInfo
	}
	return l
}

// DefaultPricingURL is the price file on the project's main branch.
const DefaultPricingURL = "https://raw.githubusercontent.com/claude-token-monitor/ctm/main/internal/pricing/prices.json"

// RefreshedPrices is where `ctm prices update` keeps the table it fetched:
// beside the SQLite database, in the user's data directory.
func (c Config) RefreshedPrices() string {
	if c.DatabasePath == "" {
		return ""
	}
	return filepath.Join(filepath.Dir(c.DatabasePath), "prices.json")
}
