package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/claude-token-monitor/ctm/internal/source/claude"
)

// ValidationError reports a setting with a bad value. Var names the
// environment variable (the flag sets the same setting).
type ValidationError struct {
	Var    string
	Value  string
	Reason string
}

// Error returns e.g. `BACKEND_PORT: "abc" is not a port number (1-65535)`.
func (e *ValidationError) Error() string {
	return fmt.Sprintf("%s: %q %s", e.Var, e.Value, e.Reason)
}

// Load returns Default() overridden by the .env file at dotenvPath (skipped
// when empty or missing), then by environ (KEY=VALUE pairs, as from
// os.Environ). HOME (or USERPROFILE) in environ is the home directory. An
// empty variable counts as unset. A malformed .env file gives an error
// naming the file and line; a value of the wrong form gives a
// *ValidationError naming the variable and the value (all of them are
// joined). Load does not check ranges or combinations: call Validate after
// applying flags.
func Load(dotenvPath string, environ []string) (Config, error) {
	vars := map[string]string{}
	if dotenvPath != "" {
		f, err := os.Open(dotenvPath)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return Config{}, fmt.Errorf("read %s: %w", dotenvPath, err)
		default:
			dotenv, err := parseDotenv(f, dotenvPath)
			f.Close()
			if err != nil {
				return Config{}, err
			}
			for k, v := range dotenv {
				vars[k] = v
			}
		}
	}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vars[k] = v
		}
	}
	for k, v := range vars {
		if v == "" {
			delete(vars, k)
		}
	}

	c := Default()
	c.Home = vars["HOME"]
	if c.Home == "" {
		c.Home = vars["USERPROFILE"]
	}
	if c.Home == "" {
		c.Home, _ = os.UserHomeDir()
	}
	var errs []error
	for _, s := range settings {
		if v, ok := vars[s.name]; ok {
			if err := s.set(&c, v); err != nil {
				errs = append(errs, &ValidationError{Var: s.name, Value: s.shown(v), Reason: err.Error()})
			}
		}
	}
	if _, ok := vars["TIMEZONE"]; !ok {
		if tz, ok := vars["TZ"]; ok {
			// POSIX allows a leading ':' in TZ.
			c.Timezone = strings.TrimPrefix(tz, ":")
			if err := c.loadLocation(); err != nil {
				errs = append(errs, &ValidationError{Var: "TZ", Value: tz, Reason: err.Error()})
			}
		}
	}
	if len(c.ClaudeDirs) == 0 {
		if v, ok := vars[claude.EnvConfigDir]; ok {
			c.ClaudeDirs = splitList(v)
		} else {
			c.ClaudeDirs = claude.DefaultRoots(c.Home)
		}
	}
	if c.DatabasePath == "" {
		if xdg := vars["XDG_DATA_HOME"]; xdg != "" {
			c.DatabasePath = filepath.Join(xdg, "claude-token-monitor", "monitor.db")
		} else {
			c.DatabasePath = filepath.Join("~", ".local", "share", "claude-token-monitor", "monitor.db")
		}
	}
	c.expandPaths()
	return c, errors.Join(errs...)
}

// setting parses one environment variable into a Config field. set returns
// the reason a value is malformed, phrased to follow the quoted value.
type setting struct {
	name   string
	set    func(c *Config, v string) error
	secret bool
}

// shown returns v as it may appear in an error message.
func (s setting) shown(v string) string {
	if s.secret {
		return "****"
	}
	return v
}

