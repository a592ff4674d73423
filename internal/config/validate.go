package config

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Validate checks every setting and puts the valid ones in canonical form:
// "~" expanded in paths, LogLevel upper case (WARNING becomes WARN, and
// DEBUG when Debug is set), LogFormat and Plan lower case, CORS origins
// without a trailing '/', Location loaded from Timezone. It returns every
// problem found, each a *ValidationError naming the variable and the value,
// joined with errors.Join.
func (c *Config) Validate() error {
	var errs []error
	bad := func(name, value, reason string) {
		errs = append(errs, &ValidationError{Var: name, Value: value, Reason: reason})
	}
	c.expandPaths()

	if len(c.ClaudeDirs) == 0 {
		bad("CLAUDE_DIR", "", "must name at least one directory")
	}
	if c.DatabaseURL == "" && c.DatabasePath == "" {
		bad("DATABASE_PATH", "", "must not be empty")
	}
	if c.DatabaseURL != "" && !validDatabaseURL(c.DatabaseURL) {
		bad("DATABASE_URL", redactURL(c.DatabaseURL), "is not a postgres:// or postgresql:// URL")
	}
	if reason := checkHost(c.Host); reason != "" {
		bad("HOST", c.Host, reason)
	}
	// 0 asks the system for any free port (the log says which).
	if c.Port < 0 || c.Port > 65535 {
		bad("BACKEND_PORT", strconv.Itoa(c.Port), portReason)
	}
	if reason := checkAPIPrefix(c.APIPrefix); reason != "" {
		bad("API_PREFIX", c.APIPrefix, reason)
	}

	switch level := strings.ToUpper(strings.TrimSpace(c.LogLevel)); level {
	case "DEBUG", "INFO", "WARN", "ERROR":
		c.LogLevel = level
	case "WARNING":
		c.LogLevel = "WARN"
	default:
		bad("LOG_LEVEL", c.LogLevel, "is not one of DEBUG, INFO, WARN, ERROR")
	}
	if c.Debug {
		c.LogLevel = "DEBUG"
	}
	switch format := strings.ToLower(strings.TrimSpace(c.LogFormat)); format {
	case "", "text", "json":
		c.LogFormat = format
	default:
		bad("LOG_FORMAT", c.LogFormat, "is not text or json")
	}

	for i, o := range c.CORSOrigins {
		if !validOrigin(o) {
			bad("CORS_ORIGINS", o, `is not an http(s) origin such as http://localhost:3000, or "*"`)
			continue
		}
		c.CORSOrigins[i] = strings.TrimSuffix(o, "/")
	}
	if err := c.loadLocation(); err != nil {
		bad("TIMEZONE", c.Timezone, err.Error())
	}
	if c.SnapshotInterval <= 0 {
		bad("SNAPSHOT_INTERVAL", c.SnapshotInterval.String(), "must be positive")
	}
	if c.RetentionDays < 1 {
		bad("RETENTION_DAYS", strconv.Itoa(c.RetentionDays), "must be at least 1")
	}
	switch plan := strings.ToLower(strings.TrimSpace(c.Plan)); plan {
	case "", "pro", "max5", "max20", "custom":
		c.Plan = plan
	default:
		bad("PLAN", c.Plan, "is not one of pro, max5, max20, custom")
	}
	if c.TokenLimit < TokenLimitMax {
		bad("TOKEN_LIMIT", strconv.FormatInt(c.TokenLimit, 10), `is not a token count or "max"`)
	}
	if c.CostLimit < 0 {
		bad("COST_LIMIT", strconv.FormatFloat(c.CostLimit, 'g', -1, 64), "must not be negative")
	}
	if c.MaxWSClients < 1 {
		bad("WS_MAX_CLIENTS", strconv.Itoa(c.MaxWSClients), "must be at least 1")
	}
	if c.PollInterval <= 0 {
		bad("POLL_INTERVAL", c.PollInterval.String(), "must be positive")
	}
	return errors.Join(errs...)
}

