package config

import (
	"flag"
	"strconv"
	"strings"
)

// FlagGroup selects which settings a command offers as flags, so that
// "ctm daily -h" lists what matters to a report and not the server's
// listen address.
type FlagGroup int

// The flag groups; combine them with |.
const (
	// DataFlags: where the data is and how to read and report it.
	DataFlags FlagGroup = 1 << iota
	// ServerFlags: listening, security, snapshots and live updates.
	ServerFlags
	// LimitFlags: the plan and the 5-hour block limits.
	LimitFlags
	// AllFlags is every setting.
	AllFlags = DataFlags | ServerFlags | LimitFlags
)

// BindFlags registers a flag for every setting on fs; see BindFlagGroups.
func (c *Config) BindFlags(fs *flag.FlagSet) { c.BindFlagGroups(fs, AllFlags) }

// BindFlagGroups registers a flag for each setting of the groups on fs,
// with the current values as defaults, so that parsed flags override what
// Load found. Call Validate after fs.Parse. The auth token itself has no
// flag because command lines are visible to other users; use
// --auth-token-file.
func (c *Config) BindFlagGroups(fs *flag.FlagSet, groups FlagGroup) {
	if groups&DataFlags != 0 {
		fs.Var(&listValue{&c.ClaudeDirs, splitList}, "claude-dir", "Claude Code data `dirs`, comma-separated (CLAUDE_DIR)")
		fs.StringVar(&c.DatabasePath, "db", c.DatabasePath, "SQLite database `path` (DATABASE_PATH)")
		fs.StringVar(&c.DatabaseURL, "database-url", c.DatabaseURL, "PostgreSQL `URL`; selects PostgreSQL (DATABASE_URL)")
		fs.StringVar(&c.Timezone, "tz", c.Timezone, "time `zone` for days and hours, e.g. UTC or Europe/Paris (TIMEZONE)")
		fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "log `level`: DEBUG, INFO, WARN or ERROR (LOG_LEVEL)")
		fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "log `format`: text or json; default text on a terminal, else json (LOG_FORMAT)")
		fs.StringVar(&c.LogFile, "log-file", c.LogFile, "also write the log to this `file` (LOG_FILE)")
		fs.BoolVar(&c.Debug, "debug", c.Debug, "debug logging (DEBUG)")
		fs.StringVar(&c.PricingFile, "pricing-file", c.PricingFile, "JSON `file` adding or overriding model prices (PRICING_FILE)")
		fs.StringVar(&c.BudgetsFile, "budgets-file", c.BudgetsFile, "JSON or TOML `file` of cost budgets and notification targets (BUDGETS_FILE)")
	}
	if groups&ServerFlags != 0 {
		fs.StringVar(&c.Host, "host", c.Host, "listen `host` (HOST)")
		fs.IntVar(&c.Port, "port", c.Port, "listen `port`, 0 for any free port (BACKEND_PORT)")
		fs.StringVar(&c.APIPrefix, "api-prefix", c.APIPrefix, "REST API path `prefix` (API_PREFIX)")
		fs.BoolVar(&c.AllowRemote, "allow-remote", c.AllowRemote, "allow a non-loopback host without an auth token (ALLOW_REMOTE)")
		fs.Func("auth-token-file", "read the API auth token from this `file` (AUTH_TOKEN_FILE)", c.readAuthToken)
		fs.Var(&listValue{&c.CORSOrigins, parseOriginsLenient}, "cors-origins", "allowed CORS `origins`, comma-separated or a JSON list (CORS_ORIGINS)")
		fs.DurationVar(&c.SnapshotInterval, "snapshot-interval", c.SnapshotInterval, "how often to snapshot totals (SNAPSHOT_INTERVAL)")
		fs.IntVar(&c.RetentionDays, "retention-days", c.RetentionDays, "keep snapshots this many `days` (RETENTION_DAYS)")
		fs.IntVar(&c.MaxWSClients, "ws-max-clients", c.MaxWSClients, "maximum WebSocket `clients` (WS_MAX_CLIENTS)")
		fs.DurationVar(&c.PollInterval, "poll-interval", c.PollInterval, "file polling interval (POLL_INTERVAL)")
	}
	if groups&LimitFlags != 0 {
		fs.StringVar(&c.Plan, "plan", c.Plan, "Claude `plan`: pro, max5, max20 or custom (PLAN)")
		fs.Var(&tokenLimitValue{&c.TokenLimit}, "token-limit", `tokens per 5-hour block, or "max" (TOKEN_LIMIT)`)
		fs.Float64Var(&c.CostLimit, "cost-limit", c.CostLimit, "USD per 5-hour block (COST_LIMIT)")
	}
}

// listValue is a flag holding a list written as one comma-separated value.
type listValue struct {
	list  *[]string
	parse func(string) []string
}

func (v *listValue) String() string {
	if v == nil || v.list == nil {
		return ""
	}
	return strings.Join(*v.list, ",")
}

func (v *listValue) Set(s string) error {
	*v.list = v.parse(s)
	return nil
}

// parseOriginsLenient is parseOrigins for a flag: a malformed JSON list is
// kept as written so that Validate reports it with the other origins.
func parseOriginsLenient(s string) []string {
	if list, err := parseOrigins(s); err == nil {
		return list
	}
	return []string{s}
}

// tokenLimitValue is the --token-limit flag: a count or "max".
type tokenLimitValue struct{ n *int64 }

func (v *tokenLimitValue) String() string {
	switch {
	case v == nil || v.n == nil || *v.n == 0:
		return ""
	case *v.n == TokenLimitMax:
		return "max"
	}
	return strconv.FormatInt(*v.n, 10)
}

func (v *tokenLimitValue) Set(s string) (err error) {
	*v.n, err = parseTokenLimit(s)
	return err
}