// settings lists every variable Load reads, except TZ and CLAUDE_CONFIG_DIR,
// which are fallbacks for TIMEZONE and CLAUDE_DIR.
var settings = []setting{
	{name: claude.EnvDir, set: func(c *Config, v string) error { c.ClaudeDirs = splitList(v); return nil }},
	{name: "DATABASE_PATH", set: func(c *Config, v string) error { c.DatabasePath = v; return nil }},
	{name: "DATABASE_URL", set: func(c *Config, v string) error { c.DatabaseURL = v; return nil }, secret: true},
	{name: "HOST", set: func(c *Config, v string) error { c.Host = v; return nil }},
	{name: "BACKEND_PORT", set: func(c *Config, v string) error {
		p, err := strconv.Atoi(v)
		if err != nil {
			return errors.New(portReason)
		}
		c.Port = p
		return nil
	}},
	{name: "API_PREFIX", set: func(c *Config, v string) error { c.APIPrefix = v; return nil }},
	{name: "LOG_LEVEL", set: func(c *Config, v string) error { c.LogLevel = v; return nil }},
	{name: "LOG_FORMAT", set: func(c *Config, v string) error { c.LogFormat = v; return nil }},
	{name: "LOG_FILE", set: func(c *Config, v string) error { c.LogFile = v; return nil }},
	{name: "DEBUG", set: func(c *Config, v string) (err error) { c.Debug, err = parseBool(v); return err }},
	{name: "CORS_ORIGINS", set: func(c *Config, v string) (err error) { c.CORSOrigins, err = parseOrigins(v); return err }},
	{name: "TIMEZONE", set: func(c *Config, v string) error { c.Timezone = v; return c.loadLocation() }},
	{name: "SNAPSHOT_INTERVAL", set: func(c *Config, v string) (err error) { c.SnapshotInterval, err = parseDuration(v); return err }},
	{name: "RETENTION_DAYS", set: func(c *Config, v string) (err error) { c.RetentionDays, err = parseInt(v); return err }},
	{name: "PRICING_FILE", set: func(c *Config, v string) error { c.PricingFile = v; return nil }},
	{name: "BUDGETS_FILE", set: func(c *Config, v string) error { c.BudgetsFile = v; return nil }},
	{name: "PRICING_URL", set: func(c *Config, v string) error { c.PricingURL = v; return nil }},
	// Trimmed like AUTH_TOKEN_FILE's content: a token of spaces is none.
	{name: "AUTH_TOKEN", set: func(c *Config, v string) error { c.AuthToken = strings.TrimSpace(v); return nil }, secret: true},
	{name: "AUTH_TOKEN_FILE", set: func(c *Config, v string) error {
		if c.AuthToken != "" {
			return errors.New("is set together with AUTH_TOKEN; set only one")
		}
		return c.readAuthToken(v)
	}},
	{name: "ALLOW_REMOTE", set: func(c *Config, v string) (err error) { c.AllowRemote, err = parseBool(v); return err }},
	{name: "PLAN", set: func(c *Config, v string) error { c.Plan = v; return nil }},
	{name: "TOKEN_LIMIT", set: func(c *Config, v string) (err error) { c.TokenLimit, err = parseTokenLimit(v); return err }},
	{name: "COST_LIMIT", set: func(c *Config, v string) error {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return errors.New("is not a number")
		}
		c.CostLimit = f
		return nil
	}},
	{name: "WS_MAX_CLIENTS", set: func(c *Config, v string) (err error) { c.MaxWSClients, err = parseInt(v); return err }},
	{name: "POLL_INTERVAL", set: func(c *Config, v string) (err error) { c.PollInterval, err = parseDuration(v); return err }},
}

const portReason = "is not a port number (1-65535, or 0 for any free port)"

// splitList splits a comma-separated list, dropping blanks.
func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// parseOrigins reads CORS origins as a JSON list of strings or a comma list.
func parseOrigins(v string) ([]string, error) {
	v = strings.TrimSpace(v)
	if !strings.HasPrefix(v, "[") {
		return splitList(v), nil
	}
	var list []string
	if err := json.Unmarshal([]byte(v), &list); err != nil {
		return nil, errors.New("is not a JSON list of strings")
	}
	var out []string
	for _, s := range list {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out, nil
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "t", "true", "yes", "y", "on":
		return true, nil
	case "0", "f", "false", "no", "n", "off":
		return false, nil
	}
	return false, errors.New("is not a boolean (true or false)")
}

func parseInt(v string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return 0, errors.New("is not a whole number")
	}
	return n, nil
}

func parseDuration(v string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil {
		return 0, errors.New("is not a duration such as 30s, 5m or 1h")
	}
	return d, nil
}

func parseTokenLimit(v string) (int64, error) {
	v = strings.TrimSpace(v)
	if strings.EqualFold(v, "max") {
		return TokenLimitMax, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, errors.New(`is not a token count or "max"`)
	}
	return n, nil
}

// readAuthToken sets AuthToken from the first line-trimmed content of path.
func (c *Config) readAuthToken(path string) error {
	b, err := os.ReadFile(expandHome(path, c.Home))
	if err != nil {
		// The path is already in the message as the value; keep the cause.
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("cannot be read: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return errors.New("is empty")
	}
	c.AuthToken = tok
	return nil
}

// loadLocation sets Location from Timezone ("" and "Local" mean the local
// zone).
func (c *Config) loadLocation() error {
	if c.Timezone == "" {
		c.Timezone = "Local"
	}
	loc, err := time.LoadLocation(c.Timezone)
	if err != nil {
		return errors.New("is not a time zone name such as UTC or Europe/Paris")
	}
	c.Location = loc
	return nil
}

// expandPaths expands "~" in every path setting.
func (c *Config) expandPaths() {
	for i, d := range c.ClaudeDirs {
		c.ClaudeDirs[i] = expandHome(d, c.Home)
	}
	c.DatabasePath = expandHome(c.DatabasePath, c.Home)
	c.LogFile = expandHome(c.LogFile, c.Home)
	c.PricingFile = expandHome(c.PricingFile, c.Home)
	c.BudgetsFile = expandHome(c.BudgetsFile, c.Home)
}

// expandHome replaces a leading "~" or "~/" in p with home. "~user" forms
// are left alone: only the current user's home is known.
func expandHome(p, home string) string {
	if home == "" || p == "" || p[0] != '~' {
		return p
	}
	if p == "~" {
		return home
	}
	if p[1] == '/' || p[1] == filepath.Separator {
		return filepath.Join(home, p[2:])
	}
	return p
}