// CheckListen reports a HOST that would expose the API to the network
// without AUTH_TOKEN, unless ALLOW_REMOTE says so. Only the server calls
// it: a report run with the server's environment must not fail on it.
//
// A token guarding a network listen must be real: blank or short ones
// (under MinAuthTokenLength characters once trimmed) are refused.
func (c *Config) CheckListen() error {
	if c.Loopback() || c.AllowRemote {
		return nil
	}
	switch tok := strings.TrimSpace(c.AuthToken); {
	case tok == "":
		return &ValidationError{Var: "HOST", Value: c.Host,
			Reason: "is not a loopback address; set AUTH_TOKEN, or ALLOW_REMOTE=true to listen without one"}
	case utf8.RuneCountInString(tok) < MinAuthTokenLength:
		return &ValidationError{Var: "AUTH_TOKEN", Value: "***",
			Reason: fmt.Sprintf("is %d characters; a non-loopback HOST needs a token of at least %d",
				utf8.RuneCountInString(tok), MinAuthTokenLength)}
	}
	return nil
}

// MinAuthTokenLength is the shortest AUTH_TOKEN accepted for a
// non-loopback listen address.
const MinAuthTokenLength = 16

// checkHost returns why h is not a usable listen host, or "".
func checkHost(h string) string {
	if h == "" {
		return "must not be empty (use 0.0.0.0 to listen on all interfaces)"
	}
	if net.ParseIP(h) != nil {
		return ""
	}
	if len(h) > 253 {
		return "is not an IP address or host name"
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || label[0] == '-' || label[len(label)-1] == '-' {
			return "is not an IP address or host name"
		}
		for i := 0; i < len(label); i++ {
			if c := label[i]; c != '-' && !isAlnum(c) {
				return "is not an IP address or host name"
			}
		}
	}
	return ""
}

// checkAPIPrefix returns why p is not a usable API path prefix, or "".
func checkAPIPrefix(p string) string {
	switch {
	case !strings.HasPrefix(p, "/"):
		return "must start with '/'"
	case strings.HasSuffix(p, "/"):
		return "must not end with '/'"
	case strings.ContainsAny(p, " \t\r\n?#{}%\\"):
		return "must be a plain URL path"
	case strings.Contains(p, "//"):
		return "must not contain an empty segment"
	}
	return ""
}

// validOrigin reports whether o is "*" or a bare http(s) origin
// (scheme://host[:port], optionally with a trailing '/').
func validOrigin(o string) bool {
	if o == "*" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" &&
		u.User == nil && (u.Path == "" || u.Path == "/") && u.RawQuery == "" && !u.ForceQuery && u.Fragment == ""
}

func validDatabaseURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql")
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// redactURL returns s with any password masked, in the user info or in a
// password query parameter. A URL that does not parse is masked whole,
// since it cannot be shown safely.
func redactURL(s string) string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil {
		return "****"
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "****")
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "****")
		u.RawQuery = q.Encode()
	}
	// url.URL escapes '*'; unescape the mask so it reads as one.
	return strings.ReplaceAll(u.String(), "%2A%2A%2A%2A", "****")
}

// Redacted returns the effective settings for display (`ctm config`,
// GET /config) keyed by snake_case names, with secrets masked: the auth
// token shows only whether it is set ("****" or ""), the database URL shows
// no password.
func (c *Config) Redacted() map[string]any {
	token := ""
	if c.AuthToken != "" {
		token = "****"
	}
	tokenLimit := any(c.TokenLimit)
	if c.TokenLimit == TokenLimitMax {
		tokenLimit = "max"
	}
	return map[string]any{
		"claude_dirs":       append([]string{}, c.ClaudeDirs...),
		"database_path":     c.DatabasePath,
		"database_url":      redactURL(c.DatabaseURL),
		"host":              c.Host,
		"port":              c.Port,
		"api_prefix":        c.APIPrefix,
		"log_level":         c.LogLevel,
		"log_format":        cmp.Or(c.LogFormat, "auto"),
		"log_file":          c.LogFile,
		"debug":             c.Debug,
		"cors_origins":      append([]string{}, c.CORSOrigins...),
		"timezone":          c.Timezone,
		"snapshot_interval": c.SnapshotInterval.String(),
		"retention_days":    c.RetentionDays,
		"pricing_file":      c.PricingFile,
		"budgets_file":      c.BudgetsFile,
		"auth_token":        token,
		"allow_remote":      c.AllowRemote,
		"plan":              c.Plan,
		"token_limit":       tokenLimit,
		"cost_limit":        c.CostLimit,
		"ws_max_clients":    c.MaxWSClients,
		"poll_interval":     c.PollInterval.String(),
	}
}

// String returns the redacted settings, so a Config printed by mistake
// leaks no secret.
func (c Config) String() string {
	return fmt.Sprint(c.Redacted())
}
